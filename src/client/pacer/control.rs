//! What every pacer of a run shares: the run's stop reason (the first one given is kept), the tokens that
//! wake waiting workers when the run stops and abandon requests in flight after an interrupt's grace, and
//! the server clock. The pacers only report why a run should stop; the acquire loop and the client stop it.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::clock::ServerClock;
use crate::client::error::StopReason;

/// Added after a server time (a window reset, an HTTP-date `Retry-After`) before the next request: the
/// server's clock may tick over a little after ours, and a request that lands a moment early is refused.
pub(super) const RESET_MARGIN: Duration = Duration::from_millis(100);

/// (Neither margin counts against `--max-wait`: they are this tool's own, not the server's wait.)
///
/// Added after a `Retry-After` given in seconds, counted from when its answer was read: the server
/// counts from when it wrote the answer, a little before, and a server that notes that moment only
/// once its write has returned (a busy one, milliseconds later) must still see the next request after
/// the window, not a hair inside it.
pub const RETRY_AFTER_MARGIN: Duration = Duration::from_millis(20);

/// The run's stop reason, its stop and abandon signals, and the server clock.
pub struct Control {
    stop: Mutex<Option<StopReason>>,
    clock: Mutex<ServerClock>,
    /// Cancelled when the run stops: wakes every waiting worker. Replaced when a stopped run resumes.
    halted: Mutex<CancellationToken>,
    /// Cancelled when requests in flight are to be abandoned (an interrupt's grace is over).
    abandon: CancellationToken,
}

impl Control {
    pub fn new() -> Control {
        Control {
            stop: Mutex::new(None),
            clock: Mutex::new(ServerClock::new()),
            halted: Mutex::new(CancellationToken::new()),
            abandon: CancellationToken::new(),
        }
    }

    pub(super) fn clock(&self) -> MutexGuard<'_, ServerClock> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the run: no request goes out after this, and waiting workers wake to see the reason. The
    /// first reason given is kept.
    pub fn stop(&self, reason: StopReason) {
        // The token is cancelled under the stop's lock, so a resume cannot slip between the two.
        let mut st = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if st.is_none() {
            *st = Some(reason);
        }
        self.halted().cancel();
    }

    /// Lets a stopped run send again (a service's next poll after Okta was unavailable): the stop reason
    /// is cleared; pauses the pacers hold (a `Retry-After`) stay in force. Not after an abandon.
    pub fn resume(&self) {
        let mut st = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if st.take().is_some() {
            *self.halted.lock().unwrap_or_else(|e| e.into_inner()) = CancellationToken::new();
        }
    }

    pub fn stopped(&self) -> Option<StopReason> {
        self.stop.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Cancelled once the run has stopped (take it before looking at [`Control::stopped`]: a stop after
    /// that cancels it).
    pub(super) fn halted(&self) -> CancellationToken {
        self.halted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Abandons requests in flight (their rows are reported as possibly taken).
    pub fn abandon(&self) {
        self.abandon.cancel();
    }

    pub fn abandoned(&self) -> &CancellationToken {
        &self.abandon
    }

    /// The local instant for a window reset at a server epoch second.
    pub fn instant_for(&self, epoch: u64) -> Instant {
        self.clock().instant_for(epoch) + RESET_MARGIN
    }

    /// The local instant for a server epoch second that must not be early (an HTTP-date `Retry-After`).
    pub fn instant_not_before(&self, epoch: u64) -> Instant {
        self.clock().instant_not_before(epoch) + RESET_MARGIN
    }

    pub fn system_time_for(&self, at: Instant) -> SystemTime {
        self.clock().system_time_for(at)
    }
}

impl Default for Control {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::error::Failure;

    #[tokio::test(start_paused = true)]
    async fn the_first_stop_reason_is_kept_and_wakes_every_waiter() {
        let c = Control::new();
        assert!(c.stopped().is_none() && !c.halted().is_cancelled());
        let first = StopReason {
            failure: Failure::Retryable,
            message: "first".into(),
            retry_at: None,
        };
        c.stop(first.clone());
        c.stop(StopReason::abandoned());
        assert_eq!(c.stopped().map(|r| r.message), Some("first".into()));
        assert!(c.halted().is_cancelled());
        // Stopping does not abandon requests in flight: that is a second, separate step.
        assert!(!c.abandoned().is_cancelled());
        c.abandon();
        assert!(c.abandoned().is_cancelled());
    }

    /// A service's next poll after an outage: the stop is cleared, a fresh token waits for the next one.
    #[tokio::test(start_paused = true)]
    async fn a_stopped_run_resumes() {
        let c = Control::new();
        let old = c.halted();
        c.stop(StopReason::interrupted());
        c.resume();
        assert!(c.stopped().is_none());
        assert!(old.is_cancelled() && !c.halted().is_cancelled());
        c.stop(StopReason::abandoned());
        assert!(c.halted().is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn server_times_get_the_margin() {
        let c = Control::new();
        let now = Instant::now();
        let epoch = super::super::clock::epoch_now().ceil() as u64 + 5;
        let at = c.instant_for(epoch);
        assert!(at >= c.clock().instant_for(epoch) + RESET_MARGIN);
        assert!(at > now + Duration::from_secs(4));
    }
}
