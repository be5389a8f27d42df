//! The libpq password file (`~/.pgpass`, `PGPASSFILE`, `passfile=`).
//!
//! Lines are `hostname:port:database:username:password`; `*` as a whole field matches
//! anything; `\:` and `\\` escape; lines starting with `#` are comments. The first
//! matching line wins. A file with any group or world permission bit is ignored (with a
//! warning), exactly as libpq does, because it may have been read by others.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::env::DEFAULT_SOCKET_DIRS;
use super::Secret;

/// What a password-file line is matched against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookup<'a> {
    pub host: &'a str,
    pub port: u16,
    pub dbname: &'a str,
    pub user: &'a str,
}

/// The password for `lookup` from the file at `path`, or `None` when the file is absent,
/// unsafe, unreadable or has no matching line (none of which is an error in libpq).
pub(crate) fn lookup_password(path: &Path, lookup: Lookup<'_>) -> Option<Secret> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("password file \"{}\" cannot be read: {e}", path.display());
            return None;
        }
    };
    if !meta.is_file() {
        tracing::warn!("password file \"{}\" is not a plain file", path.display());
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        );
        return None;
    }
    match fs::read(path) {
        Ok(bytes) => find_in(&String::from_utf8_lossy(&bytes), lookup),
        Err(e) => {
            tracing::warn!("password file \"{}\" cannot be read: {e}", path.display());
            None
        }
    }
}

/// The matching logic on the file's text.
pub(crate) fn find_in(text: &str, lookup: Lookup<'_>) -> Option<Secret> {
    let port = lookup.port.to_string();
    // libpq writes "localhost" for connections through the default socket directory.
    // Which directory is "default" is a libpq build option, so accept all usual ones,
    // and the literal directory as well.
    let host_aliases: &[&str] =
        if DEFAULT_SOCKET_DIRS.contains(&lookup.host) || lookup.host == "/run/postgresql" {
            &["localhost"]
        } else {
            &[]
        };

    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(rest) = std::iter::once(lookup.host)
            .chain(host_aliases.iter().copied())
            .find_map(|h| match_field(line, h))
        else {
            continue;
        };
        let Some(rest) = match_field(rest, &port)
            .and_then(|r| match_field(r, lookup.dbname))
            .and_then(|r| match_field(r, lookup.user))
        else {
            continue;
        };
        return Some(Secret::new(unescape_password(rest)));
    }
    None
}

/// If the first field of `line` matches `value`, the rest of the line after its ':'.
/// Mirrors libpq's `pwdfMatchesString`: a field of exactly `*` matches anything, a
/// backslash makes the next character literal, and the field must end with ':'.
fn match_field<'l>(line: &'l str, value: &str) -> Option<&'l str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut want = value.chars();
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        let (c, escaped) = if c == '\\' {
            match chars.next() {
                Some((_, next)) => (next, true),
                None => return None,
            }
        } else {
            (c, false)
        };
        if c == ':' && !escaped {
            return if want.next().is_none() {
                Some(&line[i + 1..])
            } else {
                None
            };
        }
        if want.next() != Some(c) {
            return None;
        }
    }
    None
}

/// The password runs to the next unescaped ':' or the end of the line.
fn unescape_password(rest: &str) -> String {
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' if chars.peek().is_some() => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn at<'a>(host: &'a str, port: u16, dbname: &'a str, user: &'a str) -> Lookup<'a> {
        Lookup {
            host,
            port,
            dbname,
            user,
        }
    }

    fn pw(text: &str, l: Lookup<'_>) -> Option<String> {
        find_in(text, l).map(|s| s.expose().to_owned())
    }

    #[test]
    fn exact_and_wildcard_matches_first_line_wins() {
        let text = "\
# comment:*:*:*:nope
db.example:5432:prod:app:first
*:*:*:app:second
*:*:*:*:third
";
        assert_eq!(
            pw(text, at("db.example", 5432, "prod", "app")).as_deref(),
            Some("first")
        );
        assert_eq!(
            pw(text, at("db.example", 5433, "prod", "app")).as_deref(),
            Some("second")
        );
        assert_eq!(
            pw(text, at("other", 1, "x", "bob")).as_deref(),
            Some("third")
        );
        assert_eq!(
            pw("db:5432:prod:app:x\n", at("db", 5432, "prod", "ap")),
            None
        );
        assert_eq!(
            pw("db:5432:prod:app:x\n", at("db", 5432, "prod", "appx")),
            None
        );
    }

    #[test]
    fn escapes_in_fields_and_password() {
        let text = r"my\:host:5432:d\\b:u:pa\:ss\\word:trailing";
        assert_eq!(
            pw(text, at("my:host", 5432, r"d\b", "u")).as_deref(),
            Some(r"pa:ss\word")
        );
        // '\*' is a literal star, not a wildcard.
        assert_eq!(pw(r"\*:5432:d:u:p", at("h", 5432, "d", "u")), None);
        assert_eq!(
            pw(r"\*:5432:d:u:p", at("*", 5432, "d", "u")).as_deref(),
            Some("p")
        );
        // A star that is only part of a field is literal too.
        assert_eq!(pw("h*:5432:d:u:p", at("hx", 5432, "d", "u")), None);
    }

    #[test]
    fn line_endings_and_short_lines() {
        assert_eq!(
            pw("h:1:d:u:secret\r\n", at("h", 1, "d", "u")).as_deref(),
            Some("secret")
        );
        assert_eq!(pw("h:1:d:u", at("h", 1, "d", "u")), None);
        assert_eq!(pw("h:1:d:u:", at("h", 1, "d", "u")).as_deref(), Some(""));
    }

    #[test]
    fn default_socket_dir_matches_localhost() {
        let text = "localhost:5432:d:u:viasocket\n/srv/sock:5432:d:u:literal\n";
        assert_eq!(
            pw(text, at("/var/run/postgresql", 5432, "d", "u")).as_deref(),
            Some("viasocket")
        );
        assert_eq!(
            pw(text, at("/tmp", 5432, "d", "u")).as_deref(),
            Some("viasocket")
        );
        assert_eq!(
            pw(text, at("/srv/sock", 5432, "d", "u")).as_deref(),
            Some("literal")
        );
    }

    fn write_file(mode: u32, text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("temp file: {e}"));
        f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("write: {e}"));
        fs::set_permissions(f.path(), fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod: {e}"));
        f
    }

    #[test]
    fn file_with_private_permissions_is_used() {
        let f = write_file(0o600, "*:*:*:*:fromfile\n");
        let got = lookup_password(f.path(), at("h", 5432, "d", "u"));
        assert_eq!(
            got.map(|s| s.expose().to_owned()).as_deref(),
            Some("fromfile")
        );
        let f = write_file(0o400, "*:*:*:*:readonly\n");
        let got = lookup_password(f.path(), at("h", 5432, "d", "u"));
        assert_eq!(
            got.map(|s| s.expose().to_owned()).as_deref(),
            Some("readonly")
        );
    }

    #[test]
    fn file_with_group_or_world_access_is_ignored() {
        for mode in [0o640, 0o604, 0o620, 0o610, 0o601, 0o644] {
            let f = write_file(mode, "*:*:*:*:leaked\n");
            assert!(
                lookup_password(f.path(), at("h", 5432, "d", "u")).is_none(),
                "mode {mode:o} must be ignored"
            );
        }
    }

    #[test]
    fn missing_file_or_directory_is_ignored() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        assert!(lookup_password(&dir.path().join("absent"), at("h", 1, "d", "u")).is_none());
        assert!(lookup_password(dir.path(), at("h", 1, "d", "u")).is_none());
    }
}
