//! Connection strings as libpq reads them: `postgresql://` / `postgres://` URLs and
//! `keyword=value` strings. This layer only splits and unescapes; it knows which keywords
//! exist but fills in nothing (see `resolve` for environment and defaults).

use super::error::ConnError;

/// The options given explicitly in a connection string. `Some("")` is kept distinct from
/// `None`: as in libpq, an explicit empty value blocks the environment variable and falls
/// through to the built-in default.
#[derive(Default, Clone, PartialEq, Eq)]
pub(crate) struct RawOptions {
    pub host: Option<String>,
    pub port: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub passfile: Option<String>,
    pub dbname: Option<String>,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    pub application_name: Option<String>,
    pub connect_timeout: Option<String>,
    pub options: Option<String>,
}

// Hand-written so that a stray `{:?}` can never print the password.
impl std::fmt::Debug for RawOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| super::REDACTED))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .finish_non_exhaustive()
    }
}

/// libpq keywords that restage does not implement. Named separately so the error says
/// "not supported" rather than "unknown" for a string that works with psql.
const UNSUPPORTED: &[&str] = &[
    "service",
    "hostaddr",
    "client_encoding",
    "fallback_application_name",
    "channel_binding",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslnegotiation",
    "sslcertmode",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "require_auth",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "min_protocol_version",
    "max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "replication",
    "target_session_attrs",
    "load_balance_hosts",
    "scram_client_key",
    "scram_server_key",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
];

impl RawOptions {
    /// Store one keyword's value (a later occurrence overrides an earlier one, as in libpq).
    pub fn set(&mut self, keyword: &str, value: String) -> Result<(), ConnError> {
        let slot = match keyword {
            "host" => &mut self.host,
            "port" => &mut self.port,
            "user" => &mut self.user,
            "password" => &mut self.password,
            "passfile" => &mut self.passfile,
            "dbname" => &mut self.dbname,
            "sslmode" => &mut self.sslmode,
            "sslrootcert" => &mut self.sslrootcert,
            "sslcert" => &mut self.sslcert,
            "sslkey" => &mut self.sslkey,
            "application_name" => &mut self.application_name,
            "connect_timeout" => &mut self.connect_timeout,
            "options" => &mut self.options,
            // Deprecated libpq spelling, still accepted by libpq itself.
            "requiressl" => {
                let mode = if value.starts_with('1') {
                    "require"
                } else {
                    "prefer"
                };
                self.sslmode = Some(mode.to_owned());
                return Ok(());
            }
            // No effect in any current libpq (compression is disabled in TLS libraries).
            "sslcompression" => return Ok(()),
            // restage never uses GSSAPI encryption, which is what "disable"/"prefer" allow.
            "gssencmode" if value == "disable" || value == "prefer" => return Ok(()),
            k if UNSUPPORTED.contains(&k) || k == "gssencmode" => {
                return Err(ConnError::UnsupportedKeyword {
                    keyword: k.to_owned(),
                })
            }
            k => {
                return Err(ConnError::UnknownKeyword {
                    keyword: k.to_owned(),
                })
            }
        };
        *slot = Some(value);
        Ok(())
    }
}

/// Parse either form. An empty string is valid and means "everything from the environment".
pub(crate) fn parse_conn_string(input: &str) -> Result<RawOptions, ConnError> {
    if let Some(rest) = input
        .strip_prefix("postgresql://")
        .or_else(|| input.strip_prefix("postgres://"))
    {
        parse_url(rest)
    } else {
        parse_keyword_value(input)
    }
}

/// C `isspace` in the C locale, which is what libpq's parser uses.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// `keyword = value …`, values optionally in single quotes; a backslash escapes the next
/// character both inside and outside quotes (libpq `conninfo_parse`).
fn parse_keyword_value(input: &str) -> Result<RawOptions, ConnError> {
    let mut opts = RawOptions::default();
    let mut chars = input.chars().peekable();
    // Used to avoid echoing words that are probably a mis-quoted password.
    let mut previous_keyword: Option<String> = None;

    loop {
        while chars.next_if(|c| is_space(*c)).is_some() {}
        if chars.peek().is_none() {
            break;
        }

        let mut keyword = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !is_space(*c)) {
            keyword.push(c);
        }
        while chars.next_if(|c| is_space(*c)).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            let message = if previous_keyword.as_deref() == Some("password") {
                "a word after the password value has no \"=\"; quote values that contain spaces: password='…'"
                    .to_owned()
            } else {
                format!("missing \"=\" after \"{keyword}\"")
            };
            return Err(ConnError::Syntax { message });
        }
        while chars.next_if(|c| is_space(*c)).is_some() {}

        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(ConnError::Syntax {
                            message: format!("unterminated quoted value for \"{keyword}\""),
                        })
                    }
                    Some('\\') => {
                        if let Some(c) = chars.next() {
                            value.push(c);
                        }
                    }
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !is_space(*c)) {
                if c == '\\' {
                    if let Some(c) = chars.next() {
                        value.push(c);
                    }
                } else {
                    value.push(c);
                }
            }
        }

        opts.set(&keyword, value)?;
        previous_keyword = Some(keyword);
    }
    Ok(opts)
}

/// Which part of a URL a piece came from, for error messages (never the password's text).
#[derive(Clone, Copy)]
enum UrlPart {
    User,
    Password,
    Host,
    Port,
    Dbname,
    Parameter,
}

impl UrlPart {
    fn name(self) -> &'static str {
        match self {
            UrlPart::User => "user name",
            UrlPart::Password => "password",
            UrlPart::Host => "host",
            UrlPart::Port => "port",
            UrlPart::Dbname => "database name",
            UrlPart::Parameter => "query parameter",
        }
    }
}

/// `[user[:password]@][host][:port][/dbname][?k=v&…]` after the scheme (libpq
/// `conninfo_uri_parse_options`): the first `@` before any `/` ends the credentials, IPv6
/// hosts are bracketed, every part is percent-decoded, and query parameters override the
/// parts before them.
fn parse_url(rest: &str) -> Result<RawOptions, ConnError> {
    let mut opts = RawOptions::default();

    // Credentials: libpq looks for '@' up to the first '/', so '?' may appear in a password.
    let after_creds = match rest.find(['@', '/']) {
        Some(at) if rest[at..].starts_with('@') => {
            let creds = &rest[..at];
            let (user, password) = match creds.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (creds, None),
            };
            if !user.is_empty() {
                opts.user = Some(decode(user, UrlPart::User)?);
            }
            if let Some(p) = password.filter(|p| !p.is_empty()) {
                opts.password = Some(decode(p, UrlPart::Password)?);
            }
            &rest[at + 1..]
        }
        _ => rest,
    };
    let netloc_end = after_creds.find(['/', '?']).unwrap_or(after_creds.len());
    let (netloc, tail) = after_creds.split_at(netloc_end);

    parse_netloc(netloc, &mut opts)?;

    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    if let Some(db) = path.strip_prefix('/') {
        // An empty path is "not given", so PGDATABASE still applies (libpq does the same).
        if !db.is_empty() {
            opts.dbname = Some(decode(db, UrlPart::Dbname)?);
        }
    }
    if let Some(query) = query {
        parse_query(query, &mut opts)?;
    }
    Ok(opts)
}

fn parse_netloc(netloc: &str, opts: &mut RawOptions) -> Result<(), ConnError> {
    if netloc.is_empty() {
        return Ok(());
    }
    if netloc.contains(',') {
        return Err(multiple_hosts(netloc));
    }
    let (host, port) = if let Some(v6) = netloc.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err(url_error("missing \"]\" after the IPv6 host address"));
        };
        if addr.is_empty() {
            return Err(url_error("the IPv6 host address in brackets is empty"));
        }
        let port = match after.chars().next() {
            None => None,
            Some(':') => Some(&after[1..]),
            Some(c) => {
                return Err(url_error(&format!(
                    "unexpected character \"{c}\" after the IPv6 host address (expected \":\" or \"/\")"
                )))
            }
        };
        (addr, port)
    } else {
        match netloc.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (netloc, None),
        }
    };
    if !host.is_empty() {
        opts.host = Some(decode(host, UrlPart::Host)?);
    }
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        opts.port = Some(decode(port, UrlPart::Port)?);
    }
    Ok(())
}

fn parse_query(query: &str, opts: &mut RawOptions) -> Result<(), ConnError> {
    // libpq accepts an empty query and one trailing '&', but not an empty pair inside.
    let query = query.strip_suffix('&').unwrap_or(query);
    if query.is_empty() {
        return Ok(());
    }
    for pair in query.split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(url_error(&format!(
                "query parameter \"{}\" has no \"=\"",
                first_chars(pair)
            )));
        };
        let key = decode(key, UrlPart::Parameter)?;
        if value.contains('=') {
            return Err(url_error(&format!(
                "query parameter \"{key}\" has more than one \"=\" (write \"=\" in values as %3D)"
            )));
        }
        let value = if key == "password" {
            decode(value, UrlPart::Password)?
        } else {
            decode(value, UrlPart::Parameter)?
        };
        // JDBC spelling, accepted by libpq.
        if key == "ssl" && value == "true" {
            opts.sslmode = Some("require".to_owned());
            continue;
        }
        opts.set(&key, value)?;
    }
    Ok(())
}

/// A query parameter without '=' could be a pasted secret: show only its start.
fn first_chars(s: &str) -> String {
    const SHOWN: usize = 16;
    if s.chars().count() > SHOWN {
        format!("{}…", s.chars().take(SHOWN).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn url_error(what: &str) -> ConnError {
    ConnError::Syntax {
        message: format!("URL: {what}"),
    }
}

fn multiple_hosts(netloc: &str) -> ConnError {
    ConnError::MultipleHosts {
        hosts: netloc.to_owned(),
    }
}

/// Percent-decoding as libpq does it: `%XX` only (`+` stays `+`), `%00` refused, leading
/// and trailing spaces dropped, inner spaces refused. The result must be UTF-8.
fn decode(s: &str, part: UrlPart) -> Result<String, ConnError> {
    // The password's text never goes into a message; other parts are shown.
    let shown = |s: &str| match part {
        UrlPart::Password => String::new(),
        _ => format!(" \"{s}\""),
    };
    let trimmed = s.trim_matches(' ');
    if trimmed.contains(' ') {
        return Err(url_error(&format!(
            "unexpected space in the {}{}; write spaces as %20",
            part.name(),
            shown(s)
        )));
    }
    let bytes = trimmed.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                let h = std::str::from_utf8(h).ok()?;
                u8::from_str_radix(h, 16).ok()
            });
            match hex {
                Some(0) => {
                    return Err(url_error(&format!(
                        "forbidden %00 in the {}{}",
                        part.name(),
                        shown(s)
                    )))
                }
                // from_str_radix accepts a leading '+', which is not a hex digit.
                Some(b) if bytes[i + 1] != b'+' => {
                    out.push(b);
                    i += 3;
                }
                _ => {
                    return Err(url_error(&format!(
                        "invalid percent-encoding in the {}{}",
                        part.name(),
                        shown(s)
                    )))
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        url_error(&format!(
            "the {}{} is not valid UTF-8 after percent-decoding",
            part.name(),
            shown(s)
        ))
    })
}

/// Percent-encode everything but RFC 3986 unreserved characters, so that a value can be
/// placed in any URL part and read back by `decode`.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &str) -> RawOptions {
        match parse_conn_string(s) {
            Ok(o) => o,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn err(s: &str) -> String {
        match parse_conn_string(s) {
            Ok(o) => panic!("{s:?} should fail, got {o:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn keyword_value_basic() {
        let o = kv("host=localhost port=5432 dbname=mydb user=app");
        assert_eq!(o.host, some("localhost"));
        assert_eq!(o.port, some("5432"));
        assert_eq!(o.dbname, some("mydb"));
        assert_eq!(o.user, some("app"));
        assert_eq!(o.password, None);
    }

    #[test]
    fn keyword_value_quoting_and_escapes() {
        let o = kv(r"dbname='my db' password='a\'b' options='-c search_path=x\\y'");
        assert_eq!(o.dbname, some("my db"));
        assert_eq!(o.password, some("a'b"));
        assert_eq!(o.options, some(r"-c search_path=x\y"));
        // Backslash escapes work unquoted too, including an escaped space.
        let o = kv(r"password=a\ b\\c user=x");
        assert_eq!(o.password, some(r"a b\c"));
        assert_eq!(o.user, some("x"));
        // Empty quoted value is an explicit empty string, not absent.
        let o = kv("host='' port=1");
        assert_eq!(o.host, some(""));
    }

    #[test]
    fn keyword_value_whitespace_rules() {
        let o = kv("  host = db.example \t port\n=\n6543  ");
        assert_eq!(o.host, some("db.example"));
        assert_eq!(o.port, some("6543"));
        // libpq skips blanks after '=', so "host= port=1" makes host "port=1".
        let o = kv("host= port=1");
        assert_eq!(o.host, some("port=1"));
        assert_eq!(o.port, None);
        // Later occurrences win.
        assert_eq!(kv("user=a user=b").user, some("b"));
        assert_eq!(kv(""), RawOptions::default());
        assert_eq!(kv("   "), RawOptions::default());
    }

    #[test]
    fn keyword_value_errors() {
        assert_eq!(
            err("host=a mydb"),
            "invalid connection string: missing \"=\" after \"mydb\""
        );
        let e = err("host=a dbname='unterminated");
        assert!(
            e.contains("unterminated quoted value for \"dbname\""),
            "{e}"
        );
        assert_eq!(
            err("hots=a"),
            "invalid connection string: unknown option \"hots\""
        );
        assert_eq!(
            err("host=a channel_binding=require"),
            "invalid connection string: option \"channel_binding\" is not supported by restage"
        );
        assert!(err("gssencmode=require").contains("\"gssencmode\" is not supported"));
        assert_eq!(
            kv("gssencmode=disable sslcompression=1"),
            RawOptions::default()
        );
    }

    #[test]
    fn unquoted_password_with_space_is_not_echoed() {
        let e = err("user=app password=correct horse");
        assert!(!e.contains("horse"), "{e}");
        assert!(e.contains("quote values"), "{e}");
    }

    #[test]
    fn requiressl_maps_to_sslmode() {
        assert_eq!(kv("requiressl=1").sslmode, some("require"));
        assert_eq!(kv("requiressl=0").sslmode, some("prefer"));
    }

    #[test]
    fn url_full() {
        let o = kv("postgresql://app:s3cr%40t@db.example:6543/prod?sslmode=verify-full&application_name=x%20y");
        assert_eq!(o.user, some("app"));
        assert_eq!(o.password, some("s3cr@t"));
        assert_eq!(o.host, some("db.example"));
        assert_eq!(o.port, some("6543"));
        assert_eq!(o.dbname, some("prod"));
        assert_eq!(o.sslmode, some("verify-full"));
        assert_eq!(o.application_name, some("x y"));
    }

    #[test]
    fn url_short_scheme_and_partial_forms() {
        let o = kv("postgres://localhost");
        assert_eq!(o.host, some("localhost"));
        assert_eq!(o.dbname, None);
        let o = kv("postgresql://");
        assert_eq!(o, RawOptions::default());
        let o = kv("postgresql:///mydb");
        assert_eq!(o.host, None);
        assert_eq!(o.dbname, some("mydb"));
        let o = kv("postgresql://user@");
        assert_eq!(o.user, some("user"));
        assert_eq!(o.host, None);
        let o = kv("postgresql://:5433/");
        assert_eq!(o.port, some("5433"));
        assert_eq!(o.dbname, None);
        let o = kv("postgresql://u:@h");
        assert_eq!(o.password, None);
        let o = kv("postgresql://h?dbname=x");
        assert_eq!(o.host, some("h"));
        assert_eq!(o.dbname, some("x"));
    }

    #[test]
    fn url_ipv6() {
        let o = kv("postgresql://[::1]:5433/db");
        assert_eq!(o.host, some("::1"));
        assert_eq!(o.port, some("5433"));
        let o = kv("postgresql://u@[2001:db8::7]/db");
        assert_eq!(o.host, some("2001:db8::7"));
        assert_eq!(o.port, None);
        assert!(err("postgresql://[::1/db").contains("missing \"]\""));
        assert!(err("postgresql://[]/db").contains("empty"));
        assert!(err("postgresql://[::1]x/db").contains("unexpected character \"x\""));
    }

    #[test]
    fn url_socket_dirs() {
        let o = kv("postgresql://%2Fvar%2Frun%2Fpostgresql/db");
        assert_eq!(o.host, some("/var/run/postgresql"));
        assert_eq!(o.dbname, some("db"));
        let o = kv("postgresql:///db?host=/var/run/postgresql&port=5433");
        assert_eq!(o.host, some("/var/run/postgresql"));
        assert_eq!(o.port, some("5433"));
        // Query parameters override the authority.
        let o = kv("postgresql://ignored/db?host=%2Ftmp");
        assert_eq!(o.host, some("/tmp"));
    }

    #[test]
    fn url_password_may_contain_reserved_characters() {
        // libpq ends credentials at the first '@' before any '/', so ':' and '?' may
        // appear literally in the password.
        let o = kv("postgresql://u:a:b?c@h/db");
        assert_eq!(o.user, some("u"));
        assert_eq!(o.password, some("a:b?c"));
        assert_eq!(o.host, some("h"));
        let o = kv("postgresql://u:p%2Fq%25@h/db");
        assert_eq!(o.password, some("p/q%"));
        // '+' is not a space in libpq URLs.
        assert_eq!(kv("postgresql://u:a+b@h").password, some("a+b"));
    }

    #[test]
    fn url_query_parameter_rules() {
        assert_eq!(kv("postgresql://h/db?ssl=true").sslmode, some("require"));
        assert_eq!(
            err("postgresql://h/db?sslmod=require"),
            "invalid connection string: unknown option \"sslmod\""
        );
        assert!(err("postgresql://h/db?sslmode").contains("has no \"=\""));
        assert!(err("postgresql://h/db?options=-c%20a=b").contains("more than one \"=\""));
        assert_eq!(kv("postgresql://h/db?").dbname, some("db"));
        assert_eq!(kv("postgresql://h/db?port=1&").port, some("1"));
        assert!(err("postgresql://h/db?port=1&&user=u").contains("has no \"=\""));
        let o = kv("postgresql://h/db?options=-c%20a%3Db&connect_timeout=5");
        assert_eq!(o.options, some("-c a=b"));
        assert_eq!(o.connect_timeout, some("5"));
    }

    #[test]
    fn url_decoding_errors() {
        assert!(err("postgresql://h/d%zzb")
            .contains("invalid percent-encoding in the database name \"d%zzb\""));
        assert!(err("postgresql://h/d%0").contains("invalid percent-encoding"));
        assert!(err("postgresql://h/d%00").contains("forbidden %00"));
        assert!(err("postgresql://h/d%+1").contains("invalid percent-encoding"));
        assert!(err("postgresql://h/d%FF").contains("not valid UTF-8"));
        assert!(err("postgresql://h/a b").contains("write spaces as %20"));
        assert_eq!(kv("postgresql://h/caf%C3%A9").dbname, some("café"));
    }

    #[test]
    fn url_password_errors_do_not_echo_the_password() {
        for url in [
            "postgresql://u:sec%zzret@h/db",
            "postgresql://u:sec%00ret@h/db",
            "postgresql://u:sec%FFret@h/db",
            "postgresql://u:sec ret@h/db",
            "postgresql://h/db?password=sec%zzret",
        ] {
            let e = err(url);
            assert!(!e.contains("sec"), "{url}: {e}");
            assert!(e.contains("password"), "{url}: {e}");
        }
    }

    #[test]
    fn multiple_hosts_are_refused() {
        assert!(err("postgresql://a:1,b:2/db").contains("several hosts"));
        assert!(err("postgresql://[::1],[::2]/db").contains("several hosts"));
    }

    #[test]
    fn encode_round_trips_through_decode() {
        for s in ["/var/run/postgresql", "a b", "ü@:/?#%", "plain-._~"] {
            let e = encode(s);
            assert!(!e.contains('/') && !e.contains(' ') && !e.contains('@'));
            assert_eq!(decode(&e, UrlPart::Host).ok().as_deref(), Some(s));
        }
    }

    #[test]
    fn debug_never_shows_password() {
        let o = kv("password=hunter2 user=u");
        let d = format!("{o:?}");
        assert!(!d.contains("hunter2"), "{d}");
    }
}
