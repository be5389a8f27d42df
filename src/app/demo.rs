//! `restage demo`: the main job on throwaway local clusters. Starts a "production" and a
//! "staging" cluster, loads a small SaaS app database, clones it, prints the summary, and
//! removes both clusters (unless `--keep`).

use std::io::Write;

use super::clone::{clone, parse_conn};
use super::sanitizing::Sanitizing;
use super::Failure;
use crate::cli::{CloneOptions, DemoArgs};
use crate::exit;
use crate::localpg::{Cluster, ClusterOptions};

/// The demo's production database: synthetic tenants, users, products and orders.
const APP_SQL: &str = include_str!("../../fixtures/demo/app.sql");

pub fn run(args: &DemoArgs) -> Result<(), Failure> {
    let say = |line: &str| {
        if !args.output.json && !args.output.quiet {
            eprintln!("{line}");
        }
    };
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
        tables: Vec::new(),
        exclude_tables: Vec::new(),
        split_larger_than: 1 << 30,
        clean: false,
        no_owner: false,
        no_acl: false,
    };
    let sanitizing = Sanitizing {
        files: Vec::new(),
        key: None,
        allow_undecided: false,
        verbatim: true,
    };
    let result = clone(&source, &target, &options, &sanitizing, &args.output);

    if args.keep {
        production.keep();
        staging.keep();
        say(&format!(
            "\nclusters kept running (trust login over their Unix sockets):\n  \
             psql -h {} -p {} -U postgres app\n  psql -h {} -p {} -U postgres app_staging\n\
             stop them with: pg_ctl -D <dir> stop (dirs: {} and {})",
            production.socket_dir().display(),
            production.port(),
            staging.socket_dir().display(),
            staging.port(),
            production.datadir().display(),
            staging.datadir().display()
        ));
    } else {
        say("removing the demo clusters.");
    }
    result.map(|_| ())
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
