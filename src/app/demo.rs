//! `restage demo`: the main job on throwaway local clusters. Starts a "production" and a
//! "staging" cluster, loads a small SaaS app database, clones it, prints the summary, and
//! removes both clusters (unless `--keep`).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use super::run::{clone, parse_conn};
use super::sanitizing::{ephemeral_key, Sanitizing};
use super::Failure;
use crate::cli::{CloneOptions, DemoArgs, SubsetArgs, TableSelection};
use crate::exit;
use crate::localpg::{Cluster, ClusterOptions};
use crate::rules;
use crate::seed;

/// The demo's production database: synthetic tenants, users, products and orders.
const APP_SQL: &str = include_str!("../../fixtures/demo/app.sql");
/// The rules the demo sanitizes with (shipped in `rules/`, parsed by the tests too).
const DEMO_RULES: &str = include_str!("../../rules/demo.toml");
const DEMO_RULES_PATH: &str = "rules/demo.toml";

pub fn run(args: &DemoArgs) -> Result<(), Failure> {
    let say = |line: &str| {
        if !args.output.json && !args.output.quiet {
            eprintln!("{line}");
        }
    };
    let started = Instant::now();
    say("restage demo: starting two throwaway PostgreSQL clusters…");
    let mut production = start("demo-production")?;
    let mut staging = start("demo-staging")?;
    say(&format!(
        "  production: {}\n  staging:    {}",
        production.masked_url("app"),
        staging.masked_url("app_staging")
    ));

    say("loading the sample production database (tenants, users, products, orders)…");
    load_app(&production)?;
    staging
        .create_database("app_staging")
        .map_err(|e| Failure::new(exit::FAILURE, format!("creating the staging database: {e}")))?;

    say("cloning production → staging…");
    let source = parse_conn("source", &production.url("app"))?;
    let target = parse_conn("target", &staging.url("app_staging"))?;
    let options = CloneOptions {
        jobs: None,
        index_jobs: None,
        selection: TableSelection::default(),
        schemas: Vec::new(),
        subset: SubsetArgs::default(),
        split_larger_than: 1 << 30,
        clean: false,
        no_owner: false,
        no_acl: false,
        keep_comments: false,
        lock_timeout: std::time::Duration::from_secs(60),
    };
    let (file, problems) = rules::file::parse(Path::new(DEMO_RULES_PATH), DEMO_RULES.to_string());
    let Some(file) = file.filter(|_| problems.is_empty()) else {
        return Err(Failure::new(
            exit::FAILURE,
            format!(
                "the embedded demo rules: {}",
                rules::diagnostic::render(&problems)
            ),
        ));
    };
    // A throwaway key: the demo's staging values differ on every run.
    say(&format!(
        "sanitizing with {DEMO_RULES_PATH} (built into restage) under an ephemeral key: a \
         random key for\n  this run only, so the staging values differ on every run (`clone` \
         takes a fixed key from\n  RESTAGE_KEY or --key-file)"
    ));
    let sanitizing = Sanitizing {
        files: vec![file],
        key: Some(ephemeral_key()?),
        allow_undecided: false,
        verbatim: false,
    };
    let result = clone(&source, &target, &options, &sanitizing, &args.output).and_then(|_| {
        let human = !args.output.json && !args.output.quiet;
        if human {
            print!("{}", before_after(&production, &staging));
        }
        say("scanning staging for production values (restage verify)…");
        let verify_started = Instant::now();
        let report = super::run::scan(&source, &target, &sanitizing.files, &[], &[], &[])?;
        if human {
            print!("\n{}{VALUES_LEGEND}", report.render());
            println!(
                "leak scan (verify) {:.2} s; demo total {:.2} s (starting the clusters and \
                 loading the data included)",
                verify_started.elapsed().as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
        }
        super::run::scan_outcome(&report)?;
        if args.keep {
            // A kept staging copy stays the plain sanitized clone: `restage verify` on it then
            // compares equal row counts (the hint below suggests running it).
            say(&format!(
                "not adding the seed tenant ({DEMO_SEED_PATH}) with --keep: try it with \
                 `restage seed --target \"$STAGING_URL\" --plan {DEMO_SEED_PATH}`"
            ));
            return Ok(());
        }
        say(&format!(
            "adding the staging tenant `acme-staging` with {DEMO_SEED_PATH} (restage seed)…"
        ));
        let seeded = seed_tenant(&target)?;
        if human {
            let rows: Vec<String> = seeded
                .tables
                .iter()
                .map(|(t, n)| format!("{t} +{n}"))
                .collect();
            println!(
                "seeded {} in {:.2} s: test accounts that come back after every refresh",
                rows.join(", "),
                seeded.seconds
            );
        }
        Ok(())
    });

    if args.keep {
        production.keep();
        staging.keep();
        // Printed even with --json or --quiet (on stderr, beside the report): without it the
        // kept clusters could be neither used nor stopped.
        eprintln!("{}", kept_hint(&production, &staging));
    } else {
        say("removing the demo clusters.");
    }
    result.map(|_| ())
}

/// The demo's seed plan: a staging tenant beside the sanitized copy.
const DEMO_SEED: &str = include_str!("../../seeds/demo.toml");
const DEMO_SEED_PATH: &str = "seeds/demo.toml";

fn seed_tenant(target: &crate::conn::ConnSpec) -> Result<super::run::SeedOutcome, Failure> {
    let plan = seed::plan::parse(Path::new(DEMO_SEED_PATH), DEMO_SEED).map_err(|problems| {
        Failure::new(
            exit::FAILURE,
            format!(
                "the embedded demo seed plan: {}",
                seed::plan::render(&problems)
            ),
        )
    })?;
    super::run::seed_database(target, &plan, &super::run::SeedOptions::default())
}

/// What verify's `values` column counts, for readers meeting the table for the first time.
const VALUES_LEGEND: &str = "\
values: the non-empty production values of the column compared with staging (mode row: each\n  \
row against its own production value through the primary key; mode set: against every\n  \
production value); leaks: staging values still equal to production\n";

/// How to reach the kept clusters (socket URLs: local logins are trusted, no password to leak),
/// what to try with them, and how to stop them as the user running restage.
fn kept_hint(production: &Cluster, staging: &Cluster) -> String {
    format!(
        "\nclusters kept running; connection strings (trust login over the Unix socket, no \
         password):\n  \
         export PROD_URL='{}'\n  \
         export STAGING_URL='{}'\n\
         then, e.g.:\n  \
         psql \"$PROD_URL\"\n  \
         restage rules init  --source \"$PROD_URL\" --out /tmp/app.toml\n  \
         restage verify --source \"$PROD_URL\" --target \"$STAGING_URL\" --rules {DEMO_RULES_PATH}\n\
         stop them and remove their directories with:\n  {}\n  {}",
        production.socket_url("app"),
        staging.socket_url("app_staging"),
        production.stop_command(),
        staging.stop_command()
    )
}

/// A few users and one order, production next to staging, as the demo's evidence.
fn before_after(production: &Cluster, staging: &Cluster) -> String {
    const USERS: &str = "SELECT id, email, full_name, coalesce(phone, 'NULL'), \
                         coalesce(birth_date::text, 'NULL') FROM public.users WHERE id IN (3, 4, 6) ORDER BY id";
    const ORDER: &str = "SELECT note, shipping_address::text FROM public.orders \
                         WHERE note IS NOT NULL ORDER BY id LIMIT 1";
    let rows = |c: &Cluster, db: &str, q: &str| -> Vec<Vec<String>> {
        c.psql(db, q)
            .map(|out| {
                out.lines()
                    .map(|l| l.split('|').map(str::to_string).collect())
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = rows(production, "app", USERS);
    let after = rows(staging, "app_staging", USERS);
    let mut out = String::from("\nbefore → after (public.users, a few rows):\n");
    for (b, a) in before.iter().zip(&after) {
        for (i, name) in ["email", "full_name", "phone", "birth_date"]
            .iter()
            .enumerate()
        {
            let (Some(x), Some(y)) = (b.get(i + 1), a.get(i + 1)) else {
                continue;
            };
            out.push_str(&format!("  id {:<3} {name:<10}  {x:<34} → {y}\n", b[0]));
        }
    }
    let before = rows(production, "app", ORDER);
    let after = rows(staging, "app_staging", ORDER);
    if let (Some(b), Some(a)) = (before.first(), after.first()) {
        out.push_str("public.orders, first order with a note:\n");
        for (i, name) in ["note", "shipping_address"].iter().enumerate() {
            if let (Some(x), Some(y)) = (b.get(i), a.get(i)) {
                out.push_str(&format!("  {name:<16}  {x}\n  {:<16}→ {y}\n", ""));
            }
        }
    }
    out
}

fn start(name: &str) -> Result<Cluster, Failure> {
    Cluster::start(&ClusterOptions::new(name))
        .map_err(|e| Failure::new(exit::FAILURE, format!("starting a local PostgreSQL: {e}")))
}

fn load_app(cluster: &Cluster) -> Result<(), Failure> {
    let fail = |e: String| Failure::new(exit::FAILURE, format!("loading the demo data: {e}"));
    cluster
        .create_database("app")
        .map_err(|e| fail(e.to_string()))?;
    let mut file = tempfile::NamedTempFile::new().map_err(|e| fail(e.to_string()))?;
    file.write_all(APP_SQL.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| fail(e.to_string()))?;
    // The server (running as another OS user when restage runs as root) never reads this file:
    // psql does, as the current user.
    cluster
        .psql_file("app", file.path())
        .map(|_| ())
        .map_err(|e| fail(e.to_string()))
}
