//! A string that must never reach a log line, an error message or `{:?}` output.

use std::fmt;

/// A secret value (password, key). `Debug` and `Display` print `****`; the value is only
/// reachable through [`Secret::expose`], so every place that reveals it is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// What `Debug`/`Display` print instead of the value.
pub const REDACTED: &str = "****";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call this only where the value is handed to the thing that needs
    /// it (the wire protocol, a child's environment), never to format a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "****");
        assert_eq!(format!("{s}"), "****");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(****)");
        assert_eq!(format!("{s:#?}"), "****");
    }

    #[test]
    fn expose_returns_the_value() {
        let s = Secret::from("hunter2");
        assert_eq!(s.expose(), "hunter2");
        assert!(!s.is_empty());
        assert!(Secret::from(String::new()).is_empty());
    }
}
