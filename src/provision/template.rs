//! Secret templates: `{{ .key }}` and `{{ .key | urlquery }}`, the subset of the
//! external-secrets (Go template) syntax a value assembled from other keys needs. The same
//! text is rendered here for Secrets and sealed secrets, and handed verbatim to the
//! external-secrets controller for ExternalSecrets, so both produce the same value.

use std::collections::BTreeMap;

use super::secrets::Secret;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `{{{{` at byte {0}")]
    Unclosed(usize),
    #[error("`{{{{ {0} }}}}` is not `{{{{ .key }}}}` or `{{{{ .key | urlquery }}}}`")]
    Unsupported(String),
    #[error("`{{{{ .{0} }}}}` names no key of the object")]
    UnknownKey(String),
}

/// One piece of a parsed template.
enum Part<'t> {
    Text(&'t str),
    Key { name: &'t str, urlquery: bool },
}

fn parse(template: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        parts.push(Part::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or(TemplateError::Unclosed(offset + start))?;
        let inner = after[..end].trim();
        let (expr, urlquery) = match inner.split_once('|') {
            Some((e, f)) if f.trim() == "urlquery" => (e.trim(), true),
            Some(_) => return Err(TemplateError::Unsupported(inner.to_owned())),
            None => (inner, false),
        };
        let name = expr
            .strip_prefix('.')
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| TemplateError::Unsupported(inner.to_owned()))?;
        parts.push(Part::Key { name, urlquery });
        offset += start + 2 + end + 2;
        rest = &after[end + 2..];
    }
    parts.push(Part::Text(rest));
    Ok(parts)
}

/// The keys a template reads (to check a spec before any value exists).
pub fn keys(template: &str) -> Result<Vec<String>, TemplateError> {
    Ok(parse(template)?
        .into_iter()
        .filter_map(|p| match p {
            Part::Key { name, .. } => Some(name.to_owned()),
            Part::Text(_) => None,
        })
        .collect())
}

/// The template with each key replaced by its value.
pub fn render(template: &str, data: &BTreeMap<String, Secret>) -> Result<Secret, TemplateError> {
    let mut out = String::new();
    for part in parse(template)? {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Key { name, urlquery } => {
                let v = data
                    .get(name)
                    .ok_or_else(|| TemplateError::UnknownKey(name.to_owned()))?;
                if urlquery {
                    out.push_str(&query_escape(v.expose()));
                } else {
                    out.push_str(v.expose());
                }
            }
        }
    }
    Ok(Secret::new(out))
}

/// Go's `url.QueryEscape` (what the `urlquery` function applies): unreserved characters
/// stay, a space becomes `+`, everything else is percent-encoded.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> BTreeMap<String, Secret> {
        BTreeMap::from([
            ("user".to_owned(), Secret::new("app")),
            ("password".to_owned(), Secret::new("p@ss/w rd")),
        ])
    }

    #[test]
    fn keys_are_substituted_and_urlquery_escapes() {
        let url = render(
            "postgresql://{{ .user }}:{{ .password | urlquery }}@db/app",
            &data(),
        )
        .expect("render");
        assert_eq!(url.expose(), "postgresql://app:p%40ss%2Fw+rd@db/app");
        assert_eq!(
            keys("{{.user}}-{{ .password }}").expect("keys"),
            vec!["user", "password"]
        );
    }

    #[test]
    fn unknown_keys_and_other_syntax_are_errors() {
        assert_eq!(
            render("{{ .nope }}", &data()).map(|s| s.expose().to_owned()),
            Err(TemplateError::UnknownKey("nope".into()))
        );
        assert!(matches!(
            keys("{{ .a | b64enc }}"),
            Err(TemplateError::Unsupported(_))
        ));
        assert!(matches!(keys("x {{ .a"), Err(TemplateError::Unclosed(2))));
    }
}
