//! A forward-only scanner over JSON text, for rules that rewrite a few values of a document in
//! place: it yields the spans of tokens and skips whole subtrees without building a tree, so
//! everything a rule does not touch is copied through byte for byte.
//!
//! The values come from PostgreSQL, which has already validated them; the scanner checks
//! structure only as far as it reads and reports what it cannot follow instead of panicking.

use std::borrow::Cow;

/// What the next value is, judged by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    True,
    False,
    Null,
}

pub struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

/// A string token: the span with its quotes, and whether it holds escapes.
#[derive(Debug, Clone, Copy)]
pub struct StrToken {
    pub start: usize,
    pub end: usize,
    pub escaped: bool,
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Scanner<'a> {
        Scanner { text, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.pos))
    }

    /// Skips whitespace.
    pub fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// Consumes `c` if it is next (after whitespace).
    pub fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.bytes().get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            self.fail(&format!("expected `{}`", c as char))
        }
    }

    /// The kind of the next value (after whitespace), without consuming it.
    pub fn peek(&mut self) -> Result<Kind, String> {
        self.ws();
        Ok(match self.bytes().get(self.pos) {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b'-' | b'0'..=b'9') => Kind::Number,
            Some(b't') => Kind::True,
            Some(b'f') => Kind::False,
            Some(b'n') => Kind::Null,
            Some(_) => return self.fail("expected a JSON value"),
            None => return self.fail("unexpected end of JSON"),
        })
    }

    /// Whether the text is fully consumed (trailing whitespace allowed).
    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.text.len()
    }

    /// Consumes a string token.
    pub fn string(&mut self) -> Result<StrToken, String> {
        self.ws();
        if self.bytes().get(self.pos) != Some(&b'"') {
            return self.fail("expected a string");
        }
        let start = self.pos;
        let b = self.bytes();
        let mut i = start + 1;
        let mut escaped = false;
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(StrToken {
                        start,
                        end: i + 1,
                        escaped,
                    });
                }
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        self.pos = b.len();
        self.fail("unterminated string")
    }

    /// The text of a string token, unescaped.
    pub fn unescape(&self, t: StrToken) -> Result<Cow<'a, str>, String> {
        if !t.escaped {
            return Ok(Cow::Borrowed(&self.text[t.start + 1..t.end - 1]));
        }
        serde_json::from_str::<String>(&self.text[t.start..t.end])
            .map(Cow::Owned)
            .map_err(|e| format!("bad string at byte {}: {e}", t.start))
    }

    /// Consumes a number, `true`, `false` or `null` and returns its text.
    pub fn scalar(&mut self) -> Result<&'a str, String> {
        self.ws();
        let start = self.pos;
        let b = self.bytes();
        let mut i = start;
        while let Some(c) = b.get(i) {
            if !matches!(c, b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z') {
                break;
            }
            i += 1;
        }
        if i == start {
            return self.fail("expected a JSON value");
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    /// Consumes one whole value, of any kind, and returns its span.
    pub fn skip_value(&mut self) -> Result<(usize, usize), String> {
        let kind = self.peek()?;
        let start = self.pos;
        match kind {
            Kind::String => {
                self.string()?;
            }
            Kind::Object | Kind::Array => {
                // Brackets balance once strings are skipped; PostgreSQL checked the rest.
                let b = self.bytes();
                let mut depth = 0usize;
                loop {
                    match b.get(self.pos) {
                        None => return self.fail("unexpected end of JSON"),
                        Some(b'"') => {
                            self.string()?;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                break;
                            }
                        }
                        Some(_) => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                self.scalar()?;
            }
        }
        Ok((start, self.pos))
    }
}

/// Whether `s` is exactly one JSON number.
pub fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_nested_values_with_brackets_inside_strings() {
        let doc = r#" {"a": [1, {"b": "x]}\"y"}], "c": null} tail"#;
        let mut s = Scanner::new(doc);
        let (start, end) = s.skip_value().expect("skips");
        assert_eq!(
            &doc[start..end],
            r#"{"a": [1, {"b": "x]}\"y"}], "c": null}"#
        );
        assert!(!s.at_end());
        let mut s = Scanner::new("[1, 2");
        assert!(s.skip_value().is_err());
        let mut s = Scanner::new(r#""open"#);
        assert!(s.skip_value().is_err());
    }

    #[test]
    fn strings_and_scalars() {
        let mut s = Scanner::new(r#"  "a\nb" -1.5e3 true"#);
        assert_eq!(s.peek(), Ok(Kind::String));
        let t = s.string().expect("string");
        assert!(t.escaped);
        assert_eq!(s.unescape(t).expect("unescapes"), "a\nb");
        assert_eq!(s.peek(), Ok(Kind::Number));
        assert_eq!(s.scalar(), Ok("-1.5e3"));
        assert_eq!(s.peek(), Ok(Kind::True));
        assert_eq!(s.scalar(), Ok("true"));
        assert!(s.at_end());
        assert!(s.peek().is_err());
    }

    #[test]
    fn numbers() {
        for ok in ["0", "-0", "12", "1.5", "-3.25e-7", "1E9"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "1e+", "NaN", "12a", "+1"] {
            assert!(!is_number(bad), "{bad}");
        }
    }
}
