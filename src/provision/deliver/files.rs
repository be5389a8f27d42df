//! Atomic 0600 file writes: a temporary file in the same directory (created 0600), synced,
//! then renamed over the target, so a reader never sees half a file and no other user can
//! read it.

use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: String,
    pub source: std::io::Error,
}

/// Writes `content` to `path` atomically with mode 0600. Returns `false` (and leaves the
/// file untouched, byte for byte) when it already holds exactly `content`.
pub fn write_if_changed(path: &Path, content: &[u8]) -> Result<bool, WriteError> {
    if std::fs::read(path).ok().as_deref() == Some(content) {
        return Ok(false);
    }
    let err = |source| WriteError {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".restage-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(content).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_0600_and_skips_identical_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/.env");
        assert!(write_if_changed(&path, b"A=1\n").unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!write_if_changed(&path, b"A=1\n").unwrap());
        assert!(write_if_changed(&path, b"A=2\n").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"A=2\n");
    }
}
