//! Command-line types (clap). No behaviour here: `app` runs the commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure not covered below
  2  bad usage or malformed input; provision --check: changes pending
  3  a database could not be reached or refused the login
  4  a guard refused to run (target is the source, target not empty, tools too old), or
     columns no rule decides (clone, snapshot, rules check: fail closed)
  5  the copy failed midway: the target is incomplete and marked so
  6  verification found a mismatch
  7  not a restage snapshot, or one written by a newer restage
  8  a snapshot file is missing or damaged (nothing was loaded)
  9  provision, refresh: the admin role lacks a privilege a planned change needs
  130, 143  interrupted by SIGINT, SIGTERM (children stopped, work files removed)";

/// Build and refresh staging environments from production PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "restage", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log verbosity on stderr: error, warn, info, debug, trace (or RUST_LOG syntax).
    #[arg(long, global = true, default_value = "warn", env = "RESTAGE_LOG")]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy a production database into a staging database: schema, data, indexes,
    /// constraints, sequences, from one consistent snapshot, streamed with COPY.
    #[command(after_help = CLONE_HELP)]
    Clone(CloneArgs),
    /// Run the main job end to end on throwaway local PostgreSQL clusters.
    #[command(after_help = DEMO_HELP)]
    Demo(DemoArgs),
    /// Create or converge a staging environment from a spec file: database, roles,
    /// secrets, Kubernetes namespace bundle, deliveries.
    #[command(after_help = PROVISION_HELP)]
    Provision(ProvisionArgs),
    /// Scan a sanitized target for production values: every sanitized column, row counts.
    #[command(after_help = VERIFY_HELP)]
    Verify(VerifyArgs),
    /// Show original and sanitized values side by side for a sample of one table; writes
    /// nothing.
    #[command(after_help = PREVIEW_HELP)]
    Preview(PreviewArgs),
    /// Rules files: write one from a live database, list and explain the built-in rules.
    #[command(after_help = RULES_HELP)]
    Rules(RulesCommandArgs),
    /// Write sanitized fixtures to a directory (schema + compressed binary COPY per table);
    /// `snapshot ls|inspect DIR` describe one.
    #[command(after_help = SNAPSHOT_HELP)]
    Snapshot(SnapshotArgs),
    /// Load a snapshot directory into an empty database (or a template database).
    #[command(after_help = RESTORE_HELP)]
    Restore(RestoreArgs),
    /// Recreate a database from a template left by `restore --as-template`.
    #[command(after_help = RESET_HELP)]
    Reset(ResetArgs),
    /// Replace an environment's staging database with a fresh sanitized clone: lock, roles,
    /// shadow database, verify, atomic swap; or swap the previous one back (--rollback).
    #[command(after_help = REFRESH_HELP)]
    Refresh(RefreshArgs),
}

const REFRESH_HELP: &str = "\
Reads the environment spec of `provision` (production from [source] url_env, the staging
server's admin from [target] admin_url_env, the rules file, key variable, seed SQL, retention and
grace from [refresh]) and runs, each step timed in the report:

  lock       one refresh per environment (a session advisory lock on the admin connection;
             released by the server if restage dies); --lock-wait waits for it, and a refresh
             that does not get it says which session holds it (exit 4)
  roles      the owner role and the admin's membership in it, as provision makes them
  shadow     <db>_restage_shadow created fresh for the owner role (a leftover from a killed
             run is dropped)
  clone      production into the shadow, sanitized, every object owned by the owner role, then
             the app role's grants and default privileges as provision sets them
  seed       [refresh] seed_sql run in the shadow, if given
  verify     leak scan and row counts (as `restage verify`), every source constraint and index
             present and valid
  swap       sessions on the live database get the grace period ([refresh] grace, default 30s)
             to leave and are then ended; both renames happen in one transaction: the live
             database becomes <db>_restage_prev_<UTC timestamp>, the shadow becomes <db>.
             Settings (ALTER DATABASE … SET), CONNECT grants and the connection limit carry over
  retention  previous databases beyond [refresh] keep_previous (default 1) are dropped

A failure before the swap leaves the live database untouched and drops the shadow (kept with
--keep-failed); the exit code and the report's failed_step say which step failed. --rollback
swaps the newest previous database back in the same way (the replaced one becomes the newest
previous database, so a second --rollback undoes the first).

Example:
  PRODUCTION_DATABASE_URL=… STAGING_ADMIN_URL=… RESTAGE_KEY=… \\
      restage refresh --env envs/staging.toml --report refresh.json";

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Environment spec (TOML) with a [refresh] section.
    #[arg(long = "env", value_name = "FILE")]
    pub env: PathBuf,
    /// Swap the newest previous database back in instead of refreshing.
    #[arg(long)]
    pub rollback: bool,
    /// Keep the shadow database of a failed refresh for inspection.
    #[arg(long)]
    pub keep_failed: bool,
    /// How long to wait for another refresh of the environment to finish (default: refuse).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub lock_wait: std::time::Duration,
    /// Parallel table copies and index builds (default: CPU count).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub output: OutputArgs,
}

const SNAPSHOT_HELP: &str = "\
Reads the source inside one exported snapshot like clone, applies the rules while writing (the
snapshot never holds production values; same rules and key as clone, so a snapshot restores to
exactly what a clone with the same key gives) and writes DIR:

  DIR/manifest.json             format, versions, creation time, rules digest, tables with
                                their columns and row counts, every file's blake3 digest and size
  DIR/schema/<blake3>.dump      pg_dump --schema-only custom-format archive
  DIR/data/<blake3>.pgcopy.zst  one file per table (or block range): binary COPY, zstd

Files are named by their digest: snapshotting again into the same directory leaves the files of
unchanged tables as they are. The manifest is written last (temp name, fsync, rename): an
interrupted snapshot leaves the previous one intact, or, in a new directory, no manifest.
Only files a previous manifest listed (and leftovers of interrupted snapshots) are ever removed;
a non-empty DIR without a manifest is refused (exit 4). A DIR restage creates is private (0700,
files 0600); in an existing DIR files get the read access the directory grants.

Examples:
  restage snapshot --source \"$PROD_URL\" --rules rules/app.toml \\
      --out fixtures/app
  restage snapshot ls fixtures/app
  restage snapshot inspect fixtures/app --json";

const RESTORE_HELP: &str = "\
Checks every file's size and blake3 digest first (a damaged snapshot loads nothing, exit 8),
then: the schema (pre-data) with pg_restore, every table in parallel straight from its file into
COPY FROM (no source needed), post-data (indexes, constraints, foreign keys) with --jobs
pg_restore workers, sequences, materialized views, ANALYZE, and row counts against the manifest.
Objects are owned by the restoring user (no OWNER TO, no GRANT from production). While it runs,
and after a failure, the database comment says INCOMPLETE, as with clone.

--as-template NAME creates database NAME on the --target server, restores into it and makes it a
template (no connections allowed); `restage reset NAME --target-db DB` then recreates DB from it
in well under a second.

Examples:
  restage restore fixtures/app --target postgresql://postgres@localhost/app_test
  restage restore fixtures/app \\
      --target postgresql://postgres@localhost/postgres \\
      --as-template app_fixture
  restage reset app_fixture --target-db app_test \\
      --target postgresql://postgres@localhost/postgres";

const RESET_HELP: &str = "\
Drops DB and creates it again as a copy of the template (CREATE DATABASE … TEMPLATE). Sessions
still connected to DB or to the template are terminated first, and each is reported on stderr.
--target names the server (any database on it other than DB; `postgres` is used when it is DB).
Only a database restage made (its comment carries restage's mark; reset marks the copies it
makes) or an empty one is replaced, and only from a template made by `restore --as-template`;
anything else is refused (exit 4) unless --force is given.

Example:
  restage reset app_fixture --target-db app_test \\
      --target postgresql://postgres@localhost/postgres";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub command: Option<SnapshotCommand>,
    /// Production database (libpq URL or key=value string); read only.
    #[arg(
        long,
        env = "RESTAGE_SOURCE",
        hide_env_values = true,
        value_name = "URL",
        required = true
    )]
    pub source: Option<String>,
    /// The snapshot directory (created if missing; an earlier snapshot in it is replaced).
    #[arg(long, value_name = "DIR", required = true)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Tables read at once. Default: the number of CPU cores.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub selection: TableSelection,
    /// Keep the source's COMMENT ON texts in the schema archive (with --rules they are left out
    /// by default; kept ones are scanned for personal data like the rest of the schema).
    #[arg(long)]
    pub keep_comments: bool,
    /// Longest wait for a table lock another session holds on the source (e.g. 30s, 5m); then
    /// the snapshot fails naming the table and the blocking sessions. 0 waits forever.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No summary (errors still go to stderr).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// One line per table: rows and compressed size, with the snapshot's age and rules digest.
    Ls(SnapshotDirArgs),
    /// Everything the manifest says: versions, rules digest, tables, parts, files and digests.
    Inspect(SnapshotDirArgs),
}

#[derive(Debug, Args)]
pub struct SnapshotDirArgs {
    /// The snapshot directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The snapshot directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Database to load (must be empty unless --clean); with --as-template, the server.
    #[arg(
        long,
        env = "RESTAGE_TARGET",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub target: String,
    /// Tables loaded at once, and pg_restore workers for post-data. Default: CPU cores.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Drop everything in the target first (with --as-template: drop the template database).
    #[arg(long)]
    pub clean: bool,
    /// Restore into a new database NAME and leave it as a template for `restage reset`.
    #[arg(long, value_name = "NAME")]
    pub as_template: Option<String>,
    /// Create every object as ROLE (so ROLE owns it; the connecting user must be able to SET
    /// ROLE to it), then grant what ROLE's default privileges in the target grant.
    #[arg(long, value_name = "ROLE")]
    pub owner: Option<String>,
    /// Longest wait for a table lock another session holds on the target (e.g. 30s, 5m), in
    /// --clean, the schema and the data; then the restore fails naming the table and the
    /// blocking sessions. 0 waits forever.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No summary (errors still go to stderr).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The template database (from `restore --as-template`).
    #[arg(value_name = "NAME")]
    pub template: String,
    /// The database to recreate from the template.
    #[arg(long, value_name = "DB")]
    pub target_db: String,
    /// Replace DB even if restage did not make it and it is not empty, and copy a template
    /// restage did not make.
    #[arg(long)]
    pub force: bool,
    /// The server: a connection to any database on it other than DB.
    #[arg(
        long,
        env = "RESTAGE_TARGET",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub target: String,
}

const VERIFY_HELP: &str = "\
For every column whose rule changes values, no source value may remain. When the table's
primary key was kept, rows are compared one by one through it (a leak is a row that still holds
its production value); otherwise any target value equal to any source value counts. Both
servers hash and sort the values (hashtextextended), so this streams with flat memory. Rules
that keep values in the original's range by design (choice, constant, int_range, number_noise)
are listed but not scanned, and keyed permutations (hash on integer columns, ip) are compared
only row by row: the target holds the same set of values.

Then every column of every table and materialized view of the target is swept as text (kept
columns, json, xml, composite and array values, bytea that decodes as text): for the production
values of the sanitized columns, whole or as a run of up to 8 tokens inside a value (values
under 6 characters, or numbers under 7 digits, are not looked for), and in kept columns for
emails, phone numbers, Luhn-valid card numbers and IBANs (addresses at reserved example domains
and at the rules' mail_domain are generated, not personal). The production values are held as
64-bit hashes, at most about 21 bytes per distinct value. Findings name the table, column, kind
and count, never a value.

Exits 0 when nothing was found, every table has the source's row count and the target's
database comment says it is a complete restage clone; 6 otherwise (a leak, a count mismatch, or
an INCOMPLETE or unmarked target).

Examples:
  restage verify --source \"$PROD_URL\" --target \"$STAGING_URL\" \\
      --rules rules/app.toml
  restage verify --source \"$PROD_URL\" --target \"$STAGING_URL\" \\
      --rules rules/app.toml --json";

const PREVIEW_HELP: &str = "\
Reads a sample of the table from the source (read-only), applies the rules as a clone would and
prints each sanitized column's original and sanitized values side by side. Needs the key
(RESTAGE_KEY, --key-file or --ephemeral-key) like clone. The preview shows production values on
your terminal: run it where that is allowed.

Example:
  restage preview --source \"$PROD_URL\" --rules rules/app.toml \\
      --table public.users --rows 5";

#[derive(Debug, Args)]
#[command(mut_arg("tables", |a| a.help(
    "Only scan and count matching tables: `schema.table` or `table`, `*` and `?` wildcards, \
     case-sensitive. Repeatable"
)))]
pub struct VerifyArgs {
    /// Production database (libpq URL or key=value string); read only.
    #[arg(
        long,
        env = "RESTAGE_SOURCE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub source: String,
    /// Sanitized database to scan.
    #[arg(
        long,
        env = "RESTAGE_TARGET",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub target: String,
    /// The rules file(s) the target was cloned with.
    #[arg(long = "rules", value_name = "FILE", required = true)]
    pub rules: Vec<PathBuf>,
    #[command(flatten)]
    pub selection: TableSelection,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Production database (libpq URL or key=value string); read only.
    #[arg(
        long,
        env = "RESTAGE_SOURCE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub source: String,
    /// The table: `schema.table` (or `table` in public).
    #[arg(long, value_name = "TABLE")]
    pub table: String,
    /// Rows sampled (1 to 1000).
    #[arg(long, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rows: u32,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Print the sample as JSON.
    #[arg(long)]
    pub json: bool,
}

const CLONE_HELP: &str = "\
Connection strings follow libpq: URLs (postgresql://user@host:5432/db?sslmode=require) or
key=value strings (\"host=db dbname=app\"); anything left out comes from PGHOST, PGPORT,
PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE… and ~/.pgpass. Passwords are never printed.

How it works: the source is read inside one exported snapshot (REPEATABLE READ, READ ONLY),
so every table comes from the same moment even while production keeps writing. The schema is
replayed with pg_dump/pg_restore (pre-data first); each table streams with binary COPY, the
largest first, large tables split into block ranges; each table's indexes are built as soon as
its rows are in, while other tables keep copying; foreign keys, triggers and the rest of
post-data follow; sequences are set to the source's values; materialized views are refreshed;
row counts are verified against the snapshot.

Sanitizing: --rules FILE decides every copied column: a rule (email, person_name, hash…),
\"keep\", or a pattern default. A column no rule decides stops the clone before any data
moves (fail closed: a new production column never leaks silently); --allow-undecided copies
such columns unchanged and lists them. Rules are deterministic under a secret key from
RESTAGE_KEY or --key-file (never from the rules file): the same production value gives the
same staging value in every column sharing a domain and on every refresh. A rule that changes
a key is applied to the columns referencing it, so foreign keys still hold. --no-rules copies
every value unchanged (only for data that holds nothing personal).

The target must be an empty database (use --clean to drop what is there). While the clone
runs, and after a failure, the target database's comment says the clone is INCOMPLETE; a
successful run replaces it. Never point an application at a target whose clone failed.

Lock waits are bounded: when a table lock held by another session (on either side, including
the sessions of pg_dump and pg_restore) keeps the clone waiting longer than --lock-timeout
(default 60s), the waiting statement is cancelled and the clone fails naming the table and each
blocking session (pid, application_name, user, how long its transaction has been open): exit 1
before anything was written, 5 after (the target stays marked INCOMPLETE). The clone's own
sessions carry application_name \"restage\" (or the one in the connection string).

Examples:
  export RESTAGE_KEY=\"$(cat /run/secrets/restage-key)\"
  restage clone --source postgresql://app@prod-db/app \\
      --target postgresql://app@staging-db/app --rules rules/app.toml
  restage clone --source \"$PROD_URL\" --target \"$STAGING_URL\" --no-rules \\
      --jobs 8 --clean --json > report.json
  restage clone --source \"$PROD_URL\" --target \"$STAGING_URL\" \\
      --rules rules/app.toml --exclude-table 'audit.*'";

const DEMO_HELP: &str = "\
Starts two throwaway PostgreSQL clusters (the server binaries must be installed: Debian/Ubuntu
`apt-get install -y postgresql`), loads a small production-like app database (tenants, users,
products, orders), clones it into staging with the rules in rules/demo.toml under a throwaway key,
and shows what sanitizing did: the clone's summary (tables, rows, timings, the sanitized
columns), a few users and an order before and after, and the leak scan of `restage verify`
(every sanitized column compared with production, every column swept for production values).
The clusters are removed at the end; --keep leaves them running and prints connection strings
and the command that stops them.";

const PROVISION_HELP: &str = "\
The spec (TOML, see docs/provision.md and examples/envs/) names the environment, the
production connection (read-only, for the guards), an admin connection to the staging
server, the database and its roles (a NOLOGIN owner, a LOGIN app role, optionally a LOGIN
migrations role that acts as the owner), the secrets
(generated, derived from the app role's connection, or supplied through environment
variables), the Kubernetes bundle and where everything is delivered (apply, gitops, dotenv,
json). Connection strings come from environment variables the spec names.

Every run reads what exists, changes the minimum and prints one line per object:
  + create   ~ change (and what)   = unchanged
Nothing in PostgreSQL is ever dropped. Secret values are never printed: the plan shows
fingerprints.
Re-runs reuse the values found in the deliveries (or the state file); --rotate NAME
generates a new value for one secret and says which deliveries changed.

Refuses (exit 4) when the staging database would be production's (same system identifier
or host and port, and the same database), when a supplied secret fails its pattern or
equals the production value, and when staging shares an instance with production whose
database PUBLIC may connect to (unless [source] keep_connect says how to close it).

--check exits 2 when changes are pending (a CI drift check), 0 when everything is in place.
Without a reachable cluster, --dry-run and --check plan apply deliveries against
--kube-state FILE|DIR (recorded objects) and say that the cluster was not consulted; GitOps
deliveries are always planned against their directory.
Every privilege change is read back; a change the admin role cannot make (it does not own
the database, e.g. production on a managed service) exits 9, also with --dry-run and
--check, and says what to run as the owner.

Examples:
  restage provision --env envs/staging.toml --dry-run
  restage provision --env envs/staging.toml
  restage provision --env envs/staging.toml --check --json > plan.json
  restage provision --env envs/staging.toml --check \\
      --kube-state cluster-export.yaml
  restage provision --env envs/staging.toml --rotate session_secret
  restage provision --env envs/staging.toml --print-cronjob \\
      > refresh-cronjob.yaml";

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Environment spec (TOML).
    #[arg(long = "env", value_name = "FILE")]
    pub env: PathBuf,
    /// Show the plan; change nothing (Kubernetes objects are checked with a server dry run).
    #[arg(long)]
    pub dry_run: bool,
    /// Like --dry-run, and exit 2 when changes are pending.
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// Generate a new value for this secret (repeatable).
    #[arg(long, value_name = "NAME")]
    pub rotate: Vec<String>,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No plan output (errors still go to stderr).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the refresh CronJob with its ConfigMap (spec, rules, seed file) and egress
    /// NetworkPolicy ([refresh] in the spec) as YAML and exit; connects to nothing.
    #[arg(long, conflicts_with_all = ["dry_run", "check", "rotate"])]
    pub print_cronjob: bool,
    /// Plan apply deliveries against these recorded objects instead of the cluster
    /// (`kubectl get … -o yaml` output, or a directory of YAML files such as a GitOps
    /// checkout); only with --dry-run or --check.
    #[arg(long, value_name = "FILE|DIR")]
    pub kube_state: Option<PathBuf>,
}

const RULES_HELP: &str = "\
A rules file says, for every column of every copied table, whether it is copied unchanged
(\"keep\") or replaced by a sanitizing rule ({ rule = \"email\", domain = \"email\" }).

Start with `restage rules init`, which writes one from the live schema with suggestions, read
and edit it, then use it with clone. `rules list` and `rules explain` document the rules this
build has.

Examples:
  restage rules init --source \"$PROD_URL\" --out rules/app.toml
  restage rules list
  restage rules explain keep";

const RULES_INIT_HELP: &str = "\
Connects read-only (one READ ONLY transaction), reads the schema and samples up to --sample
non-null values of each text-like column, then writes a rules file listing every copied column
of every table with a suggested entry and a comment saying why:

  keys (primary and foreign), booleans, dates and timestamps, enums and numbers → \"keep\"
  personal data found by column name (email, first/last/full name, phone, fax, address, city,
  postal code, birth date, national id, IBAN, card number, IP, password, token, user name,
  company, URL, notes…) or by sampled content (emails, phone numbers, Luhn-valid card numbers,
  IPv4/IPv6 addresses, IBANs with a valid checksum, JWT-like tokens, emails inside free text)
  → the matching rule of this build, if it fits the column (type, NOT NULL, UNIQUE,
  varchar(n)); otherwise `hash` with a `length`; otherwise \"keep\" marked REVIEW.

Sampled values are only counted: they never appear in the file, on the terminal or in logs.
The output is a starting point, not a decision: read every line, above all those marked REVIEW.
An existing --out file is never replaced without --force (exit 4); large tables are sampled
with TABLESAMPLE SYSTEM, so production reads stay small.

Examples:
  restage rules init --source postgresql://app@prod-db/app > rules.toml
  restage rules init --source \"$PROD_URL\" --table 'public.*' --sample 500 \\
      --out rules.toml
  restage rules init --source \"$PROD_URL\" --out rules.toml --force # overwrites";

const RULES_LIST_HELP: &str = "\
Columns: the rule's name; the types it accepts (domains count as their base type, arrays are
sanitized element-wise); whether it may produce NULL (then it cannot go on a NOT NULL column);
whether distinct inputs stay distinct (needed on primary keys and UNIQUE columns); the longest
output (checked against varchar(n)); what it does.

Examples:
  restage rules list
  restage rules list --json | jq -r '.[].name'";

const RULES_EXPLAIN_HELP: &str = "\
Prints everything a rule declares: what it does, its parameters (name, type, required or not,
default), the types it accepts, what it guarantees (NULL, uniqueness, length) and an example
line for a rules file.

Examples:
  restage rules explain keep
  restage rules explain null --json";

/// `restage rules` and its subcommands (the `--rules FILE` options are `RulesArgs`).
#[derive(Debug, Args)]
pub struct RulesCommandArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

/// `restage rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Write a rules file for a live database: every column of every table, each with a
    /// suggested entry and the reason for it.
    #[command(after_help = RULES_INIT_HELP)]
    Init(RulesInitArgs),
    /// List the built-in rules: accepted types, NULL, uniqueness, length, summary.
    #[command(after_help = RULES_LIST_HELP)]
    List(RulesListArgs),
    /// Explain one rule: parameters, accepted types, guarantees, an example.
    #[command(after_help = RULES_EXPLAIN_HELP)]
    Explain(RulesExplainArgs),
    /// Check rules files against a live schema without copying anything: every column
    /// decided, every rule fits its column. Exit 0 when clean (for CI).
    #[command(after_help = RULES_CHECK_HELP)]
    Check(RulesCheckArgs),
}

const RULES_CHECK_HELP: &str = "\
Runs the checks clone runs before any data moves: the files' syntax and keys, unknown tables
and columns, each rule against its column's type, NOT NULL, UNIQUE and varchar(n) length, and
fail-closed coverage: every column of every copied table decided by its own entry, \"keep\",
or a [defaults.columns] pattern. Every problem is listed with file:line:column.

Exit codes: 0 clean, 2 problems in the rules, 3 connection failure, 4 undecided columns (the
fail-closed guard clone and snapshot apply: they refuse such columns with exit 4 too).

Examples:
  restage rules check --source \"$PROD_URL\" --rules rules/app.toml
  restage rules check --source \"$PROD_URL\" --rules rules/app.toml \\
      --json > rules-check.json";

#[derive(Debug, Args)]
#[command(mut_arg("tables", |a| a.help(
    "Only check matching tables (the ones a clone with the same --table would copy): \
     `schema.table` or `table`, `*` and `?` wildcards, case-sensitive. Repeatable"
)))]
pub struct RulesCheckArgs {
    /// Production database (libpq URL or key=value string); read only.
    #[arg(
        long,
        env = "RESTAGE_SOURCE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub source: String,
    /// Rules file(s) to check. Repeatable.
    #[arg(long = "rules", value_name = "FILE", required = true)]
    pub rules: Vec<PathBuf>,
    #[command(flatten)]
    pub selection: TableSelection,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(mut_arg("tables", |a| a.help(
    "Only write entries for matching tables: `schema.table` or `table`, `*` and `?` \
     wildcards, case-sensitive. Repeatable"
)))]
pub struct RulesInitArgs {
    /// Database to read (libpq URL or key=value string); only read, inside a READ ONLY
    /// transaction.
    #[arg(long, env = "RESTAGE_SOURCE", value_name = "URL")]
    pub source: String,
    #[command(flatten)]
    pub selection: TableSelection,
    /// Non-null values sampled per text-like column (0: judge by names and types only).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub sample: u32,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RulesListArgs {
    /// Print the rules as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RulesExplainArgs {
    /// The rule's name (see `restage rules list`).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Print the declaration as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CloneArgs {
    /// Production database to read (libpq URL or key=value string).
    #[arg(
        long,
        env = "RESTAGE_SOURCE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub source: String,
    /// Staging database to write; must exist and be empty (see --clean).
    #[arg(
        long,
        env = "RESTAGE_TARGET",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub target: String,
    #[command(flatten)]
    pub rules: RulesArgs,
    #[command(flatten)]
    pub options: CloneOptions,
    /// Create every object as ROLE (so ROLE owns it; the connecting user must be able to SET
    /// ROLE to it), then grant what ROLE's default privileges in the target grant.
    #[arg(long, value_name = "ROLE")]
    pub owner: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How production values are sanitized on the way (shared by clone, preview and verify).
#[derive(Debug, Clone, Default, Args)]
pub struct RulesArgs {
    /// Rules file(s) deciding every copied column (start one with `restage rules init`).
    /// Repeatable; a column may be decided in one file only.
    #[arg(long = "rules", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Copy every column unchanged, without rules: only for sources holding no personal data.
    #[arg(long, conflicts_with = "files")]
    pub no_rules: bool,
    /// Copy columns no rule decides unchanged instead of refusing; each one is listed.
    #[arg(long)]
    pub allow_undecided: bool,
    /// Read the sanitizing key from FILE instead of the RESTAGE_KEY environment variable.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Use a random key for this run only: the output is not reproducible across runs.
    #[arg(long, conflicts_with = "key_file")]
    pub ephemeral_key: bool,
}

/// Everything about a clone except where from and where to (shared with `demo`).
#[derive(Debug, Clone, Args)]
pub struct CloneOptions {
    /// Tables copied at once (each copy uses one connection on each side).
    /// Default: the number of CPU cores.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Index builds (and other post-data work) run at once while other tables still copy.
    /// Default: same as --jobs. 0 builds nothing during the copy (for a small staging server):
    /// post-data starts after the last row, with --jobs workers.
    #[arg(long, value_name = "N")]
    pub index_jobs: Option<usize>,
    #[command(flatten)]
    pub selection: TableSelection,
    /// Copy only this schema (repeatable): its objects and rows, into a target that already
    /// holds others (a platform's database); only these schemas must be empty there.
    #[arg(long = "schema", value_name = "NAME", conflicts_with = "clean")]
    pub schemas: Vec<String>,
    /// Split tables larger than this into block ranges copied concurrently (e.g. 512MiB, 2GB;
    /// 0 disables; needs PostgreSQL 14+ on the source).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub split_larger_than: u64,
    /// Drop everything in the target database before copying.
    #[arg(long)]
    pub clean: bool,
    /// Do not replay ownership (the target lacks production's roles).
    #[arg(long)]
    pub no_owner: bool,
    /// Do not replay GRANT/REVOKE.
    #[arg(long)]
    pub no_acl: bool,
    /// Copy the source's COMMENT ON texts too (with --rules they are left out by default:
    /// comments are free text; kept ones are scanned for personal data like the rest of the
    /// schema).
    #[arg(long)]
    pub keep_comments: bool,
    /// Longest wait for a table lock another session holds, on either side (e.g. 30s, 5m);
    /// then the clone fails naming the table and the blocking sessions. 0 waits forever.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
}

/// Which tables' rows a command works on (shared by clone, snapshot, verify, rules).
#[derive(Debug, Clone, Default, Args)]
pub struct TableSelection {
    /// Only matching tables: `schema.table` or `table`, `*` and `?` wildcards,
    /// case-sensitive. Repeatable. With clone and snapshot, other tables are created empty; a
    /// selected table referencing an unselected one is refused (its foreign key could not
    /// validate).
    #[arg(long = "table", short = 't', value_name = "PATTERN")]
    pub tables: Vec<String>,
    /// Leave out matching tables (same syntax). Repeatable.
    #[arg(long = "exclude-table", short = 'T', value_name = "PATTERN")]
    pub exclude_tables: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print the report as JSON on stdout (no progress bars).
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// No progress bars and no summary (errors still go to stderr).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Leave both clusters running and print how to connect to them.
    #[arg(long)]
    pub keep: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `512MiB`, `1GB`, `2G`, `1048576` → bytes (binary and decimal units both mean powers of 1024,
/// as PostgreSQL's own settings do).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (examples: 0, 512MiB, 2GB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?} (use MiB, GiB…)"
            ))
        }
    };
    Ok((value * factor as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
