//! Shared cancellation: the first fatal error wins and stops every job.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::PipelineError;

#[derive(Default)]
pub struct Cancel {
    flag: AtomicBool,
    first: Mutex<Option<PipelineError>>,
}

impl Cancel {
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Records `error` unless an earlier one was recorded, and cancels.
    pub fn fail(&self, error: PipelineError) {
        if let Ok(mut first) = self.first.lock() {
            if first.is_none() {
                *first = Some(error);
            }
        }
        self.flag.store(true, Ordering::Release);
    }

    pub fn take_error(&self) -> Option<PipelineError> {
        self.first.lock().ok().and_then(|mut e| e.take())
    }
}
