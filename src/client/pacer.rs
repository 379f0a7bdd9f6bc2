//! The gates every request passes through. Okta counts requests per endpoint bucket, so there is one
//! [`Pacer`] per bucket (the bounce list, the settings, the token endpoint, the System Log), shared by all
//! workers behind an `Arc`; all of them share one [`Control`]: the run's stop reason, the signal that
//! abandons requests in flight, and the server clock.
//!
//! A pacer holds four limits and takes the strictest: a pause set by a 429/503 (`Retry-After`, or the
//! window reset), the request budget of Okta's current rate-limit window (from `X-Rate-Limit-Remaining/
//! -Reset`, counting requests still in flight), the client-side cap of `--rate` (a `governor` limiter), and
//! the number of requests in flight. That number adapts: one at a time until a budget is known, then as many
//! as the budget allows up to a ceiling, halved after a throttle and cut to what the server took after a
//! 429 of Okta's concurrency limit (`X-Rate-Limit-Limit: 0`), growing back by one per answer.
//!
//! An answer's headers are taken in by [`Permit::finish`], which also sets any 429/503 pause and only then
//! frees the request's place, all under one lock: no worker woken by the new budget can slip out before the
//! pause is in force.
//!
//! Absolute server times (`X-Rate-Limit-Reset`, an HTTP-date `Retry-After`) are turned into local instants
//! with [`ServerClock`], which learns the offset between Okta's `Date` header and the local clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
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
use super::headers::{Pacing, RetryAfter};

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Added after a server time (a window reset, an HTTP-date `Retry-After`) before the next request.
const RESET_MARGIN: Duration = Duration::from_millis(100);

/// The pause after a throttle that named no time, until the retry policy picks the real backoff.
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);

/// The most requests in flight per bucket when `--concurrency` does not say: below the concurrency limit
/// Okta sets for most orgs (75; developer orgs have 35, which a 429 with `X-Rate-Limit-Limit: 0` teaches
/// the run), and enough to spend a window's budget at once when answers are slow.
pub const DEFAULT_CEILING: u32 = 64;

/// The share of a rate-limit window in which the requests in flight should be able to spend its whole
/// budget. Fewer in flight and latency, not the rate limit, would set the pace (and the last window would
/// end late); more and a fast server would have requests in flight for no gain, each one a request that
/// may land inside a `Retry-After` window another answer is about to open.
const SPEND_WITHIN: f64 = 0.05;

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
/// left) bounds the offset between the server's clock and ours: at least `Date` minus the local time of
/// arrival, and less than a second (plus the answer's travel) above that. The largest lower bound is never
/// early; it is used for an HTTP-date `Retry-After`, which must never be early. For window resets, where
/// a second late on every window would cost as much as the rate limit itself, the local clock is used as
/// it is whenever every bound agrees with it (clocks kept by NTP, or the same machine), and the lower
/// bound otherwise. A lone `Date` far ahead of the others (a caching proxy, a broken node) would make
/// waits end early, so bounds more than a second above the median of the recent ones are not used.
#[derive(Debug)]
pub struct ServerClock {
    anchor: Instant,
    anchor_epoch: f64,
    samples: VecDeque<f64>,
    /// Offsets (server minus local, seconds) that every kept sample allows: `[lo, hi)`.
    bounds: Option<(f64, f64)>,
}

/// How many recent `Date` samples the clock keeps.
const CLOCK_SAMPLES: usize = 64;

/// What an answer's travel from the server may add to the upper bound of the offset.
const TRAVEL_SLACK: f64 = 0.2;

impl ServerClock {
    pub fn new() -> ServerClock {
        // The instant is read first: if the thread is held up between the two readings, the local
        // clock reads late, which only makes every wait longer, never shorter.
        let anchor = Instant::now();
        ServerClock {
            anchor,
            anchor_epoch: epoch_now(),
            samples: VecDeque::new(),
            bounds: None,
        }
    }

    fn local_epoch(&self, at: Instant) -> f64 {
        self.anchor_epoch + at.saturating_duration_since(self.anchor).as_secs_f64()
    }

    pub fn observe(&mut self, date: u64, received: Instant) {
        if self.samples.len() == CLOCK_SAMPLES {
            self.samples.pop_front();
        }
        self.samples
            .push_back(date as f64 - self.local_epoch(received));
        let mut sorted: Vec<f64> = self.samples.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        // The lower median: with two samples that disagree, the one that makes waits longer.
        let median = sorted[(sorted.len() - 1) / 2];
        let kept: Vec<f64> = sorted.into_iter().filter(|&s| s <= median + 1.0).collect();
        let lo = kept.last().copied().unwrap_or(median);
        let hi = kept.first().copied().unwrap_or(median) + 1.0 + TRAVEL_SLACK;
        self.bounds = Some((lo, hi));
    }

    /// The offset never too large (waits never early).
    fn safe_offset(&self) -> f64 {
        self.bounds.map_or(0.0, |(lo, _)| lo)
    }

    /// The likeliest offset: none, when every sample agrees with the local clock.
    fn best_offset(&self) -> f64 {
        match self.bounds {
            Some((lo, hi)) if lo <= 0.0 && 0.0 < hi => 0.0,
            Some((lo, _)) => lo,
            None => 0.0,
        }
    }

    fn instant_at(&self, epoch: u64, offset: f64) -> Instant {
        let ahead = epoch as f64 - offset - self.anchor_epoch;
        if ahead <= 0.0 {
            self.anchor
        } else {
            self.anchor + Duration::from_secs_f64(ahead.min(1e9))
        }
    }

    /// The local instant at which the server's clock most likely reads `epoch`.
    pub fn instant_for(&self, epoch: u64) -> Instant {
        self.instant_at(epoch, self.best_offset())
    }

    /// The local instant at which the server's clock surely reads `epoch` or later.
    pub fn instant_not_before(&self, epoch: u64) -> Instant {
        self.instant_at(epoch, self.safe_offset())
    }

    /// The wall-clock time of a local instant, rounded up to a whole second (for "retry after" times,
    /// which must never be early).
    pub fn system_time_for(&self, at: Instant) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.local_epoch(at).max(0.0).ceil() as u64)
    }
}

impl Default for ServerClock {
    fn default() -> Self {
        Self::new()
    }
}

/// What every pacer of a run shares.
pub struct Control {
    stop: Mutex<Option<StopReason>>,
    clock: Mutex<ServerClock>,
    /// Cancelled when the run stops: wakes every waiting worker.
    halted: CancellationToken,
    /// Cancelled when requests in flight are to be abandoned (an interrupt's grace is over).
    abandon: CancellationToken,
}

impl Control {
    pub fn new() -> Control {
        Control {
            stop: Mutex::new(None),
            clock: Mutex::new(ServerClock::new()),
            halted: CancellationToken::new(),
            abandon: CancellationToken::new(),
        }
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, ServerClock> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the run: no request goes out after this, and waiting workers wake to see the reason. The
    /// first reason given is kept.
    pub fn stop(&self, reason: StopReason) {
        {
            let mut st = self.stop.lock().unwrap_or_else(|e| e.into_inner());
            if st.is_none() {
                *st = Some(reason);
            }
        }
        self.halted.cancel();
    }

    pub fn stopped(&self) -> Option<StopReason> {
        self.stop.lock().unwrap_or_else(|e| e.into_inner()).clone()
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

/// Why requests are held at the gate, for the progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// A 429/503 said when to come back (or, naming no time, the backoff).
    RetryAfter,
    /// The rate-limit window's budget is spent until its reset.
    Window,
    /// `--rate`.
    RateCap,
    /// A backoff after a network error or a 5xx.
    Backoff,
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hold::RetryAfter => "Okta's Retry-After",
            Hold::Window => "the rate-limit window",
            Hold::RateCap => "--rate",
            Hold::Backoff => "a backoff after an error",
        })
    }
}

#[derive(Debug)]
struct Window {
    limit: u32,
    /// Requests that may still go out in this window.
    budget: i64,
    /// The lowest `X-Rate-Limit-Remaining` answered for this window.
    floor: u32,
    reset_epoch: u64,
    reset_at: Instant,
    /// The reset has passed: `budget` is a guess for the next window until an answer tells.
    passed: bool,
    /// How long a window lasts, as far as seen (the longest stretch from an answer's `Date` to its reset).
    period: Duration,
}

#[derive(Debug)]
struct State {
    paused_until: Option<Instant>,
    /// Why `paused_until` holds.
    pause_cause: Hold,
    window: Option<Window>,
    /// Requests let through so far; a permit's sequence number is its index.
    sent: u64,
    /// Workers waiting at the gate now, and since when at least one has been.
    waiting: u32,
    waiting_since: Instant,
    waited: Duration,
    /// The latest reason and end of a timed wait.
    hold: Option<(Hold, Instant)>,
    /// Requests let through whose answer has not arrived yet.
    in_flight: u32,
    /// Requests allowed in flight now (adapts between 1 and `ceiling`).
    allowed: u32,
    /// `--concurrency` (or the default), lowered to what a concurrency 429 showed the org takes.
    ceiling: u32,
    /// Answers since `allowed` last grew.
    grow: u32,
    /// Smoothed time from the gate to an answer's headers.
    latency: Option<Duration>,
    /// When the latest answer (or transport failure) came in.
    last_answer: Option<Instant>,
    /// When the latest request was let through.
    last_grant: Option<Instant>,
    /// Set by a 401/403 until the run decides what to do about it (see [`Answer::Refused`]).
    refusal_hold: Option<Instant>,
    /// The shortest time a 429/503 took to come back.
    fastest_refusal: Option<Duration>,
    /// When each request in flight left, by sequence number: the answers due soon.
    issued: BTreeMap<u64, Instant>,
    /// Requests waiting at the gate, by their order (a batch's place in the input) and arrival: the
    /// first goes first.
    queue: BTreeSet<(u64, u64)>,
    arrivals: u64,
    /// Tests on tokio's paused clock see no latency; this stands in for it.
    #[cfg(test)]
    latency_floor: Duration,
}

/// What holds a request back.
enum Blocked {
    /// Until this instant (or an earlier change).
    Until(Instant, Hold),
    /// Until the answers of requests in flight have been quiet for [`SETTLE`].
    Settle(Instant),
    /// Until a request in flight answers.
    Change,
}

/// A request's ticket through the gate. [`Permit::finish`] takes in the answer; dropping it instead
/// (transport error, attempt abandoned) only frees its place among the requests in flight.
pub struct Permit<'a> {
    pacer: &'a Pacer,
    seq: u64,
    issued: Instant,
    /// Requests in flight when this one left, itself included.
    crowd: u32,
    done: bool,
}

impl std::fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Permit({})", self.seq)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut st = self.pacer.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        st.issued.remove(&self.seq);
        st.last_answer = Some(Instant::now());
        drop(st);
        self.pacer.changed.notify_waiters();
    }
}

impl Permit<'_> {
    /// Whether a pause (another request's 429/503, or a backoff) came into force since this permit was
    /// given: no permit is given during one. The request must not go out now; checked once more right
    /// before sending.
    pub fn overtaken(&self) -> bool {
        let st = self.pacer.lock();
        let now = Instant::now();
        st.paused_until.is_some_and(|p| p > now) || st.refusal_hold.is_some_and(|h| h > now)
    }

    /// The request was not sent after all: its place and its share of the window's budget are given
    /// back.
    pub fn unsend(mut self) {
        self.done = true;
        let mut st = self.pacer.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        st.issued.remove(&self.seq);
        if let Some(w) = &mut st.window {
            w.budget += 1;
        }
        drop(st);
        self.pacer.changed.notify_waiters();
    }

    /// The request failed without an answer (a network error): its place is freed, and fewer requests
    /// go out at once until answers come again.
    pub fn fail(mut self) {
        self.done = true;
        let mut st = self.pacer.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        st.issued.remove(&self.seq);
        st.last_answer = Some(Instant::now());
        st.allowed = (st.allowed / 2).max(1);
        st.grow = 0;
        drop(st);
        self.pacer.changed.notify_waiters();
    }
}

/// A place in line at the gate; leaving (with a permit, an error, or a dropped future) frees it.
struct InLine<'a> {
    pacer: &'a Pacer,
    key: (u64, u64),
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        let removed = self.pacer.lock().queue.remove(&self.key);
        if removed {
            self.pacer.changed.notify_waiters();
        }
    }
}

/// What an answer's status means to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Anything but 429/503.
    Normal,
    /// 429 Too Many Requests.
    TooMany,
    /// 503 Service Unavailable.
    Unavailable,
    /// Another 5xx.
    ServerError,
    /// 401/403 (or a redirect): the bucket is held while the run decides (a new token or nonce and a
    /// retry, which releases it; or a stop), [`REFUSAL_HOLD`] at most, so no other worker sends under
    /// credentials Okta just refused.
    Refused,
}

/// How long a 401/403 holds every worker of its bucket at the most: the run releases it sooner (a new
/// token, and the request tried again) or stops, which wakes every worker. This is only a safety net.
pub const REFUSAL_HOLD: Duration = Duration::from_secs(30);

impl Permit<'_> {
    /// Takes in the pacing facts of this request's answer, received at `received`, in one step: the
    /// server clock, the window budget, the in-flight limit, and for a 429/503 the pause every worker
    /// must sit out. Returns when the server said to come back (`None` when it named no time; a short
    /// pause is then in force until the retry policy sets the backoff), or why the run stops (a wait
    /// past `--max-wait`).
    pub fn finish(
        mut self,
        received: Instant,
        p: &Pacing,
        answer: Answer,
    ) -> Result<Option<Instant>, StopReason> {
        self.done = true;
        let pacer = self.pacer;
        let control = &pacer.control;
        let mut st = pacer.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        st.issued.remove(&self.seq);
        st.last_answer = Some(received.max(st.last_answer.unwrap_or(received)));
        let took = received.saturating_duration_since(self.issued);
        #[cfg(test)]
        let took = took.max(st.latency_floor);
        st.latency = Some(st.latency.map_or(took, |l| (l * 3 + took) / 4));
        if let Some(date) = p.date {
            control.clock().observe(date, received);
        }
        let concurrency_limit = p.limit == Some(0);
        match answer {
            // Okta's concurrency limit: as many as were in flight besides this one is what it took,
            // and the most this run asks for from now on (the limit is the org's, and other clients
            // share it).
            // What the org took: the requests in flight when this one left, not counting it. (Not the
            // number in flight now: the ones the org took may have answered first.)
            Answer::TooMany if concurrency_limit => {
                let took = self.crowd.saturating_sub(1).max(1);
                st.ceiling = st.ceiling.min(took);
                st.allowed = st.allowed.min(st.ceiling);
                st.grow = 0;
            }
            Answer::TooMany | Answer::Unavailable | Answer::ServerError => {
                st.allowed = (st.allowed / 2).max(1);
                st.grow = 0;
                if answer != Answer::ServerError {
                    st.fastest_refusal = Some(st.fastest_refusal.map_or(took, |f| f.min(took)));
                }
            }
            Answer::Refused => {
                st.refusal_hold = Some(received + REFUSAL_HOLD);
                // A DPoP nonce that changed, a token that expired: the requests sent with it beside this
                // one will be refused too; fewer go out together until answers come.
                st.allowed = (st.allowed / 2).max(1);
                st.grow = 0;
            }
            Answer::Normal => {
                st.grow += 1;
                if st.grow >= st.allowed.min(8) {
                    st.allowed = (st.allowed + 1).min(st.ceiling);
                    st.grow = 0;
                }
            }
        }
        if !concurrency_limit {
            pacer.take_window(&mut st, p);
        }
        let result = if matches!(
            answer,
            Answer::Normal | Answer::ServerError | Answer::Refused
        ) {
            Ok(None)
        } else {
            let named = match p.retry_after {
                Some(RetryAfter::Delay(d)) => Some(received + d),
                Some(RetryAfter::At(epoch)) => Some(control.instant_not_before(epoch)),
                None if answer == Answer::TooMany && !concurrency_limit => {
                    spent_reset(&st).or_else(|| p.reset.map(|r| control.instant_for(r)))
                }
                None => spent_reset(&st),
            };
            let until = named.unwrap_or(received + MIN_BACKOFF);
            pacer
                .pause_locked(
                    &mut st,
                    if answer == Answer::Unavailable {
                        "unavailable (503)"
                    } else {
                        "rate limited"
                    },
                    until,
                    Instant::now(),
                )
                .map(|()| named)
        };
        drop(st);
        pacer.changed.notify_waiters();
        result
    }
}

/// How many requests should be in flight for the rate limit, not the latency, to set the pace: enough to
/// spend a window's budget within [`SPEND_WITHIN`] of the window (Little's law), at least one. Before a
/// budget and a latency are known, one. (60 a minute at 5 ms an answer: one; at 2 s: all 60.)
fn target(st: &State) -> u32 {
    let (Some(w), Some(latency)) = (&st.window, st.latency) else {
        return 1;
    };
    let period = w.period.as_secs_f64().max(0.05);
    let need = f64::from(w.limit) * latency.as_secs_f64() / (period * SPEND_WITHIN);
    need.ceil().clamp(1.0, f64::from(u32::MAX)) as u32
}

fn spent_reset(st: &State) -> Option<Instant> {
    let w = st.window.as_ref()?;
    (w.budget <= 0 && !w.passed).then_some(w.reset_at)
}

/// How long the gate stays shut after an answer while other requests are in flight. Requests sent
/// together answer together; a request let out the moment one of them answers could cross a 429/503
/// that is arriving at the same moment and land inside the window it opens. Waiting until the answers
/// have been quiet this long lets them all be read first.
const SETTLE: Duration = Duration::from_millis(25);

/// The least time between two requests let out while others are in flight; after a 429/503 that came
/// back faster, twice its time, up to [`BURST_GAP_MOST`].
const BURST_GAP: Duration = Duration::from_millis(5);
const BURST_GAP_MOST: Duration = Duration::from_millis(50);

/// The gap between requests let out together: long enough that a refusal answered at once is read
/// before the next request leaves.
fn burst_gap(st: &State) -> Duration {
    st.fastest_refusal
        .map_or(BURST_GAP, |f| (f * 2).clamp(BURST_GAP, BURST_GAP_MOST))
}

/// How a pacer is set up.
#[derive(Debug, Clone, Copy)]
pub struct PacerOptions {
    /// `--rate`: at most this many requests a minute.
    pub rate_per_minute: Option<NonZeroU32>,
    /// `--max-wait`: the longest server-requested wait to sit out.
    pub max_wait: Option<Duration>,
    /// The most requests in flight (`--concurrency`, or [`DEFAULT_CEILING`]).
    pub ceiling: u32,
}

impl Default for PacerOptions {
    fn default() -> Self {
        PacerOptions {
            rate_per_minute: None,
            max_wait: None,
            ceiling: DEFAULT_CEILING,
        }
    }
}

pub struct Pacer {
    control: std::sync::Arc<Control>,
    state: Mutex<State>,
    cap: Option<Cap>,
    cap_clock: TokioClock,
    /// `--rate`, for [`Pacer::time_for`].
    rate_per_minute: Option<u32>,
    max_wait: Option<Duration>,
    /// Woken when a request finishes or a response brings news, for workers waiting on those.
    changed: Notify,
}

impl Pacer {
    pub fn new(control: std::sync::Arc<Control>, opts: PacerOptions) -> Pacer {
        let cap_clock = TokioClock {
            start: Instant::now(),
        };
        let cap = opts.rate_per_minute.map(|n| {
            let quota = Quota::with_period(Duration::from_secs(60) / n.get())
                .expect("non-zero period")
                .allow_burst(NonZeroU32::MIN);
            RateLimiter::direct_with_clock(quota, cap_clock.clone())
        });
        let ceiling = opts.ceiling.max(1);
        Pacer {
            control,
            state: Mutex::new(State {
                paused_until: None,
                pause_cause: Hold::RetryAfter,
                window: None,
                sent: 0,
                waiting: 0,
                waiting_since: Instant::now(),
                waited: Duration::ZERO,
                hold: None,
                in_flight: 0,
                allowed: ceiling,
                ceiling,
                grow: 0,
                latency: None,
                last_answer: None,
                last_grant: None,
                refusal_hold: None,
                fastest_refusal: None,
                issued: BTreeMap::new(),
                queue: BTreeSet::new(),
                arrivals: 0,
                #[cfg(test)]
                latency_floor: Duration::ZERO,
            }),
            cap,
            cap_clock,
            rate_per_minute: opts.rate_per_minute.map(NonZeroU32::get),
            max_wait: opts.max_wait,
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn control(&self) -> &std::sync::Arc<Control> {
        &self.control
    }

    /// Waits until a request may go out, or returns why the run stopped. Requests go in `order` (the
    /// lowest first; among equals, first come first served), so batches leave in input order.
    pub async fn acquire(&self, order: u64) -> Result<Permit<'_>, StopReason> {
        let key = {
            let mut st = self.lock();
            st.arrivals += 1;
            let key = (order, st.arrivals);
            st.queue.insert(key);
            key
        };
        let _in_line = InLine { pacer: self, key };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let mut counted = false;
            let until = {
                let mut st = self.lock();
                if let Some(r) = self.control.stopped() {
                    return Err(r);
                }
                let now = Instant::now();
                let first = st.queue.first() == Some(&key);
                match self.blocked(&mut st, now).filter(|_| first) {
                    None if !first => None,
                    None => {
                        if let Some(w) = &mut st.window {
                            w.budget -= 1;
                        }
                        let seq = st.sent;
                        st.sent += 1;
                        st.in_flight += 1;
                        st.issued.insert(seq, now);
                        st.last_grant = Some(now);
                        st.hold = None;
                        st.queue.remove(&key);
                        let crowd = st.in_flight;
                        drop(st);
                        // The next in line looks again.
                        self.changed.notify_waiters();
                        return Ok(Permit {
                            pacer: self,
                            seq,
                            issued: now,
                            crowd,
                            done: false,
                        });
                    }
                    // Only timed holds (a pause, a spent window, --rate) count as waiting for rate
                    // limits; waiting for a request in flight to answer does not.
                    Some(Blocked::Until(t, hold)) => {
                        counted = true;
                        if st.waiting == 0 {
                            st.waiting_since = now;
                        }
                        st.waiting += 1;
                        st.hold = Some((hold, t));
                        Some(t)
                    }
                    Some(Blocked::Settle(t)) => Some(t),
                    Some(Blocked::Change) => None,
                }
            };
            let timer = async {
                match until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = timer => {}
                _ = &mut changed => {}
                _ = self.control.halted.cancelled() => {}
            }
            // Time waited is counted while at least one worker waits, so overlapping waits count once.
            if counted {
                let mut st = self.lock();
                st.waiting -= 1;
                if st.waiting == 0 {
                    let since = st.waiting_since;
                    st.waited += since.elapsed();
                }
            }
        }
    }

    fn blocked(&self, st: &mut State, now: Instant) -> Option<Blocked> {
        if let Some(h) = st.refusal_hold {
            if h > now {
                return Some(Blocked::Settle(h));
            }
            st.refusal_hold = None;
        }
        if let Some(p) = st.paused_until {
            if p > now {
                return Some(Blocked::Until(p, st.pause_cause));
            }
            st.paused_until = None;
        }
        if st.in_flight >= st.allowed.min(target(st)) {
            return Some(Blocked::Change);
        }
        if st.in_flight > 0
            && let Some(t) = st.last_answer
            && now < t + SETTLE
        {
            return Some(Blocked::Settle(t + SETTLE));
        }
        // A window's budget goes out as a quick stream, not all in the same instant: a 429/503 that is
        // answered at once (faster than the others) is read before most of the stream has left.
        if st.in_flight > 0
            && let Some(t) = st.last_grant
            && now < t + burst_gap(st)
        {
            return Some(Blocked::Settle(t + burst_gap(st)));
        }
        // Nor while an answer is due: a request let out just as one arrives could land inside the
        // Retry-After window that answer opens. From a quarter of the latency before an answer is due
        // until it comes (or, should it be late, a latency after).
        if let Some(latency) = st.latency {
            let early = (latency / 4).max(Duration::from_millis(50));
            let late = latency.max(Duration::from_millis(500));
            let due_soon = st
                .issued
                .values()
                .map(|&left| left + latency)
                .filter(|&due| now + early >= due && now < due + late)
                .map(|due| due + late)
                .min();
            if let Some(until) = due_soon {
                return Some(Blocked::Settle(until));
            }
        }
        let in_flight = i64::from(st.in_flight);
        match &mut st.window {
            Some(w) => {
                if !w.passed && now >= w.reset_at {
                    // Requests still in flight at the reset may be counted in the new window.
                    w.passed = true;
                    w.budget = i64::from(w.limit) - in_flight;
                }
                if w.budget <= 0 {
                    if !w.passed {
                        let reset = w.reset_at;
                        // The server said to wait for the reset: a wait past --max-wait stops the run.
                        if let Some(max) = self.max_wait
                            && reset.saturating_duration_since(now) > max
                        {
                            let reason = self.too_long("rate limited", reset, now, max);
                            self.control.stop(reason);
                            return Some(Blocked::Change);
                        }
                        return Some(Blocked::Until(reset, Hold::Window));
                    }
                    // The guessed budget of the new window is spent and its reset is not known yet: a
                    // response in flight will tell. With none in flight (an answer came without
                    // rate-limit headers), one request goes out to find out.
                    if st.in_flight > 0 {
                        return Some(Blocked::Change);
                    }
                }
            }
            // Without a known budget (no rate-limit headers yet, or none at all), requests go one at a
            // time: a second request in flight could land inside a Retry-After window the first one is
            // about to be given.
            None if st.in_flight > 0 => return Some(Blocked::Change),
            None => {}
        }
        if let Some(cap) = &self.cap
            && let Err(not_until) = cap.check()
        {
            return Some(Blocked::Until(
                now + not_until.wait_time_from(self.cap_clock.now()),
                Hold::RateCap,
            ));
        }
        None
    }

    fn too_long(
        &self,
        why: &'static str,
        until: Instant,
        now: Instant,
        max: Duration,
    ) -> StopReason {
        ApiError::RateLimited {
            why,
            wait: until.saturating_duration_since(now),
            max_wait: max,
            until: self.control.system_time_for(until),
        }
        .stop_reason()
    }

    /// Takes the window budget from an answer, if it is about the current window and no older than the
    /// answer the budget was last taken from.
    fn take_window(&self, st: &mut State, p: &Pacing) {
        let (Some(limit), Some(remaining), Some(reset)) = (p.limit, p.remaining, p.reset) else {
            return;
        };
        let newer = match &st.window {
            Some(w) if reset < w.reset_epoch => false,
            // An answer about a window that has passed here says nothing about the next one.
            Some(w) if reset == w.reset_epoch && w.passed => false,
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
        let seen = Duration::from_secs(reset.saturating_sub(server_now.floor() as u64).max(1));
        // The longest stretch from an answer to its window's reset is the best view of the window's
        // length (an answer early in a window sees nearly all of it).
        let period = st.window.as_ref().map_or(seen, |w| w.period.max(seen));
        // Answers of requests in flight together arrive in any order, and the server took them in an
        // order of its own: the lowest `Remaining` of a window counts every answered request (and
        // whatever other clients spent). Requests still in flight may not be counted yet.
        let in_flight = i64::from(st.in_flight);
        let (floor, budget) = match &st.window {
            Some(w) if w.reset_epoch == reset => {
                let floor = w.floor.min(remaining);
                (floor, i64::from(floor) - in_flight)
            }
            // After a reset, the first answers name the window whose budget was being guessed: the
            // guess, which counts every request sent since, holds too.
            Some(w) if w.passed => (remaining, (i64::from(remaining) - in_flight).min(w.budget)),
            _ => (remaining, i64::from(remaining) - in_flight),
        };
        st.window = Some(Window {
            limit,
            budget,
            floor,
            reset_epoch: reset,
            reset_at: self.control.instant_for(reset),
            passed: false,
            period,
        });
    }

    /// Holds every worker of this bucket until `until`. A wait longer than `--max-wait` stops the run
    /// instead, with the time to retry in the reason.
    pub fn pause_until(&self, until: Instant) -> Result<(), StopReason> {
        let mut st = self.lock();
        let r = self.pause_locked(&mut st, "held back", until, Instant::now());
        drop(st);
        self.changed.notify_waiters();
        r
    }

    /// A 401/403 was dealt with (a new token or nonce, and the request tried again): the others may go.
    pub fn release_refusal_hold(&self) {
        let released = self.lock().refusal_hold.take().is_some();
        if released {
            self.changed.notify_waiters();
        }
    }

    /// Holds every worker of this bucket until `until` after a network error or a 5xx (a backoff of this
    /// tool's choosing, so `--max-wait` does not apply).
    pub fn back_off(&self, until: Instant) {
        let mut st = self.lock();
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
            st.pause_cause = Hold::Backoff;
        }
        drop(st);
        self.changed.notify_waiters();
    }

    fn pause_locked(
        &self,
        st: &mut State,
        why: &'static str,
        until: Instant,
        now: Instant,
    ) -> Result<(), StopReason> {
        if let Some(max) = self.max_wait
            && until.saturating_duration_since(now) > max
        {
            let reason = self.too_long(why, until, now, max);
            self.control.stop(reason.clone());
            return Err(reason);
        }
        if st.paused_until.is_none_or(|p| p < until) {
            st.paused_until = Some(until);
            st.pause_cause = Hold::RetryAfter;
        }
        Ok(())
    }

    /// Time spent held at the gate (waits of several workers at once are counted once).
    pub fn waited(&self) -> Duration {
        let st = self.lock();
        let current = if st.waiting > 0 {
            st.waiting_since.elapsed()
        } else {
            Duration::ZERO
        };
        st.waited + current
    }

    /// When the bucket's current pause (a Retry-After, a backoff) ends, if one is in force.
    pub fn paused_until(&self) -> Option<Instant> {
        self.lock().paused_until.filter(|&p| p > Instant::now())
    }

    /// What holds requests back now, and until when, if it is a timed wait.
    pub fn holding(&self) -> Option<(Hold, Instant)> {
        let st = self.lock();
        st.hold
            .filter(|&(_, t)| st.waiting > 0 && t > Instant::now())
    }

    /// Requests in flight now, and how many are allowed.
    pub fn in_flight(&self) -> (u32, u32) {
        let st = self.lock();
        (st.in_flight, st.allowed)
    }

    /// The smoothed time from the gate to an answer.
    pub fn latency(&self) -> Option<Duration> {
        self.lock().latency
    }

    /// How long `requests` more requests take at the pace the limits allow, from `now`: what is left of
    /// the window's budget goes at once (after any pause), then a window's limit at each reset; with
    /// `--rate` slower than that, its even pace. `None` before Okta has told a limit and without `--rate`.
    pub fn time_for(&self, requests: u64, now: Instant) -> Option<Duration> {
        if requests == 0 {
            return Some(Duration::ZERO);
        }
        let st = self.lock();
        let latency = st.latency.unwrap_or_default();
        let pause = st
            .paused_until
            .map_or(Duration::ZERO, |p| p.saturating_duration_since(now));
        let capped = self
            .rate_per_minute
            .map(|n| Duration::from_secs_f64(requests as f64 * 60.0 / f64::from(n)) + latency);
        let windowed = st.window.as_ref().filter(|w| w.limit > 0).map(|w| {
            let (limit, period) = (u64::from(w.limit), w.period.max(Duration::from_secs(1)));
            // The budget that may go once the pause is over, and when the next full one comes.
            let (budget, next) = if w.passed {
                (w.budget.max(0) as u64, pause.max(period))
            } else if w.reset_at > now + pause {
                (
                    w.budget.max(0) as u64,
                    w.reset_at.saturating_duration_since(now),
                )
            } else {
                (limit, pause + period)
            };
            if requests <= budget {
                return pause + latency;
            }
            let windows = (requests - budget).div_ceil(limit);
            next + period * (windows - 1) as u32 + latency
        });
        match (windowed, capped) {
            (Some(w), Some(c)) => Some(w.max(c)),
            (w, c) => w.or(c),
        }
    }

    /// The known window: its limit and the local instant of its reset.
    pub fn window(&self) -> Option<(u32, Instant)> {
        let st = self.lock();
        st.window.as_ref().map(|w| (w.limit, w.reset_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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

    /// A pacer whose answers take a second, as if the server were slow: enough for several requests
    /// in flight.
    fn pacer(opts: PacerOptions) -> Arc<Pacer> {
        let p = Pacer::new(Arc::new(Control::new()), opts);
        p.lock().latency_floor = Duration::from_secs(1);
        Arc::new(p)
    }

    fn ok(permit: Permit<'_>, p: &Pacing) {
        permit.finish(Instant::now(), p, Answer::Normal).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn spends_the_window_budget_then_waits_for_the_reset() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        let first = p.acquire(0).await.unwrap();
        ok(first, &pacing(3, 2, now + 10, now));
        let start = Instant::now();
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(p.acquire(0).await.unwrap());
        }
        assert!(start.elapsed() <= SETTLE + Duration::from_millis(1));
        drop(held);
        p.acquire(0).await.unwrap();
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(9), "{waited:?}");
        assert!(waited <= Duration::from_secs(11), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn counts_requests_still_in_flight() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        let a = p.acquire(0).await.unwrap();
        ok(a, &pacing(10, 2, now + 5, now));
        let b = p.acquire(0).await.unwrap();
        let _c = p.acquire(0).await.unwrap();
        // b's answer says 1 left, but c went out after b: nothing is left.
        ok(b, &pacing(10, 1, now + 5, now));
        let start = Instant::now();
        p.acquire(0).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_known_budget_requests_go_one_at_a_time() {
        let p = pacer(PacerOptions::default());
        let a = p.acquire(0).await.unwrap();
        let p2 = p.clone();
        let second = tokio::spawn(async move {
            let started = Instant::now();
            p2.acquire(0).await.map(|_| started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished());
        drop(a);
        let waited = second.await.unwrap().unwrap();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_millis(310),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_budget_lets_as_many_out_as_it_allows_up_to_the_ceiling() {
        let p = pacer(PacerOptions {
            ceiling: 4,
            ..PacerOptions::default()
        });
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(100, 99, now + 60, now));
        let held: Vec<_> = futures_now(&p, 4).await;
        assert_eq!(held.len(), 4);
        assert_eq!(p.in_flight(), (4, 4));
        let p2 = p.clone();
        let fifth = tokio::spawn(async move { p2.acquire(0).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !fifth.is_finished(),
            "a fifth request went over the ceiling"
        );
        drop(held);
        assert!(fifth.await.unwrap());
    }

    async fn futures_now(p: &Pacer, n: usize) -> Vec<Permit<'_>> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(p.acquire(0).await.unwrap());
        }
        v
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_server_gets_one_request_at_a_time() {
        let p = Pacer::new(Arc::new(Control::new()), PacerOptions::default());
        p.lock().latency_floor = Duration::from_millis(5);
        let now = epoch_now();
        // 60 a minute at 5 ms an answer: one request in flight spends the budget in well under a second.
        ok(p.acquire(0).await.unwrap(), &pacing(60, 59, now + 60, now));
        let _one = p.acquire(0).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(100), p.acquire(0)).await;
        assert!(
            second.is_err(),
            "a second request went out to a fast server"
        );
        // At 1 s an answer, 60 a minute need many in flight to be spent within a twentieth of it.
        p.lock().latency = Some(Duration::from_secs(1));
        let more = tokio::time::timeout(Duration::from_millis(100), futures_now(&p, 5)).await;
        assert!(more.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_concurrency_429_cuts_the_requests_in_flight_to_what_the_server_took() {
        let p = pacer(PacerOptions {
            ceiling: 8,
            ..PacerOptions::default()
        });
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(100, 99, now + 60, now));
        let mut held = futures_now(&p, 8).await;
        let refused = held.pop().unwrap();
        let limit0 = pacing(0, 0, now + 1, now);
        refused
            .finish(Instant::now(), &limit0, Answer::TooMany)
            .unwrap();
        assert_eq!(p.in_flight(), (7, 7));
        // The budget of the real window is untouched by the concurrency answer.
        assert_eq!(p.window().map(|w| w.0), Some(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_pauses_every_worker_before_anyone_is_woken() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(100, 99, now + 60, now));
        let a = p.acquire(0).await.unwrap();
        let b = p.acquire(0).await.unwrap();
        // A worker waits behind the in-flight limit: make it 2.
        {
            p.lock().allowed = 2;
        }
        let p2 = p.clone();
        let waiter = tokio::spawn(async move {
            let t = Instant::now();
            p2.acquire(0).await.unwrap();
            t.elapsed()
        });
        tokio::task::yield_now().await;
        // b's 503 names 2 s and carries a fresh budget: the waiter must not go before the 2 s.
        let mut h = pacing(100, 90, now + 60, now);
        h.retry_after = Some(RetryAfter::Delay(Duration::from_secs(2)));
        let until = b.finish(Instant::now(), &h, Answer::Unavailable).unwrap();
        assert!(until.is_some());
        drop(a);
        let waited = waiter.await.unwrap();
        assert!(waited >= Duration::from_secs(2), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_freed_place_waits_for_the_other_answers_of_its_cohort() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(100, 99, now + 10, now));
        let held = futures_now(&p, 2).await;
        p.lock().allowed = 2;
        let p2 = p.clone();
        let waiter = tokio::spawn(async move {
            let t = Instant::now();
            p2.acquire(0).await.unwrap();
            t.elapsed()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut held = held.into_iter();
        let (a, b) = (held.next().unwrap(), held.next().unwrap());
        // a answers and frees a place; 10 ms later b's 503 arrives, naming 2 s.
        ok(a, &pacing(100, 90, now + 10, now));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut h = pacing(100, 89, now + 10, now);
        h.retry_after = Some(RetryAfter::Delay(Duration::from_secs(2)));
        b.finish(Instant::now(), &h, Answer::Unavailable).unwrap();
        let waited = waiter.await.unwrap();
        assert!(waited >= Duration::from_millis(2060), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_leaves_while_an_answer_is_due() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(100, 99, now + 10, now));
        // Answers take a second: one request left at t0, due at t0 + 1 s.
        let early = p.acquire(0).await.unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let p2 = p.clone();
        let next = tokio::spawn(async move {
            let t = Instant::now();
            p2.acquire(0).await.unwrap();
            t.elapsed()
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!next.is_finished(), "a request left as an answer was due");
        ok(early, &pacing(100, 98, now + 10, now));
        let waited = next.await.unwrap();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_millis(400),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_concurrency_429_counts_those_in_flight_when_it_left() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(100, 99, now + 60, now));
        let mut held = futures_now(&p, 6).await;
        let refused = held.pop().unwrap();
        // The five the org took answer first.
        for permit in held {
            ok(permit, &pacing(100, 90, now + 60, now));
        }
        refused
            .finish(Instant::now(), &pacing(0, 0, now + 1, now), Answer::TooMany)
            .unwrap();
        assert_eq!(p.in_flight(), (0, 5));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_leave_in_their_order() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(100, 99, now + 60, now));
        p.pause_until(Instant::now() + Duration::from_secs(1))
            .unwrap();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for n in [5u64, 2, 9, 1] {
            let (p, order) = (p.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let permit = p.acquire(n).await.unwrap();
                order.lock().unwrap().push(n);
                ok(permit, &pacing(100, 90, now + 60, now));
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![1, 2, 5, 9]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_backoff_holds_every_worker_whatever_max_wait_says() {
        let p = pacer(PacerOptions {
            max_wait: Some(Duration::from_secs(1)),
            ..PacerOptions::default()
        });
        p.back_off(Instant::now() + Duration::from_secs(3));
        let start = Instant::now();
        p.acquire(0).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(3));
        assert_eq!(p.control().stopped(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_without_headers_does_not_stall_the_next_window() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(1, 0, now + 1, now));
        // After the reset, one request goes; its answer (a 401, say) carries no rate-limit headers.
        let b = p.acquire(0).await.unwrap();
        ok(b, &Pacing::default());
        let start = Instant::now();
        p.acquire(0).await.unwrap();
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_from_a_passed_window_does_not_refill_the_budget() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(3, 2, now + 2, now));
        let old = p.acquire(0).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        // The window has passed: the new one is guessed to hold 3, less the one still in flight (Okta
        // may count it in the new window), and 2 go out...
        let new = futures_now(&p, 2).await;
        // ...then the old window's answer arrives, saying 1 left of the old window.
        ok(old, &pacing(3, 1, now + 2, now));
        let p2 = p.clone();
        let fourth = tokio::spawn(async move { p2.acquire(0).await.is_ok() });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!fourth.is_finished(), "a stale answer refilled the budget");
        // Answers without headers: with none in flight, one goes out to learn the new window.
        drop(new);
        assert!(fourth.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn answers_in_any_order_leave_the_budget_the_server_has() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(10, 9, now + 5, now));
        let sent = futures_now(&p, 5).await;
        // The server took them in the opposite order: the first sent was counted last.
        for (k, permit) in sent.into_iter().enumerate() {
            ok(permit, &pacing(10, 4 + k as u32, now + 5, now));
        }
        // 10 - 6 = 4 left: four go at once, the fifth waits for the reset.
        let four = futures_now(&p, 4).await;
        let fifth = tokio::time::timeout(Duration::from_millis(500), p.acquire(0)).await;
        assert!(fifth.is_err(), "more than the budget went out");
        drop(four);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_worker() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        ok(p.acquire(0).await.unwrap(), &pacing(100, 99, now + 60, now));
        p.pause_until(Instant::now() + Duration::from_secs(3))
            .unwrap();
        let start = Instant::now();
        let (a, b) = tokio::join!(p.acquire(0), p.acquire(0));
        a.unwrap();
        b.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(3));
        assert!(p.waited() >= Duration::from_secs(3) && p.waited() < Duration::from_millis(3100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_max_wait_stops_the_run() {
        let p = pacer(PacerOptions {
            max_wait: Some(Duration::from_secs(5)),
            ..PacerOptions::default()
        });
        let err = p
            .pause_until(Instant::now() + Duration::from_secs(600))
            .unwrap_err();
        assert!(err.to_string().contains("retry after"), "{err}");
        let stop = p.acquire(0).await.unwrap_err();
        assert_eq!(stop.failure, super::super::Failure::Retryable);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_cap_spaces_requests_evenly() {
        let p = pacer(PacerOptions {
            rate_per_minute: NonZeroU32::new(120),
            ceiling: 1,
            ..PacerOptions::default()
        });
        let start = Instant::now();
        for _ in 0..5 {
            p.acquire(0).await.unwrap();
        }
        let t = start.elapsed();
        assert!(
            t >= Duration::from_secs(2) && t < Duration::from_millis(2100),
            "{t:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stale_responses_do_not_roll_the_window_back() {
        let p = pacer(PacerOptions::default());
        let now = epoch_now();
        let a = p.acquire(0).await.unwrap();
        ok(a, &pacing(5, 4, now + 5, now));
        let b = p.acquire(0).await.unwrap();
        let c = p.acquire(0).await.unwrap();
        ok(c, &pacing(5, 2, now + 5, now));
        ok(b, &pacing(5, 3, now + 5, now));
        // Budget from c, the newest: 2 left; two go at once, then the window is spent.
        let start = Instant::now();
        let held = futures_now(&p, 2).await;
        assert!(start.elapsed() <= SETTLE + Duration::from_millis(1));
        drop(held);
        assert!(spent_reset(&p.lock()).is_some());
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

    #[test]
    fn server_clock_keeps_the_local_clock_when_every_date_agrees() {
        let mut c = ServerClock::new();
        let t0 = Instant::now();
        let local = c.local_epoch(t0);
        // Same clock; every answer arrives 0.7 s into a second: the bound alone would be 0.7 s late.
        let at = t0 + Duration::from_secs_f64(1.0 - local.fract() + 0.7);
        c.observe(c.local_epoch(at).floor() as u64, at);
        let reset = (local + 10.0).floor() as u64;
        let best = c
            .instant_for(reset)
            .saturating_duration_since(t0)
            .as_secs_f64();
        let want = reset as f64 - local;
        assert!((best - want).abs() < 0.01, "{best} vs {want}");
        let safe = c
            .instant_not_before(reset)
            .saturating_duration_since(t0)
            .as_secs_f64();
        assert!(safe >= want + 0.6, "{safe} vs {want}");
    }

    #[test]
    fn server_clock_ignores_a_lone_date_far_ahead() {
        let mut c = ServerClock::new();
        let t0 = Instant::now();
        let local = c.local_epoch(t0);
        for k in 0..5 {
            c.observe((local + 0.2 * f64::from(k)).floor() as u64, t0);
        }
        // One answer claims the server is an hour ahead: trusting it would make every wait end early.
        c.observe((local + 3600.0) as u64, t0);
        let at = c.instant_for((local + 10.0) as u64);
        let ahead = at.saturating_duration_since(t0).as_secs_f64();
        assert!(ahead >= 8.5, "{ahead}");
        // Two answers that disagree: the one that makes waits longer wins.
        let mut c = ServerClock::new();
        c.observe(local as u64, t0);
        c.observe((local + 50.0) as u64, t0);
        let ahead = c
            .instant_for((local + 10.0) as u64)
            .saturating_duration_since(t0)
            .as_secs_f64();
        assert!(ahead >= 8.5, "{ahead}");
    }

    #[test]
    fn retry_times_round_up() {
        let c = ServerClock::new();
        let t = c.system_time_for(Instant::now() + Duration::from_millis(1));
        let secs = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(secs.subsec_nanos(), 0);
        assert!(secs.as_secs_f64() >= super::epoch_now());
    }
}
