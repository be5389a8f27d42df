//! `restage snapshot`: source → sanitize → zstd files in a snapshot directory, and
//! `snapshot ls|inspect DIR`.

use std::path::Path;
use std::time::SystemTime;

use super::run::{self, fixture_failure, parse_conn, APPLICATION_NAME};
use super::run_report;
use super::sanitizing::Sanitizing;
use super::{lockwait, pg_failure, runtime, Failure};
use crate::catalog::{select, CopyFormat, SourceCatalog};
use crate::cli::{SnapshotArgs, SnapshotCommand, SnapshotDirArgs};
use crate::conn::ConnSpec;
use crate::exit;
use crate::fixture::{
    self, ColumnEntry, DataFormat, Manifest, MatViewEntry, PartEntry, SequenceEntry, SnapshotFiles,
    SourceInfo, TableEntry, TypeEntry,
};
use crate::lockwatch;
use crate::pgbin::Version;
use crate::pipeline::TablePlan;
use crate::pipeline::{self, Database, Ends, Input, Output};
use crate::report::{self, format_bytes, PartBars, Progress, RunReport};
use crate::schema::SchemaArchive;
use crate::source::Leader;

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
    let mut report = RunReport::new("snapshot", source.masked(), out.display().to_string());
    let result = snapshot(&source, out, &sanitizing, args, &mut report);
    report.finish(result.as_ref().err().map(|f| f.message.as_str()));
    let headline = match &result {
        Ok(files) => {
            report.target_state = "complete".into();
            report.detail("dir", out.display().to_string());
            report.detail("files_written", files.written);
            report.detail("files_unchanged", files.reused);
            report.detail("files_removed", files.removed);
            report.detail("snapshot_bytes", files.bytes);
            format!(
                "snapshot {}: {} tables, {} rows, {} in {:.1} s ({} files written, {} \
                 unchanged, {} old removed)",
                out.display(),
                report.totals.tables,
                report.totals.rows,
                format_bytes(files.bytes),
                report.totals.seconds,
                files.written,
                files.reused,
                files.removed,
            )
        }
        Err(_) => String::new(),
    };
    run_report::emit(&report, &args.output, &headline)?;
    result.map(|_| ())
}

/// What a snapshot run did to the directory's files.
struct FilesDone {
    written: usize,
    reused: usize,
    removed: usize,
    /// Size of all the snapshot's files.
    bytes: u64,
}

/// Checks the directory, writes the snapshot, removes the files of the previous one.
fn snapshot(
    source: &ConnSpec,
    out: &Path,
    sanitizing: &Sanitizing,
    args: &SnapshotArgs,
    report: &mut RunReport,
) -> Result<FilesDone, Failure> {
    fixture::check_output_dir(out).map_err(fixture_failure)?;
    // What the directory held before: the only files of it this run may remove.
    let previous = fixture::read_manifest(out).ok();
    let rules_digest = run_report::rules_digest(sanitizing);
    crate::interrupt::set_state(Some(format!(
        "no snapshot was written ({} holds what it held before)",
        out.display()
    )));
    let jobs = run::jobs(args.jobs);
    let progress = report::progress_wanted(args.output.quiet, args.output.json);
    let (manifest, written, reused) = write(
        source,
        out,
        sanitizing,
        (rules_digest, report),
        jobs,
        progress,
        args,
    )?;
    crate::interrupt::set_state(None);
    let removed = fixture::collect_garbage(out, previous.as_ref(), &manifest);
    Ok(FilesDone {
        written,
        reused,
        removed,
        bytes: fixture::files_of(&manifest).iter().map(|f| f.size).sum(),
    })
}

/// Writes the snapshot; returns its manifest and how many table files were written and reused.
fn write(
    source: &ConnSpec,
    out: &Path,
    sanitizing: &Sanitizing,
    (rules_digest, report): (String, &mut RunReport),
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
        (rules_digest, report),
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
    (rules_digest, report): (String, &mut RunReport),
    jobs: usize,
    progress: bool,
    args: &SnapshotArgs,
) -> Result<(Manifest, usize, usize), Failure> {
    report.begin("schema");
    let (include, exclude) = (&args.selection.tables, &args.selection.exclude_tables);
    let subset_spec = super::subsetting::spec(&args.subset.roots, &sanitizing.files)?;
    let leader = rt
        .block_on(Leader::begin(client))
        .map_err(|e| pg_failure(exit::FAILURE, "source: cannot export a snapshot", &e))?;
    let (mut catalog, server) = super::load_source_catalog(&rt, &leader.client)?;
    super::only_schemas::check_in_source(&rt, &leader.client, &args.schemas)?;
    super::only_schemas::limit_catalog(&mut catalog, &args.schemas);
    let mut tables = select::select(&catalog.tables, include, exclude)
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    super::guards::check_source_access(&rt, &leader.client, &tables, catalog.server_version_num)?;
    super::settle_values(&rt, &leader.client, &catalog, &mut tables)?;
    // Every column decided (or the snapshot refused) before anything is written.
    let mut rules = sanitizing.plan(&catalog, &tables)?;
    super::run_values::attach(
        &rt,
        &leader.client,
        &catalog,
        &tables,
        sanitizing,
        &mut rules,
    )?;
    for c in &rules.let_through {
        tracing::warn!("--allow-undecided: {c} written unchanged without a rule");
    }
    report.sanitized = run_report::sanitized_columns(&rules);
    report.privacy = run_report::privacy(sanitizing, &rules, &tables);
    report.versions.source_server = Some(server.to_string());
    let comments = args.keep_comments || sanitizing.verbatim;
    super::schema_text::guard(&rt, &leader.client, sanitizing, &rules, &tables, comments)?;
    let mut subset = match &subset_spec {
        Some(spec) => Some(super::subsetting::compute(
            &rt,
            &leader.client,
            spec,
            &tables,
            catalog.server_version_num,
        )?),
        None => None,
    };
    let counting = super::subsetting::count_source_rows(
        &rt,
        &leader.client,
        (source, &leader.snapshot),
        &tables,
        subset.as_mut(),
    )?;
    let archive =
        SchemaArchive::dump_schemas(source, &leader.snapshot, server, comments, &args.schemas)
            .map_err(|e| run::schema_failure("source", e))?;
    let schema = match unchanged_schema(out, &archive, server) {
        Some(previous) => previous,
        None => {
            fixture::store_file(out, fixture::SCHEMA_DIR, ".dump", archive.path())
                .map_err(fixture_failure)?
                .0
        }
    };

    report.versions.pg_dump = Some(archive.pg_dump.version.to_string());
    report.begin("data");
    // Embedded type OIDs stay the source's: restore rewrites them for its target.
    let mut plans =
        run::plan::from_catalog(&catalog, tables, (&rules, sanitizing), SPLIT_BYTES, None);
    if let Some(subset) = &subset {
        super::subsetting::restrict(&mut plans, subset);
    }
    let files = SnapshotFiles::new(out).map_err(|e| {
        Failure::new(
            exit::FAILURE,
            format!("creating {}: {e}", out.join(fixture::DATA_DIR).display()),
        )
    })?;
    let config = pipeline::Config {
        lanes: jobs,
        post_table_workers: 1,
        post_data_during_copy: true,
        batch_bytes: 2 << 20,
        channel_capacity: 2,
    };
    let ends = Ends {
        input: Input::Database {
            db: Database {
                conn: source,
                application_name: APPLICATION_NAME,
            },
            snapshot: &leader.snapshot,
        },
        output: Output::Files(&files),
    };
    let bars = PartBars(Progress::new(
        progress,
        plans.iter().map(|p| p.table.bytes).sum(),
    ));
    let result = pipeline::run(&config, &plans, &[], &bars, ends);
    bars.0.finish();
    let outcome = result.map_err(|e| {
        Failure::new(
            exit::COPY_FAILED,
            format!("{e}; no snapshot was written (the directory is as it was)"),
        )
    })?;
    let _ = rt.block_on(leader.finish());
    if let (Some(counting), Some(subset)) = (counting, subset.as_mut()) {
        counting.finish(subset)?;
    }
    if let Some(subset) = subset
        .as_ref()
        .filter(|_| !args.output.quiet && !args.output.json)
    {
        print!(
            "{}",
            super::subsetting::summary(&plans, &outcome.tables, subset)
        );
    }
    let source_rows = subset
        .as_ref()
        .map(super::subsetting::source_rows)
        .unwrap_or_default();
    report.set_tables(run_report::table_rows(
        &plans,
        &outcome.tables,
        &source_rows,
    ));
    report.begin("manifest");

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
        subset: subset.is_some(),
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
            format_bytes(t.size())
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
        format_bytes(m.schema.size),
        m.schema.blake3
    );
    println!("sequences:       {}", m.sequences.len());
    println!("materialized views: {}", m.matviews.len());
    for t in &m.tables {
        println!(
            "\n{}: {} rows, {}{}, {} columns: {}",
            t.display_name(),
            t.rows,
            format_bytes(t.size()),
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
                format_bytes(p.file.size),
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
        format_bytes(size)
    )
}

fn age(created_at: &str) -> Option<std::time::Duration> {
    let t = humantime::parse_rfc3339(created_at).ok()?;
    SystemTime::now().duration_since(t).ok()
}
