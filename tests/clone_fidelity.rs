//! Values whose binary COPY form does not survive a copy (the `reg*` object-identifier types,
//! `aclitem`, the empty `tsquery`), tables without columns, and a round trip of every built-in
//! base type: `clone --no-rules` and `snapshot` → `restore` must equal the source by per-table
//! checksum of the text form.

mod common;

use std::path::Path;

use common::*;

const EXIT_REFUSED: i32 = 4;

/// Objects the `reg*` values below name: they exist on the target before its rows arrive
/// (pre-data), under other OIDs than on the source.
const NAMED_OBJECTS: &str = r#"
CREATE SCHEMA "Odd Schema";
CREATE TABLE public.misc (id int);
CREATE TABLE "Odd Schema"."Mixed ""Case""" (id int);
CREATE TYPE public.fid_mood AS ENUM ('calm', 'busy');
CREATE FUNCTION public.fid_fn(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE OPERATOR public.=== (LEFTARG = integer, RIGHTARG = integer, FUNCTION = int4eq);
CREATE TEXT SEARCH CONFIGURATION public.fid_config (COPY = pg_catalog.english);
CREATE TEXT SEARCH DICTIONARY public.fid_dict (TEMPLATE = pg_catalog.simple);
CREATE COLLATION public.fid_coll FROM "C";
"#;

/// Runs `restage snapshot --no-rules` of `src` into `dir`.
fn snapshot_verbatim(src: &str, dir: &Path) -> Run {
    run_cmd(
        restage()
            .args(["snapshot", "--quiet", "--no-rules", "--source"])
            .arg(cluster().url(src))
            .arg("--out")
            .arg(dir),
    )
}

fn restore(dir: &Path, dst: &str) -> Run {
    run_cmd(
        restage()
            .args(["restore", "--quiet"])
            .arg(dir)
            .args(["--target", &cluster().url(dst)]),
    )
}

/// `clone --no-rules` and `snapshot` → `restore` of `src` both equal the source; returns the
/// snapshot's manifest, with what `snapshot inspect` printed under `inspect`.
#[track_caller]
fn assert_both_round_trips(src: &str, prefix: &str) -> serde_json::Value {
    let pg = cluster();
    let cloned = fresh_db(pg, &format!("{prefix}_clone"));
    clone(pg, src, &cloned, &[]).assert_ok();
    assert_same_database(pg, src, &cloned);

    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("snap");
    snapshot_verbatim(src, &snap).assert_ok();
    let restored = fresh_db(pg, &format!("{prefix}_restored"));
    restore(&snap, &restored).assert_ok();
    assert_same_database(pg, src, &restored);
    let text = std::fs::read_to_string(snap.join("manifest.json")).expect("manifest");
    let mut manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest JSON");
    let inspect = run_cmd(restage().args(["snapshot", "inspect"]).arg(&snap));
    inspect.assert_ok();
    manifest["inspect"] = serde_json::Value::String(inspect.stdout);
    manifest
}

/// The format the manifest records for `schema.name` (absent means binary).
fn table_format(manifest: &serde_json::Value, name: &str) -> String {
    let tables = manifest["tables"].as_array().expect("tables");
    let table = tables
        .iter()
        .find(|t| {
            format!(
                "{}.{}",
                t["schema"].as_str().unwrap_or(""),
                t["name"].as_str().unwrap_or("")
            ) == name
        })
        .unwrap_or_else(|| panic!("{name} is not in the manifest"));
    table["format"].as_str().unwrap_or("binary").to_string()
}

#[test]
fn reg_types_keep_the_names_they_refer_to() {
    let pg = cluster();
    let src = fresh_db(pg, "reg_src");
    sql(pg, &src, NAMED_OBJECTS);
    sql(
        pg,
        &src,
        r#"
        CREATE TABLE public.refs (
            id int PRIMARY KEY,
            rel regclass, typ regtype, ns regnamespace, fn regproc, fnsig regprocedure,
            op regoper, opsig regoperator, cfg regconfig, dict regdictionary, role regrole,
            coll regcollation, rels regclass[]
        );
        INSERT INTO public.refs VALUES
          (1, 'public.misc', 'public.fid_mood', 'public', 'public.fid_fn',
           'public.fid_fn(integer)', 'public.===', 'public.===(integer,integer)',
           'public.fid_config', 'public.fid_dict', 'postgres', 'public.fid_coll',
           ARRAY['public.misc', NULL, '"Odd Schema"."Mixed ""Case"""']::regclass[]),
          (2, '"Odd Schema"."Mixed ""Case"""', 'integer[]', '"Odd Schema"', 'now', 'now()',
           '||/', '+(integer,integer)', 'english', 'simple', 'pg_monitor', '"C"', '{}'),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        CREATE TABLE public.plain (id int PRIMARY KEY, note text);
        INSERT INTO public.plain SELECT g, 'n' || g FROM generate_series(1, 10) g;
        "#,
    );
    let manifest = assert_both_round_trips(&src, "reg");
    // A text-form table split into block ranges copied concurrently, each range in its own
    // transaction on the target.
    sql(
        pg,
        &src,
        "CREATE TABLE public.many_refs (id int, rel regclass, pad text);
         INSERT INTO public.many_refs
           SELECT g, CASE WHEN g % 2 = 0 THEN 'public.misc' END, repeat('p', 200)
           FROM generate_series(1, 2000) g;",
    );
    let split = fresh_db(pg, "reg_split");
    let run = clone(
        pg,
        &src,
        &split,
        &["--split-larger-than", "64KiB", "--jobs", "3", "--json"],
    );
    run.assert_ok();
    assert_same_database(pg, &src, &split);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let parts = report["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["table"] == "public.many_refs"))
        .map(|t| t["parts"].as_u64().unwrap_or(0));
    assert!(parts > Some(1), "many_refs was not split: {parts:?}");
    // Only the table that needs it leaves the binary path.
    assert_eq!(table_format(&manifest, "public.refs"), "text");
    assert_eq!(table_format(&manifest, "public.plain"), "binary");
    assert_eq!(
        manifest["format"], 2,
        "an older restage must not read text data"
    );
    let inspect = manifest["inspect"].as_str().unwrap_or_default();
    assert!(
        inspect.contains("public.refs: 3 rows") && inspect.contains("(text COPY)"),
        "{inspect}"
    );
    assert_eq!(
        inspect.matches("(text COPY)").count(),
        1,
        "only refs: {inspect}"
    );
}

#[test]
fn values_without_a_faithful_binary_form_are_copied_as_text() {
    let pg = cluster();
    let src = fresh_db(pg, "textual_src");
    sql(pg, &src, NAMED_OBJECTS);
    sql(
        pg,
        &src,
        r#"
        CREATE DOMAIN public.table_ref AS regclass;
        CREATE TYPE public.typed_note AS (typ regtype, q tsquery);
        CREATE TABLE public.queries (id int PRIMARY KEY, q tsquery, qs tsquery[]);
        INSERT INTO public.queries VALUES
          (1, '', ARRAY['', 'a & b']::tsquery[]), (2, 'x <-> !y', '{}'), (3, NULL, NULL);
        CREATE DOMAIN public.search AS tsquery;
        CREATE TABLE public.searches (id int PRIMARY KEY, q tsquery, d public.search,
                                      qs tsquery[]);
        INSERT INTO public.searches VALUES (1, 'a & b', 'c', '{x,NULL}'), (2, NULL, NULL, '{}');
        CREATE TABLE public.empty_in_domain (id int PRIMARY KEY, d public.search);
        INSERT INTO public.empty_in_domain VALUES (1, 'a'), (2, '');
        CREATE TABLE public.grants (id int PRIMARY KEY, acl aclitem[], one aclitem);
        INSERT INTO public.grants VALUES
          (1, '{postgres=arwdDxt/postgres,=r/postgres}', 'postgres=r*/postgres'), (2, NULL, NULL);
        CREATE TABLE public.wrapped (id int PRIMARY KEY, ref public.table_ref,
                                     notes public.typed_note[], note public.typed_note);
        INSERT INTO public.wrapped VALUES
          (1, 'public.misc', ARRAY[ROW('public.fid_mood', '')::public.typed_note, NULL],
           ROW('integer', 'a')::public.typed_note);
        "#,
    );
    let manifest = assert_both_round_trips(&src, "textual");
    for table in [
        "public.queries",
        "public.empty_in_domain",
        "public.grants",
        "public.wrapped",
    ] {
        assert_eq!(table_format(&manifest, table), "text", "{table}");
    }
    // Only an empty tsquery needs the text form.
    assert_eq!(table_format(&manifest, "public.searches"), "binary");
}

#[test]
fn tables_without_columns_keep_their_rows() {
    let pg = cluster();
    let src = fresh_db(pg, "zero_src");
    sql(
        pg,
        &src,
        "CREATE TABLE public.zero_cols ();
         INSERT INTO public.zero_cols DEFAULT VALUES;
         INSERT INTO public.zero_cols DEFAULT VALUES;
         INSERT INTO public.zero_cols DEFAULT VALUES;
         CREATE TABLE public.empty_zero ();
         CREATE TABLE public.only_generated (g int GENERATED ALWAYS AS (7) STORED);
         INSERT INTO public.only_generated DEFAULT VALUES;
         INSERT INTO public.only_generated DEFAULT VALUES;",
    );
    assert_both_round_trips(&src, "zero");
    let cloned = fresh_db(pg, "zero_counted");
    clone(pg, &src, &cloned, &[]).assert_ok();
    assert_eq!(
        sql(pg, &cloned, "SELECT count(*) FROM public.zero_cols"),
        "3"
    );
    assert_eq!(
        sql(
            pg,
            &cloned,
            "SELECT count(*), sum(g) FROM public.only_generated"
        ),
        "2|14"
    );
}

#[test]
fn rules_on_a_table_copied_as_text_are_refused_naming_table_and_column() {
    let pg = cluster();
    let src = fresh_db(pg, "textrules_src");
    sql(
        pg,
        &src,
        "CREATE TABLE public.misc (id int);
         CREATE TABLE public.audit (id int PRIMARY KEY, rel regclass, who text);
         INSERT INTO public.audit VALUES (1, 'public.misc', 'alice@example.org');",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rules.toml");
    let write_rules = |who: &str| {
        std::fs::write(
            &rules,
            format!(
                "[tables.\"public.misc\".columns]\nid = \"keep\"\n\
                 [tables.\"public.audit\".columns]\nid = \"keep\"\nrel = \"keep\"\nwho = {who}\n"
            ),
        )
        .expect("rules file");
    };
    write_rules("{ rule = \"email\" }");
    let rules_arg = format!("--rules={}", rules.display());
    let dst = fresh_db(pg, "textrules_dst");
    let run = run_cmd(
        restage()
            .env("RESTAGE_KEY", "restage-test-key-0123456789")
            .args(["clone", "--quiet", "--source", &pg.url(&src)])
            .args(["--target", &pg.url(&dst), &rules_arg]),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("public.audit.who") && run.stderr.contains("rel (regclass)"),
        "{}",
        run.stderr
    );
    // Refused before the target changed.
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );
    // Kept columns are fine: the table travels as text.
    write_rules("\"keep\"");
    clone(pg, &src, &dst, &[&rules_arg]).assert_ok();
    assert_eq!(sql(pg, &dst, "SELECT rel::text FROM public.audit"), "misc");
}

/// Sample values (SQL expressions) of every built-in base type, with the edge values of each.
/// A base type that is not listed makes the round-trip test fail, so a new PostgreSQL type is
/// never skipped silently. An empty list means the type can only hold NULL here: its input
/// function rejects every value (only the server itself produces them, inside its catalogs).
const SAMPLES: &[(&str, &[&str])] = &[
    (
        "aclitem",
        &["'postgres=arwdDxt/postgres'", "'=r*/postgres'"],
    ),
    ("bit", &["B'1'", "B'0'"]),
    ("bool", &["true", "false"]),
    ("box", &["'(1,1),(0,0)'", "'(Infinity,1),(-Infinity,-1)'"]),
    ("bpchar", &["''", "'ab  '", "repeat('é', 500)"]),
    (
        "bytea",
        &[
            "'\\x'",
            "(SELECT string_agg(set_byte('\\x00'::bytea, 0, b), '' ORDER BY b) \
             FROM generate_series(0, 255) b)",
            "decode(repeat('00', 200000), 'hex')",
        ],
    ),
    ("char", &["'a'", "' '"]),
    ("cid", &["'0'", "'4294967295'"]),
    ("cidr", &["'10.0.0.0/8'", "'2001:db8::/32'"]),
    ("circle", &["'<(0,0),1>'", "'<(1.5,-2),0>'"]),
    (
        "date",
        &[
            "'infinity'",
            "'-infinity'",
            "'4714-11-24 BC'",
            "'5874897-12-31'",
        ],
    ),
    (
        "float4",
        &[
            "'NaN'",
            "'Infinity'",
            "'-Infinity'",
            "'-0'",
            "'1.4e-45'",
            "'3.4028235e38'",
        ],
    ),
    (
        "float8",
        &[
            "'NaN'",
            "'Infinity'",
            "'-Infinity'",
            "'-0'",
            "'5e-324'",
            "'1.7976931348623157e308'",
        ],
    ),
    ("gtsvector", &[]),
    ("inet", &["'192.168.0.1/24'", "'::ffff:1.2.3.4/128'"]),
    ("int2", &["-32768", "32767"]),
    ("int2vector", &["'1 2 3'", "''"]),
    ("int4", &["-2147483648", "2147483647"]),
    ("int8", &["-9223372036854775808", "9223372036854775807"]),
    (
        "interval",
        &[
            "'178000000 years'",
            "'-178000000 years'",
            "'-00:00:00.000001'",
            "'1 mon -1 day 02:00'",
        ],
    ),
    (
        "json",
        &[
            "'{\"a\": [1, 2.50, null], \"a\": \"dup\"}'",
            "'\"\\u0000\"'",
            "'  [ ]  '",
        ],
    ),
    (
        "jsonb",
        &[
            "'{}'",
            "'[]'",
            "'null'",
            "'{\"a\": {\"b\": [1, \"é\", \"x\\ny\"]}}'",
        ],
    ),
    ("jsonpath", &["'$.a[*] ? (@ > 1)'", "'strict $'"]),
    ("line", &["'{1,-1,0}'", "'{0,1,-2.5}'"]),
    ("lseg", &["'[(0,0),(1,1)]'"]),
    ("macaddr", &["'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'"]),
    ("macaddr8", &["'08:00:2b:01:02:03:04:05'"]),
    (
        "money",
        &["'-92233720368547758.08'", "'92233720368547758.07'", "'0'"],
    ),
    ("name", &["''", "repeat('n', 63)"]),
    (
        "numeric",
        &[
            "'NaN'",
            "'Infinity'",
            "'-Infinity'",
            "'-0.00'",
            "('0.' || repeat('0', 999) || '1')::numeric",
            "repeat('9', 1000)::numeric",
        ],
    ),
    ("oid", &["0", "4294967295"]),
    ("oidvector", &["'1 2'", "''"]),
    ("path", &["'((0,0),(1,1),(2,0))'", "'[(0,0),(1,1)]'"]),
    ("pg_brin_bloom_summary", &[]),
    ("pg_brin_minmax_multi_summary", &[]),
    ("pg_dependencies", &[]),
    ("pg_lsn", &["'0/0'", "'FFFFFFFF/FFFFFFFF'"]),
    ("pg_mcv_list", &[]),
    ("pg_ndistinct", &[]),
    ("pg_node_tree", &[]),
    ("pg_snapshot", &["'10:20:10,14,15'", "'1:1:'"]),
    ("point", &["'(1,2)'", "'(NaN,Infinity)'"]),
    ("polygon", &["'((0,0),(1,1),(1,0))'"]),
    ("refcursor", &["'c1'", "''"]),
    (
        "regclass",
        &[
            "'pg_class'",
            "'public.misc'",
            "'\"Odd Schema\".\"Mixed \"\"Case\"\"\"'",
        ],
    ),
    ("regcollation", &["'\"C\"'", "'public.fid_coll'"]),
    ("regconfig", &["'english'", "'public.fid_config'"]),
    ("regdictionary", &["'english_stem'", "'public.fid_dict'"]),
    ("regnamespace", &["'pg_catalog'", "'\"Odd Schema\"'"]),
    ("regoper", &["'||/'", "'public.==='"]),
    (
        "regoperator",
        &["'+(integer,integer)'", "'public.===(integer,integer)'"],
    ),
    ("regproc", &["'now'", "'public.fid_fn'"]),
    ("regprocedure", &["'now()'", "'public.fid_fn(integer)'"]),
    ("regrole", &["'postgres'", "'pg_monitor'"]),
    (
        "regtype",
        &["'integer'", "'public.fid_mood[]'", "'\"char\"'"],
    ),
    (
        "text",
        &["''", "E'a\\tb\\nc\\\\d\\r'", "repeat('x', 100000)"],
    ),
    ("tid", &["'(0,1)'", "'(4294967295,65535)'"]),
    ("time", &["'00:00'", "'24:00:00'", "'23:59:59.999999'"]),
    (
        "timestamp",
        &[
            "'infinity'",
            "'-infinity'",
            "'4713-01-01 00:00:00 BC'",
            "'294276-12-31 23:59:59.999999'",
        ],
    ),
    (
        "timestamptz",
        &[
            "'infinity'",
            "'-infinity'",
            "'4713-01-01 00:00:00+00 BC'",
            "'294276-12-31 23:59:59.999999+00'",
        ],
    ),
    ("timetz", &["'00:00+15:59'", "'24:00:00-15:59'"]),
    ("tsquery", &["''", "'a & !(b | c:*)'", "'x <-> y'"]),
    ("tsvector", &["''", "$$'a':1A 'b\\'c':2B,3 'x y'$$"]),
    ("txid_snapshot", &["'10:20:10,14,15'", "'1:1:'"]),
    (
        "uuid",
        &[
            "'00000000-0000-0000-0000-000000000000'",
            "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
        ],
    ),
    ("varbit", &["B''", "B'1010'"]),
    ("varchar", &["''", "repeat('é', 1000)"]),
    ("xid", &["'0'", "'4294967295'"]),
    ("xid8", &["'0'", "'18446744073709551615'"]),
    ("xml", &["'<a>x</a>'", "'fragment <b/> text'", "''"]),
];

/// A table with a column for every built-in base type and one for its array type, as the
/// source's catalog lists them: rows of NULLs, each sample, arrays with NULL elements, empty
/// and two-dimensional arrays. Returns the SQL to build and fill it.
fn all_builtin_types_sql(db: &str) -> String {
    let pg = cluster();
    // Every base type of pg_catalog that is not itself an array type. Pseudo-types (typtype
    // 'p': any, record, cstring, unknown…) are not base types and cannot be column types.
    let listed = sql(
        pg,
        db,
        "SELECT t.typname, coalesce(a.typname, '') FROM pg_type t \
         LEFT JOIN pg_type a ON a.oid = t.typarray \
         WHERE t.typtype = 'b' AND t.typnamespace = 'pg_catalog'::regnamespace \
           AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid) \
         ORDER BY 1",
    );
    let mut columns = vec!["id int PRIMARY KEY".to_string()];
    // Per row: (column, value expression).
    let mut rows: Vec<Vec<(String, String)>> = vec![Vec::new(); 8];
    let mut missing = Vec::new();
    for line in listed.lines() {
        let (base, array) = line.split_once('|').expect("type|array");
        let Some((_, samples)) = SAMPLES.iter().find(|(n, _)| *n == base) else {
            missing.push(base.to_string());
            continue;
        };
        let col = format!("c_{base}");
        columns.push(format!("{col} pg_catalog.\"{base}\""));
        for (i, s) in samples.iter().enumerate() {
            rows[i].push((col.clone(), format!("({s})::pg_catalog.\"{base}\"")));
        }
        if array.is_empty() {
            continue;
        }
        let arr = format!("a_{base}");
        columns.push(format!("{arr} pg_catalog.\"{array}\""));
        let elem = |s: &str| format!("({s})::pg_catalog.\"{base}\"");
        rows[6].push((arr.clone(), "'{}'".into()));
        if let Some(first) = samples.first() {
            let last = samples.last().unwrap_or(first);
            rows[0].push((
                arr.clone(),
                format!("ARRAY[{}, NULL, {}]", elem(first), elem(last)),
            ));
            rows[7].push((
                arr.clone(),
                format!(
                    "ARRAY[[{}, NULL], [{}, {}]]",
                    elem(first),
                    elem(last),
                    elem(first)
                ),
            ));
        } else {
            rows[0].push((arr.clone(), format!("ARRAY[NULL]::pg_catalog.\"{array}\"")));
        }
    }
    assert!(
        missing.is_empty(),
        "add sample values for these built-in types to SAMPLES: {}",
        missing.join(", ")
    );
    let mut out = format!(
        "CREATE TABLE public.builtin_types ({});\n",
        columns.join(",\n  ")
    );
    // Row 0 onwards carry samples; an all-NULL row too.
    out.push_str("INSERT INTO public.builtin_types (id) VALUES (100);\n");
    for (i, row) in rows.iter().enumerate() {
        let (cols, vals): (Vec<_>, Vec<_>) = row.iter().cloned().unzip();
        let mut cols = cols;
        let mut vals = vals;
        cols.insert(0, "id".into());
        vals.insert(0, i.to_string());
        out.push_str(&format!(
            "INSERT INTO public.builtin_types ({}) VALUES ({});\n",
            cols.join(", "),
            vals.join(", ")
        ));
    }
    out
}

#[test]
fn every_builtin_type_and_the_types_fixture_round_trip_exactly() {
    let pg = cluster();
    let src = loaded_db(pg, "alltypes_src", "types/schema.sql");
    sql(pg, &src, NAMED_OBJECTS);
    let build = all_builtin_types_sql(&src);
    pg.psql(&src, &build)
        .unwrap_or_else(|e| panic!("building public.builtin_types: {e}\n{build}"));
    let count = sql(pg, &src, "SELECT count(*) FROM public.builtin_types");
    assert_eq!(count, "9");
    let manifest = assert_both_round_trips(&src, "alltypes");
    // Tables without such values stay on the binary path: all_types has tsquery values, but
    // no empty one.
    assert_eq!(table_format(&manifest, "public.tricky_text"), "binary");
    assert_eq!(table_format(&manifest, "public.all_types"), "binary");
    assert_eq!(table_format(&manifest, "public.builtin_types"), "text");
}

#[test]
fn values_no_database_accepts_are_refused_before_anything_is_written() {
    let pg = cluster();
    let src = fresh_db(pg, "unloadable_src");
    sql(
        pg,
        &src,
        "CREATE TABLE public.defaults (x int DEFAULT 42);
         CREATE TABLE public.trees (id int, expr pg_node_tree, spare pg_ndistinct);
         INSERT INTO public.trees SELECT 1, adbin, NULL FROM pg_attrdef
           WHERE adrelid = 'public.defaults'::regclass;
         CREATE TABLE public.empty_trees (expr pg_node_tree);
         INSERT INTO public.empty_trees VALUES (NULL);",
    );
    let dst = fresh_db(pg, "unloadable_dst");
    let run = clone(pg, &src, &dst, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("public.trees.expr (pg_node_tree)")
            && !run.stderr.contains("spare")
            && !run.stderr.contains("empty_trees"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0",
        "refused before the target changed"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let run = snapshot_verbatim(&src, &dir.path().join("snap"));
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("public.trees.expr"), "{}", run.stderr);
    // Columns of such types that hold only NULLs are copied.
    sql(pg, &src, "UPDATE public.trees SET expr = NULL");
    assert_both_round_trips(&src, "unloadable");
}
