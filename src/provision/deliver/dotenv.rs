//! dotenv files (`KEY=value` lines), also the input of `fly secrets import`.

use std::collections::BTreeMap;

use crate::conn::Secret;

fn plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:@%+=?&,".contains(&b))
}

/// The file content: sorted `KEY=value` lines; values outside a safe character set are
/// double-quoted with `\\`, `\"`, `\n` escapes.
pub fn render(entries: &BTreeMap<String, Secret>) -> String {
    let mut out = String::new();
    for (key, value) in entries {
        let v = value.expose();
        out.push_str(key);
        out.push('=');
        if plain(v) {
            out.push_str(v);
        } else {
            out.push('"');
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    '$' => out.push_str("\\$"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('\n');
    }
    out
}

/// Reads what [`render`] writes (and simple hand-written files: comments, `export`).
pub fn parse(text: &str) -> BTreeMap<String, Secret> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let raw = raw.trim();
        let value = if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let mut v = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => v.push('\n'),
                        Some(other) => v.push(other),
                        None => {}
                    }
                } else {
                    v.push(c);
                }
            }
            v
        } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            inner.to_owned()
        } else {
            raw.to_owned()
        };
        out.insert(key.trim().to_owned(), Secret::new(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_quoting() {
        let mut m = BTreeMap::new();
        m.insert("A".to_owned(), Secret::new("plain-value_1"));
        m.insert(
            "B".to_owned(),
            Secret::new("has \"quotes\" and $dollar\nnewline"),
        );
        m.insert("C".to_owned(), Secret::new("{\"json\": 1}"));
        let text = render(&m);
        assert!(text.starts_with("A=plain-value_1\n"));
        let back = parse(&text);
        for (k, v) in &m {
            assert_eq!(back[k].expose(), v.expose(), "{k}");
        }
    }
}
