//! Connection strings and the size of a run.

use crate::app::Failure;
use crate::conn::ConnSpec;
use crate::exit;

/// `application_name` of every session a data command opens, so that a DBA can tell them
/// apart in `pg_stat_activity`.
pub(crate) const APPLICATION_NAME: &str = "restage";

/// A connection string given as `flag`; a malformed one is a usage error naming the flag.
pub(crate) fn parse_conn(flag: &str, text: &str) -> Result<ConnSpec, Failure> {
    ConnSpec::parse(text).map_err(|e| Failure::new(exit::USAGE, format!("{flag}: {e}")))
}

/// A connection of an environment spec (`[source]`, `[database]`…): the environment variable
/// its `url_env` names, else its `url`; `what` names it in errors.
pub(crate) fn spec_connection(
    what: &str,
    env: Option<&toml::Spanned<String>>,
    url: Option<&toml::Spanned<String>>,
) -> Result<ConnSpec, Failure> {
    let text = match (env, url) {
        (Some(var), _) => std::env::var(var.get_ref()).map_err(|_| {
            Failure::new(
                exit::USAGE,
                format!("{what}: environment variable {} is not set", var.get_ref()),
            )
        })?,
        (None, Some(u)) => u.get_ref().clone(),
        (None, None) => return Err(Failure::new(exit::USAGE, format!("{what}: no connection"))),
    };
    parse_conn(what, &text)
}

/// Tables copied at once: `--jobs`, or one per CPU core (2 when that cannot be known).
pub(crate) fn jobs(requested: Option<usize>) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_at_least_one() {
        assert_eq!(jobs(Some(0)), 1);
        assert_eq!(jobs(Some(3)), 3);
        assert!(jobs(None) >= 1);
    }

    #[test]
    fn a_malformed_connection_string_is_a_usage_error_naming_the_flag() {
        let err = parse_conn("--target", "postgresql://[").err();
        let err = err.map(|f| (f.code, f.message.starts_with("--target: ")));
        assert_eq!(err, Some((exit::USAGE, true)));
    }
}
