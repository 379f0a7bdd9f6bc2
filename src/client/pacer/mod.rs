//! The gate every request passes: one [`Pacer`] per rate-limit bucket (Okta counts requests per
//! endpoint bucket), shared by all workers. Requests wait in their order until Okta's limits, `--rate`
//! and the run's own spacing let them out; the answers' headers move those limits.

mod clock;
mod control;
mod gates;
mod state;
#[cfg(test)]
mod tests;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use governor::{Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

pub use clock::ServerClock;
pub use control::Control;
use gates::{Cap, Limits, TokioClock, Verdict};
use state::{Key, State};

use super::error::{ApiError, StopReason};
use super::headers::{Pacing, RetryAfter};

/// The pause after a throttle that named no time, until the retry policy picks the real backoff.
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);

/// The most requests in flight per bucket when `--concurrency` does not say: below the concurrency limit
/// Okta sets for most orgs (75; developer orgs have 35, which a 429 with `X-Rate-Limit-Limit: 0` teaches
/// the run), and enough to spend a window's budget at once when answers are slow.
pub const DEFAULT_CEILING: u32 = 64;

/// How long a 401/403 holds every worker of its bucket at the most: the run releases it sooner (a new
/// token, and the request tried again) or stops, which wakes every worker. This is only a safety net.
pub const REFUSAL_HOLD: Duration = Duration::from_secs(30);

/// How often the check before sending lets the runtime run everything else first: an answer that
/// arrived while this process was held up is read by the connection's task, then handed to its request's
/// task, which takes it in; a woken task may be run before those, so once is not enough.
const PRE_SEND_YIELDS: usize = 3;

/// `--rate` is a number of requests a minute.
const MINUTE: Duration = Duration::from_secs(60);

/// The shortest window [`Pacer::time_for`] plans with: a reset that reads as "now" is a window of a
/// second (Okta's resets are whole seconds).
const SHORTEST_WINDOW: Duration = Duration::from_secs(1);

/// Why requests are held at the gate, for the progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hold {
    /// A 429/503 said when to come back (or, naming no time, the backoff).
    #[default]
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

/// The gate of one rate-limit bucket (the bounce list, the settings, the token endpoint, the System
/// Log). All pacers of a run share one [`Control`] (the run's stop reason, its stop and abandon signals,
/// the server clock).
///
/// A request waits in [`Pacer::acquire`], in its order (a batch's place in the input; a place can be
/// reserved ahead with [`Pacer::reserve`]), until every gate (`gates.rs`) lets it pass: a 401/403's hold,
/// a pause set by a 429/503 (`Retry-After`, or the window reset) or a backoff, the number in flight (one
/// at a time until a budget is known, then as many as the budget needs, halved after a throttle, cut to
/// what the org took after a concurrency 429, growing back with answers), the settling of answers, the
/// spacing of a stream, answers due soon, the budget of Okta's current window (counting requests still in
/// flight) and `--rate`. Right before it is sent, [`Permit::clear_to_send`] checks once more.
///
/// An answer's headers are taken in by [`Permit::finish`], which also sets any 429/503 pause and only then
/// frees the request's place, all under one lock: no worker woken by the new budget can slip out before the
/// pause is in force. Neither a gate nor `finish` stops the run: a wait past `--max-wait` comes back as
/// the reason to stop, and the acquire loop or the client stops it.
pub struct Pacer {
    control: Arc<Control>,
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
    pub fn new(control: Arc<Control>, opts: PacerOptions) -> Pacer {
        let cap_clock = TokioClock {
            start: Instant::now(),
        };
        let cap = opts.rate_per_minute.map(|n| {
            let quota = Quota::with_period(MINUTE / n.get())
                .expect("non-zero period")
                .allow_burst(NonZeroU32::MIN);
            RateLimiter::direct_with_clock(quota, cap_clock.clone())
        });
        Pacer {
            control,
            state: Mutex::new(State::new(opts.ceiling.max(1))),
            cap,
            cap_clock,
            rate_per_minute: opts.rate_per_minute.map(NonZeroU32::get),
            max_wait: opts.max_wait,
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Puts `order` in line now, before its request is ready to wait at the gate: until the place is
    /// used or dropped, no request of a higher order is let through (lower orders and the same order
    /// still are). Call it where batches are put in order (when a batch is queued, before its task is
    /// spawned), and move the [`Place`] into the task that sends the batch: the first
    /// [`Pacer::acquire`] with `order` waits in this place, and later ones of the same order (halves of
    /// a bisected batch, retries) queue behind it as usual. Dropping the place (the batch is not sent
    /// after all, its task ended) gives the turn to the next in line. Since every higher order waits for
    /// it, a place must not outlive its batch's task, and must only be taken for a batch whose task
    /// starts without waiting for a later batch (not one queued behind a limit on tasks that later
    /// batches hold): either would leave the batches after it waiting forever.
    pub fn reserve(self: &Arc<Self>, order: u64) -> Place {
        let key = self.lock().line.reserve(order);
        Place {
            pacer: Arc::clone(self),
            key,
        }
    }

    fn limits(&self) -> Limits<'_> {
        Limits {
            max_wait: self.max_wait,
            cap: self.cap.as_ref(),
            cap_clock: &self.cap_clock,
        }
    }

    /// Waits until a request may go out, or returns why the run stopped. Requests go in `order` (the
    /// lowest first; among equals, first come first served), so batches leave in input order; the
    /// first wait of an order takes the place [`Pacer::reserve`] kept for it, if any. A wait the server
    /// asked for past `--max-wait` stops the run here.
    pub async fn acquire(&self, order: u64) -> Result<Permit<'_>, StopReason> {
        let key = {
            let mut st = self.lock();
            match st.line.claim(order) {
                Some(key) => key,
                None => st.line.join(order),
            }
        };
        let _in_line = InLine { pacer: self, key };
        loop {
            // (Taken before the stop is looked at: a stop after that cancels this token.)
            let halted = self.control.halted();
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
                // Only the first in line asks the gates; the others wait for it to go.
                let verdict = if st.line.first() == Some(&key) {
                    gates::first_closed(&mut st, &self.limits(), now)
                } else {
                    Some(Verdict::Change)
                };
                match verdict {
                    None => {
                        if let Some(w) = &mut st.window {
                            w.budget -= 1;
                        }
                        let seq = st.flight.grant(now);
                        st.waits.hold = None;
                        st.line.served(key);
                        let crowd = st.flight.in_flight();
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
                    Some(Verdict::TooLong { why, until }) => {
                        drop(st);
                        let reason = self.too_long(why, until, now, None);
                        self.control.stop(reason.clone());
                        return Err(reason);
                    }
                    // Only timed holds (a pause, a spent window, --rate) count as waiting for rate
                    // limits; waiting for a request in flight to answer does not.
                    Some(Verdict::Until(t, hold)) => {
                        counted = true;
                        st.waits.start(hold, t, now);
                        Some(t)
                    }
                    Some(Verdict::Settle(t)) => Some(t),
                    Some(Verdict::Change) => None,
                }
            };
            let timer = async {
                match until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let mut fired = false;
            tokio::select! {
                _ = timer => fired = true,
                _ = &mut changed => {}
                _ = halted.cancelled() => {}
            }
            let mut st = self.lock();
            // A timer that fires late means this process was held up: answers that came meanwhile may
            // still be unread, and the stream counts from now.
            let now = Instant::now();
            if fired && until.is_some_and(|t| now.saturating_duration_since(t) > gates::STALL) {
                st.flight.stalled = Some(now);
            }
            if counted {
                st.waits.end();
            }
        }
    }

    /// The reason to stop for a wait until `until` past `--max-wait`; `named`: the time to name, when the
    /// wait is for a time given as such (else `until` on the local clock), as a whole second rounded up.
    fn too_long(
        &self,
        why: &'static str,
        until: Instant,
        now: Instant,
        named: Option<SystemTime>,
    ) -> StopReason {
        let whole_second_up = |t: SystemTime| {
            let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            std::time::UNIX_EPOCH
                + Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
        };
        ApiError::RateLimited {
            why,
            wait: until.saturating_duration_since(now),
            max_wait: self.max_wait.unwrap_or_default(),
            until: named.map_or_else(|| self.control.system_time_for(until), whole_second_up),
        }
        .stop_reason()
    }

    /// Holds every worker of this bucket until `until`. A wait longer than `--max-wait` comes back as
    /// the reason the run should stop (the caller stops it; the pause holds meanwhile).
    pub fn pause_until(&self, until: Instant) -> Result<(), StopReason> {
        self.hold(until, Instant::now(), None)
    }

    /// [`Pacer::pause_until`]; past `--max-wait`, the reason to stop names `named` when given.
    fn hold(
        &self,
        until: Instant,
        now: Instant,
        named: Option<SystemTime>,
    ) -> Result<(), StopReason> {
        let mut st = self.lock();
        let r = self
            .pause_locked(&mut st, "held back", (until, Duration::ZERO), now)
            .map_err(|stop| match named {
                Some(at) => self.too_long("held back", until, now, Some(at)),
                None => stop,
            });
        drop(st);
        self.changed.notify_waiters();
        r
    }

    /// A 401/403 was dealt with (a new token or nonce, and the request tried again): the others may go.
    pub fn release_refusal_hold(&self) {
        let released = self.lock().refusals.refusal_hold.take().is_some();
        if released {
            self.changed.notify_waiters();
        }
    }

    /// Holds every worker of this bucket until the time `at` that Okta named to an earlier run (kept in a
    /// report or the ledger). A wait longer than `--max-wait` comes back as the reason to stop, naming
    /// that very time (as a whole second, rounded up), not one worked out again from the local clock.
    pub fn hold_until(&self, at: SystemTime) -> Result<(), StopReason> {
        let Ok(left) = at.duration_since(SystemTime::now()) else {
            return Ok(());
        };
        let now = Instant::now();
        self.hold(now + left, now, Some(at))
    }

    /// Holds every worker of this bucket until `until` after a network error or a 5xx (a backoff of this
    /// tool's choosing, so `--max-wait` does not apply).
    pub fn back_off(&self, until: Instant) {
        self.lock()
            .refusals
            .pause(until, Hold::Backoff, "backing off");
        self.changed.notify_waiters();
    }

    /// Sets a pause the server asked for; past `--max-wait`, the reason to stop.
    /// (`margin`: the part of `until` that is this tool's own, which `--max-wait` does not count.)
    fn pause_locked(
        &self,
        st: &mut State,
        why: &'static str,
        (until, margin): (Instant, Duration),
        now: Instant,
    ) -> Result<(), StopReason> {
        st.refusals
            .pause_with_margin(until, margin, Hold::RetryAfter, why);
        match self.max_wait {
            Some(max) if until.saturating_duration_since(now).saturating_sub(margin) > max => {
                Err(self.too_long(why, until, now, None))
            }
            _ => Ok(()),
        }
    }

    /// Time spent held at the gate (waits of several workers at once are counted once).
    pub fn waited(&self) -> Duration {
        let st = self.lock();
        let current = if st.waits.waiting > 0 {
            st.waits.since.elapsed()
        } else {
            Duration::ZERO
        };
        st.waits.waited + current
    }

    /// When the bucket's current pause (a Retry-After, a backoff) ends, if one is in force.
    pub fn paused_until(&self) -> Option<Instant> {
        self.lock()
            .refusals
            .paused_until
            .filter(|&p| p > Instant::now())
    }

    /// What holds requests back now, and until when, if it is a timed wait.
    pub fn holding(&self) -> Option<(Hold, Instant)> {
        let st = self.lock();
        st.waits
            .hold
            .filter(|&(_, t)| st.waits.waiting > 0 && t > Instant::now())
    }

    /// Requests in flight now, and how many are allowed.
    pub fn in_flight(&self) -> (u32, u32) {
        let st = self.lock();
        (st.flight.in_flight(), st.flight.allowed)
    }

    /// The smoothed time from the gate to an answer.
    pub fn latency(&self) -> Option<Duration> {
        self.lock().flight.latency
    }

    /// How long `requests` more requests take at the pace the limits allow, from `now`: what is left of
    /// the window's budget goes at once (after any pause), then a window's limit at each reset; with
    /// `--rate` slower than that, its even pace. `None` before Okta has told a limit and without `--rate`.
    pub fn time_for(&self, requests: u64, now: Instant) -> Option<Duration> {
        if requests == 0 {
            return Some(Duration::ZERO);
        }
        let st = self.lock();
        let latency = st.flight.latency.unwrap_or_default();
        let pause = st
            .refusals
            .paused_until
            .map_or(Duration::ZERO, |p| p.saturating_duration_since(now));
        let capped = self.rate_per_minute.map(|n| {
            Duration::from_secs_f64(requests as f64 * MINUTE.as_secs_f64() / f64::from(n)) + latency
        });
        let windowed = st.window.as_ref().filter(|w| w.limit > 0).map(|w| {
            let (limit, period) = (u64::from(w.limit), w.period.max(SHORTEST_WINDOW));
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

/// A place in line kept by [`Pacer::reserve`] for a request still to come; dropping it frees the place.
pub struct Place {
    pacer: Arc<Pacer>,
    key: Key,
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Place(order {})", self.key.0)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let moved = self.pacer.lock().line.release(self.key);
        if moved {
            self.pacer.changed.notify_waiters();
        }
    }
}

/// A request's wait in line; leaving (with a permit, an error, or a dropped future) frees its place, or
/// hands a reserved place back to its reservation.
struct InLine<'a> {
    pacer: &'a Pacer,
    key: Key,
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        let moved = self.pacer.lock().line.leave(self.key);
        if moved {
            self.pacer.changed.notify_waiters();
        }
    }
}

/// Marks a request written when the connection takes its body (see [`Permit::clear_to_send`]):
/// until then, no other request of the stream is written.
pub struct WriteMark {
    pacer: Arc<Pacer>,
    seq: u64,
}

impl WriteMark {
    /// For the request of `permit`, a permit of `pacer`.
    pub fn new(pacer: &Arc<Pacer>, permit: &Permit<'_>) -> WriteMark {
        WriteMark {
            pacer: pacer.clone(),
            seq: permit.seq,
        }
    }

    /// The connection took the request's body: it is written now (once; nothing for a request no
    /// longer in flight).
    pub fn written(&self) {
        let mut st = self.pacer.lock();
        if let Some(out) = st.flight.out.get_mut(&self.seq)
            && out.written.is_none()
        {
            out.written = Some(Instant::now());
        }
        drop(st);
        self.pacer.changed.notify_waiters();
    }
}

/// A request's ticket through the gate. [`Permit::clear_to_send`] is the last check before it is sent;
/// [`Permit::finish`] takes in the answer; dropping it instead (transport error, attempt abandoned) only
/// frees its place among the requests in flight.
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
        st.flight.free(self.seq);
        st.flight.last_answer = Some(Instant::now());
        drop(st);
        self.pacer.changed.notify_waiters();
    }
}

impl Permit<'_> {
    /// The check at the moment of writing, right before the request is handed to the connection: the
    /// runtime first reads any answer that has arrived (a process held up wakes with its timers and its
    /// sockets ready at once, and a request must not go out before an answer already here is read);
    /// then no pause (another request's 429/503, a backoff, a 401/403's hold) may have come into force
    /// since the permit was given, nor the run have stopped. The stream's spacing from the other
    /// requests' writing is waited out here, holding the permit (a few milliseconds; the gate spaced the
    /// permits already), and everything is checked again after. `false`: the request must not go now
    /// (give the permit back with [`Permit::unsend`] and wait at the gate again). `true`: it counts as
    /// written now, and the next of the stream counts from here; or, for a request whose body tells
    /// when the connection takes it (`watched`, see [`WriteMark`]), from then: a request made ready
    /// here may reach the wire milliseconds later (a connection task scheduled late), and the next must
    /// not overtake it and cross its answer.
    pub async fn clear_to_send(&self, watched: bool) -> bool {
        let pacer = self.pacer;
        loop {
            let halted = pacer.control.halted();
            let changed = pacer.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let before = Instant::now();
            for _ in 0..PRE_SEND_YIELDS {
                tokio::task::yield_now().await;
            }
            let now = Instant::now();
            let verdict = {
                let mut st = pacer.lock();
                if now.saturating_duration_since(before) > gates::STALL {
                    st.flight.stalled = Some(now);
                }
                let held = pacer.control.stopped().is_some()
                    || gates::refusal_hold(&mut st.refusals, now).is_some()
                    || gates::pause(&mut st.refusals, None, now).is_some();
                if held {
                    return false;
                }
                let verdict = gates::stream(&st.flight, &st.refusals, now, Some(self.seq));
                if verdict.is_none()
                    && !watched
                    && let Some(out) = st.flight.out.get_mut(&self.seq)
                {
                    out.written = Some(now);
                }
                verdict
            };
            match verdict {
                None => {
                    pacer.changed.notify_waiters();
                    return true;
                }
                Some(Verdict::Settle(t)) => {
                    let late = tokio::select! {
                        _ = tokio::time::sleep_until(t) => {
                            Instant::now().saturating_duration_since(t) > gates::STALL
                        }
                        _ = &mut changed => false,
                        _ = halted.cancelled() => false,
                    };
                    if late {
                        pacer.lock().flight.stalled = Some(Instant::now());
                    }
                }
                // Another request let out before this one is still being made ready: this one goes
                // back in line behind it.
                Some(_) => return false,
            }
        }
    }

    /// The request was not sent after all: its place and its share of the window's budget are given
    /// back.
    pub fn unsend(mut self) {
        self.done = true;
        let mut st = self.pacer.lock();
        st.flight.free(self.seq);
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
        st.flight.free(self.seq);
        st.flight.last_answer = Some(Instant::now());
        st.flight.shrink();
        drop(st);
        self.pacer.changed.notify_waiters();
    }

    /// Takes in the pacing facts of this request's answer, received at `received`, in one step: the
    /// server clock, the window budget, the in-flight limit, and for a 429/503 the pause every worker
    /// must sit out. Returns when the server said to come back (`None` when it named no time; a short
    /// pause is then in force until the retry policy sets the backoff), or, for a wait past
    /// `--max-wait`, the reason the run should stop (the caller stops it; the pause holds meanwhile).
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
        let out = st.flight.free(self.seq);
        st.flight.last_answer = Some(received.max(st.flight.last_answer.unwrap_or(received)));
        st.flight
            .observe_latency(received.saturating_duration_since(self.issued));
        if let Some(date) = p.date {
            control.clock().observe(date, received);
        }
        let concurrency_limit = p.limit == Some(0);
        match answer {
            // Okta's concurrency limit: what the org took is the requests in flight when this one left,
            // not counting it (not the number in flight now: the ones the org took may have answered
            // first), and the most this run asks for from now on (the limit is the org's, and other
            // clients share it).
            Answer::TooMany if concurrency_limit => st.flight.cap_at(self.crowd.saturating_sub(1)),
            Answer::TooMany | Answer::Unavailable => {
                st.flight.shrink();
                let written = out.and_then(|o| o.written).unwrap_or(self.issued);
                st.refusals
                    .took(received.saturating_duration_since(written));
            }
            Answer::ServerError => st.flight.shrink(),
            Answer::Refused => {
                st.refusals.refusal_hold = Some(received + REFUSAL_HOLD);
                // A DPoP nonce that changed, a token that expired: the requests sent with it beside this
                // one will be refused too; fewer go out together until answers come.
                st.flight.shrink();
            }
            Answer::Normal => st.flight.grow(),
        }
        if !concurrency_limit {
            let in_flight = st.flight.in_flight();
            state::take_window(&mut st.window, p, in_flight, |r| control.instant_for(r));
        }
        let result = if matches!(
            answer,
            Answer::Normal | Answer::ServerError | Answer::Refused
        ) {
            Ok(None)
        } else {
            let spent = st.window.as_ref().and_then(state::Window::spent_reset);
            let named = match p.retry_after {
                Some(RetryAfter::Delay(d)) => Some(received + d + control::RETRY_AFTER_MARGIN),
                Some(RetryAfter::At(epoch)) => Some(control.instant_not_before(epoch)),
                None if answer == Answer::TooMany && !concurrency_limit => {
                    spent.or_else(|| p.reset.map(|r| control.instant_for(r)))
                }
                None => spent,
            };
            let until = named.unwrap_or(received + MIN_BACKOFF);
            // (The part of the wait that is this tool's own margin, which --max-wait does not count.)
            let margin = match (p.retry_after, named) {
                (Some(RetryAfter::Delay(_)), _) => control::RETRY_AFTER_MARGIN,
                (_, Some(_)) => control::RESET_MARGIN,
                (_, None) => Duration::ZERO,
            };
            let why = if answer == Answer::Unavailable {
                "unavailable (503)"
            } else {
                "rate limited"
            };
            pacer
                .pause_locked(&mut st, why, (until, margin), Instant::now())
                .map(|()| named)
        };
        drop(st);
        pacer.changed.notify_waiters();
        result
    }
}
