//! `passmint serve`, `migrate` and `token create` through the real binary.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn passmint(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_passmint"));
    c.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("PASSMINT_") {
            c.env_remove(key);
        }
    }
    c
}

/// Starts `serve` (only the port is configured, as 8080 may be taken), returns the child and
/// the address it printed.
fn serve(dir: &Path, extra_env: &[(&str, &str)]) -> (Child, String, Vec<String>) {
    let mut cmd = passmint(dir);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .envs(extra_env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    let mut address = None;
    // `serve` prints its banner then keeps running; read the banner's five lines.
    for _ in 0..5 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.trim().strip_prefix("passmint listening on ") {
            address = Some(rest.to_string());
        }
        lines.push(line.trim_end().to_string());
    }
    let address = address.unwrap_or_else(|| panic!("no address printed: {lines:?}"));
    (child, address, lines)
}

fn terminate(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Wait for the exit on another thread, bounded by a deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("serve stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "serve exited with {status}");
}

#[tokio::test]
async fn serves_with_no_configuration_and_says_how_to_get_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address, banner) = serve(dir.path(), &[]);
    let text = banner.join("\n");
    assert!(text.contains("passmint token create"), "{text}");
    assert!(text.contains("PASSMINT_ADMIN_TOKEN"), "{text}");
    let data = dir.path().join("passmint-data");
    assert!(data.join("passmint.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let client = reqwest::Client::new();
    let r = client.get(format!("{address}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A token made while the server runs is accepted at once.
    let out = passmint(dir.path()).args(["token", "create"]).output().unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.len() >= 40, "{token}");
    let url = format!("{address}/v2/credentials/compact/digital-pass/apple/templates");
    let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(&url)
        .bearer_auth("pm_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    terminate(child);
}

#[tokio::test]
async fn accepts_the_admin_token_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address, _) = serve(dir.path(), &[("PASSMINT_ADMIN_TOKEN", "env-admin-token-42")]);
    let url = format!("{address}/v2/events");
    let client = reqwest::Client::new();
    let r = client
        .get(&url)
        .bearer_auth("env-admin-token-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    terminate(child);
}

#[test]
fn migrates_a_database_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = passmint(dir.path())
        .args(["migrate", "--data-dir", "elsewhere"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("elsewhere/passmint.db").exists());
    let again = passmint(dir.path())
        .args(["migrate", "--data-dir", "elsewhere"])
        .output()
        .unwrap();
    assert!(again.status.success());
}

#[test]
fn refuses_a_bad_configuration_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = passmint(dir.path())
        .args(["migrate"])
        .env("PASSMINT_DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PASSMINT_DATABASE_URL"));
}

#[test]
fn a_wrong_apns_url_stops_serve_before_its_banner_with_the_error_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let child = passmint(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PASSMINT_APNS_URL", "http://apns.example.com")
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(30)) else {
        let _ = Command::new("kill").args(["-KILL", &id.to_string()]).status();
        panic!("serve kept running with a wrong APNs URL");
    };
    let out = out.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stdout.contains("listening"), "banner printed: {stdout}");
    assert_eq!(
        stderr.matches("APNs needs an https:// URL").count(),
        1,
        "the error once: {stderr}"
    );
    assert!(stderr.contains("http://apns.example.com"), "{stderr}");
}
