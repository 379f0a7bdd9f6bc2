//! What a pacer knows, in parts each gate reads on its own: the rate-limit window, the requests in flight
//! (and how many may be), the refusals and the holds they set, the line of requests waiting their turn,
//! and the time spent held. How an answer's headers update each part lives here too.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::Hold;
use super::clock::epoch_now;
use crate::client::headers::Pacing;

/// A reset further away than this is not a window this tool can pace by (Okta's windows last a minute;
/// a reset in milliseconds, say, would read as years): its headers are not used.
const WINDOW_LONGEST: f64 = 3600.0;

/// The newest answer's share in the smoothed latency (a quarter): one slow answer moves it, a few settle
/// it, and a lone outlier does not set the number of requests in flight.
const LATENCY_NEW_SHARE: u32 = 4;

/// The requests in flight grow by one after this many answers at the most (fewer while few are allowed):
/// growth back after a throttle takes a handful of answers, not a window.
const GROW_AFTER_MOST: u32 = 8;

/// By how much the requests allowed in flight are divided after a throttle, a refusal or a network
/// error: halved, the multiplicative decrease of TCP's congestion control. A crowd that caused it thins
/// at once, and growth by one every few answers brings it back.
const SHRINK_BY: u32 = 2;

/// How many of the latest 429/503 answer times the stream gate keeps (see [`Refusals::recent`]): a
/// handful, so one slow refusal (a moment of load) widens the stream for a while, not for the run.
const RECENT_REFUSALS: usize = 8;

/// Everything a pacer knows, by part.
#[derive(Debug)]
pub(super) struct State {
    pub window: Option<Window>,
    pub flight: Flight,
    pub refusals: Refusals,
    pub line: Line,
    pub waits: Waits,
}

impl State {
    pub fn new(ceiling: u32) -> State {
        State {
            window: None,
            flight: Flight::new(ceiling),
            refusals: Refusals::default(),
            line: Line::default(),
            waits: Waits {
                waiting: 0,
                since: Instant::now(),
                waited: Duration::ZERO,
                hold: None,
            },
        }
    }
}

/// Okta's current rate-limit window, as the answers' `X-Rate-Limit-*` headers describe it.
#[derive(Debug)]
pub(super) struct Window {
    pub limit: u32,
    /// Requests that may still go out in this window.
    pub budget: i64,
    /// The lowest `X-Rate-Limit-Remaining` answered for this window.
    pub floor: u32,
    pub reset_epoch: u64,
    pub reset_at: Instant,
    /// The reset has passed: `budget` is a guess for the next window until an answer tells.
    pub passed: bool,
    /// How long a window lasts, as far as seen (the longest stretch from an answer's `Date` to its reset).
    pub period: Duration,
}

impl Window {
    /// The reset of a window whose budget is spent, while it has not passed.
    pub fn spent_reset(&self) -> Option<Instant> {
        (self.budget <= 0 && !self.passed).then_some(self.reset_at)
    }
}

/// Takes the window budget from an answer, if it is about the current window and no older than the
/// answer the budget was last taken from. `in_flight` requests may not be counted in `remaining` yet;
/// `reset_at` maps the server's reset second to a local instant.
pub(super) fn take_window(
    window: &mut Option<Window>,
    p: &Pacing,
    in_flight: u32,
    reset_at: impl FnOnce(u64) -> Instant,
) {
    let (Some(limit), Some(remaining), Some(reset)) = (p.limit, p.remaining, p.reset) else {
        return;
    };
    let newer = match &*window {
        Some(w) if reset < w.reset_epoch => false,
        // An answer about a window that has passed here says nothing about the next one.
        Some(w) if reset == w.reset_epoch && w.passed => false,
        _ => true,
    };
    if !newer {
        return;
    }
    let server_now = p.date.map_or_else(epoch_now, |d| d as f64);
    if reset as f64 - server_now > WINDOW_LONGEST {
        tracing::warn!(
            "ignoring X-Rate-Limit-Reset {reset}: more than an hour from the server's clock"
        );
        return;
    }
    let seen = Duration::from_secs(reset.saturating_sub(server_now.floor() as u64).max(1));
    // The longest stretch from an answer to its window's reset is the best view of the window's
    // length (an answer early in a window sees nearly all of it).
    let period = window.as_ref().map_or(seen, |w| w.period.max(seen));
    // Answers of requests in flight together arrive in any order, and the server took them in an
    // order of its own: the lowest `Remaining` of a window counts every answered request (and
    // whatever other clients spent). Requests still in flight may not be counted yet.
    let in_flight = i64::from(in_flight);
    let (floor, budget) = match &*window {
        Some(w) if w.reset_epoch == reset => {
            let floor = w.floor.min(remaining);
            (floor, i64::from(floor) - in_flight)
        }
        // After a reset, the first answers name the window whose budget was being guessed: the
        // guess, which counts every request sent since, holds too.
        Some(w) if w.passed => (remaining, (i64::from(remaining) - in_flight).min(w.budget)),
        _ => (remaining, i64::from(remaining) - in_flight),
    };
    *window = Some(Window {
        limit,
        budget,
        floor,
        reset_epoch: reset,
        reset_at: reset_at(reset),
        passed: false,
        period,
    });
}

/// One request let through the gate whose answer has not come.
#[derive(Debug, Clone, Copy)]
pub(super) struct Out {
    /// When the gate let it through.
    pub granted: Instant,
    /// When it passed the last check before it was handed to the connection, or for a watched request
    /// (a remove-list request) when the connection took its body (see
    /// [`super::Permit::clear_to_send`]); `None` until then.
    pub written: Option<Instant>,
}

/// The requests in flight, how many may be, and how long answers take.
#[derive(Debug)]
pub(super) struct Flight {
    /// Requests let through so far; a permit's sequence number is its index.
    pub sent: u64,
    /// The requests in flight, by sequence number.
    pub out: BTreeMap<u64, Out>,
    /// Requests allowed in flight now (adapts between 1 and `ceiling`).
    pub allowed: u32,
    /// `--concurrency` (or the default), lowered to what a concurrency 429 showed the org takes.
    pub ceiling: u32,
    /// Answers since `allowed` last grew.
    pub grow: u32,
    /// Smoothed time from the gate to an answer's headers.
    pub latency: Option<Duration>,
    /// When the latest answer (or transport failure) came in.
    pub last_answer: Option<Instant>,
    /// When this process was last seen to have been held up (a timer that fired late, a request whose
    /// headers took long to make): answers that arrived meanwhile may not have been read yet.
    pub stalled: Option<Instant>,
    /// Tests on tokio's paused clock see no latency; this stands in for it.
    #[cfg(test)]
    pub latency_floor: Duration,
}

impl Flight {
    fn new(ceiling: u32) -> Flight {
        Flight {
            sent: 0,
            out: BTreeMap::new(),
            allowed: ceiling,
            ceiling,
            grow: 0,
            latency: None,
            last_answer: None,
            stalled: None,
            #[cfg(test)]
            latency_floor: Duration::ZERO,
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.out.len() as u32
    }

    /// Lets one more request out; its sequence number.
    pub fn grant(&mut self, now: Instant) -> u64 {
        let seq = self.sent;
        self.sent += 1;
        self.out.insert(
            seq,
            Out {
                granted: now,
                written: None,
            },
        );
        seq
    }

    /// A request's place is freed; what is known of it.
    pub fn free(&mut self, seq: u64) -> Option<Out> {
        self.out.remove(&seq)
    }

    /// Fewer requests go out together until answers come again (after a throttle, a refusal, a network
    /// error): see [`SHRINK_BY`].
    pub fn shrink(&mut self) {
        self.allowed = (self.allowed / SHRINK_BY).max(1);
        self.grow = 0;
    }

    /// A good answer: one more request may be in flight after a few of them, up to the ceiling.
    pub fn grow(&mut self) {
        self.grow += 1;
        if self.grow >= self.allowed.min(GROW_AFTER_MOST) {
            self.allowed = (self.allowed + 1).min(self.ceiling);
            self.grow = 0;
        }
    }

    /// Okta's concurrency limit answered: `took` requests is what the org takes, from now on the most.
    pub fn cap_at(&mut self, took: u32) {
        self.ceiling = self.ceiling.min(took.max(1));
        self.allowed = self.allowed.min(self.ceiling);
        self.grow = 0;
    }

    /// Takes an answer's time from the gate into the smoothed latency.
    pub fn observe_latency(&mut self, took: Duration) {
        #[cfg(test)]
        let took = took.max(self.latency_floor);
        let n = LATENCY_NEW_SHARE;
        self.latency = Some(self.latency.map_or(took, |l| (l * (n - 1) + took) / n));
    }
}

/// What the server refused, and the holds that follow.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    /// No request goes out before this (a 429/503's `Retry-After`, a backoff).
    pub paused_until: Option<Instant>,
    /// Why `paused_until` holds.
    pub pause_cause: Hold,
    /// What the server said, for a stop past `--max-wait` ("rate limited", "unavailable (503)").
    pub pause_why: &'static str,
    /// The part of `paused_until` that is this tool's own margin, not the server's wait: it does not
    /// count against `--max-wait`.
    pub pause_margin: Duration,
    /// Set by a 401/403 until the run decides what to do about it (see [`super::Answer::Refused`]).
    pub refusal_hold: Option<Instant>,
    /// How long the latest 429/503s took, from being written to their answer, newest last.
    pub recent: VecDeque<Duration>,
}

impl Refusals {
    /// Notes how long a 429/503 took to come back.
    pub fn took(&mut self, took: Duration) {
        if self.recent.len() == RECENT_REFUSALS {
            self.recent.pop_front();
        }
        self.recent.push_back(took);
    }

    /// The slowest of the latest 429/503s, if any came.
    pub fn slowest_recent(&self) -> Option<Duration> {
        self.recent.iter().copied().max()
    }

    /// Holds every request until `until` for the reason given, unless a longer pause is in force.
    pub fn pause(&mut self, until: Instant, cause: Hold, why: &'static str) {
        self.pause_with_margin(until, Duration::ZERO, cause, why);
    }

    /// [`Refusals::pause`], of which `margin` at its end is this tool's own.
    pub fn pause_with_margin(
        &mut self,
        until: Instant,
        margin: Duration,
        cause: Hold,
        why: &'static str,
    ) {
        if self.paused_until.is_none_or(|p| p < until) {
            self.paused_until = Some(until);
            self.pause_margin = margin;
            self.pause_cause = cause;
            self.pause_why = why;
        }
    }
}

/// A place in line: a request's order (a batch's place in the input) and its arrival.
pub(super) type Key = (u64, u64);

/// Requests waiting for their turn, and places reserved for requests still to come.
#[derive(Debug, Default)]
pub(super) struct Line {
    /// Everything in line, lowest order first (among equals, first come first served).
    pub keys: BTreeSet<Key>,
    /// Places reserved by [`super::Pacer::reserve`] and not yet used; `true` while an `acquire` of its
    /// order is waiting in it.
    pub places: BTreeMap<Key, bool>,
    pub arrivals: u64,
}

impl Line {
    /// A new place at the end of those of `order`.
    pub fn join(&mut self, order: u64) -> Key {
        self.arrivals += 1;
        let key = (order, self.arrivals);
        self.keys.insert(key);
        key
    }

    /// A place kept for a request of `order` still to come.
    pub fn reserve(&mut self, order: u64) -> Key {
        let key = self.join(order);
        self.places.insert(key, false);
        key
    }

    /// A place reserved for `order` that no `acquire` is waiting in yet, now taken by one.
    pub fn claim(&mut self, order: u64) -> Option<Key> {
        let (&key, _) = self
            .places
            .range((order, 0)..=(order, u64::MAX))
            .find(|(_, claimed)| !**claimed)?;
        self.places.insert(key, true);
        Some(key)
    }

    pub fn first(&self) -> Option<&Key> {
        self.keys.first()
    }

    /// The request in `key` was let through: its place is gone.
    pub fn served(&mut self, key: Key) {
        self.keys.remove(&key);
        self.places.remove(&key);
    }

    /// The `acquire` waiting in `key` went away without being let through: a reserved place stays in
    /// line for the next `acquire` of its order, any other place is freed. Whether the line moved.
    pub fn leave(&mut self, key: Key) -> bool {
        match self.places.get_mut(&key) {
            Some(claimed) => {
                *claimed = false;
                false
            }
            None => self.keys.remove(&key),
        }
    }

    /// A reservation was dropped: its place is freed, unless an `acquire` is waiting in it (which keeps
    /// it as its own). Whether the line moved.
    pub fn release(&mut self, key: Key) -> bool {
        match self.places.remove(&key) {
            Some(false) => self.keys.remove(&key),
            _ => false,
        }
    }
}

/// Time spent held at the gate, for the summary and the progress display.
#[derive(Debug)]
pub(super) struct Waits {
    /// Workers held by a timed wait now, and since when at least one has been.
    pub waiting: u32,
    pub since: Instant,
    pub waited: Duration,
    /// The latest reason and end of a timed wait.
    pub hold: Option<(Hold, Instant)>,
}

impl Waits {
    /// A worker starts a timed wait for `hold` until `until`.
    pub fn start(&mut self, hold: Hold, until: Instant, now: Instant) {
        if self.waiting == 0 {
            self.since = now;
        }
        self.waiting += 1;
        self.hold = Some((hold, until));
    }

    /// A worker's timed wait is over. Time is counted while at least one worker waits, so overlapping
    /// waits count once.
    pub fn end(&mut self) {
        self.waiting -= 1;
        if self.waiting == 0 {
            self.waited += self.since.elapsed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_place_outlives_an_acquire_that_went_away() {
        let mut line = Line::default();
        let reserved = line.reserve(3);
        assert_eq!(line.claim(3), Some(reserved));
        // Only one acquire waits in a reserved place; the next one of the order joins behind.
        assert_eq!(line.claim(3), None);
        assert!(!line.leave(reserved));
        assert_eq!(line.first(), Some(&reserved));
        assert_eq!(line.claim(3), Some(reserved));
        // Dropping the reservation while an acquire waits in it leaves the place to that acquire.
        assert!(!line.release(reserved));
        assert_eq!(line.first(), Some(&reserved));
        assert!(line.leave(reserved));
        assert_eq!(line.first(), None);
    }

    #[test]
    fn flight_grows_slowly_and_shrinks_by_half() {
        let mut f = Flight::new(8);
        f.allowed = 2;
        f.grow();
        assert_eq!(f.allowed, 2);
        f.grow();
        assert_eq!(f.allowed, 3);
        f.shrink();
        assert_eq!(f.allowed, 1);
        f.shrink();
        assert_eq!(f.allowed, 1);
        f.cap_at(0);
        assert_eq!((f.ceiling, f.allowed), (1, 1));
    }
}
