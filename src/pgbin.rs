//! Finding PostgreSQL's own programs (pg_dump, pg_restore, initdb, postgres, psql) and their
//! versions. restage replays schemas with the real tools rather than re-implementing them, so it
//! must pick a tool new enough for the server it talks to.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the operator can point restage at a specific PostgreSQL installation.
pub const BINDIR_ENV: &str = "RESTAGE_PG_BINDIR";
/// Where `scripts/pg-versions.sh` installs PostgreSQL majors (`<cache>/<major>/bin`).
pub const CACHE_ENV: &str = "RESTAGE_PG_CACHE";

const INSTALL_HINT: &str = "install the PostgreSQL server and client packages (Debian/Ubuntu: \
`apt-get install -y postgresql`), or point RESTAGE_PG_BINDIR at their bin directory";

#[derive(Debug, thiserror::Error)]
pub enum PgBinError {
    #[error("{tool} not found ({INSTALL_HINT})")]
    NotFound { tool: String },
    #[error(
        "{tool} {found} at {path} is older than the server ({server}); it would dump garbage or \
         fail: install PostgreSQL {server_major} client tools or newer (restage's \
         `scripts/pg-versions.sh install 18` puts PostgreSQL 18's into restage's cache, where it \
         finds them), or set RESTAGE_PG_BINDIR"
    )]
    TooOld {
        tool: String,
        path: String,
        found: Version,
        server: Version,
        server_major: u32,
    },
    #[error("cannot run {path} --version: {reason}")]
    Unusable { path: String, reason: String },
}

/// A PostgreSQL version as `major.minor` (PostgreSQL ≥ 10 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Version {
    /// From `server_version_num` (e.g. 150018 → 15.18).
    pub fn from_version_num(num: u32) -> Version {
        Version {
            major: num / 10000,
            minor: num % 10000,
        }
    }

    /// From the first `N.M` found in text such as `pg_dump (PostgreSQL) 15.18 (Debian …)`.
    pub fn parse_from_text(text: &str) -> Option<Version> {
        text.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .find_map(|word| {
                let mut parts = word.split('.');
                // `17devel`, `16beta2`: the leading digits are the major version.
                let first = parts.next()?;
                let digits: String = first.chars().take_while(char::is_ascii_digit).collect();
                if digits.is_empty() || !first[digits.len()..].chars().all(char::is_alphabetic) {
                    return None;
                }
                let major = digits.parse().ok()?;
                let minor = parts
                    .next()
                    .map(|m| {
                        m.chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                    })
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                Some(Version { major, minor })
            })
    }
}

/// A located program with its version.
#[derive(Debug, Clone)]
pub struct Tool {
    pub path: PathBuf,
    pub version: Version,
}

/// Directories that may hold PostgreSQL binaries, best first: the explicit override, then
/// Debian's versioned directories (newest first, because pg_dump must be at least as new as
/// the server), then `pg_config --bindir`, then `PATH`, then restage's own cache of PostgreSQL
/// majors (newest first). The cache comes last so that installing a newer major there never
/// changes which tools a server the system's own tools can handle gets.
pub fn candidate_bindirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(BINDIR_ENV) {
        dirs.push(PathBuf::from(dir));
        // An explicit override is authoritative: do not silently fall back elsewhere.
        return dirs;
    }
    let versioned = majors_in(Path::new("/usr/lib/postgresql"));
    dirs.extend(versioned.into_iter().map(|(_, p)| p));
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !dir.is_empty() {
                dirs.push(PathBuf::from(dir));
            }
        }
    }
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.extend(cached_bindirs().into_iter().map(|(_, p)| p));
    dirs
}

/// restage's cache of PostgreSQL majors: `$RESTAGE_PG_CACHE`, else `/var/cache/restage/pg` as
/// root (a server started from it runs as the `postgres` OS user, which cannot read root's
/// home), else `~/.cache/restage/pg`. Must match `scripts/pg-versions.sh`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Some(PathBuf::from("/var/cache/restage/pg"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/restage/pg"))
}

/// The cache's bin directory for one major, whether installed or not.
pub fn cached_bindir(major: u32) -> Option<PathBuf> {
    cache_dir().map(|dir| dir.join(major.to_string()).join("bin"))
}

/// Installed majors in the cache with their bin directories, newest first.
pub fn cached_bindirs() -> Vec<(u32, PathBuf)> {
    let Some(cache) = cache_dir() else {
        return Vec::new();
    };
    let mut found = majors_in(&cache);
    found.retain(|(_, bin)| bin.is_dir());
    found
}

/// The `<major>/bin` directories under `dir` (Debian's and restage's cache layout), newest
/// major first.
fn majors_in(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    found.sort_by_key(|v| std::cmp::Reverse(v.0));
    found
}

/// Version of a PostgreSQL program from `--version`.
pub fn tool_version(path: &Path) -> Result<Version, PgBinError> {
    let out = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| PgBinError::Unusable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    Version::parse_from_text(&text).ok_or_else(|| PgBinError::Unusable {
        path: path.display().to_string(),
        reason: format!("unexpected output {:?}", text.trim()),
    })
}

/// The first `name` found in the candidate directories.
pub fn find(name: &str) -> Result<Tool, PgBinError> {
    for dir in candidate_bindirs() {
        let path = dir.join(name);
        if is_executable(&path) {
            let version = tool_version(&path)?;
            return Ok(Tool { path, version });
        }
    }
    Err(PgBinError::NotFound {
        tool: name.to_string(),
    })
}

/// The first `name` whose major version is at least the server's. If none qualifies, the error
/// names the newest one found and the server version, so the operator knows what to install.
pub fn find_for_server(name: &str, server: Version) -> Result<Tool, PgBinError> {
    let mut newest: Option<Tool> = None;
    for dir in candidate_bindirs() {
        let path = dir.join(name);
        if !is_executable(&path) {
            continue;
        }
        let version = tool_version(&path)?;
        if version.major >= server.major {
            return Ok(Tool { path, version });
        }
        if newest.as_ref().is_none_or(|n| version > n.version) {
            newest = Some(Tool { path, version });
        }
    }
    match newest {
        Some(tool) => Err(PgBinError::TooOld {
            tool: name.to_string(),
            path: tool.path.display().to_string(),
            found: tool.version,
            server,
            server_major: server.major,
        }),
        None => Err(PgBinError::NotFound {
            tool: name.to_string(),
        }),
    }
}

/// The server programs (initdb, postgres, pg_ctl) in one directory, with their version.
pub fn server_bindir_at(dir: &Path) -> Result<(PathBuf, Version), PgBinError> {
    let initdb = dir.join("initdb");
    if is_executable(&initdb) && is_executable(&dir.join("postgres")) {
        return Ok((dir.to_path_buf(), tool_version(&initdb)?));
    }
    Err(PgBinError::NotFound {
        tool: format!("initdb/postgres (PostgreSQL server) in {}", dir.display()),
    })
}

/// The directory holding the server programs (initdb, postgres, pg_ctl), newest first.
pub fn find_server_bindir() -> Result<(PathBuf, Version), PgBinError> {
    for dir in candidate_bindirs() {
        let initdb = dir.join("initdb");
        if is_executable(&initdb) && is_executable(&dir.join("postgres")) {
            let version = tool_version(&initdb)?;
            return Ok((dir, version));
        }
    }
    Err(PgBinError::NotFound {
        tool: "initdb/postgres (PostgreSQL server)".to_string(),
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_version_lines() {
        assert_eq!(
            Version::parse_from_text("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(Version {
                major: 15,
                minor: 18
            })
        );
        assert_eq!(
            Version::parse_from_text("initdb (PostgreSQL) 17devel"),
            Some(Version {
                major: 17,
                minor: 0
            })
        );
        assert_eq!(Version::parse_from_text("no digits here"), None);
    }

    #[test]
    fn version_num_splits_major_minor() {
        let v = Version::from_version_num(150018);
        assert_eq!((v.major, v.minor), (15, 18));
        assert_eq!(v.to_string(), "15.18");
    }
}
