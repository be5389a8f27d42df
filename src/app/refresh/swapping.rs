//! The refresh's last steps: the swap (settings carried over, grace period, both renames in
//! one transaction), retention of previous databases, and the cleanup after a failure.

use std::time::SystemTime;

use super::report::now_text;
use super::{pause_if_asked, Run, PAUSE_HOOK};
use crate::app::{pg_failure, Failure};
use crate::exit;
use crate::refresh::{carry, ident, literal, names, retention, swap};

impl Run<'_> {
    /// The name the live database retires under. Its timestamp has whole seconds: a rollback
    /// right after a refresh (the same second) would reuse the name the refresh gave, so the
    /// next second is waited for.
    fn unused_previous_name(&self, live: &str) -> Result<String, Failure> {
        let admin = self.admin()?;
        for _ in 0..3 {
            let name = names::previous(live, SystemTime::now());
            let taken = self
                .rt
                .block_on(crate::refresh::comment_of(admin, &name))
                .map_err(|e| pg_failure(exit::FAILURE, "swap", &e))?
                .is_some();
            if !taken {
                return Ok(name);
            }
            std::thread::sleep(std::time::Duration::from_millis(1000));
        }
        Err(Failure::new(
            exit::FAILURE,
            format!("swap: no free name for the previous database of {live}"),
        ))
    }

    /// `replacement` becomes the live database; the live one becomes the newest previous.
    pub(super) fn swap(&mut self, replacement: &str) -> Result<(), Failure> {
        let live = self.report.live.clone();
        let admin = self.admin()?;
        let failed = |e| pg_failure(exit::FAILURE, "swap", &e);
        let retired = self.unused_previous_name(&live)?;
        let live_comment = self
            .rt
            .block_on(crate::refresh::comment_of(admin, &live))
            .map_err(failed)?;
        let live_exists = live_comment.is_some();
        // What the live database carries over, applied before the swap (outside its short
        // transaction).
        let carried = self
            .rt
            .block_on(carry::statements(admin, &live, replacement))
            .map_err(failed)?;
        for sql in &carried {
            self.rt
                .block_on(admin.batch_execute(sql))
                .map_err(|e| pg_failure(exit::FAILURE, &format!("swap: {sql}"), &e))?;
        }
        let waiting = self
            .rt
            .block_on(swap::sessions(admin, &live))
            .map_err(failed)?;
        let left = if waiting > 0 {
            tracing::warn!(
                "{waiting} session(s) on {live}: they are ended after the grace period of {}",
                humantime::format_duration(self.grace)
            );
            self.rt
                .block_on(swap::wait_for_sessions(admin, &live, self.grace))
                .map_err(failed)?
        } else {
            0
        };
        let mut extra = Vec::new();
        let replacement_comment = self
            .rt
            .block_on(crate::refresh::comment_of(admin, replacement))
            .map_err(failed)?
            .flatten()
            .unwrap_or_default();
        if live_exists {
            let was = live_comment.flatten().unwrap_or_default();
            extra.push(format!(
                "COMMENT ON DATABASE {} IS {}",
                ident(&retired),
                literal(&format!(
                    "{} {live} until {}; `restage refresh --rollback` swaps it back{PREVIOUS_WAS}{was}",
                    names::PREVIOUS_MARK,
                    now_text()
                ))
            ));
        }
        // A database coming back from retirement gets its own comment back.
        if let Some((_, was)) = replacement_comment.split_once(PREVIOUS_WAS) {
            extra.push(format!(
                "COMMENT ON DATABASE {} IS {}",
                ident(&live),
                literal(was)
            ));
        }
        let tx = self.connect(&self.admin_spec, "target")?;
        let killer = self.connect(&self.admin_spec, "target")?;
        let hold = std::env::var(PAUSE_HOOK).is_ok_and(|v| v == "swap-commit");
        let swapped = self
            .rt
            .block_on(swap::swap(
                &tx,
                &killer,
                &live,
                replacement,
                live_exists.then_some(retired.as_str()),
                &extra,
                hold.then_some(|| pause_if_asked("swap-commit")),
            ))
            .map_err(failed)?;
        self.shadow_created = false;
        self.report.note(format!(
            "{}{replacement} is now {live}{}; {} session(s) ended after the grace period of {} \
             ({left} still connected then); new connections held back {:.3}s",
            if live_exists {
                format!("{live} is now {retired}, ")
            } else {
                String::new()
            },
            if carried.is_empty() {
                String::new()
            } else {
                format!(" (carried over: {} setting(s)/grant(s))", carried.len())
            },
            swapped.terminated_sessions.len(),
            humantime::format_duration(self.grace),
            swapped.blocked_seconds
        ));
        self.report.previous = live_exists.then_some(retired);
        self.report.swap = Some(swapped);
        Ok(())
    }

    pub(super) fn retention(&mut self) -> Result<(), Failure> {
        let keep = self.refresh.keep_previous as usize;
        let live = self.report.live.clone();
        let dropped = self
            .rt
            .block_on(retention::prune(self.admin()?, &live, keep))
            .map_err(|e| pg_failure(exit::FAILURE, "dropping old previous databases", &e))?;
        self.report.note(format!(
            "keeping {keep} previous database(s); dropped: {}",
            if dropped.is_empty() {
                "none".to_owned()
            } else {
                dropped.join(", ")
            }
        ));
        self.report.dropped = dropped;
        Ok(())
    }

    /// After a failure before the swap: the shadow is dropped unless --keep-failed.
    pub(super) fn cleanup(&mut self) {
        if !self.shadow_created {
            return;
        }
        if self.args.keep_failed {
            self.report.shadow_state = "kept".into();
            return;
        }
        let shadow = self.report.shadow.clone();
        let dropped = match self.admin() {
            Ok(admin) => self
                .rt
                .block_on(retention::drop_database(admin, &shadow))
                .is_ok(),
            Err(_) => false,
        };
        self.report.shadow_state = if dropped { "dropped" } else { "left" }.into();
    }
}

/// Between the previous-database mark and the replaced database's own comment.
const PREVIOUS_WAS: &str = "; its comment was: ";
