//! The real `passmint serve` binary as a child process, for tests that kill and restart it.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::server::ADMIN_TOKEN;

/// `passmint serve` on a free loopback port, with the database at `url` and data in `dir`, and
/// none of the caller's own `PASSMINT_*` settings; add more with `.env` before [`start`].
pub fn serve_command(dir: &Path, url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_passmint"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PASSMINT_") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PASSMINT_DATA_DIR", dir)
        .env("PASSMINT_DATABASE_URL", url)
        .env("PASSMINT_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn");
    cmd
}

/// Starts `cmd` and waits for its "listening" line; returns the child and its base URL.
pub fn start(mut cmd: Command) -> (Child, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..5 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(address) = line.trim().strip_prefix("passmint listening on ") {
            // Keep reading what it prints, so a closed pipe never stops it.
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            return (child, address.to_string());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve printed no address");
}

/// Kills the child with SIGKILL (no shutdown of any kind) and reaps it.
pub fn kill_9(mut child: Child) {
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = child.wait();
}
