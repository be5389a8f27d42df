//! `scrub`: personal tokens inside free text, json/jsonb, xml, tsvector and text-like bytea (email
//! addresses, phone and card numbers, IBANs, IPv4 addresses, national-id-like numbers) are
//! replaced by the value their own rule gives them in their domain, so an address inside an
//! audit-log document becomes the same fake address as in `users.email` (rule `email`, domain
//! `email` unless `domains` says otherwise). Every other byte of the value stays as it was.
//! Replacements are ASCII without quotes, backslashes or markup, so json and xml stay valid.
//!
//! In a run, `scrub` also finds the production values of every sanitized domain of the run
//! (a customer's name, street or username written into a note or copied into an audit
//! document) on word boundaries and replaces each with the value its domain's own rule gives
//! it, so it equals the sanitized column. Values shorter than `min_chars` characters, and
//! values of digits only with fewer than `min_digits` digits, are not looked for: they would
//! replace ordinary words and numbers.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use super::util::*;
use crate::sanitize::detect::{self, TokenKind};
use crate::sanitize::dictionary::Dictionary;
use crate::sanitize::registry;
use crate::sanitize::spec::*;
use crate::sanitize::tsvector;

pub struct Scrub;

static SPEC: RuleSpec = RuleSpec {
    name: "scrub",
    summary:
        "Replace personal tokens inside text, json, xml, tsvector or bytea (emails, phones, card \
              numbers, IBANs, IPv4 addresses, national-id-like numbers) and the run's production \
              values of every sanitized domain (names, streets… of the sanitized columns, on \
              word boundaries) with the values their own rules give them; everything else is \
              kept byte for byte. Values shorter than `min_chars` characters and numbers of \
              fewer than `min_digits` digits are not looked for.",
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
        ParamSpec {
            name: "production_values",
            kind: ParamKind::Bool,
            required: false,
            doc: "also replace the run's production values of every sanitized domain (each as \
                  its column's rule maps it); default true",
        },
        ParamSpec {
            name: "min_chars",
            kind: ParamKind::Integer,
            required: false,
            doc: "shortest production value replaced, in characters; default 4 (shorter \
                  values are common words)",
        },
        ParamSpec {
            name: "min_digits",
            kind: ParamKind::Integer,
            required: false,
            doc: "shortest production value of digits only replaced, in digits; default 6",
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
    /// tsvector: lexemes, each scrubbed on its own.
    TsVector,
}

/// The production values of the run's sanitized domains and the rule that maps each domain.
struct RunValues {
    dictionary: Arc<Dictionary>,
    /// Per mapping of the dictionary (in its order): the domain's rule on text.
    rules: Vec<Box<dyn ColumnSanitizer>>,
    min_chars: usize,
    min_digits: usize,
}

/// What replaces one range of the text.
#[derive(Debug, Clone, Copy)]
enum Found {
    Token(TokenKind),
    /// A production value of the dictionary's mapping with this index.
    Value(u16),
}

struct ScrubValue {
    layout: Layout,
    /// json or xml: a replacement must not bring quotes, backslashes or markup.
    markup: bool,
    values: Option<RunValues>,
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

/// Keeps the longest of overlapping finds (production values before tokens of equal length:
/// they map exactly as their column does), in text order.
fn without_overlaps(mut found: Vec<(Range<usize>, Found)>) -> Vec<(Range<usize>, Found)> {
    found.sort_by_key(|(r, f)| {
        (
            std::cmp::Reverse(r.end - r.start),
            !matches!(f, Found::Value(_)),
            r.start,
        )
    });
    let mut kept: BTreeMap<usize, (Range<usize>, Found)> = BTreeMap::new();
    for (range, f) in found {
        let before = kept.range(..range.end).next_back();
        if before.is_some_and(|(_, (r, _))| r.end > range.start) {
            continue;
        }
        kept.insert(range.start, (range, f));
    }
    kept.into_values().collect()
}

impl ScrubValue {
    /// Every token and production value of `text`, in order, not overlapping.
    fn find(&self, text: &[u8]) -> Vec<(Range<usize>, Found)> {
        let tokens = detect::find(text)
            .into_iter()
            .map(|t| (t.range, Found::Token(t.kind)));
        let Some(values) = &self.values else {
            return tokens.collect();
        };
        let hits = values
            .dictionary
            .find(text, values.min_chars, values.min_digits);
        if hits.is_empty() {
            return tokens.collect();
        }
        let all = tokens
            .chain(hits.into_iter().map(|h| (h.range, Found::Value(h.mapping))))
            .collect();
        without_overlaps(all)
    }

    /// Writes the value `mapping`'s rule gives `value`; false (nothing written) when it gives
    /// none.
    fn replace_value(
        &self,
        mapping: u16,
        value: &[u8],
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, SanitizeError> {
        let Some(rule) = self
            .values
            .as_ref()
            .and_then(|v| v.rules.get(usize::from(mapping)))
        else {
            return Ok(false);
        };
        let start = out.len();
        if !replaced_by(rule.as_ref(), value, ctx, out)? {
            return Ok(false);
        }
        if self.markup {
            // Inside json or xml a quote or markup character would break the document.
            for b in &mut out[start..] {
                if matches!(*b, b'"' | b'\\' | b'<' | b'>' | b'&') || *b < 0x20 {
                    *b = b' ';
                }
            }
        }
        Ok(true)
    }

    /// Appends `text` with its tokens and production values replaced and returns true, or
    /// returns false without writing when nothing was replaced.
    fn scrub_into(
        &self,
        text: &[u8],
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<bool, SanitizeError> {
        let found = self.find(text);
        if found.is_empty() {
            return Ok(false);
        }
        let start = out.len();
        let mut copied = 0;
        let mut changed = false;
        for (range, what) in found {
            let piece = &text[range.clone()];
            out.extend_from_slice(&text[copied..range.start]);
            let replaced = match what {
                Found::Token(kind) => self.replace(kind, piece, ctx, out)?,
                Found::Value(mapping) => self.replace_value(mapping, piece, ctx, out)?,
            };
            if replaced {
                changed = true;
            } else {
                out.extend_from_slice(piece);
            }
            copied = range.end;
        }
        out.extend_from_slice(&text[copied..]);
        if !changed {
            out.truncate(start);
        }
        Ok(changed)
    }

    /// A lexeme scrubbed, in lower case as the text search parser writes lexemes. Lexemes
    /// are folded to lower case, so a production value written capitalised (a surname) is
    /// also looked for capitalised.
    fn scrub_lexeme(&self, lexeme: &[u8], ctx: &Ctx<'_>) -> Result<Option<Vec<u8>>, SanitizeError> {
        let mut out = Vec::new();
        let mut changed = self.scrub_into(lexeme, ctx, &mut out)?;
        if !changed && self.values.is_some() && lexeme.first().is_some_and(u8::is_ascii_lowercase) {
            let mut titled = lexeme.to_vec();
            titled[0] = titled[0].to_ascii_uppercase();
            changed = self.scrub_into(&titled, ctx, &mut out)?;
        }
        if !changed {
            return Ok(None);
        }
        // A lexeme never holds a NUL (it ends the lexeme in the binary form).
        out.retain(|b| *b != 0);
        out.make_ascii_lowercase();
        Ok(Some(out))
    }

    /// Every lexeme scrubbed; lexemes that became equal merged, as PostgreSQL requires.
    fn scrub_tsvector(
        &self,
        input: &[u8],
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let mut lexemes = tsvector::decode(input).map_err(SanitizeError)?;
        let mut changed = false;
        for lexeme in &mut lexemes {
            if let Some(text) = self.scrub_lexeme(&lexeme.text, ctx)? {
                lexeme.text = text;
                changed = true;
            }
        }
        if !changed {
            return Ok(Outcome::Same);
        }
        lexemes.retain(|l| !l.text.is_empty());
        tsvector::encode(lexemes, out);
        Ok(Outcome::Value)
    }

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
        replaced_by(rule.as_ref(), token, ctx, out)
    }
}

/// Appends what `rule` gives `piece` and returns true, or returns false with nothing written
/// when it gives no value of its own (the caller keeps the piece).
fn replaced_by(
    rule: &dyn ColumnSanitizer,
    piece: &[u8],
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
) -> Result<bool, SanitizeError> {
    let start = out.len();
    match rule.sanitize(Some(piece), ctx, out)? {
        Outcome::Value => Ok(true),
        Outcome::Same | Outcome::Null => {
            out.truncate(start);
            Ok(false)
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
            Layout::TsVector => return self.scrub_tsvector(input, ctx, out),
            Layout::Jsonb if input.first() == Some(&1) => 1,
            Layout::Jsonb => {
                return Err(SanitizeError(
                    "unsupported jsonb binary version".to_string(),
                ))
            }
            Layout::Plain => 0,
        };
        let start = out.len();
        out.extend_from_slice(&input[..skip]);
        if self.scrub_into(&input[skip..], ctx, out)? {
            return Ok(Outcome::Value);
        }
        out.truncate(start);
        Ok(Outcome::Same)
    }
}

/// A text column for a token's own rule, unique when the rule's domain also rules a unique
/// column (so a token maps as that column's values do).
fn token_column(args: &RuleArgs<'_>, unique: bool) -> ColumnInfo {
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
        unique,
    }
}

/// A count parameter: absent → `default`; negative → an error naming it.
fn count_param(params: &toml::Table, name: &str, default: usize) -> Result<usize, String> {
    match p_int(params, name) {
        None => Ok(default),
        Some(n) => {
            usize::try_from(n).map_err(|_| format!("parameter `{name}` must be 0 or more, not {n}"))
        }
    }
}

/// The run's production values with each domain's rule, unless `production_values = false`
/// or there is no run dictionary (a build outside a run).
fn run_values(args: &RuleArgs<'_>) -> Result<Option<RunValues>, String> {
    let min_chars = count_param(args.params, "min_chars", 4)?;
    let min_digits = count_param(args.params, "min_digits", 6)?;
    let wanted = p_bool(args.params, "production_values").unwrap_or(true);
    let Some(dictionary) = args.dictionary.filter(|_| wanted) else {
        return Ok(None);
    };
    let mut rules = Vec::new();
    for m in dictionary.mappings() {
        let rule =
            registry::lookup(&m.rule).ok_or_else(|| format!("the {} rule is missing", m.rule))?;
        let column = token_column(args, args.unique_in(&m.rule, &m.domain));
        let built = rule.build(&RuleArgs {
            params: &m.params,
            column: &column,
            domain: &m.domain,
            row: &[],
            unique_domains: args.unique_domains,
            dictionary: None,
        });
        rules.push(built.map_err(|e| {
            format!(
                "production values of domain {:?} (rule {}): {e}",
                m.domain, m.rule
            )
        })?);
    }
    Ok(Some(RunValues {
        dictionary: Arc::clone(dictionary),
        rules,
        min_chars,
        min_digits,
    }))
}

/// What is wrong with the parameters whatever the column: unknown kinds, domains that are
/// not names, negative minimums.
fn param_problems(params: &toml::Table) -> Vec<String> {
    let mut problems = Vec::new();
    for n in p_strs(params, "kinds").unwrap_or_default() {
        if TokenKind::by_name(&n).is_none() {
            problems.push(format!(
                "parameter `kinds`: unknown kind {n:?} (one of email, phone, card, iban, ip, \
                 national_id)"
            ));
        }
    }
    let domains = params.get("domains").and_then(toml::Value::as_table);
    for (k, v) in domains.into_iter().flatten() {
        if TokenKind::by_name(k).is_none() {
            problems.push(format!("parameter `domains`: unknown kind {k:?}"));
        } else if !v.is_str() {
            problems.push(format!("parameter `domains`: {k} must name a domain"));
        }
    }
    for name in ["min_chars", "min_digits"] {
        if let Err(e) = count_param(params, name, 0) {
            problems.push(e);
        }
    }
    problems
}

impl Rule for Scrub {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn param_problems(&self, params: &toml::Table) -> Vec<String> {
        param_problems(params)
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Nested
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let layout = match (args.column.class, args.column.scalar_oid) {
            (TypeClass::Json, oids::JSONB) => Layout::Jsonb,
            (TypeClass::Text | TypeClass::Json | TypeClass::Bytea, _) => Layout::Plain,
            (_, oids::XML) => Layout::Plain,
            (_, oids::TSVECTOR) => Layout::TsVector,
            _ => {
                return Err(format!(
                    "`scrub` works on text, json/jsonb, xml, tsvector and bytea columns, not {}",
                    args.column.type_name
                ))
            }
        };
        if let Some(problem) = param_problems(args.params).into_iter().next() {
            return Err(problem);
        }
        let kinds: Vec<TokenKind> = match p_strs(args.params, "kinds") {
            None => TokenKind::ALL.to_vec(),
            Some(names) => names.iter().filter_map(|n| TokenKind::by_name(n)).collect(),
        };
        let domains = args.params.get("domains").and_then(toml::Value::as_table);
        let domain_of = |kind: TokenKind| -> String {
            domains
                .and_then(|d| d.get(kind.name()))
                .and_then(toml::Value::as_str)
                .unwrap_or(rule_of(kind))
                .to_string()
        };
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
            let column = token_column(args, args.unique_in(rule_of(kind), &domain));
            let inner = rule.build(&RuleArgs {
                params: &params,
                column: &column,
                domain: &domain,
                row: &[],
                unique_domains: args.unique_domains,
                dictionary: None,
            })?;
            rules.push(Some(inner));
        }
        let national_id_domain = kinds
            .contains(&TokenKind::NationalId)
            .then(|| domain_of(TokenKind::NationalId));
        let markup = args.column.class == TypeClass::Json || args.column.scalar_oid == oids::XML;
        Ok(Box::new(ScrubValue {
            layout,
            markup,
            values: run_values(args)?,
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

    #[test]
    fn a_token_in_a_unique_domain_maps_as_the_unique_column_does() {
        let email = registry::lookup("email").unwrap_or(&Scrub);
        let mut unique_col = text_col();
        unique_col.unique = true;
        let unique_fake = text_of(
            must(build(email, "", &unique_col)).as_ref(),
            "jane.roe@privatebox.org",
        );
        let plain_fake = text_of(
            must(build(email, "", &text_col())).as_ref(),
            "jane.roe@privatebox.org",
        );
        assert_ne!(unique_fake, plain_fake);
        let params = "domains = { email = \"d\" }";
        let input = "mail jane.roe@privatebox.org today";
        let in_unique = must(build_in(
            &Scrub,
            params,
            &text_col(),
            &unique_pair("email", "d"),
        ));
        let out = text_of(in_unique.as_ref(), input);
        assert_eq!(out, format!("mail {unique_fake} today"));
        // Only the pair named: the same token in another domain keeps the plain form.
        let elsewhere = must(build_in(
            &Scrub,
            params,
            &text_col(),
            &unique_pair("email", "other"),
        ));
        let out = text_of(elsewhere.as_ref(), input);
        assert_eq!(out, format!("mail {plain_fake} today"));
    }

    fn with_values(
        params: &str,
        col: &ColumnInfo,
        values: &[(&str, &str, &str)],
    ) -> Box<dyn ColumnSanitizer> {
        use crate::sanitize::dictionary::{ignores_case, DictionaryBuilder, DomainMapping};
        let mut b = DictionaryBuilder::new(&key());
        for (rule, domain, value) in values {
            let m = b
                .add_mapping(DomainMapping {
                    rule: (*rule).into(),
                    domain: (*domain).into(),
                    params: toml::Table::new(),
                    case_insensitive: ignores_case(rule),
                })
                .unwrap_or_default();
            b.insert(m, value.as_bytes());
        }
        let dictionary = Arc::new(b.finish());
        let params: toml::Table = params.parse().unwrap_or_default();
        must(Scrub.build(&RuleArgs {
            params: &params,
            column: col,
            domain: "d",
            row: std::slice::from_ref(col),
            unique_domains: &crate::sanitize::NO_UNIQUE_DOMAINS,
            dictionary: Some(&dictionary),
        }))
    }

    fn unchanged(s: &dyn ColumnSanitizer, input: &str) -> bool {
        let ctx = Ctx {
            key: &key(),
            row: None,
        };
        s.sanitize(Some(input.as_bytes()), &ctx, &mut Vec::new()) == Ok(Outcome::Same)
    }

    fn mapped(rule: &str, domain: &str, value: &str) -> String {
        let params = toml::Table::new();
        let col = text_col();
        let s = must(registry::lookup(rule).unwrap_or(&Scrub).build(&RuleArgs {
            params: &params,
            column: &col,
            domain,
            row: &[],
            unique_domains: &crate::sanitize::NO_UNIQUE_DOMAINS,
            dictionary: None,
        }));
        text_of(s.as_ref(), value)
    }

    #[test]
    fn production_values_map_as_their_columns_do() {
        let values = [
            ("person_name", "customer_name", "James Blackwood"),
            ("street", "street", "Ravenscroft Lane 17"),
            ("email", "person_email", "J.Blackwood@Privatebox.org"),
        ];
        let scrub = with_values("", &text_col(), &values);
        let out = text_of(
            scrub.as_ref(),
            "called James Blackwood about order 7 (Ravenscroft Lane 17), mail j.blackwood@privatebox.org",
        );
        let name = mapped("person_name", "customer_name", "James Blackwood");
        let street = mapped("street", "street", "Ravenscroft Lane 17");
        let email = mapped("email", "person_email", "j.blackwood@privatebox.org");
        assert_eq!(
            out,
            format!("called {name} about order 7 ({street}), mail {email}")
        );
        // Off, or too short to be told from ordinary words: kept.
        let off = with_values("production_values = false", &text_col(), &values);
        assert!(unchanged(off.as_ref(), "James Blackwood"));
        let short = with_values("", &text_col(), &[("last_name", "last_name", "Lee")]);
        assert!(unchanged(short.as_ref(), "Lee"));
        let lower = with_values(
            "min_chars = 3",
            &text_col(),
            &[("last_name", "last_name", "Lee")],
        );
        assert_eq!(
            text_of(lower.as_ref(), "Lee"),
            mapped("last_name", "last_name", "Lee")
        );
    }

    #[test]
    fn production_values_inside_jsonb_keep_it_valid() {
        let col = column(TypeClass::Json, oids::JSONB);
        let scrub = with_values(
            "",
            &col,
            &[("person_name", "person_name", "James Blackwood")],
        );
        let mut input = vec![1u8];
        input.extend_from_slice(br#"{"customer": {"name": "James Blackwood", "id": 7}}"#);
        let out = value_of(scrub.as_ref(), &input);
        let text = String::from_utf8_lossy(&out[1..]).into_owned();
        assert!(!text.contains("Blackwood"), "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    }

    #[test]
    fn tsvector_lexemes_are_scrubbed_and_stay_sorted() {
        use crate::sanitize::tsvector::{decode, encode, Lexeme};
        let lexeme = |t: &str, p: u16| Lexeme {
            text: t.as_bytes().to_vec(),
            positions: vec![p],
        };
        let mut input = Vec::new();
        encode(
            vec![
                lexeme("called", 1),
                lexeme("blackwood", 2),
                lexeme("jane.roe@privatebox.org", 3),
            ],
            &mut input,
        );
        let col = column(TypeClass::Other, oids::TSVECTOR);
        let scrub = with_values("", &col, &[("last_name", "last_name", "Blackwood")]);
        let out = value_of(scrub.as_ref(), &input);
        let lexemes = decode(&out).unwrap_or_default();
        let texts: Vec<String> = lexemes
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect();
        let surname = mapped("last_name", "last_name", "Blackwood").to_lowercase();
        assert!(texts.contains(&surname), "{texts:?} lacks {surname}");
        assert!(texts.contains(&"called".to_string()));
        assert!(
            !texts
                .iter()
                .any(|t| t.contains("blackwood") || t.contains("privatebox")),
            "{texts:?}"
        );
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
    }
}
