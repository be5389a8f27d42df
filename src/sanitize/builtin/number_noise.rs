//! `number_noise`: multiplies numbers by a keyed factor in `[1 - percent, 1 + percent]`.
//! Integers stay integers within their type; numerics keep their scale and never gain integer
//! digits (so numeric(p, s) still fits); floats stay float4/float8.

use super::util::*;
use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct NumberNoise;

static SPEC: RuleSpec = RuleSpec {
    name: "number_noise",
    summary: "Add keyed relative noise (± percent) to numbers, keeping type, scale and precision.",
    params: &[ParamSpec {
        name: "percent",
        kind: ParamKind::Float,
        required: false,
        doc: "largest relative change in percent, 0 < percent <= 100 (default 10)",
    }],
    accepts: &[TypeClass::Integer, TypeClass::Numeric],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"salary = { rule = "number_noise", percent = 5 }"#,
};

struct Noise {
    ratio: f64,
    oid: u32,
    domain: String,
}

impl Noise {
    fn numeric(
        &self,
        input: &[u8],
        factor: f64,
        up: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), SanitizeError> {
        let text = value::numeric_to_string(input)?;
        let Ok(v) = text.parse::<f64>() else {
            // NaN / Infinity text forms parse, anything else is kept as it is.
            out.extend_from_slice(input);
            return Ok(());
        };
        if !v.is_finite() {
            out.extend_from_slice(input);
            return Ok(());
        }
        let scale = text.split_once('.').map_or(0, |(_, f)| f.len());
        let int_digits = text
            .trim_start_matches('-')
            .split('.')
            .next()
            .map_or(0, |i| i.trim_start_matches('0').len());
        let mut noised = v * factor;
        // Never gain an integer digit: clamp to the largest value with as many digits.
        let limit = 10f64.powi(int_digits as i32) - 10f64.powi(-(scale as i32));
        if noised.abs() > limit {
            noised = limit.copysign(noised);
        }
        let mut s = format!("{noised:.scale$}");
        if s == text && v != 0.0 {
            // Too small to move at this scale: one unit in the last place instead, towards
            // zero when moving away would gain a digit.
            let ulp = 10f64.powi(-(scale as i32));
            let away = v + ulp.copysign(v);
            let bumped = if up && away.abs() <= limit {
                away
            } else {
                v - ulp.copysign(v)
            };
            s = format!("{bumped:.scale$}");
        }
        let s = if s.starts_with('-') && s[1..].bytes().all(|b| b == b'0' || b == b'.') {
            s[1..].to_string()
        } else {
            s
        };
        value::numeric_from_str(&s, out).map_err(value::err)
    }
}

impl ColumnSanitizer for Noise {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let mut s = Stream::of(ctx.key, "number_noise", &self.domain, input);
        let factor = 1.0 + self.ratio * (2.0 * s.unit() - 1.0);
        match self.oid {
            oids::INT2 | oids::INT4 | oids::INT8 => {
                let v = value::read_int(self.oid, input)?;
                // Within the type's range, so that clamping when writing cannot undo the noise
                // (the largest int4 noised up would be written back as itself).
                let (lo, hi) = value::int_bounds(self.oid);
                let mut w = ((v as f64 * factor).round() as i64).clamp(lo, hi);
                if w == v && v != 0 {
                    // Small values, and the ends of the range: move by one instead of staying.
                    let toward_zero = v - v.signum();
                    let away = v.checked_add(v.signum()).filter(|a| (lo..=hi).contains(a));
                    w = match away {
                        Some(a) if s.below(2) == 0 && toward_zero != 0 => a,
                        Some(a) if toward_zero == 0 => a,
                        _ => toward_zero,
                    };
                }
                value::write_int(self.oid, w, out);
            }
            oids::FLOAT4 | oids::FLOAT8 => {
                let v = value::read_float(self.oid, input)?;
                value::write_float(self.oid, v * factor, out);
            }
            _ => self.numeric(input, factor, s.below(2) == 0, out)?,
        }
        Ok(Outcome::Value)
    }
}

impl Rule for NumberNoise {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Perturbed
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let percent = p_float(args.params, "percent").unwrap_or(10.0);
        if !(percent > 0.0 && percent <= 100.0) {
            return Err(format!(
                "parameter `percent` must be greater than 0 and at most 100, got {percent}"
            ));
        }
        Ok(Box::new(Noise {
            ratio: percent / 100.0,
            oid: args.column.scalar_oid,
            domain: args.domain.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::column;

    fn numeric(s: &str) -> Vec<u8> {
        let mut b = Vec::new();
        value::numeric_from_str(s, &mut b).expect("numeric");
        b
    }

    #[test]
    fn integers_within_percent() {
        let col = column(TypeClass::Integer, oids::INT4);
        let s = must(build(&NumberNoise, "percent = 5", &col));
        common(s.as_ref(), &1_000_000i32.to_be_bytes());
        for v in [1i32, -1, 7, 100, 5000, -5000] {
            let out =
                value::read_int(oids::INT4, &value_of(s.as_ref(), &v.to_be_bytes())).expect("int4");
            assert!((out - i64::from(v)).abs() as f64 <= (f64::from(v).abs() * 0.05).max(1.0));
            assert_eq!(out.signum(), i64::from(v.signum()));
        }
        let col = column(TypeClass::Integer, oids::INT2);
        let s = must(build(&NumberNoise, "percent = 100", &col));
        assert_eq!(value_of(s.as_ref(), &i16::MAX.to_be_bytes()).len(), 2);
        let col = column(TypeClass::Integer, oids::INT8);
        let s = must(build(&NumberNoise, "percent = 0.0001", &col));
        for v in [i64::MAX, i64::MIN, 1, -1, 2] {
            let out = value::read_int(oids::INT8, &value_of(s.as_ref(), &v.to_be_bytes()));
            let out = out.expect("int8");
            assert_eq!(out.signum(), v.signum());
        }
    }

    #[test]
    fn numeric_keeps_scale_and_digits() {
        let col = column(TypeClass::Numeric, oids::NUMERIC);
        let s = must(build(&NumberNoise, "percent = 50", &col));
        common(s.as_ref(), &numeric("1234.50"));
        let small = value::numeric_to_string(&value_of(s.as_ref(), &numeric("0.01")));
        assert_ne!(small.expect("numeric"), "0.01");
        for input in [
            "1234.50", "99.99", "-0.125", "0", "NaN", "7", "0.01", "-0.01", "9",
        ] {
            let out =
                value::numeric_to_string(&value_of(s.as_ref(), &numeric(input))).expect("numeric");
            let scale = |t: &str| t.split_once('.').map_or(0, |(_, f)| f.len());
            assert_eq!(scale(&out), scale(input), "{input} → {out}");
            let int_len = |t: &str| {
                t.trim_start_matches('-')
                    .split('.')
                    .next()
                    .map_or(0, str::len)
            };
            assert!(int_len(&out) <= int_len(input).max(1), "{input} → {out}");
        }
        let col = column(TypeClass::Numeric, oids::FLOAT4);
        let s = must(build(&NumberNoise, "", &col));
        let out = value_of(s.as_ref(), &2.5f32.to_be_bytes());
        let v = value::read_float(oids::FLOAT4, &out).expect("float4");
        assert!((v - 2.5).abs() <= 0.25 + 1e-6 && v != 2.5);
        let e = build(&NumberNoise, "percent = 0", &col)
            .err()
            .expect("refused");
        assert!(e.contains("`percent`"));
    }
}
