//! Personal data in schema text: column defaults, view and function bodies, constraint and
//! policy expressions, index and trigger definitions, comments. `pg_dump` copies them verbatim,
//! so they are scanned before anything is written: for personal tokens (emails, phone and card
//! numbers, IBANs, IP addresses, JWTs) and for candidates that the run then looks up among the
//! production values of sanitized columns. Pure: the texts come from the catalog, the lookups
//! are the caller's.

use std::collections::BTreeSet;

use super::suggest::{classify_value, is_email, Pii};
pub use crate::catalog::schema_text::{SchemaText, TextKind};
use crate::sanitize::detect::{self, TokenKind};

/// Shortest candidate looked up among production values: shorter literals ('US', 'F', 'y')
/// are codes, not personal values, and would match by coincidence.
pub const MIN_CANDIDATE_CHARS: usize = 3;
/// Longest candidate looked up (longer texts are documents, scanned by the detectors only).
const MAX_CANDIDATE_CHARS: usize = 512;
/// Word n-grams of prose looked up as candidates ("Jane Doe" in a comment).
const MAX_NGRAM_WORDS: usize = 3;

/// Single-quoted string literals of SQL text, unescaped (`''` → `'`; `E'…'` backslash escapes
/// kept as written). Dollar-quoted bodies are not literals: their content is scanned as SQL.
pub fn literals(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                let escape = i > 0 && (b[i - 1] == b'E' || b[i - 1] == b'e');
                let mut value = Vec::new();
                let mut j = i + 1;
                while j < b.len() {
                    if escape && b[j] == b'\\' && j + 1 < b.len() {
                        value.extend_from_slice(&b[j..j + 2]);
                        j += 2;
                        continue;
                    }
                    if b[j] == b'\'' {
                        if b.get(j + 1) == Some(&b'\'') {
                            value.push(b'\'');
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    value.push(b[j]);
                    j += 1;
                }
                out.push(String::from_utf8_lossy(&value).into_owned());
                i = j + 1;
            }
            b'"' => {
                // A quoted identifier: skip it whole, quotes inside are doubled.
                let mut j = i + 1;
                while j < b.len() {
                    if b[j] == b'"' {
                        if b.get(j + 1) == Some(&b'"') {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// Whitespace- and punctuation-separated words of prose.
fn prose_tokens(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || "<>()[]{},;\"'`".contains(c))
        .map(|t| t.trim_matches(|c: char| ".:!?".contains(c)))
        .filter(|t| !t.is_empty())
        .collect()
}

/// What the token detectors (the `scrub` rule's) find inside `text`, as kinds of personal data.
fn tokens_in(text: &str) -> impl Iterator<Item = Pii> + '_ {
    detect::find(text.as_bytes())
        .into_iter()
        .map(|t| match t.kind {
            TokenKind::Email => Pii::Email,
            TokenKind::Phone => Pii::Phone,
            TokenKind::Card => Pii::CardNumber,
            TokenKind::Iban => Pii::BankAccount,
            TokenKind::Ip => Pii::IpAddress,
            TokenKind::NationalId => Pii::NationalId,
        })
}

/// The kinds of personal token the detectors find in one object's text (a JWT-like token is
/// a credential, reported as `Secret`).
pub fn detect(text: &SchemaText) -> Vec<Pii> {
    let mut kinds = Vec::new();
    let mut add = |kind: Pii| {
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    };
    match text.kind {
        TextKind::Comment => {
            classify_value(text.text.trim())
                .into_iter()
                .for_each(&mut add);
            tokens_in(&text.text).for_each(&mut add);
        }
        TextKind::Sql => {
            for literal in literals(&text.text) {
                classify_value(literal.trim())
                    .into_iter()
                    .for_each(&mut add);
                tokens_in(&literal).for_each(&mut add);
            }
            // Code comments and identifiers are not literals, but an email address in them is
            // unambiguous (operators like `@>` never form one).
            let email = text
                .text
                .split(|c: char| c.is_whitespace() || "<>()[]{},;\"'`=".contains(c))
                .map(|t| t.trim_end_matches(['.', ':', '!', '?']))
                .any(is_email);
            if email {
                add(Pii::Email);
            }
        }
    }
    kinds
}

/// Values worth looking up among the production values of sanitized columns: every literal of
/// SQL text, and the words and short word sequences of prose.
pub fn candidates(text: &SchemaText) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |s: &str| {
        let n = s.chars().count();
        if (MIN_CANDIDATE_CHARS..=MAX_CANDIDATE_CHARS).contains(&n) {
            out.insert(s.to_string());
        }
    };
    let prose = |s: &str, add: &mut dyn FnMut(&str)| {
        add(s.trim());
        let words: Vec<&str> = prose_tokens(s);
        for n in 1..=MAX_NGRAM_WORDS {
            for w in words.windows(n) {
                add(&w.join(" "));
            }
        }
    };
    match text.kind {
        TextKind::Comment => prose(&text.text, &mut add),
        TextKind::Sql => {
            for literal in literals(&text.text) {
                prose(&literal, &mut add);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(text: &str) -> SchemaText {
        SchemaText {
            object: "view public.v".into(),
            kind: TextKind::Sql,
            text: text.into(),
        }
    }

    fn comment(text: &str) -> SchemaText {
        SchemaText {
            object: "comment on table public.t".into(),
            kind: TextKind::Comment,
            text: text.into(),
        }
    }

    #[test]
    fn literals_unescape_doubled_quotes_and_skip_identifiers() {
        assert_eq!(
            literals("SELECT 'it''s', \"a'b\" FROM t WHERE x = E'\\'q' AND y = ''"),
            vec!["it's".to_string(), "\\'q".into(), String::new()]
        );
        assert_eq!(literals("no literals here"), Vec::<String>::new());
        // Unterminated: taken to the end, never a panic.
        assert_eq!(literals("x = 'abc"), vec!["abc".to_string()]);
    }

    #[test]
    fn detects_personal_tokens_in_literals_and_comments() {
        let email = sql("SELECT * FROM customers WHERE email = 'someone@privatebox.org'::text");
        assert!(detect(&email).contains(&Pii::Email));
        let phone = sql("'+44 7700 900123'::text");
        assert!(detect(&phone).contains(&Pii::Phone));
        let card = sql("CHECK (card <> '4111 1111 1111 1111')");
        assert!(detect(&card).contains(&Pii::CardNumber));
        let c = comment("VIP: someone@privatebox.org, call +44 7700 900123");
        let kinds = detect(&c);
        assert!(kinds.contains(&Pii::Email) && kinds.contains(&Pii::Phone));
        let code = sql("BEGIN -- ask jane@corp.example.com\n RETURN NEW; END");
        assert!(detect(&code).contains(&Pii::Email));
    }

    #[test]
    fn ordinary_schema_text_is_clean() {
        for text in [
            "nextval('public.orders_id_seq'::regclass)",
            "CHECK (status = ANY (ARRAY['active'::text, 'closed'::text]))",
            "CHECK (amount >= 0 AND amount < 10000000000)",
            "SELECT c.id, c.created_at FROM customers c WHERE c.created_at > '2024-01-31'::date",
            "CREATE INDEX i ON t USING gin (doc jsonb_path_ops) WHERE (doc @> '{\"a\": 1}')",
            "'1.5'::numeric",
            "'2024-01-01 00:00:00+00'::timestamp with time zone",
        ] {
            assert!(detect(&sql(text)).is_empty(), "{text}");
        }
        assert!(detect(&comment("Orders placed since 2024-01-31, in cents")).is_empty());
    }

    #[test]
    fn candidates_are_literals_and_word_sequences() {
        let c = candidates(&sql("WHERE name = 'Jane Doe' AND code = 'US'"));
        assert!(c.contains("Jane Doe"));
        assert!(c.contains("Jane"));
        assert!(!c.contains("US"), "too short to look up");
        let c = candidates(&comment("Account manager: Jane Q Doe."));
        assert!(c.contains("Jane Q Doe"));
        assert!(c.contains("Doe"));
    }
}
