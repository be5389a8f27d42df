//! Live progress: one bar per active table (rows, bytes, rate) and an overall bar with ETA.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::{Observer, TablePlan, TableStats};
use crate::source::Part;

pub struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
    /// Bars of the parts being copied, with their row counts.
    active: Mutex<HashMap<String, (ProgressBar, u64)>>,
    enabled: bool,
}

impl Progress {
    /// `total_bytes`: the tables' on-disk size, an estimate of the bytes to move.
    pub fn new(enabled: bool, total_bytes: u64) -> Progress {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(total_bytes.max(1)));
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ) {
            overall.set_style(style.progress_chars("=> "));
        }
        overall.set_prefix("total");
        if enabled {
            overall.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            multi,
            overall,
            active: Mutex::new(HashMap::new()),
            enabled,
        }
    }

    /// Prints a line above the bars (or plainly when they are hidden).
    pub fn println(&self, line: &str) {
        if self.enabled {
            let _ = self.multi.println(line);
        }
    }

    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }

    fn key(plan: &TablePlan, part: &Part) -> String {
        format!("{} {}", plan.table.display_name(), part.describe())
    }

    fn label(plan: &TablePlan, part: &Part) -> String {
        if part.is_whole() {
            plan.table.display_name()
        } else {
            format!(
                "{} {}/{}",
                plan.table.display_name(),
                part.index,
                part.count
            )
        }
    }
}

impl Observer for Progress {
    fn part_started(&self, plan: &TablePlan, part: &Part) {
        if !self.enabled {
            return;
        }
        let bar = self
            .multi
            .insert_before(&self.overall, ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {prefix:<40!} {msg} {binary_bytes} {binary_bytes_per_sec}",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(Self::label(plan, part));
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut active) = self.active.lock() {
            active.insert(Self::key(plan, part), (bar, 0));
        }
    }

    fn rows_copied(&self, plan: &TablePlan, part: &Part, rows: u64, bytes: u64) {
        self.overall.inc(bytes);
        if !self.enabled {
            return;
        }
        if let Ok(mut active) = self.active.lock() {
            if let Some((bar, total_rows)) = active.get_mut(&Self::key(plan, part)) {
                *total_rows += rows;
                bar.inc(bytes);
                bar.set_message(format!("{total_rows} rows"));
            }
        }
    }

    fn part_finished(&self, plan: &TablePlan, part: &Part) {
        if let Ok(mut active) = self.active.lock() {
            if let Some((bar, _)) = active.remove(&Self::key(plan, part)) {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
        }
    }

    fn table_copied(&self, plan: &TablePlan, stats: &TableStats) {
        self.println(&format!(
            "  copied {} ({} rows, {:.1} s); building its indexes",
            plan.table.display_name(),
            stats.rows,
            stats.copy_seconds
        ));
    }
}

/// Progress bars per part and overall, without the per-table lines (for runs that build
/// nothing meanwhile: snapshot, restore).
pub struct PartBars(pub Progress);

impl Observer for PartBars {
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
