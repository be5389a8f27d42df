//! Names of the databases a refresh makes beside the live one. PostgreSQL truncates names
//! beyond 63 bytes (NAMEDATALEN - 1) silently, so two long names could collide: the live
//! database's part is shortened instead, on a character boundary.

/// The longest database name PostgreSQL keeps as given.
const MAX_NAME: usize = 63;

const SHADOW_SUFFIX: &str = "_restage_shadow";
const PREV_INFIX: &str = "_restage_prev_";

/// Comment marks: a database carrying one was made by `refresh` and may be dropped by it.
pub const SHADOW_MARK: &str = "restage: refresh shadow of";
pub const PREVIOUS_MARK: &str = "restage: previous live database";

/// The shadow database the next live data is built in.
pub fn shadow(live: &str) -> String {
    format!("{}{SHADOW_SUFFIX}", shorten(live, SHADOW_SUFFIX.len()))
}

/// `<live>_restage_prev_<YYYYMMDDhhmmss>` for the database being replaced at `now`.
pub fn previous(live: &str, now: std::time::SystemTime) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let suffix = format!("{PREV_INFIX}{stamp}");
    format!("{}{suffix}", shorten(live, suffix.len()))
}

/// The prefix every previous database of `live` starts with.
pub fn previous_prefix(live: &str) -> String {
    // The timestamp is always 14 digits.
    format!("{}{PREV_INFIX}", shorten(live, PREV_INFIX.len() + 14))
}

fn shorten(live: &str, suffix: usize) -> &str {
    let mut end = live.len().min(MAX_NAME.saturating_sub(suffix));
    while !live.is_char_boundary(end) {
        end -= 1;
    }
    &live[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn names_fit_postgres_identifiers() {
        let at = UNIX_EPOCH + Duration::from_secs(1_764_656_202);
        assert_eq!(shadow("app"), "app_restage_shadow");
        assert_eq!(previous("app", at), "app_restage_prev_20251202061642");
        assert!(previous("app", at).starts_with(&previous_prefix("app")));
        let long = "é".repeat(40);
        assert!(shadow(&long).len() <= MAX_NAME);
        assert!(previous(&long, at).len() <= MAX_NAME);
        assert!(previous(&long, at).starts_with(&previous_prefix(&long)));
    }
}
