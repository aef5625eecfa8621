//! Where the control socket lives, and binding it safely: owner-only, and a stale socket left
//! by a run that was killed is replaced, while a live one is never stolen.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

/// The socket of the file at `file`: `.NAME.sock` beside it (`./.arbor.toml.sock`), so that
/// `arbor status` in the same directory finds the run of `arbor.toml` there.
pub(crate) fn default_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map_or_else(|| "arbor.toml".into(), |n| n.to_string_lossy().into_owned());
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
    dir.unwrap_or(Path::new(".")).join(format!(".{name}.sock"))
}

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BindError {
    #[error("{path}: another arbor is running with this socket (stop it, or pass --socket)")]
    InUse { path: String },
    #[error("{path}: cannot bind the control socket: {source}")]
    Io { path: String, source: io::Error },
}

/// Binds `path`, mode 0600. A socket file nobody listens on is removed first.
pub(crate) async fn bind(path: &Path) -> Result<UnixListener, BindError> {
    let shown = path.display().to_string();
    let io_error = |source| BindError::Io {
        path: shown.clone(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io_error(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file that is not a socket is in the way",
            )));
        }
        match UnixStream::connect(path).await {
            Ok(_) => return Err(BindError::InUse { path: shown }),
            Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!(path = %shown, "replacing a stale control socket");
                std::fs::remove_file(path).map_err(io_error)?;
            }
            Err(err) => return Err(io_error(err)),
        }
    }
    // The umask makes the socket owner-only from its creation, with no moment when another
    // user could connect; the chmod states it whatever the umask was.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.map_err(io_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_error)?;
    Ok(listener)
}
