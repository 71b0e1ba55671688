//! Cancellation of blocking work: a request's work stops when its deadline passes or when the
//! client goes away (the handler's future is dropped), instead of running on after a `408`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Checked by blocking work between units of work (documents, pages).
#[derive(Debug, Clone)]
pub struct Cancel {
    deadline: Option<Instant>,
    flag: Arc<AtomicBool>,
}

impl Cancel {
    /// Never cancelled (admin commands, the demo seed, tests).
    pub fn never() -> Self {
        Cancel {
            deadline: None,
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Cancelled at `deadline`, or earlier through [`Cancel::cancel`].
    pub fn with_deadline(deadline: Instant) -> Self {
        Cancel {
            deadline: Some(deadline),
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// A guard that cancels when dropped (hold it in the async handler: if the client goes away
    /// or the timeout layer drops the future, the blocking work sees it).
    pub fn guard(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone(), true)
    }
}

/// See [`Cancel::guard`].
pub struct CancelOnDrop(Cancel, bool);

impl CancelOnDrop {
    /// The work finished: dropping the guard no longer cancels anything.
    pub fn disarm(mut self) {
        self.1 = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.1 {
            self.0.cancel();
        }
    }
}
