//! The run report every data command ends with (`clone`, `snapshot`, `restore`, `reset`): the
//! step table, the per-table lines and the privacy record of the run. Its JSON form is the
//! documented schema of `docs/report.md`; `REPORT_VERSION` changes whenever a field changes
//! meaning or disappears (new fields keep the version).

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use serde::Serialize;

/// Version of the JSON schema in `docs/report.md`.
pub const REPORT_VERSION: u32 = 1;

/// One step of a run (schema, data, post-data, verify…).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    /// Seconds from the start of the run to the start of the step.
    pub start: f64,
    /// Wall-clock seconds the step took.
    pub seconds: f64,
    /// `ok` or `failed`.
    pub outcome: String,
}

/// One copied table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableRow {
    pub table: String,
    /// Rows copied (as read from the source end).
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub parts: usize,
    /// Index builds, constraints and verification of this table after its copy.
    pub post_seconds: f64,
    /// Rows the source end held: the source database's snapshot, or the snapshot's manifest.
    pub source_rows: u64,
    /// Rows the target end holds: acknowledged by its COPY FROM (or counted after a restore).
    pub target_rows: u64,
    /// blake3 over the blake3 digests of the parts' COPY streams as the target received them,
    /// in part order (see `docs/report.md`); `null` when it cannot be known.
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// What happened to one copied column.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ColumnRecord {
    pub table: String,
    pub column: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// `rule` (values replaced), `keep` (copied unchanged by decision), or
    /// `undecided-allowed` (copied unchanged without a decision, under --allow-undecided).
    pub decision: String,
    /// The rule's name (`keep` included); `null` for undecided columns.
    pub rule: Option<String>,
    /// The mapping domain of a rule.
    pub domain: Option<String>,
    /// Where the decision comes from: `explicit`, `pattern "GLOB"` or `references T.C`.
    pub origin: Option<String>,
}

/// Which rules and key the run used: enough to tell two runs apart, never the key itself.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Privacy {
    /// `rules` (rules files applied), `none` (--no-rules: everything copied unchanged), or
    /// `snapshot` (restored from a snapshot, sanitized when it was written).
    pub mode: String,
    pub rules_files: Vec<String>,
    /// blake3 over the rules files' bytes (see `docs/report.md`), or `none`.
    pub rules_digest: Option<String>,
    /// A keyed blake3 fingerprint of the sanitizing key, or `null` when no key was loaded.
    pub key_fingerprint: Option<String>,
    pub columns: Vec<ColumnRecord>,
}

/// The verification a run did and what it found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyRecord {
    /// What was checked, e.g. `row counts`, `sequences`.
    pub checks: Vec<String>,
    /// `ok` or `failed`.
    pub outcome: String,
}

/// Versions of the programs and servers taking part.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Versions {
    pub restage: String,
    pub source_server: Option<String>,
    pub target_server: Option<String>,
    pub pg_dump: Option<String>,
}

/// The report of one data command: what people read at the end of a run and what `--json` /
/// `--report FILE` write.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub report_version: u32,
    /// `clone`, `snapshot`, `restore` or `reset`.
    pub command: String,
    /// `ok` or `failed`.
    pub status: String,
    /// Where rows came from: a masked connection string or a snapshot directory.
    pub source: String,
    /// Where rows went: a masked connection string or a snapshot directory.
    pub target: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Kept for readers of the first clone reports; equals `versions.restage`.
    pub restage_version: String,
    pub versions: Versions,
    pub steps: Vec<Step>,
    pub tables: Vec<TableRow>,
    pub totals: Totals,
    pub privacy: Privacy,
    /// The verification the run did, `null` when none ran.
    pub verify: Option<VerifyRecord>,
    pub warnings: Vec<String>,
    /// What the target held before the clone and still holds (preinstalled extensions).
    pub kept: Vec<String>,
    /// Sanitized columns: `schema.table.column: rule` (and why, when not its own entry).
    pub sanitized: Vec<String>,
    pub error: Option<String>,
    /// `complete`, `incomplete` (a failed run left partial data, marked as such) or `untouched`.
    pub target_state: String,
    /// What only this command reports (snapshot files written, the template restored…).
    pub details: BTreeMap<String, serde_json::Value>,
    /// The step under way: recorded as failed when the run ends inside it.
    #[serde(skip)]
    running: Option<(String, Instant)>,
    #[serde(skip)]
    clock: Instant,
}

impl RunReport {
    pub fn new(command: &str, source: String, target: String) -> RunReport {
        RunReport {
            report_version: REPORT_VERSION,
            command: command.into(),
            status: "failed".into(),
            source,
            target,
            started_at: now_rfc3339(),
            finished_at: None,
            restage_version: env!("CARGO_PKG_VERSION").into(),
            versions: Versions {
                restage: env!("CARGO_PKG_VERSION").into(),
                ..Versions::default()
            },
            steps: Vec::new(),
            tables: Vec::new(),
            totals: Totals::default(),
            privacy: Privacy::default(),
            verify: None,
            warnings: Vec::new(),
            kept: Vec::new(),
            sanitized: Vec::new(),
            error: None,
            target_state: "untouched".into(),
            details: BTreeMap::new(),
            running: None,
            clock: Instant::now(),
        }
    }

    /// Starts a step; the previous one, if still open, ends first.
    pub fn begin(&mut self, name: &str) {
        self.end();
        self.running = Some((name.into(), Instant::now()));
    }

    /// Ends the open step as `ok`.
    pub fn end(&mut self) {
        if let Some((name, started)) = self.running.take() {
            let seconds = started.elapsed().as_secs_f64();
            self.push_step(&name, started, seconds, "ok");
        }
    }

    /// Ends the open step as `ok`, counting `seconds` instead of its wall-clock span (a copy
    /// whose index builds outlasted it).
    pub fn end_as(&mut self, seconds: f64) {
        if let Some((name, started)) = self.running.take() {
            self.push_step(&name, started, seconds, "ok");
        }
    }

    /// Records a step whose duration is not its wall-clock span (a copy overlapping index
    /// builds): it started at `started` and counts `seconds`.
    pub fn step(&mut self, name: &str, started: Instant, seconds: f64) {
        self.push_step(name, started, seconds, "ok");
    }

    fn push_step(&mut self, name: &str, started: Instant, seconds: f64, outcome: &str) {
        self.steps.push(Step {
            name: name.into(),
            start: started.saturating_duration_since(self.clock).as_secs_f64(),
            seconds,
            outcome: outcome.into(),
        });
    }

    /// Ends the run: `ok`, or failed with the error (the open step, if any, failed).
    pub fn finish(&mut self, error: Option<&str>) {
        match error {
            None => {
                self.end();
                self.status = "ok".into();
            }
            Some(message) => {
                if let Some((name, started)) = self.running.take() {
                    let seconds = started.elapsed().as_secs_f64();
                    self.push_step(&name, started, seconds, "failed");
                }
                self.error = Some(message.into());
            }
        }
        self.totals.seconds = self.clock.elapsed().as_secs_f64();
        self.finished_at = Some(now_rfc3339());
    }

    /// Sets the per-table lines (largest first) and the totals.
    pub fn set_tables(&mut self, mut rows: Vec<TableRow>) {
        rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.table.cmp(&b.table)));
        self.totals.tables = rows.len();
        self.totals.rows = rows.iter().map(|r| r.rows).sum();
        self.totals.bytes = rows.iter().map(|r| r.bytes).sum();
        self.tables = rows;
    }

    pub fn detail(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.details.insert(name.into(), value.into());
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_inside_a_step_marks_that_step_failed() {
        let mut r = RunReport::new("clone", "s".into(), "t".into());
        r.begin("schema");
        r.begin("data");
        r.finish(Some("boom"));
        let steps: Vec<(&str, &str)> = r
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.outcome.as_str()))
            .collect();
        assert_eq!(steps, [("schema", "ok"), ("data", "failed")]);
        assert_eq!(r.status, "failed");
        assert_eq!(r.error.as_deref(), Some("boom"));
        assert!(r.finished_at.is_some());
    }

    #[test]
    fn json_carries_the_version_and_every_section() {
        let mut r = RunReport::new("snapshot", "s".into(), "dir".into());
        r.detail("files_written", 3);
        r.finish(None);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
        assert_eq!(v["report_version"], REPORT_VERSION);
        assert_eq!(v["command"], "snapshot");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["details"]["files_written"], 3);
        for key in ["steps", "tables", "totals", "privacy", "versions", "verify"] {
            assert!(v.get(key).is_some(), "{key} missing from {v}");
        }
        assert!(v.get("running").is_none() && v.get("clock").is_none());
    }
}
