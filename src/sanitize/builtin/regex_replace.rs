//! `regex_replace`: replaces every match of a regular expression (`regex` crate syntax) with a
//! replacement that may use capture groups (`$1`, `${name}`). Not keyed.

use regex::Regex;

use super::util::*;
use crate::sanitize::spec::*;

pub struct RegexReplace;

static SPEC: RuleSpec = RuleSpec {
    name: "regex_replace",
    summary: "Replace every match of a regular expression; the replacement may use capture \
              groups ($1, ${name}). Cut to varchar(n).",
    params: &[
        ParamSpec {
            name: "pattern",
            kind: ParamKind::String,
            required: true,
            doc: "regular expression (Rust regex syntax)",
        },
        ParamSpec {
            name: "replacement",
            kind: ParamKind::String,
            required: true,
            doc: "replacement text; $1 / ${name} insert capture groups, $$ a dollar sign",
        },
    ],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"notes = { rule = "regex_replace", pattern = "\\d{4}-\\d{4}", replacement = "XXXX-XXXX" }"#,
};

struct Replace {
    re: Regex,
    replacement: String,
    max_chars: Option<usize>,
}

impl ColumnSanitizer for Replace {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        _ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let text = text_input(input)?;
        let replaced = self.re.replace_all(text, self.replacement.as_str());
        if let std::borrow::Cow::Borrowed(_) = replaced {
            return Ok(Outcome::Same);
        }
        let start = out.len();
        out.extend_from_slice(replaced.as_bytes());
        truncate_chars(out, start, self.max_chars);
        Ok(Outcome::Value)
    }
}

impl Rule for RegexReplace {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Parameters
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let pattern = p_str(args.params, "pattern").unwrap_or_default();
        let re = Regex::new(pattern)
            .map_err(|e| format!("parameter `pattern` is not a valid regular expression: {e}"))?;
        let replacement = p_str(args.params, "replacement")
            .unwrap_or_default()
            .to_string();
        // Every $group the replacement names must exist.
        let probe = Regex::new(r"\$(\{([^}]*)\}|([A-Za-z0-9_]+))").map_err(|e| e.to_string())?;
        let without_escapes = replacement.replace("$$", "");
        for c in probe.captures_iter(&without_escapes) {
            let name = c.get(2).or(c.get(3)).map_or("", |m| m.as_str());
            let known = match name.parse::<usize>() {
                Ok(n) => n < re.captures_len(),
                Err(_) => re.capture_names().flatten().any(|g| g == name),
            };
            if !known {
                return Err(format!(
                    "parameter `replacement` uses group {name:?}, which `pattern` does not define"
                ));
            }
        }
        Ok(Box::new(Replace {
            re,
            replacement,
            max_chars: args.column.max_chars,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::{column, run};

    #[test]
    fn replaces_with_groups() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(
            &RegexReplace,
            r#"pattern = '(\w+)@(\w+)\.com'
replacement = 'user@$2.example'"#,
            &col,
        ));
        assert_eq!(
            text_of(s.as_ref(), "mail jane@acme.com now"),
            "mail user@acme.example now"
        );
        assert_eq!(run(s.as_ref(), Some(b"nothing")).0, Outcome::Same);
        assert_eq!(run(s.as_ref(), None).0, Outcome::Null);
        let e = build(&RegexReplace, "pattern = '('\nreplacement = ''", &col).err();
        assert!(e.expect("refused").contains("`pattern`"));
        let e = build(&RegexReplace, "pattern = '(a)'\nreplacement = '$2'", &col).err();
        assert!(e.expect("refused").contains("`replacement`"));
        assert!(build(
            &RegexReplace,
            "pattern = '(?P<x>a)'\nreplacement = '${x}$$'",
            &col
        )
        .is_ok());
    }
}
