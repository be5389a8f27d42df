//! The refresh's run report: every step with its start, end, outcome and what it did; what
//! was copied; the verify result; the swap; written as JSON and summarized on stdout.

use std::time::SystemTime;

use serde::Serialize;

use crate::app::Failure;
use crate::cli::OutputArgs;
use crate::exit;
use crate::refresh::swap;

/// One step of the run, as the report shows it.
#[derive(Debug, Serialize)]
pub(super) struct StepRecord {
    pub(super) name: String,
    pub(super) started: String,
    pub(super) ended: String,
    pub(super) seconds: f64,
    /// `ok` or `failed`.
    pub(super) outcome: String,
    pub(super) detail: String,
}

#[derive(Debug, Serialize)]
pub(super) struct RefreshReport {
    /// `ok` or `failed`.
    pub(super) status: String,
    /// `refresh` or `rollback`.
    pub(super) action: String,
    pub(super) environment: String,
    pub(super) live: String,
    pub(super) shadow: String,
    pub(super) started_at: String,
    pub(super) restage_version: String,
    pub(super) steps: Vec<StepRecord>,
    pub(super) failed_step: Option<String>,
    pub(super) error: Option<String>,
    /// What happened to the shadow of a failed run: `dropped`, `kept`, or `none`.
    pub(super) shadow_state: String,
    pub(super) rules_digest: Option<String>,
    pub(super) tables: usize,
    pub(super) rows: u64,
    pub(super) bytes: u64,
    pub(super) verify: Option<serde_json::Value>,
    pub(super) grace_seconds: f64,
    pub(super) swap: Option<swap::Swapped>,
    /// The database the replaced live database became (the rollback target).
    pub(super) previous: Option<String>,
    /// Previous databases dropped by retention.
    pub(super) dropped: Vec<String>,
    /// What the running step did, for its record.
    #[serde(skip)]
    pub(super) pending_detail: Option<String>,
}

pub(super) fn now_text() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

pub(super) fn emit(report: &RefreshReport, output: &OutputArgs) -> Result<(), Failure> {
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Failure::new(exit::FAILURE, format!("report: {e}")))?;
    if let Some(path) = &output.report {
        std::fs::write(path, &json).map_err(|e| {
            Failure::new(
                exit::FAILURE,
                format!("cannot write the report to {}: {e}", path.display()),
            )
        })?;
    }
    if output.json {
        println!("{json}");
    } else if !output.quiet {
        for s in &report.steps {
            println!(
                "{:<10} {:>8.2}s  {:<6}  {}",
                s.name, s.seconds, s.outcome, s.detail
            );
        }
        if report.status == "ok" {
            println!("{} {}: {}", report.action, report.environment, report.live);
        }
    }
    Ok(())
}

impl RefreshReport {
    pub(super) fn note(&mut self, text: String) {
        self.pending_detail = Some(text);
    }

    pub(super) fn steps_detail_take(&mut self) -> String {
        self.pending_detail.take().unwrap_or_default()
    }
}
