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

#[derive(Debug, thiserror::Error)]
pub enum DotenvError {
    #[error("{key}: `fly secrets import` cannot read this value back unchanged ({why})")]
    Fly { key: String, why: &'static str },
}

/// The file as `fly secrets import` reads it: `NAME=VALUE` taken literally (one pair of
/// surrounding double quotes is stripped, nothing is unescaped, leading spaces are dropped),
/// and `NAME="""…"""` across lines. Values it would read back differently are refused.
pub fn render_fly(entries: &BTreeMap<String, Secret>) -> Result<String, DotenvError> {
    let mut out = String::new();
    for (key, value) in entries {
        let v = value.expose();
        let refuse = |why| DotenvError::Fly {
            key: key.clone(),
            why,
        };
        if v.starts_with("\"\"\"") {
            return Err(refuse("it starts with three double quotes"));
        }
        if v.contains('\r') {
            return Err(refuse("it holds a carriage return"));
        }
        out.push_str(key);
        out.push('=');
        if v.contains('\n') {
            let lines: Vec<&str> = v.split('\n').collect();
            if lines[1..lines.len() - 1]
                .iter()
                .any(|l| l.ends_with("\"\"\""))
            {
                return Err(refuse("a line ends with three double quotes"));
            }
            out.push_str("\"\"\"");
            out.push_str(v);
            out.push_str("\"\"\"");
        } else if v.starts_with(' ') || (v.starts_with('"') && v.ends_with('"')) {
            out.push('"');
            out.push_str(v);
            out.push('"');
        } else {
            out.push_str(v);
        }
        out.push('\n');
    }
    Ok(out)
}

/// Reads a file the way `fly secrets import` does (see [`render_fly`]).
pub fn parse_fly(text: &str) -> BTreeMap<String, Secret> {
    let mut out = BTreeMap::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some((key, mut value)) = open.take() {
            match line.strip_suffix("\"\"\"") {
                Some(last) => {
                    value.push_str(last);
                    out.insert(key, Secret::new(value));
                }
                None => {
                    value.push_str(line);
                    value.push('\n');
                    open = Some((key, value));
                }
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_owned();
        let value = value.trim_start_matches(' ');
        if let Some(first) = value.strip_prefix("\"\"\"") {
            open = Some((key, format!("{first}\n")));
        } else if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            out.insert(key, Secret::new(&value[1..value.len() - 1]));
        } else {
            out.insert(key, Secret::new(value));
        }
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

    #[test]
    fn fly_reads_back_what_render_fly_writes() {
        let mut m = BTreeMap::new();
        m.insert("A".to_owned(), Secret::new("plain"));
        m.insert("B".to_owned(), Secret::new("{\"password\": \"p\\\\w\"}"));
        m.insert(
            "C".to_owned(),
            Secret::new("-----BEGIN KEY-----\nabc\n-----END KEY-----\n"),
        );
        m.insert("D".to_owned(), Secret::new("\"quoted\""));
        m.insert("E".to_owned(), Secret::new("  leading spaces and $dollar"));
        let text = render_fly(&m).expect("render");
        // Literal, as Fly reads it: no escapes.
        assert!(text.contains("B={\"password\": \"p\\\\w\"}\n"), "{text}");
        let back = parse_fly(&text);
        for (k, v) in &m {
            assert_eq!(back[k].expose(), v.expose(), "{k}");
        }
        // The standard rendering escapes quotes, which Fly would keep literally.
        let standard = parse_fly(&render(&m));
        assert_ne!(standard["B"].expose(), m["B"].expose());
        m.insert("F".to_owned(), Secret::new("\"\"\"x"));
        assert!(render_fly(&m).is_err());
    }
}
