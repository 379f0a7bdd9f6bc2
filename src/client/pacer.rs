//! The one gate every request of a run passes through, shared by all workers behind an `Arc`.
//!
//! It holds three limits and takes the strictest: a pause set by a 429/503 (`Retry-After`, or the window
//! reset), the request budget of Okta's current rate-limit window (from `X-Rate-Limit-Remaining/-Reset`,
//! counting requests still in flight), and the client-side cap of `--rate` (a `governor` limiter). When one
//! worker is told to wait, every worker waits, because the wait lives here and not in the worker.
//!
//! Absolute server times (`X-Rate-Limit-Reset`, an HTTP-date `Retry-After`) are turned into local instants
//! with [`ServerClock`], which learns the offset between Okta's `Date` header and the local clock.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::{ApiError, StopReason};
use super::headers::Pacing;

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Added after a window's reset time before the next window's first request.
const RESET_MARGIN: Duration = Duration::from_millis(100);

/// `governor` clock that follows tokio's clock, so the cap obeys tokio's paused clock in tests.
#[derive(Clone, Debug)]
pub struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

type Cap = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// Maps Okta's clock to local instants. Each response's `Date` (whole seconds, stamped before the response
/// left) is a lower bound of the server's clock when it arrived; the largest such bound over a run is the
/// tightest, and using it places every server time at or after the true local moment.
#[derive(Debug)]
pub struct ServerClock {
    anchor: Instant,
    anchor_epoch: f64,
    offset: Option<f64>,
}

impl ServerClock {
    pub fn new() -> ServerClock {
        // The instant is read first: if the thread is held up between the two readings, the local
        // clock reads late, which only makes every wait longer, never shorter.
        let anchor = Instant::now();
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        ServerClock {
            anchor,
            anchor_epoch: epoch,
            offset: None,
        }
    }

    fn local_epoch(&self, at: Instant) -> f64 {
        self.anchor_epoch + at.saturating_duration_since(self.anchor).as_secs_f64()
    }

    pub fn observe(&mut self, date: u64, received: Instant) {
        let sample = date as f64 - self.local_epoch(received);
        self.offset = Some(self.offset.map_or(sample, |o| o.max(sample)));
    }

    /// The local instant at which the server's clock reads `epoch` (not before).
    pub fn instant_for(&self, epoch: u64) -> Instant {
        let local = epoch as f64 - self.offset.unwrap_or(0.0);
        let ahead = local - self.anchor_epoch;
        if ahead <= 0.0 {
            self.anchor
        } else {
            self.anchor + Duration::from_secs_f64(ahead.min(1e9))
        }
    }

    pub fn system_time_for(&self, at: Instant) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(self.local_epoch(at).max(0.0))
    }
}

impl Default for ServerClock {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug)]
struct Window {
    limit: u32,
    /// Requests that may still go out in this window.
    budget: i64,
    reset_epoch: u64,
    /// `None` once the window has passed and the next one's reset is not known yet.
    reset_at: Option<Instant>,
}

#[derive(Debug)]
struct State {
    paused_until: Option<Instant>,
    window: Option<Window>,
    /// Requests let through so far; a permit's sequence number is its index.
    sent: u64,
    /// Sequence number of the response the window budget was last taken from.
    newest: Option<u64>,
    stop: Option<StopReason>,
    clock: ServerClock,
    /// Workers waiting at the gate now, and since when at least one has been.
    waiting: u32,
    waiting_since: Instant,
    waited: Duration,
    /// Requests let through whose answer has not arrived yet.
    in_flight: u32,
}

/// A request's ticket through the gate; dropping it (answer received, or attempt abandoned) frees its
/// place among the requests in flight.
pub struct Permit<'a> {
    pacer: &'a Pacer,
    seq: u64,
}

impl std::fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Permit({})", self.seq)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut st = self.pacer.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        drop(st);
        self.pacer.changed.notify_waiters();
    }
}

pub struct Pacer {
    state: Mutex<State>,
    cap: Option<Cap>,
    cap_clock: TokioClock,
    max_wait: Option<Duration>,
    /// Cancelled when the run stops: wakes every waiting worker.
    halted: CancellationToken,
    /// Cancelled by SIGINT/SIGTERM: also abandons requests in flight.
    interrupted: CancellationToken,
    /// Woken when a request finishes or a response brings news, for workers waiting on those.
    changed: Notify,
}

impl Pacer {
    /// `rate_per_minute` is `--rate`; `max_wait` is `--max-wait`.
    pub fn new(rate_per_minute: Option<NonZeroU32>, max_wait: Option<Duration>) -> Pacer {
        let cap_clock = TokioClock {
            start: Instant::now(),
        };
        let cap = rate_per_minute.map(|n| {
            let quota = Quota::with_period(Duration::from_secs(60) / n.get())
                .expect("non-zero period")
                .allow_burst(NonZeroU32::MIN);
            RateLimiter::direct_with_clock(quota, cap_clock.clone())
        });
        Pacer {
            state: Mutex::new(State {
                paused_until: None,
                window: None,
                sent: 0,
                newest: None,
                stop: None,
                clock: ServerClock::new(),
                waiting: 0,
                waiting_since: Instant::now(),
                waited: Duration::ZERO,
                in_flight: 0,
            }),
            cap,
            cap_clock,
            max_wait,
            halted: CancellationToken::new(),
            interrupted: CancellationToken::new(),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request may go out, or returns why the run stopped.
    pub async fn acquire(&self) -> Result<Permit<'_>, StopReason> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let until = {
                let mut st = self.lock();
                if let Some(r) = &st.stop {
                    return Err(r.clone());
                }
                let now = Instant::now();
                match self.blocked_until(&mut st, now) {
                    None => {
                        if let Some(w) = &mut st.window {
                            w.budget -= 1;
                        }
                        let seq = st.sent;
                        st.sent += 1;
                        st.in_flight += 1;
                        return Ok(Permit { pacer: self, seq });
                    }
                    Some(until) => {
                        if st.waiting == 0 {
                            st.waiting_since = now;
                        }
                        st.waiting += 1;
                        until
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = &mut changed => {}
                _ = self.halted.cancelled() => {}
            }
            // Time waited is counted while at least one worker waits, so overlapping waits count once.
            let mut st = self.lock();
            st.waiting -= 1;
            if st.waiting == 0 {
                let since = st.waiting_since;
                st.waited += since.elapsed();
            }
        }
    }

    fn blocked_until(&self, st: &mut State, now: Instant) -> Option<Instant> {
        if let Some(p) = st.paused_until {
            if p > now {
                return Some(p);
            }
            st.paused_until = None;
        }
        if let Some(w) = &mut st.window {
            match w.reset_at {
                Some(reset) if now >= reset => {
                    w.budget = i64::from(w.limit);
                    w.reset_at = None;
                }
                Some(reset) if w.budget <= 0 => {
                    // The server said to wait for the reset: a wait past --max-wait stops the run.
                    if let Some(max) = self.max_wait
                        && reset.saturating_duration_since(now) > max
                    {
                        let reason = ApiError::RateLimited {
                            wait: reset.saturating_duration_since(now),
                            max_wait: max,
                            until: st.clock.system_time_for(reset),
                        }
                        .stop_reason();
                        st.stop = Some(reason);
                        self.halted.cancel();
                        return Some(now);
                    }
                    return Some(reset);
                }
                // The budget counted from the last known window is spent and the new window's reset is
                // not known yet: a response in flight will tell. With none in flight (an answer came
                // without rate-limit headers), one request goes out to find out.
                None if w.budget <= 0 && st.in_flight > 0 => {
                    return Some(now + Duration::from_secs(1));
                }
                _ => {}
            }
        } else if st.in_flight > 0 {
            // Without a known budget (no rate-limit headers yet, or none at all), requests go one at a
            // time: a second request in flight could land inside a Retry-After window the first one is
            // about to be given.
            return Some(now + Duration::from_secs(5));
        }
        if let Some(cap) = &self.cap
            && let Err(not_until) = cap.check()
        {
            return Some(now + not_until.wait_time_from(self.cap_clock.now()));
        }
        None
    }

    /// Takes in the pacing facts of the response to `permit`, received at `received`.
    pub fn observe(&self, permit: &Permit<'_>, received: Instant, p: &Pacing) {
        let mut st = self.lock();
        self.changed.notify_waiters();
        if let Some(date) = p.date {
            st.clock.observe(date, received);
        }
        let (Some(limit), Some(remaining), Some(reset)) = (p.limit, p.remaining, p.reset) else {
            return;
        };
        let newer = match (&st.window, st.newest) {
            (Some(w), _) if reset < w.reset_epoch => false,
            (Some(w), Some(n)) if reset == w.reset_epoch => permit.seq >= n,
            _ => true,
        };
        if !newer {
            return;
        }
        // Okta's windows last a minute; a reset further away than an hour is not a window this tool
        // can pace by (a reset in milliseconds, say), so the headers are not used.
        let server_now = p.date.map_or_else(epoch_now, |d| d as f64);
        if reset as f64 - server_now > 3600.0 {
            tracing::warn!(
                "ignoring X-Rate-Limit-Reset {reset}: more than an hour from the server's clock"
            );
            return;
        }
        // Requests let through after this one may not have been counted by Okta yet.
        let later = st.sent - permit.seq - 1;
        let reset_at = st.clock.instant_for(reset) + RESET_MARGIN;
        st.newest = Some(permit.seq);
        st.window = Some(Window {
            limit,
            budget: i64::from(remaining) - later as i64,
            reset_epoch: reset,
            reset_at: Some(reset_at),
        });
    }

    /// The local instant for a server epoch second, after the clock has seen the latest `Date`.
    pub fn instant_for(&self, epoch: u64) -> Instant {
        self.lock().clock.instant_for(epoch) + RESET_MARGIN
    }

    /// The window reset, when the budget of the current window is spent.
    pub fn spent_window_reset(&self) -> Option<Instant> {
        let st = self.lock();
        let w = st.window.as_ref()?;
        if w.budget <= 0 { w.reset_at } else { None }
    }

    /// Holds every worker until `until`. A wait longer than `--max-wait` stops the run instead, with the
    /// time to retry in the reason.
    pub fn pause_until(&self, until: Instant) -> Result<(), StopReason> {
        let now = Instant::now();
        let wait = until.saturating_duration_since(now);
        if let Some(max) = self.max_wait
            && wait > max
        {
            let at = self.lock().clock.system_time_for(until);
            let reason = ApiError::RateLimited {
                wait,
                max_wait: max,
                until: at,
            }
            .stop_reason();
            self.stop(reason.clone());
            return Err(reason);
        }
        let mut st = self.lock();
        st.paused_until = Some(st.paused_until.map_or(until, |p| p.max(until)));
        Ok(())
    }

    /// Stops the run: no request goes out after this, and waiting workers wake to see the reason.
    pub fn stop(&self, reason: StopReason) {
        let mut st = self.lock();
        if st.stop.is_none() {
            st.stop = Some(reason);
        }
        drop(st);
        self.halted.cancel();
    }

    pub fn stopped(&self) -> Option<StopReason> {
        self.lock().stop.clone()
    }

    /// SIGINT/SIGTERM: stop, and abandon requests in flight.
    pub fn interrupt(&self) {
        self.stop(StopReason::interrupted());
        self.interrupted.cancel();
    }

    pub fn interrupted(&self) -> &CancellationToken {
        &self.interrupted
    }

    /// Time spent held at the gate (waits of several workers at once are counted once).
    pub fn waited(&self) -> Duration {
        self.lock().waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(limit: u32, remaining: u32, reset: u64, date: u64) -> Pacing {
        Pacing {
            limit: Some(limit),
            remaining: Some(remaining),
            reset: Some(reset),
            retry_after: None,
            date: Some(date),
        }
    }

    fn epoch_now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[tokio::test(start_paused = true)]
    async fn spends_the_window_budget_then_waits_for_the_reset() {
        let p = Pacer::new(None, None);
        let now = epoch_now();
        let first = p.acquire().await.unwrap();
        p.observe(&first, Instant::now(), &pacing(3, 2, now + 10, now));
        drop(first);
        let start = Instant::now();
        for _ in 0..2 {
            p.acquire().await.unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(1));
        p.acquire().await.unwrap();
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(9), "{waited:?}");
        assert!(waited <= Duration::from_secs(11), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn counts_requests_still_in_flight() {
        let p = Pacer::new(None, None);
        let now = epoch_now();
        let a = p.acquire().await.unwrap();
        p.observe(&a, Instant::now(), &pacing(10, 2, now + 5, now));
        let b = p.acquire().await.unwrap();
        let _c = p.acquire().await.unwrap();
        // b's answer says 1 left, but c went out after b: nothing is left.
        p.observe(&b, Instant::now(), &pacing(10, 1, now + 5, now));
        let start = Instant::now();
        p.acquire().await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_known_budget_requests_go_one_at_a_time() {
        let p = std::sync::Arc::new(Pacer::new(None, None));
        let a = p.acquire().await.unwrap();
        let p2 = p.clone();
        let second = tokio::spawn(async move {
            let started = Instant::now();
            p2.acquire().await.map(|_| started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished());
        drop(a);
        let waited = second.await.unwrap().unwrap();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(1),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_without_headers_does_not_stall_the_next_window() {
        let p = Pacer::new(None, None);
        let now = epoch_now();
        let a = p.acquire().await.unwrap();
        p.observe(&a, Instant::now(), &pacing(1, 0, now + 1, now));
        drop(a);
        // After the reset, one request goes; its answer (a 401, say) carries no rate-limit headers.
        let b = p.acquire().await.unwrap();
        drop(b);
        let start = Instant::now();
        p.acquire().await.unwrap();
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_worker() {
        let p = std::sync::Arc::new(Pacer::new(None, None));
        let now = epoch_now();
        let first = p.acquire().await.unwrap();
        p.observe(&first, Instant::now(), &pacing(100, 99, now + 60, now));
        drop(first);
        p.pause_until(Instant::now() + Duration::from_secs(3))
            .unwrap();
        let start = Instant::now();
        let (a, b) = tokio::join!(p.acquire(), p.acquire());
        a.unwrap();
        b.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(3));
        assert!(p.waited() >= Duration::from_secs(3) && p.waited() < Duration::from_millis(3100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_max_wait_stops_the_run() {
        let p = Pacer::new(None, Some(Duration::from_secs(5)));
        let err = p
            .pause_until(Instant::now() + Duration::from_secs(600))
            .unwrap_err();
        assert!(err.to_string().contains("retry after"), "{err}");
        let stop = p.acquire().await.unwrap_err();
        assert_eq!(stop.exit, crate::exit::Exit::Retry);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_cap_spaces_requests_evenly() {
        let p = Pacer::new(NonZeroU32::new(120), None);
        let start = Instant::now();
        for _ in 0..5 {
            p.acquire().await.unwrap();
        }
        let t = start.elapsed();
        assert!(
            t >= Duration::from_secs(2) && t < Duration::from_millis(2100),
            "{t:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stale_responses_do_not_roll_the_window_back() {
        let p = Pacer::new(None, None);
        let now = epoch_now();
        let a = p.acquire().await.unwrap();
        p.observe(&a, Instant::now(), &pacing(5, 4, now + 60, now));
        let b = p.acquire().await.unwrap();
        let c = p.acquire().await.unwrap();
        p.observe(&c, Instant::now(), &pacing(5, 2, now + 60, now));
        p.observe(&b, Instant::now(), &pacing(5, 3, now + 60, now));
        drop((a, b, c));
        // Budget from c, the newest: 2 left; two go at once, then the window is spent.
        let start = Instant::now();
        for _ in 0..2 {
            p.acquire().await.unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(1));
        assert!(p.spent_window_reset().is_some());
    }

    #[test]
    fn server_clock_uses_the_tightest_lower_bound() {
        let mut c = ServerClock::new();
        let t0 = Instant::now();
        let local = c.local_epoch(t0);
        // Server 100 s ahead of us; its Date truncates.
        c.observe((local + 100.0).floor() as u64, t0);
        c.observe((local + 100.9).floor() as u64, t0);
        let at = c.instant_for((local + 110.0) as u64);
        let ahead = at.saturating_duration_since(t0).as_secs_f64();
        assert!((8.0..=10.5).contains(&ahead), "{ahead}");
    }
}
