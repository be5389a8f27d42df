//! Throughput of every built-in sanitizer rule on one thread: values per second over realistic
//! inputs in their binary COPY form (10 000 distinct values per rule).
//!
//! Run with `cargo bench --bench sanitize -- --warm-up-time 1 --measurement-time 3`; figures
//! are elements/s (values sanitized per second).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use restage::sanitize::{
    build_column, oids, ColumnInfo, ColumnSanitizer, Ctx, Key, Outcome, RowAccess, TypeClass,
};

const N: usize = 10_000;

fn column(name: &str, class: TypeClass, oid: u32) -> ColumnInfo {
    ColumnInfo {
        table: "public.customers".into(),
        name: name.into(),
        type_name: class.to_string(),
        class,
        scalar_oid: oid,
        array: false,
        max_chars: None,
        fields: Vec::new(),
        not_null: false,
        unique: false,
    }
}

/// Other columns of the row, for `template` and `date_shift` with a key column.
struct Row {
    first: Vec<u8>,
    id: [u8; 4],
}

impl RowAccess for Row {
    fn original(&self, column: &str) -> Result<Option<&[u8]>, String> {
        match column {
            "first_name" => Ok(Some(&self.first)),
            "id" => Ok(Some(&self.id)),
            _ => Err(format!("no column {column}")),
        }
    }
    fn sanitized(&self, _column: &str, out: &mut Vec<u8>) -> Result<Outcome, String> {
        out.extend_from_slice(b"Maria");
        Ok(Outcome::Value)
    }
}

fn text_inputs(f: impl Fn(usize) -> String) -> Vec<Vec<u8>> {
    (0..N).map(|i| f(i).into_bytes()).collect()
}

fn numeric(s: &str) -> Vec<u8> {
    let mut b = Vec::new();
    restage::sanitize::value::numeric_from_str(s, &mut b).expect("numeric");
    b
}

/// An audit-log document of about 1 KB (jsonb): a copy of a customer row with a few personal
/// tokens among ids, amounts and timestamps, as `scrub` meets them, and a free-text note.
fn audit_doc(i: usize, note: &str) -> Vec<u8> {
    let mut b = vec![1u8];
    let items: String = (0..8)
        .map(|k| {
            format!(
                r#"{{"sku":"SKU-{k:05}","qty":{},"price":"{}.99","added":"2024-03-{:02}T10:{:02}:00Z"}},"#,
                1 + k % 3,
                10 + k,
                1 + k % 28,
                k % 60
            )
        })
        .collect();
    b.extend_from_slice(
        format!(
            r#"{{"event":"order.updated","actor":"user{i}@mail.example.org","at":"2024-03-01T12:00:00Z","before":{{"id":{i},"email":"person{i}@mail.example.org","phone":"+44 20 7946 {:04}","items":[{}{{}}]}},"ip":"203.0.113.{}","note":"customer asked to {note}, ref {i}"}}"#,
            i % 10_000,
            items,
            i % 250
        )
        .as_bytes(),
    );
    b
}

fn cases() -> Vec<(&'static str, &'static str, ColumnInfo, Vec<Vec<u8>>)> {
    let text = |n: &str| column(n, TypeClass::Text, oids::TEXT);
    let emails = text_inputs(|i| format!("customer.{i}@mail{}.example.org", i % 97));
    let names = text_inputs(|i| format!("Customer Number{i}"));
    let phones = text_inputs(|i| format!("+44 20 79{:02} {:04}", i % 100, i));
    let comments = text_inputs(|i| {
        format!(
            "Customer {i} called about the late delivery of their order and asked for a refund."
        )
    });
    let mut unique_email = text("email");
    unique_email.unique = true;
    let mut array = text("phones");
    array.array = true;
    let arrays: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let elems = [
                format!("+1 555 {i:07}"),
                format!("030/{i:07}"),
                format!("555-{:04}", i % 10_000),
            ];
            let mut b = Vec::new();
            for v in [1i32, 0, oids::TEXT as i32, 3, 1] {
                b.extend_from_slice(&v.to_be_bytes());
            }
            for e in elems {
                b.extend_from_slice(&(e.len() as i32).to_be_bytes());
                b.extend_from_slice(e.as_bytes());
            }
            b
        })
        .collect();
    let jsons: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let mut b = vec![1u8];
            b.extend_from_slice(
                format!(
                    r#"{{"name":"Customer {i}","address":{{"street":"{i} Long Road","city":"Leeds"}},"phones":["+44 20 7946 {:04}"],"vip":false}}"#,
                    i % 10_000
                )
                .as_bytes(),
            );
            b
        })
        .collect();
    // Audit-log documents of about 1 KB: a copy of a customer row with a few personal tokens
    // among ids, amounts and timestamps, as `scrub` meets them.
    let audit_docs: Vec<Vec<u8>> = (0..N).map(|i| audit_doc(i, "ship to the office")).collect();
    let int8s: Vec<Vec<u8>> = (0..N as i64)
        .map(|i| (i * 7919).to_be_bytes().to_vec())
        .collect();
    let int4s: Vec<Vec<u8>> = (0..N as i32)
        .map(|i| (i % 120).to_be_bytes().to_vec())
        .collect();
    let dates: Vec<Vec<u8>> = (0..N as i32)
        .map(|i| (7000 + i).to_be_bytes().to_vec())
        .collect();
    let numerics: Vec<Vec<u8>> = (0..N)
        .map(|i| numeric(&format!("{}.{:02}", 1000 + i, i % 100)))
        .collect();
    let uuids: Vec<Vec<u8>> = (0..N as u128)
        .map(|i| (i * 0x9E37_79B9_7F4A_7C15).to_be_bytes().to_vec())
        .collect();
    let inets: Vec<Vec<u8>> = (0..N as u32)
        .map(|i| {
            let mut b = vec![2u8, 32, 0, 4];
            b.extend_from_slice(&(0x0a00_0000 + i).to_be_bytes());
            b
        })
        .collect();
    let cards = text_inputs(|i| format!("4111 1111 {:04} {:04}", i % 10_000, i / 3));
    let ibans = text_inputs(|i| format!("DE89 3704 0044 0532 {:04} 00", i % 10_000));
    let postcodes = text_inputs(|i| format!("SW{} {}AA", i % 20, i % 10));
    vec![
        ("email", r#"rule = "email""#, text("email"), emails.clone()),
        (
            "email/unique",
            r#"rule = "email""#,
            unique_email,
            emails.clone(),
        ),
        (
            "person_name",
            r#"rule = "person_name""#,
            text("name"),
            names.clone(),
        ),
        (
            "first_name",
            r#"rule = "first_name""#,
            text("first"),
            names.clone(),
        ),
        (
            "last_name",
            r#"rule = "last_name""#,
            text("last"),
            names.clone(),
        ),
        ("hash/text", r#"rule = "hash""#, text("ref"), emails.clone()),
        (
            "hash/int8",
            r#"rule = "hash""#,
            column("id", TypeClass::Integer, oids::INT8),
            int8s.clone(),
        ),
        ("phone", r#"rule = "phone""#, text("phone"), phones.clone()),
        (
            "constant",
            "rule = \"constant\"\nvalue = \"redacted\"",
            text("notes"),
            comments.clone(),
        ),
        (
            "mask",
            "rule = \"mask\"\nkeep_last = 4",
            text("card"),
            cards.clone(),
        ),
        (
            "lorem",
            r#"rule = "lorem""#,
            text("comment"),
            comments.clone(),
        ),
        (
            "date_shift",
            "rule = \"date_shift\"\ndays = 90",
            column("born", TypeClass::Date, oids::DATE),
            dates.clone(),
        ),
        (
            "number_noise/numeric",
            r#"rule = "number_noise""#,
            column("salary", TypeClass::Numeric, oids::NUMERIC),
            numerics,
        ),
        (
            "number_noise/int8",
            r#"rule = "number_noise""#,
            column("amount", TypeClass::Integer, oids::INT8),
            int8s.clone(),
        ),
        (
            "int_range",
            "rule = \"int_range\"\nmin = 18\nmax = 90",
            column("age", TypeClass::Integer, oids::INT4),
            int4s,
        ),
        (
            "uuid",
            r#"rule = "uuid""#,
            column("ext", TypeClass::Uuid, oids::UUID),
            uuids,
        ),
        (
            "ip",
            r#"rule = "ip""#,
            column("ip", TypeClass::Inet, oids::INET),
            inets,
        ),
        (
            "json",
            r#"rule = "json"
paths = { "$.name" = "person_name", "$.address.street" = "street", "$.phones[*]" = "phone" }"#,
            column("profile", TypeClass::Json, oids::JSONB),
            jsons,
        ),
        (
            "scrub (1 KB json)",
            r#"rule = "scrub""#,
            column("audit", TypeClass::Json, oids::JSONB),
            audit_docs,
        ),
        (
            "template",
            r#"rule = "template"
template = "{first_name:sanitized:slug}.{id}@example.com""#,
            text("login_email"),
            emails.clone(),
        ),
        (
            "choice",
            "rule = \"choice\"\nvalues = [\"active\", \"closed\", \"frozen\"]\nweights = [8, 1, 1]",
            text("status"),
            names.clone(),
        ),
        (
            "regex_replace",
            "rule = \"regex_replace\"\npattern = '\\d'\nreplacement = '#'",
            text("comment"),
            comments,
        ),
        (
            "address",
            r#"rule = "address""#,
            text("address"),
            names.clone(),
        ),
        (
            "street",
            r#"rule = "street""#,
            text("street"),
            names.clone(),
        ),
        ("city", r#"rule = "city""#, text("city"), names.clone()),
        ("postcode", r#"rule = "postcode""#, text("zip"), postcodes),
        (
            "country",
            r#"rule = "country""#,
            text("country"),
            names.clone(),
        ),
        (
            "company",
            r#"rule = "company""#,
            text("employer"),
            names.clone(),
        ),
        (
            "username",
            r#"rule = "username""#,
            text("login"),
            emails.clone(),
        ),
        ("url", r#"rule = "url""#, text("website"), names),
        (
            "credit_card",
            r#"rule = "credit_card""#,
            text("card"),
            cards,
        ),
        ("iban", r#"rule = "iban""#, text("iban"), ibans),
        ("array/phone[3]", r#"rule = "phone""#, array, arrays),
        (
            "date_shift/key_column",
            "rule = \"date_shift\"\nkey_column = \"id\"",
            column("born", TypeClass::Date, oids::DATE),
            dates,
        ),
        (
            "when+email",
            r#"rule = "email"
when = [{ matches = "@mail1\\.example\\.org$", rule = "keep" }]"#,
            text("email"),
            emails,
        ),
    ]
}

fn rules(c: &mut Criterion) {
    let key = Key::from_secret(b"bench");
    let mut g = c.benchmark_group("sanitize");
    g.throughput(Throughput::Elements(N as u64));
    let row_cols = [
        column("first_name", TypeClass::Text, oids::TEXT),
        column("id", TypeClass::Integer, oids::INT4),
    ];
    for (name, entry, col, inputs) in cases() {
        let entry: toml::Table = entry.parse().expect("bench entry parses");
        let mut row: Vec<ColumnInfo> = row_cols.to_vec();
        row.push(col.clone());
        let s: Box<dyn ColumnSanitizer> = match build_column(&entry, &col, &row, name) {
            Ok(s) => s,
            Err(e) => panic!("{name}: {e:?}"),
        };
        let rows: Vec<Row> = (0..N)
            .map(|i| Row {
                first: format!("First{i}").into_bytes(),
                id: (i as i32).to_be_bytes(),
            })
            .collect();
        let mut out = Vec::with_capacity(256);
        g.bench_function(name, |b| {
            b.iter(|| {
                for (input, row) in inputs.iter().zip(&rows) {
                    out.clear();
                    let ctx = Ctx {
                        key: &key,
                        row: Some(row),
                    };
                    let o = s.sanitize(Some(input), &ctx, &mut out);
                    black_box((o.is_ok(), &out));
                }
            })
        });
    }
    g.finish();
}

/// Values of the production-values dictionary: a person's name or a street per value.
fn production_value(i: usize) -> String {
    if i % 2 == 0 {
        format!("Given{} Family{}", i % 5000, i / 5000)
    } else {
        format!("{} Street{} Lane", i % 2000, i / 2000)
    }
}

/// `scrub` with the run's dictionary of 1 M production values loaded, over the same 1 KB
/// documents whose notes name a person and a street of the dictionary.
fn scrub_with_values(c: &mut Criterion) {
    use restage::sanitize::dictionary::{DictionaryBuilder, DomainMapping};
    use std::sync::Arc;
    let key = Key::from_secret(b"bench");
    let mut builder = DictionaryBuilder::new(&key);
    let mapping = |rule: &str| DomainMapping {
        rule: rule.into(),
        domain: rule.into(),
        params: toml::Table::new(),
        case_insensitive: false,
    };
    let (name, street) = (
        builder
            .add_mapping(mapping("person_name"))
            .unwrap_or_default(),
        builder.add_mapping(mapping("street")).unwrap_or_default(),
    );
    const VALUES: usize = 1_000_000;
    for i in 0..VALUES {
        let m = if i % 2 == 0 { name } else { street };
        builder.insert(m, production_value(i).as_bytes());
    }
    let dictionary = Arc::new(builder.finish());
    eprintln!(
        "dictionary: {} values, {:.1} MB ({:.1} bytes per value)",
        dictionary.len(),
        dictionary.heap_bytes() as f64 / 1e6,
        dictionary.heap_bytes() as f64 / dictionary.len() as f64
    );
    let col = column("audit", TypeClass::Json, oids::JSONB);
    let entry: toml::Table = r#"rule = "scrub""#.parse().expect("bench entry parses");
    let s = restage::sanitize::build_column_in(
        &entry,
        &col,
        std::slice::from_ref(&col),
        "scrub",
        &restage::sanitize::NO_UNIQUE_DOMAINS,
        Some(&dictionary),
    )
    .unwrap_or_else(|e| panic!("scrub: {e:?}"));
    let inputs: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let note = format!(
                "call {} at {}",
                production_value(i * 97 % VALUES / 2 * 2),
                production_value(i * 89 % VALUES / 2 * 2 + 1)
            );
            audit_doc(i, &note)
        })
        .collect();
    let mut g = c.benchmark_group("sanitize");
    g.throughput(Throughput::Elements(N as u64));
    let mut out = Vec::with_capacity(2048);
    g.bench_function("scrub (1 KB json, 1 M production values)", |b| {
        b.iter(|| {
            for input in &inputs {
                out.clear();
                let ctx = Ctx {
                    key: &key,
                    row: None,
                };
                let o = s.sanitize(Some(input), &ctx, &mut out);
                black_box((o.is_ok(), &out));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = rules, scrub_with_values
}
criterion_main!(benches);
