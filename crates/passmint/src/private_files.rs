//! The data dir and the SQLite files hold pass tokens, payloads and sealed keys: only the
//! server's own user may read them (SPEC 6). The dir is made `0700`, the database file `0600`
//! before SQLite first opens it (SQLite gives its `-wal` and `-shm` files the database file's
//! mode), and files left readable by an older version are tightened at start.
use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) if needed and makes it `0700`.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    restrict(dir, 0o700)
}

/// Creates the SQLite database file `db` if absent (mode `0600`), and makes it and its `-wal`
/// and `-shm` companions, where they exist, `0600`.
pub fn prepare_database_file(db: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    drop(options.open(db)?);
    restrict(db, 0o600)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let companion = Path::new(&name);
        if companion.exists() {
            restrict(companion, 0o600)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        if current != 0o755 && current != 0o644 {
            tracing::warn!(path = %path.display(), mode = format!("{current:o}"),
                "tightening the permissions of a passmint file to {mode:o}");
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}
