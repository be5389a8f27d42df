//! Where libpq's fallbacks come from: environment variables, the home directory, the
//! operating-system user, the default socket directory. Behind a trait so that parsing is
//! testable without touching the real environment.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

/// Socket directories probed for the default host, in order. Debian-family packages use
/// `/var/run/postgresql`, upstream builds `/tmp`.
pub const DEFAULT_SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/tmp"];

/// The host used when no host is given and no local socket directory is found.
pub const DEFAULT_TCP_HOST: &str = "localhost";

pub trait Environment {
    /// An environment variable (`PGHOST`, `PGPASSFILE`, …); `None` when unset.
    fn var(&self, name: &str) -> Option<String>;
    /// The user's home directory (for `~/.pgpass` and `~/.postgresql/`).
    fn home_dir(&self) -> Option<PathBuf>;
    /// The operating-system user name, libpq's default database user.
    fn os_user(&self) -> Option<String>;
    /// The host to use when none is given: a socket directory, or `localhost`.
    fn default_host(&self, port: u16) -> String;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnvironment;

impl Environment for SystemEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        // A variable that is not valid Unicode cannot be a usable connection parameter;
        // treating it as unset matches what a user would expect from a typo'd export.
        std::env::var(name).ok()
    }

    fn home_dir(&self) -> Option<PathBuf> {
        // libpq: $HOME if set and non-empty, else the passwd entry.
        match std::env::var_os("HOME") {
            Some(h) if !h.is_empty() => Some(PathBuf::from(h)),
            _ => passwd_entry().map(|(_, home)| home),
        }
    }

    fn os_user(&self) -> Option<String> {
        // libpq uses the effective uid's passwd entry, not $USER.
        passwd_entry().map(|(name, _)| name)
    }

    fn default_host(&self, port: u16) -> String {
        default_host_from(port, &|p| p.exists())
    }
}

/// Prefer a directory that holds the socket for this port; else the Debian directory if it
/// exists (that server may simply be down, and its error is the useful one); else TCP.
pub(crate) fn default_host_from(port: u16, exists: &dyn Fn(&Path) -> bool) -> String {
    let socket = |dir: &str| Path::new(dir).join(format!(".s.PGSQL.{port}"));
    if let Some(dir) = DEFAULT_SOCKET_DIRS.iter().find(|d| exists(&socket(d))) {
        return (*dir).to_owned();
    }
    if exists(Path::new(DEFAULT_SOCKET_DIRS[0])) {
        return DEFAULT_SOCKET_DIRS[0].to_owned();
    }
    DEFAULT_TCP_HOST.to_owned()
}

/// (user name, home directory) of the effective uid.
fn passwd_entry() -> Option<(String, PathBuf)> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: `pwd` and `result` are valid out-pointers; `buf` outlives the reads of the
        // strings it backs, which are copied out before it is dropped.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwuid_r(
                libc::geteuid(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        // SAFETY: getpwuid_r succeeded, so both fields point to NUL-terminated strings in buf.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_str()
            .ok()?
            .to_owned();
        let home = unsafe { CStr::from_ptr(pwd.pw_dir) }
            .to_str()
            .ok()?
            .to_owned();
        return Some((name, PathBuf::from(home)));
    }
}

/// A fixed environment for unit tests (of this module and of others that parse
/// connection strings).
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct FakeEnv {
    pub vars: std::collections::HashMap<String, String>,
    pub home: Option<PathBuf>,
    pub os_user: Option<String>,
    pub default_host: Option<String>,
}

#[cfg(test)]
impl FakeEnv {
    /// OS user `osuser`, no variables, no home, default host `/run/test-socket`.
    pub fn new() -> Self {
        FakeEnv {
            vars: Default::default(),
            home: None,
            os_user: Some("osuser".into()),
            default_host: Some("/run/test-socket".into()),
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }
}

#[cfg(test)]
impl Environment for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn home_dir(&self) -> Option<PathBuf> {
        self.home.clone()
    }
    fn os_user(&self) -> Option<String> {
        self.os_user.clone()
    }
    fn default_host(&self, _port: u16) -> String {
        self.default_host
            .clone()
            .unwrap_or_else(|| DEFAULT_TCP_HOST.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn probe(existing: &[&str]) -> impl Fn(&Path) -> bool {
        let set: HashSet<PathBuf> = existing.iter().map(PathBuf::from).collect();
        move |p| set.contains(p)
    }

    #[test]
    fn default_host_prefers_a_live_socket() {
        let p = probe(&["/var/run/postgresql", "/tmp/.s.PGSQL.5432"]);
        assert_eq!(default_host_from(5432, &p), "/tmp");
        let p = probe(&[
            "/var/run/postgresql",
            "/var/run/postgresql/.s.PGSQL.5432",
            "/tmp/.s.PGSQL.5432",
        ]);
        assert_eq!(default_host_from(5432, &p), "/var/run/postgresql");
    }

    #[test]
    fn default_host_falls_back_to_socket_dir_then_localhost() {
        assert_eq!(
            default_host_from(5432, &probe(&["/var/run/postgresql"])),
            "/var/run/postgresql"
        );
        // A socket for another port does not count.
        assert_eq!(
            default_host_from(5433, &probe(&["/tmp/.s.PGSQL.5432"])),
            "localhost"
        );
    }

    #[test]
    fn system_os_user_is_known() {
        // The test process runs as some user with a passwd entry (libpq requires the same).
        let user = SystemEnvironment.os_user();
        assert!(user.is_some_and(|u| !u.is_empty()));
    }
}
