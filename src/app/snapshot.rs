//! `restage snapshot`: source → sanitize → zstd files in a snapshot directory, and
//! `snapshot ls|inspect DIR`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::clone::parse_conn;
use super::sanitizing::{self, Sanitizing};
use super::{lockwait, pg_failure, runtime, Failure};
use crate::catalog::{select, CopyFormat, SourceCatalog, Table};
use crate::cli::{SnapshotArgs, SnapshotCommand, SnapshotDirArgs};
use crate::conn::ConnSpec;
use crate::exit;
use crate::fixture::{
    self, ColumnEntry, DataFormat, FixtureError, Manifest, MatViewEntry, PartEntry, SequenceEntry,
    SnapshotFiles, SourceInfo, TableEntry, TypeEntry,
};
use crate::lockwatch;
use crate::pgbin::Version;
use crate::pipeline::{self, ColumnTransform, Ends, Input, Output, RowRules, Sanitize};
use crate::pipeline::{Observer, TablePlan};
use crate::report::{self, Progress};
use crate::schema::SchemaArchive;
use crate::source::{self, Leader, Part};

const APPLICATION_NAME: &str = "restage";
/// Tables larger than this are written as several block-range files read concurrently.
const SPLIT_BYTES: u64 = 1 << 30;

pub fn run(args: &SnapshotArgs) -> Result<(), Failure> {
    match &args.command {
        Some(SnapshotCommand::Ls(a)) => return ls(a),
        Some(SnapshotCommand::Inspect(a)) => return inspect(a),
        None => {}
    }
    let (Some(source), Some(out)) = (&args.source, &args.out) else {
        return Err(Failure::new(exit::USAGE, "--source and --out are required"));
    };
    let source = lockwatch::bounded(
        &parse_conn("--source", source)?,
        APPLICATION_NAME,
        args.lock_timeout,
    );
    let sanitizing = Sanitizing::prepare(&args.rules)?;
    fixture::check_output_dir(out).map_err(fixture_failure)?;
    // What the directory held before: the only files of it this run may remove.
    let previous = fixture::read_manifest(out).ok();
    let rules_digest = rules_digest(&args.rules.files, sanitizing.verbatim)?;
    crate::interrupt::set_state(Some(format!(
        "no snapshot was written ({} holds what it held before)",
        out.display()
    )));
    let started = Instant::now();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let progress = report::progress_wanted(args.quiet, args.json);
    let (manifest, written, reused) = write(
        &source,
        out,
        &sanitizing,
        rules_digest,
        jobs,
        progress,
        args,
    )?;
    crate::interrupt::set_state(None);
    let removed = fixture::collect_garbage(out, previous.as_ref(), &manifest);
    let seconds = started.elapsed().as_secs_f64();
    let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
    let size: u64 = fixture::files_of(&manifest).iter().map(|f| f.size).sum();
    if args.json {
        let report = serde_json::json!({
            "status": "ok",
            "dir": out.display().to_string(),
            "tables": manifest.tables.len(),
            "rows": rows,
            "bytes": size,
            "files_written": written,
            "files_unchanged": reused,
            "files_removed": removed,
            "seconds": seconds,
            "rules_digest": manifest.rules_digest,
        });
        println!("{report}");
    } else if !args.quiet {
        println!(
            "snapshot {}: {} tables, {rows} rows, {} in {seconds:.1} s ({written} files \
             written, {reused} unchanged, {removed} old removed)",
            out.display(),
            manifest.tables.len(),
            human_bytes(size),
        );
    }
    Ok(())
}

pub(super) fn fixture_failure(e: FixtureError) -> Failure {
    let code = match &e {
        FixtureError::NotASnapshot { .. } | FixtureError::NewerFormat { .. } => {
            exit::NOT_A_SNAPSHOT
        }
        FixtureError::Damaged { .. } => exit::SNAPSHOT_DAMAGED,
        FixtureError::Occupied { .. } => exit::REFUSED,
        FixtureError::Io { .. } => exit::FAILURE,
    };
    Failure::new(code, e.to_string())
}

/// blake3 over the rules files' bytes in order (each prefixed by its length), or `none`.
pub(super) fn rules_digest(
    files: &[std::path::PathBuf],
    verbatim: bool,
) -> Result<String, Failure> {
    if verbatim {
        return Ok("none".into());
    }
    let mut hasher = blake3::Hasher::new();
    for path in files {
        let bytes = std::fs::read(path)
            .map_err(|e| Failure::new(exit::USAGE, format!("reading {}: {e}", path.display())))?;
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Progress bars per part and overall (no per-table lines: nothing is built meanwhile).
pub(super) struct Bars(pub(super) Progress);

impl Observer for Bars {
    fn part_started(&self, table: &TablePlan, part: &Part) {
        self.0.part_started(table, part);
    }
    fn rows_copied(&self, table: &TablePlan, part: &Part, rows: u64, bytes: u64) {
        self.0.rows_copied(table, part, rows, bytes);
    }
    fn part_finished(&self, table: &TablePlan, part: &Part) {
        self.0.part_finished(table, part);
    }
}

/// Writes the snapshot; returns its manifest and how many table files were written and reused.
fn write(
    source: &ConnSpec,
    out: &Path,
    sanitizing: &Sanitizing,
    rules_digest: String,
    jobs: usize,
    progress: bool,
    args: &SnapshotArgs,
) -> Result<(Manifest, usize, usize), Failure> {
    let rt = runtime()?;
    let client = rt
        .block_on(source.connect(APPLICATION_NAME))
        .map_err(|e| Failure::new(exit::CONNECTION, format!("source: {e}")))?;
    let watch = lockwait::watch("source", source, args.lock_timeout);
    let result = write_from(
        rt,
        client,
        source,
        out,
        sanitizing,
        rules_digest,
        jobs,
        progress,
        args,
    );
    lockwait::explain(watch, result)
}

/// [`write`] once the source is reachable.
#[allow(clippy::too_many_arguments)]
fn write_from(
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    source: &ConnSpec,
    out: &Path,
    sanitizing: &Sanitizing,
    rules_digest: String,
    jobs: usize,
    progress: bool,
    args: &SnapshotArgs,
) -> Result<(Manifest, usize, usize), Failure> {
    let (include, exclude) = (&args.selection.tables, &args.selection.exclude_tables);
    let leader = rt
        .block_on(Leader::begin(client))
        .map_err(|e| pg_failure(exit::FAILURE, "source: cannot export a snapshot", &e))?;
    let (catalog, server) = super::load_source_catalog(&rt, &leader.client)?;
    let mut tables = select::select(&catalog.tables, include, exclude)
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    super::guards::check_source_access(&rt, &leader.client, &tables, catalog.server_version_num)?;
    super::settle_values(&rt, &leader.client, &catalog, &mut tables)?;
    // Every column decided (or the snapshot refused) before anything is written.
    let rules = sanitizing.plan(&catalog, &tables)?;
    for c in &rules.let_through {
        tracing::warn!("--allow-undecided: {c} written unchanged without a rule");
    }
    let comments = args.keep_comments || sanitizing.verbatim;
    super::schema_text::guard(&rt, &leader.client, sanitizing, &rules, &tables, comments)?;
    let archive = SchemaArchive::dump(source, &leader.snapshot, server, comments).map_err(|e| {
        let code = match e {
            crate::schema::SchemaError::Tool(_) => exit::REFUSED,
            _ => exit::FAILURE,
        };
        Failure::new(code, format!("source: {e}"))
    })?;
    let schema = match unchanged_schema(out, &archive, server) {
        Some(previous) => previous,
        None => {
            fixture::store_file(out, fixture::SCHEMA_DIR, ".dump", archive.path())
                .map_err(fixture_failure)?
                .0
        }
    };

    let plans = plan_tables(&catalog, tables, &rules, sanitizing);
    let files = SnapshotFiles::new(out).map_err(|e| {
        Failure::new(
            exit::FAILURE,
            format!("creating {}: {e}", out.join(fixture::DATA_DIR).display()),
        )
    })?;
    let config = pipeline::Config {
        source: source.clone(),
        // Unused: the lanes write files.
        target: source.clone(),
        snapshot: leader.snapshot.clone(),
        lanes: jobs,
        post_table_workers: 1,
        post_data_during_copy: true,
        batch_bytes: 2 << 20,
        channel_capacity: 2,
        application_name: APPLICATION_NAME.into(),
    };
    let ends = Ends {
        input: Input::Database,
        output: Output::Files(&files),
    };
    let bars = Bars(Progress::new(
        progress,
        plans.iter().map(|p| p.table.bytes).sum(),
    ));
    let result = pipeline::run_with(&config, &plans, &[], &bars, ends);
    bars.0.finish();
    result.map_err(|e| {
        Failure::new(
            exit::COPY_FAILED,
            format!("{e}; no snapshot was written (the directory is as it was)"),
        )
    })?;
    let _ = rt.block_on(leader.finish());

    let records = files.into_records();
    let mut written = 0;
    let mut reused = 0;
    let mut entries = Vec::with_capacity(plans.len());
    for plan in &plans {
        let mut parts = Vec::with_capacity(plan.parts.len());
        for part in &plan.parts {
            let Some(r) = records.get(&(plan.table.oid, part.index)) else {
                return Err(Failure::new(
                    exit::FAILURE,
                    format!(
                        "internal: no file was written for {} part {}",
                        plan.table.display_name(),
                        part.index
                    ),
                ));
            };
            if r.reused {
                reused += 1;
            } else {
                written += 1;
            }
            parts.push(PartEntry {
                index: part.index,
                rows: r.rows,
                pgcopy_bytes: r.bytes,
                file: r.file.clone(),
            });
        }
        entries.push(TableEntry {
            schema: plan.table.schema.clone(),
            name: plan.table.name.clone(),
            columns: plan
                .table
                .columns
                .iter()
                .map(|c| ColumnEntry {
                    name: c.name.clone(),
                    type_name: c.type_name.clone(),
                    type_oid: c.type_oid,
                    embeds_user_oids: c.embeds_user_oids,
                })
                .collect(),
            rows: parts.iter().map(|p| p.rows).sum(),
            parts,
            format: match plan.table.copy_format() {
                CopyFormat::Binary => DataFormat::Binary,
                CopyFormat::Text => DataFormat::Text,
            },
        });
    }
    let manifest = Manifest {
        format: Manifest::needed_format(&entries),
        restage_version: env!("CARGO_PKG_VERSION").into(),
        created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        source: SourceInfo {
            server_version: server.to_string(),
            server_version_num: catalog.server_version_num,
            pg_dump_version: archive.pg_dump.version.to_string(),
        },
        rules_digest,
        rules_files: sanitizing
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect(),
        schema,
        tables: entries,
        sequences: catalog
            .sequences
            .iter()
            .map(|s| SequenceEntry {
                schema: s.schema.clone(),
                name: s.name.clone(),
                last_value: s.last_value,
                is_called: s.is_called,
            })
            .collect(),
        matviews: catalog
            .matviews
            .iter()
            .map(|v| MatViewEntry {
                schema: v.schema.clone(),
                name: v.name.clone(),
                populated: v.populated,
            })
            .collect(),
        types: types_of(&catalog, &plans),
    };
    fixture::write_manifest(out, &manifest).map_err(fixture_failure)?;
    Ok((manifest, written, reused))
}

/// The previous snapshot's schema file when it holds the same schema: pg_dump stamps every
/// archive with its time, so an unchanged schema would otherwise be a new file every time.
fn unchanged_schema(
    out: &Path,
    archive: &SchemaArchive,
    server: Version,
) -> Option<fixture::FileRef> {
    let previous = fixture::read_manifest(out).ok()?;
    let path = fixture::file_path(out, &previous.schema).ok()?;
    if fixture::digest_file(&path).ok()? != previous.schema.blake3 {
        return None;
    }
    let dumped_by = Version::parse_from_text(&previous.source.pg_dump_version).unwrap_or(server);
    let old = SchemaArchive::open(&path, dumped_by).ok()?;
    let same = old.comparable_text().ok()? == archive.comparable_text().ok()?;
    same.then_some(previous.schema)
}

/// The user types restore needs to rewrite embedded OIDs (none unless a column embeds them).
fn types_of(catalog: &SourceCatalog, plans: &[TablePlan]) -> Vec<TypeEntry> {
    let needed = plans
        .iter()
        .any(|p| p.table.columns.iter().any(|c| c.embeds_user_oids));
    if !needed {
        return Vec::new();
    }
    let mut out: Vec<TypeEntry> = catalog
        .types
        .oids()
        .filter_map(|oid| catalog.types.get(oid).map(|t| TypeEntry::new(oid, t)))
        .collect();
    out.sort_by_key(|t| t.oid);
    out
}

/// Tables with their parts and sanitizers. Embedded type OIDs stay the source's: restore
/// rewrites them for its target.
fn plan_tables(
    catalog: &SourceCatalog,
    tables: Vec<Table>,
    rules: &sanitizing::Plan,
    sanitizing: &Sanitizing,
) -> Vec<TablePlan> {
    tables
        .into_iter()
        .map(|table| {
            let sanitizers = rules.sanitizers.get(&table.oid);
            let sanitizer_of = |i: usize| sanitizers.and_then(|s| s.get(i).cloned().flatten());
            let row = Arc::new(RowRules::new(&table, sanitizer_of));
            let mut transforms: Vec<Arc<dyn ColumnTransform>> = Vec::new();
            for (i, col) in table.columns.iter().enumerate() {
                if let Some(sanitizer) = sanitizer_of(i) {
                    transforms.push(Arc::new(Sanitize {
                        column: i,
                        column_name: col.name.clone(),
                        sanitizer,
                        key: sanitizing.key_or_unused(),
                        row: row.clone(),
                        remap: None,
                    }));
                }
            }
            TablePlan {
                parts: source::plan_parts(&table, SPLIT_BYTES, catalog.server_version_num),
                table,
                transforms,
            }
        })
        .collect()
}

fn ls(args: &SnapshotDirArgs) -> Result<(), Failure> {
    let m = fixture::read_manifest(&args.dir).map_err(fixture_failure)?;
    if args.json {
        let tables: Vec<_> = m
            .tables
            .iter()
            .map(|t| {
                serde_json::json!({
                    "table": t.display_name(),
                    "rows": t.rows,
                    "bytes": t.size(),
                })
            })
            .collect();
        let out = serde_json::json!({
            "created_at": m.created_at,
            "age_seconds": age(&m.created_at).map(|d| d.as_secs()),
            "rules_digest": m.rules_digest,
            "tables": tables,
        });
        println!("{out}");
        return Ok(());
    }
    print!("{}", header(&m));
    let width = m
        .tables
        .iter()
        .map(|t| t.display_name().len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!("{:<width$}  {:>12}  {:>10}", "table", "rows", "size");
    for t in &m.tables {
        println!(
            "{:<width$}  {:>12}  {:>10}",
            t.display_name(),
            t.rows,
            human_bytes(t.size())
        );
    }
    Ok(())
}

fn inspect(args: &SnapshotDirArgs) -> Result<(), Failure> {
    let m = fixture::read_manifest(&args.dir).map_err(fixture_failure)?;
    if args.json {
        let text = serde_json::to_string_pretty(&m)
            .map_err(|e| Failure::new(exit::FAILURE, e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    print!("{}", header(&m));
    println!("format:          {}", m.format);
    println!("written by:      restage {}", m.restage_version);
    println!(
        "source:          PostgreSQL {} (schema by pg_dump {})",
        m.source.server_version, m.source.pg_dump_version
    );
    if !m.rules_files.is_empty() {
        println!("rules files:     {}", m.rules_files.join(", "));
    }
    println!(
        "schema:          {} ({}, blake3 {})",
        m.schema.path,
        human_bytes(m.schema.size),
        m.schema.blake3
    );
    println!("sequences:       {}", m.sequences.len());
    println!("materialized views: {}", m.matviews.len());
    for t in &m.tables {
        println!(
            "\n{}: {} rows, {}{}, {} columns: {}",
            t.display_name(),
            t.rows,
            human_bytes(t.size()),
            if t.format.is_binary() {
                ""
            } else {
                " (text COPY)"
            },
            t.columns.len(),
            t.columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.type_name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for p in &t.parts {
            println!(
                "  part {}: {} rows  {}  {}",
                p.index,
                p.rows,
                human_bytes(p.file.size),
                p.file.path
            );
        }
    }
    Ok(())
}

fn header(m: &Manifest) -> String {
    let rows: u64 = m.tables.iter().map(|t| t.rows).sum();
    let size: u64 = fixture::files_of(m).iter().map(|f| f.size).sum();
    let age = age(&m.created_at)
        .map(|d| {
            let secs = d.as_secs();
            let rounded =
                std::time::Duration::from_secs(if secs >= 3600 { secs / 60 * 60 } else { secs });
            format!(" ({} ago)", humantime::format_duration(rounded))
        })
        .unwrap_or_default();
    format!(
        "created:         {}{age}\nrules digest:    {}\ntotal:           {} tables, {rows} \
         rows, {}\n",
        m.created_at,
        m.rules_digest,
        m.tables.len(),
        human_bytes(size)
    )
}

fn age(created_at: &str) -> Option<std::time::Duration> {
    let t = humantime::parse_rfc3339(created_at).ok()?;
    SystemTime::now().duration_since(t).ok()
}

pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
