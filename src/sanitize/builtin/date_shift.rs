//! `date_shift`: moves dates and timestamps by a keyed, non-zero number of days in
//! `[-days, +days]`, per value or per row (`key_column`: every date of one row, or of one
//! person across tables, moves by the same amount, so intervals stay true).

use super::util::*;
use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct DateShift;

static SPEC: RuleSpec = RuleSpec {
    name: "date_shift",
    summary: "Shift dates/timestamps by a keyed non-zero number of days within ±days, per value \
              or per row key.",
    params: &[
        ParamSpec {
            name: "days",
            kind: ParamKind::Integer,
            required: false,
            doc: "largest shift in days, either way (default 30)",
        },
        ParamSpec {
            name: "key_column",
            kind: ParamKind::String,
            required: false,
            doc: "column of the same row whose original value seeds the shift (e.g. the \
                  person's id), so all dates of the row move together; default: the value itself",
        },
    ],
    accepts: &[TypeClass::Date, TypeClass::Timestamp],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"birth_date = { rule = "date_shift", days = 180, key_column = "id" }"#,
};

struct Shift {
    days: i64,
    key_column: Option<String>,
    timestamp: bool,
    domain: String,
}

const USECS_PER_DAY: i64 = 86_400_000_000;

impl ColumnSanitizer for Shift {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let seed_value = match &self.key_column {
            None => Some(input),
            Some(c) => {
                let row = ctx
                    .row
                    .ok_or_else(|| value::err(format!("key_column {c}: no row access")))?;
                row.original(c).map_err(value::err)?
            }
        };
        let mut s = match seed_value {
            Some(v) => Stream::of(ctx.key, "date_shift", &self.domain, v),
            // A NULL row key: shift by a fixed keyed amount.
            None => Stream::of(ctx.key, "date_shift", &self.domain, b"\0null"),
        };
        let mut shift = 1 + s.below(self.days as u64) as i64;
        if s.below(2) == 0 {
            shift = -shift;
        }
        if self.timestamp {
            let t = value::read_timestamp(input)?;
            if t == i64::MAX || t == i64::MIN {
                return Ok(Outcome::Same);
            }
            match t.checked_add(shift * USECS_PER_DAY) {
                Some(v) => out.extend_from_slice(&v.to_be_bytes()),
                None => return Ok(Outcome::Same),
            }
        } else {
            let d = value::read_date(input)?;
            if d == i32::MAX || d == i32::MIN {
                return Ok(Outcome::Same);
            }
            match i32::try_from(i64::from(d) + shift) {
                Ok(v) if v != i32::MAX && v != i32::MIN => out.extend_from_slice(&v.to_be_bytes()),
                _ => return Ok(Outcome::Same),
            }
        }
        Ok(Outcome::Value)
    }

    fn reads(&self) -> Vec<ColumnRead> {
        self.key_column
            .iter()
            .map(|c| ColumnRead {
                column: c.clone(),
                sanitized: false,
            })
            .collect()
    }
}

impl Rule for DateShift {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Perturbed
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let days = p_int(args.params, "days").unwrap_or(30);
        if !(1..=1_000_000).contains(&days) {
            return Err(format!(
                "parameter `days` must be between 1 and 1000000, got {days}"
            ));
        }
        let key_column = p_str(args.params, "key_column").map(str::to_string);
        if let Some(c) = &key_column {
            if !args.row.iter().any(|col| &col.name == c) {
                return Err(format!(
                    "parameter `key_column`: no column {c:?} in {}",
                    args.column.table
                ));
            }
        }
        Ok(Box::new(Shift {
            days,
            key_column,
            timestamp: args.column.class == TypeClass::Timestamp,
            domain: args.domain.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::{column, key};

    struct Row(Vec<(&'static str, Option<Vec<u8>>)>);

    impl RowAccess for Row {
        fn original(&self, column: &str) -> Result<Option<&[u8]>, String> {
            self.0
                .iter()
                .find(|(c, _)| *c == column)
                .map(|(_, v)| v.as_deref())
                .ok_or_else(|| format!("no column {column}"))
        }
        fn sanitized(&self, _column: &str, _out: &mut Vec<u8>) -> Result<Outcome, String> {
            Ok(Outcome::Same)
        }
    }

    #[test]
    fn shifts_within_bounds() {
        let col = column(TypeClass::Date, oids::DATE);
        let s = must(build(&DateShift, "days = 10", &col));
        common(s.as_ref(), &8000i32.to_be_bytes());
        for d in 0..500i32 {
            let out = value_of(s.as_ref(), &d.to_be_bytes());
            let e = value::read_date(&out).expect("date") - d;
            assert!(e != 0 && e.abs() <= 10, "{e}");
        }
        assert_eq!(
            crate::sanitize::testing::run(s.as_ref(), Some(&i32::MAX.to_be_bytes())).0,
            Outcome::Same
        );
        let col = column(TypeClass::Timestamp, oids::TIMESTAMPTZ);
        let s = must(build(&DateShift, "", &col));
        let t = 123_456_789_000i64;
        let out = value::read_timestamp(&value_of(s.as_ref(), &t.to_be_bytes())).expect("ts");
        assert_eq!((out - t) % USECS_PER_DAY, 0, "time of day kept");
        assert!(build(&DateShift, "days = 0", &col).is_err());
    }

    #[test]
    fn one_shift_per_row_key() {
        let mut id = column(TypeClass::Integer, oids::INT4);
        id.name = "id".into();
        let col = column(TypeClass::Date, oids::DATE);
        let params: toml::Table = "key_column = \"id\"".parse().expect("toml");
        let s = DateShift
            .build(&RuleArgs {
                params: &params,
                column: &col,
                domain: "d",
                row: &[id, col.clone()],
                unique_domains: &NO_UNIQUE_DOMAINS,
                dictionary: None,
            })
            .expect("builds");
        assert_eq!(s.reads()[0].column, "id");
        let k = key();
        let row = Row(vec![("id", Some(7i32.to_be_bytes().to_vec()))]);
        let ctx = Ctx {
            key: &k,
            row: Some(&row),
        };
        let mut shifts = std::collections::HashSet::new();
        for d in [100i32, 2000, 9000] {
            let mut out = Vec::new();
            s.sanitize(Some(&d.to_be_bytes()), &ctx, &mut out)
                .expect("shifts");
            shifts.insert(value::read_date(&out).expect("date") - d);
        }
        assert_eq!(shifts.len(), 1);
        let e = DateShift
            .build(&RuleArgs {
                params: &params,
                column: &col,
                domain: "d",
                row: &[],
                unique_domains: &NO_UNIQUE_DOMAINS,
                dictionary: None,
            })
            .err();
        assert!(e.expect("refused").contains("`key_column`"));
    }
}
