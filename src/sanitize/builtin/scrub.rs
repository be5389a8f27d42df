//! `scrub`: personal tokens inside free text, json/jsonb, xml and text-like bytea (email
//! addresses, phone and card numbers, IBANs, IPv4 addresses, national-id-like numbers) are
//! replaced by the value their own rule gives them in their domain, so an address inside an
//! audit-log document becomes the same fake address as in `users.email` (rule `email`, domain
//! `email` unless `domains` says otherwise). Every other byte of the value stays as it was.
//! Replacements are ASCII without quotes, backslashes or markup, so json and xml stay valid.

use super::util::*;
use crate::sanitize::detect::{self, TokenKind};
use crate::sanitize::registry;
use crate::sanitize::spec::*;

pub struct Scrub;

static SPEC: RuleSpec = RuleSpec {
    name: "scrub",
    summary: "Replace personal tokens inside text, json, xml or bytea (emails, phones, card \
              numbers, IBANs, IPv4 addresses, national-id-like numbers) with the values their \
              own rules give them; everything else is kept byte for byte.",
    params: &[
        ParamSpec {
            name: "kinds",
            kind: ParamKind::StringList,
            required: false,
            doc: "token kinds replaced: email, phone, card, iban, ip, national_id; default all",
        },
        ParamSpec {
            name: "domains",
            kind: ParamKind::Table,
            required: false,
            doc: "kind → mapping domain, e.g. { email = \"person_email\" }, so tokens map like \
                  the columns of that domain; default: the rule's name (email → \"email\", \
                  phone → \"phone\", card → \"credit_card\", iban → \"iban\", ip → \"ip\", \
                  national_id → \"national_id\")",
        },
        ParamSpec {
            name: "mail_domain",
            kind: ParamKind::String,
            required: false,
            doc: "as the email rule's `mail_domain`: give the same value as the email columns \
                  of that domain so tokens map alike",
        },
    ],
    accepts: &[
        TypeClass::Text,
        TypeClass::Json,
        TypeClass::Bytea,
        TypeClass::Other,
    ],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::Unbounded,
    example: r#"payload = { rule = "scrub", domains = { email = "person_email" } }"#,
};

/// The rule that maps each kind of token, and its default domain.
fn rule_of(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Email => "email",
        TokenKind::Phone => "phone",
        TokenKind::Card => "credit_card",
        TokenKind::Iban => "iban",
        TokenKind::Ip => "ip",
        TokenKind::NationalId => "national_id",
    }
}

/// How the value's bytes hold its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// text, varchar, json, xml, bytea: the bytes are the text.
    Plain,
    /// jsonb: a version byte (1), then the text.
    Jsonb,
}

struct ScrubValue {
    layout: Layout,
    /// Per kind (in `TokenKind::ALL` order): the token's sanitizer, None when not replaced.
    rules: Vec<Option<Box<dyn ColumnSanitizer>>>,
    /// Domain of national-id-like numbers (no rule of their own: digits replaced in place).
    national_id_domain: Option<String>,
}

fn kind_index(kind: TokenKind) -> usize {
    TokenKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

impl ScrubValue {
    fn replace(
        &self,
        kind: TokenKind,
        token: &[u8],
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, SanitizeError> {
        if kind == TokenKind::NationalId {
            let Some(domain) = &self.national_id_domain else {
                return Ok(false);
            };
            // Every digit from the keyed hash, separators kept; never the original digits.
            let mut s = Stream::of(ctx.key, "scrub.national_id", domain, token);
            let start = out.len();
            for &b in token {
                out.push(if b.is_ascii_digit() { s.digit() } else { b });
            }
            if &out[start..] == token {
                if let Some(d) = out[start..].iter_mut().find(|b| b.is_ascii_digit()) {
                    *d = b'0' + (*d - b'0' + 1) % 10;
                }
            }
            return Ok(true);
        }
        let Some(rule) = &self.rules[kind_index(kind)] else {
            return Ok(false);
        };
        let start = out.len();
        match rule.sanitize(Some(token), ctx, out)? {
            Outcome::Value => Ok(true),
            Outcome::Same => {
                out.extend_from_slice(token);
                Ok(true)
            }
            Outcome::Null => {
                out.truncate(start);
                Ok(false)
            }
        }
    }
}

impl ColumnSanitizer for ScrubValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let skip = match self.layout {
            Layout::Jsonb if input.first() == Some(&1) => 1,
            Layout::Jsonb => {
                return Err(SanitizeError(
                    "unsupported jsonb binary version".to_string(),
                ))
            }
            Layout::Plain => 0,
        };
        let text = &input[skip..];
        let tokens = detect::find(text);
        if tokens.is_empty() {
            return Ok(Outcome::Same);
        }
        let start = out.len();
        out.extend_from_slice(&input[..skip]);
        let mut copied = 0;
        let mut changed = false;
        for token in tokens {
            let piece = &text[token.range.clone()];
            out.extend_from_slice(&text[copied..token.range.start]);
            if self.replace(token.kind, piece, ctx, out)? {
                changed = true;
            } else {
                out.extend_from_slice(piece);
            }
            copied = token.range.end;
        }
        out.extend_from_slice(&text[copied..]);
        if !changed {
            out.truncate(start);
            return Ok(Outcome::Same);
        }
        Ok(Outcome::Value)
    }
}

/// A text column for a token's own rule.
fn token_column(args: &RuleArgs<'_>) -> ColumnInfo {
    ColumnInfo {
        table: args.column.table.clone(),
        name: args.column.name.clone(),
        type_name: "text".into(),
        class: TypeClass::Text,
        scalar_oid: oids::TEXT,
        array: false,
        max_chars: None,
        fields: Vec::new(),
        not_null: true,
        unique: false,
        unique_mappings: args.column.unique_mappings.clone(),
    }
}

impl Rule for Scrub {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Nested
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let layout = match (args.column.class, args.column.scalar_oid) {
            (TypeClass::Json, oids::JSONB) => Layout::Jsonb,
            (TypeClass::Text | TypeClass::Json | TypeClass::Bytea, _) => Layout::Plain,
            (_, oids::XML) => Layout::Plain,
            _ => {
                return Err(format!(
                    "`scrub` works on text, json/jsonb, xml and bytea columns, not {}",
                    args.column.type_name
                ))
            }
        };
        let kinds: Vec<TokenKind> = match p_strs(args.params, "kinds") {
            None => TokenKind::ALL.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| {
                    TokenKind::by_name(n).ok_or_else(|| {
                        format!(
                            "parameter `kinds`: unknown kind {n:?} (one of email, phone, card, \
                             iban, ip, national_id)"
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let domains = args.params.get("domains").and_then(toml::Value::as_table);
        if let Some(d) = domains {
            for (k, v) in d {
                if TokenKind::by_name(k).is_none() {
                    return Err(format!("parameter `domains`: unknown kind {k:?}"));
                }
                if !v.is_str() {
                    return Err(format!("parameter `domains`: {k} must name a domain"));
                }
            }
        }
        let domain_of = |kind: TokenKind| -> String {
            domains
                .and_then(|d| d.get(kind.name()))
                .and_then(toml::Value::as_str)
                .unwrap_or(rule_of(kind))
                .to_string()
        };
        let column = token_column(args);
        let mut rules = Vec::new();
        for kind in TokenKind::ALL {
            if !kinds.contains(&kind) || kind == TokenKind::NationalId {
                rules.push(None);
                continue;
            }
            let rule = registry::lookup(rule_of(kind))
                .ok_or_else(|| format!("the {} rule is missing", rule_of(kind)))?;
            let mut params = toml::Table::new();
            if kind == TokenKind::Email {
                if let Some(d) = p_str(args.params, "mail_domain") {
                    params.insert("mail_domain".into(), toml::Value::String(d.to_string()));
                }
            }
            let domain = domain_of(kind);
            let shared = column.for_mapping(rule_of(kind), &domain);
            let inner = rule.build(&RuleArgs {
                params: &params,
                column: shared.as_ref().unwrap_or(&column),
                domain: &domain,
                row: &[],
            })?;
            rules.push(Some(inner));
        }
        let national_id_domain = kinds
            .contains(&TokenKind::NationalId)
            .then(|| domain_of(TokenKind::NationalId));
        Ok(Box::new(ScrubValue {
            layout,
            rules,
            national_id_domain,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::{column, key};

    fn text_col() -> ColumnInfo {
        column(TypeClass::Text, oids::TEXT)
    }

    #[test]
    fn tokens_map_like_their_own_rules_and_the_rest_is_kept() {
        // The test builder maps the email rule in domain "d".
        let scrub = must(build(&Scrub, "domains = { email = \"d\" }", &text_col()));
        let email = must(build(
            registry::lookup("email").unwrap_or(&Scrub),
            "",
            &text_col(),
        ));
        let input = "{\"to\": \"jane.roe@privatebox.org\", \"note\": \"call +44 7700 900123\"}";
        let out = text_of(scrub.as_ref(), input);
        let fake = text_of(email.as_ref(), "jane.roe@privatebox.org");
        assert!(out.contains(&fake), "{out} lacks {fake}");
        assert!(
            !out.contains("privatebox") && !out.contains("7700 900123"),
            "{out}"
        );
        assert!(out.starts_with("{\"to\": \"") && out.contains("\", \"note\": \"call +"));
        serde_json::from_str::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    }

    #[test]
    fn a_value_without_tokens_is_the_same() {
        let scrub = must(build(&Scrub, "", &text_col()));
        let mut out = Vec::new();
        let ctx = Ctx {
            key: &key(),
            row: None,
        };
        let r = scrub.sanitize(Some(b"order 12345 shipped 2024-01-31"), &ctx, &mut out);
        assert_eq!(r, Ok(Outcome::Same));
        assert!(out.is_empty());
    }

    #[test]
    fn jsonb_keeps_its_version_byte_and_kinds_and_domains_are_honoured() {
        let col = column(TypeClass::Json, oids::JSONB);
        let scrub = must(build(
            &Scrub,
            "kinds = [\"email\"]\ndomains = { email = \"person_email\" }",
            &col,
        ));
        let mut input = vec![1u8];
        input.extend_from_slice(b"{\"a\": \"x.y@corp.example.com\", \"p\": \"+1 415 555 0100\"}");
        let out = value_of(scrub.as_ref(), &input);
        assert_eq!(out[0], 1);
        let text = String::from_utf8_lossy(&out[1..]).into_owned();
        assert!(!text.contains("x.y@corp"), "{text}");
        assert!(
            text.contains("+1 415 555 0100"),
            "phones not asked for: {text}"
        );
        let email = must(build(
            registry::lookup("email").unwrap_or(&Scrub),
            "",
            &text_col(),
        ));
        // A different domain maps differently from the default one.
        let default_fake = text_of(email.as_ref(), "x.y@corp.example.com");
        assert!(!text.contains(&default_fake), "{text}");
    }

    #[test]
    fn national_ids_never_keep_their_digits() {
        let scrub = must(build(&Scrub, "", &text_col()));
        for id in ["123-45-6789", "000-00-0000", "999-99-9999"] {
            let out = text_of(scrub.as_ref(), &format!("ssn {id}."));
            assert!(!out.contains(id), "{id} → {out}");
            assert_eq!(out.len(), id.len() + 5);
        }
    }

    #[test]
    fn other_types_are_refused() {
        let col = column(TypeClass::Integer, oids::INT4);
        assert!(build(&Scrub, "", &col).is_err());
        assert!(build(&Scrub, "kinds = [\"names\"]", &text_col()).is_err());
    }
}
