//! The gates a request passes, one function each, asked in order by [`first_closed`]. Each reads the
//! part of the state it needs and says what holds a request back; none stops the run (a wait past
//! `--max-wait` comes back as [`Verdict::TooLong`], and the acquire loop stops the run).

use std::time::Duration;

use governor::RateLimiter;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use tokio::time::Instant;

use super::Hold;
use super::state::{Flight, Refusals, State, Window};

/// What holds a request back, as a gate sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A timed wait for a rate limit until this instant (or an earlier change); counted as time waited.
    Until(Instant, Hold),
    /// A short wait of the pacer's own until this instant (or an earlier change); not counted.
    Settle(Instant),
    /// Until a request in flight answers or something else changes.
    Change,
    /// The server asked for a wait until `until`, longer than `--max-wait`: the run should stop.
    TooLong { why: &'static str, until: Instant },
}

/// What the gates need besides the state: the run's options.
pub(super) struct Limits<'a> {
    pub max_wait: Option<Duration>,
    pub cap: Option<&'a Cap>,
    pub cap_clock: &'a TokioClock,
}

/// The first gate that holds a request back, in order, or `None` when it may go now. Gates that let it
/// pass may tidy what they read (a pause that is over, a window that has passed).
pub(super) fn first_closed(st: &mut State, limits: &Limits<'_>, now: Instant) -> Option<Verdict> {
    refusal_hold(&mut st.refusals, now)
        .or_else(|| pause(&mut st.refusals, limits.max_wait, now))
        .or_else(|| in_flight_target(&st.flight, st.window.as_ref()))
        .or_else(|| settle(&st.flight, now))
        .or_else(|| stream(&st.flight, &st.refusals, now, None))
        .or_else(|| due_soon(&st.flight, now))
        .or_else(|| {
            let in_flight = st.flight.in_flight();
            window_budget(&mut st.window, in_flight, limits.max_wait, now)
        })
        // Last: a pass takes one of `--rate`'s cells.
        .or_else(|| rate_cap(limits.cap, limits.cap_clock, now))
}

/// The 401/403 hold: no request goes out under credentials Okta just refused, until the run has a new
/// token or nonce (or stops, or the hold's safety net ends).
pub(super) fn refusal_hold(r: &mut Refusals, now: Instant) -> Option<Verdict> {
    match r.refusal_hold {
        Some(h) if h > now => Some(Verdict::Settle(h)),
        Some(_) => {
            r.refusal_hold = None;
            None
        }
        None => None,
    }
}

/// The pause: a 429/503's `Retry-After` (or, naming no time, the backoff), or a backoff after a network
/// error or a 5xx. A server's pause longer than `--max-wait` is reported as too long; a backoff of this
/// tool's own is sat out whatever `--max-wait` says.
pub(super) fn pause(r: &mut Refusals, max_wait: Option<Duration>, now: Instant) -> Option<Verdict> {
    let p = r.paused_until?;
    if p <= now {
        r.paused_until = None;
        return None;
    }
    if r.pause_cause != Hold::Backoff
        && let Some(max) = max_wait
        && p.saturating_duration_since(now)
            .saturating_sub(r.pause_margin)
            > max
    {
        return Some(Verdict::TooLong {
            why: r.pause_why,
            until: p,
        });
    }
    Some(Verdict::Until(p, r.pause_cause))
}

/// The share of a rate-limit window in which the requests in flight should be able to spend its whole
/// budget. Fewer in flight and latency, not the rate limit, would set the pace (and the last window would
/// end late); more and a fast server would have requests in flight for no gain, each one a request that
/// may land inside a `Retry-After` window another answer is about to open.
const SPEND_WITHIN: f64 = 0.05;

/// The shortest window [`target`] divides by, in seconds: a reset that reads as "now" must not make the
/// target infinite.
const SHORTEST_PERIOD: f64 = 0.05;

/// How many requests should be in flight for the rate limit, not the latency, to set the pace: enough to
/// spend a window's budget within [`SPEND_WITHIN`] of the window (Little's law), at least one. Before a
/// budget and a latency are known, one. (60 a minute at 5 ms an answer: one; at 2 s: all 60.)
pub(super) fn target(f: &Flight, w: Option<&Window>) -> u32 {
    let (Some(w), Some(latency)) = (w, f.latency) else {
        return 1;
    };
    let period = w.period.as_secs_f64().max(SHORTEST_PERIOD);
    let need = f64::from(w.limit) * latency.as_secs_f64() / (period * SPEND_WITHIN);
    need.ceil().clamp(1.0, f64::from(u32::MAX)) as u32
}

/// The adaptive number in flight: no more than the target for the window and latency, nor than allowed
/// now (halved after a throttle, capped by a concurrency 429, growing back with answers).
pub(super) fn in_flight_target(f: &Flight, w: Option<&Window>) -> Option<Verdict> {
    (f.in_flight() >= f.allowed.min(target(f, w))).then_some(Verdict::Change)
}

/// How long the gate stays shut after an answer while other requests are in flight. Requests sent
/// together answer together; a request let out the moment one of them answers could cross a 429/503
/// that is arriving at the same moment and land inside the window it opens. Waiting until the answers
/// have been quiet this long lets them all be read first.
pub(super) const SETTLE: Duration = Duration::from_millis(25);

/// Settling: while others are in flight, nothing leaves until the answers have been quiet for [`SETTLE`].
pub(super) fn settle(f: &Flight, now: Instant) -> Option<Verdict> {
    let t = f.last_answer?;
    (f.in_flight() > 0 && now < t + SETTLE).then_some(Verdict::Settle(t + SETTLE))
}

/// The least time between two requests of a stream: a 429/503 answered at once (faster than the others)
/// is read before most of a window's stream has left. Short enough that 60 requests of a window leave
/// within a third of a second.
pub(super) const STREAM_GAP: Duration = Duration::from_millis(5);

/// The most time between two requests of a stream, whatever the refusals took: a window of 60 then
/// leaves within 3 s. Refusals slower than a quarter of this are not fully spaced for; one as slow as
/// the other answers is kept from being crossed by the [`due_soon`] gate.
pub(super) const STREAM_GAP_MOST: Duration = Duration::from_millis(50);

/// How long this process must have been held up (a timer that fired this late, a yield that took this
/// long) to count as stalled: tokio's timer ticks in whole milliseconds, so a timer may fire up to one
/// late when all is well; twice that is the process or the machine falling behind.
pub(super) const STALL: Duration = Duration::from_millis(2);

/// How many times the slowest recent refusal's time a stream waits. A refusal's time is mostly the
/// server's queue: one that came back in 3 ms while the server was idle takes 10 ms behind a request it
/// is still working on, and the next of the stream must not be written before it is read. Four times
/// covers that; it costs nothing before a refusal, and after one the run waits a `Retry-After` anyway.
const REFUSAL_GAP_TIMES: u32 = 4;

/// The spacing of a stream once 429/503s have been seen: [`REFUSAL_GAP_TIMES`] the slowest of the
/// latest ones (from being written to their answer), so a refusal that comes back as fast as those did
/// is read before the next request is written; between [`STREAM_GAP`] and [`STREAM_GAP_MOST`]. `None`
/// before any.
pub(super) fn refusal_gap(r: &Refusals) -> Option<Duration> {
    r.slowest_recent()
        .map(|t| (t * REFUSAL_GAP_TIMES).clamp(STREAM_GAP, STREAM_GAP_MOST))
}

/// The stream: no request is let out until every other one in flight has been written, [`STREAM_GAP`]
/// after the latest was let out (so the next is made ready meanwhile); nor written (`writing`: the
/// check at the moment of writing, for that request itself) until [`STREAM_GAP`] after the latest was
/// written. Once refusals have been seen, neither before the [`refusal_gap`] after it was written, so
/// the answer of the one before, if it is a refusal that comes back at once, is read first. After this
/// process was held up, all of it counts from then: answers that came meanwhile may not be read yet.
pub(super) fn stream(
    f: &Flight,
    r: &Refusals,
    now: Instant,
    writing: Option<u64>,
) -> Option<Verdict> {
    let mut latest: Option<(Instant, Instant)> = None;
    for (_, out) in f.out.iter().filter(|(seq, _)| Some(**seq) != writing) {
        // One still being made ready goes first: the next waits for it to be written.
        let Some(written) = out.written else {
            return Some(Verdict::Change);
        };
        let (granted, last) = latest.unwrap_or((out.granted, written));
        latest = Some((granted.max(out.granted), last.max(written)));
    }
    let (granted, written) = latest?;
    let gap = refusal_gap(r);
    let mut until = match writing {
        Some(_) => written + STREAM_GAP,
        None => granted + STREAM_GAP,
    };
    if let Some(gap) = gap {
        until = until.max(written + gap);
    }
    if let Some(stalled) = f.stalled {
        until = until.max(stalled + gap.unwrap_or(STREAM_GAP));
    }
    (now < until).then_some(Verdict::Settle(until))
}

/// The share of the latency before an answer is due from which nothing leaves (a quarter): answers vary,
/// and one a little early must not meet a request leaving.
const DUE_EARLY_SHARE: u32 = 4;

/// The least time before an answer is due from which nothing leaves, whatever the latency.
const DUE_EARLY_LEAST: Duration = Duration::from_millis(50);

/// How long after it was due an answer still holds the gate at the least (or a latency, when longer):
/// an answer that is late is likely to come soon, not to be lost.
const DUE_LATE_LEAST: Duration = Duration::from_millis(500);

/// Answers due soon: nothing leaves while an answer is due, since a request let out just as one arrives
/// could land inside the `Retry-After` window that answer opens. From a quarter of the latency before an
/// answer is due until it comes (or, should it be late, a latency after).
pub(super) fn due_soon(f: &Flight, now: Instant) -> Option<Verdict> {
    let latency = f.latency?;
    let early = (latency / DUE_EARLY_SHARE).max(DUE_EARLY_LEAST);
    let late = latency.max(DUE_LATE_LEAST);
    f.out
        .values()
        .map(|out| out.granted + latency)
        .filter(|&due| now + early >= due && now < due + late)
        .map(|due| due + late)
        .min()
        .map(Verdict::Settle)
}

/// The window's budget: what is left of the current rate-limit window, counting requests in flight. A
/// spent window holds everything until its reset (too long, past `--max-wait`); after the reset the new
/// window's budget is guessed until an answer tells, and with none in flight one request goes to learn it.
pub(super) fn window_budget(
    window: &mut Option<Window>,
    in_flight: u32,
    max_wait: Option<Duration>,
    now: Instant,
) -> Option<Verdict> {
    let Some(w) = window else {
        // Without a known budget (no rate-limit headers yet, or none at all), requests go one at a
        // time: a second request in flight could land inside a Retry-After window the first one is
        // about to be given.
        return (in_flight > 0).then_some(Verdict::Change);
    };
    if !w.passed && now >= w.reset_at {
        // Requests still in flight at the reset may be counted in the new window.
        w.passed = true;
        w.budget = i64::from(w.limit) - i64::from(in_flight);
    }
    if w.budget > 0 {
        return None;
    }
    if !w.passed {
        let reset = w.reset_at;
        // The server said to wait for the reset: a wait past --max-wait is too long (the margin after
        // the reset is this tool's own).
        if let Some(max) = max_wait
            && reset
                .saturating_duration_since(now)
                .saturating_sub(super::control::RESET_MARGIN)
                > max
        {
            return Some(Verdict::TooLong {
                why: "rate limited",
                until: reset,
            });
        }
        return Some(Verdict::Until(reset, Hold::Window));
    }
    // The guessed budget of the new window is spent and its reset is not known yet: a response in
    // flight will tell. With none in flight (an answer came without rate-limit headers), one request
    // goes out to find out.
    (in_flight > 0).then_some(Verdict::Change)
}

/// `governor` clock that follows tokio's clock, so the cap obeys tokio's paused clock in tests.
#[derive(Clone, Debug)]
pub(super) struct TokioClock {
    pub(super) start: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// `--rate` as a `governor` limiter.
pub(super) type Cap = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// `--rate`: requests evenly spaced at the rate asked for. A pass takes one of the limiter's cells.
pub(super) fn rate_cap(cap: Option<&Cap>, clock: &TokioClock, now: Instant) -> Option<Verdict> {
    let not_until = cap?.check().err()?;
    Some(Verdict::Until(
        now + not_until.wait_time_from(clock.now()),
        Hold::RateCap,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::Quota;
    use std::num::NonZeroU32;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn flight() -> Flight {
        State::new(8).flight
    }

    /// A request let out at `granted` and written at `written`.
    fn out(f: &mut Flight, granted: Instant, written: Option<Instant>) -> u64 {
        let seq = f.grant(granted);
        f.out.get_mut(&seq).unwrap().written = written;
        seq
    }

    fn window(limit: u32, budget: i64, reset_in: Duration) -> Window {
        Window {
            limit,
            budget,
            floor: budget.max(0) as u32,
            reset_epoch: 0,
            reset_at: Instant::now() + reset_in,
            passed: false,
            period: Duration::from_secs(60),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_refusal_hold_shuts_the_gate_until_it_ends() {
        let mut r = Refusals::default();
        let t0 = Instant::now();
        r.refusal_hold = Some(t0 + ms(300));
        assert_eq!(
            refusal_hold(&mut r, t0),
            Some(Verdict::Settle(t0 + ms(300)))
        );
        tokio::time::advance(ms(300)).await;
        assert_eq!(refusal_hold(&mut r, Instant::now()), None);
        assert_eq!(r.refusal_hold, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_until_it_ends_and_a_long_one_is_too_long() {
        let mut r = Refusals::default();
        let t0 = Instant::now();
        r.pause(
            t0 + Duration::from_secs(2),
            Hold::RetryAfter,
            "rate limited",
        );
        // A shorter pause does not cut a longer one.
        r.pause(t0 + Duration::from_secs(1), Hold::RetryAfter, "held back");
        assert_eq!(
            pause(&mut r, None, t0),
            Some(Verdict::Until(
                t0 + Duration::from_secs(2),
                Hold::RetryAfter
            ))
        );
        assert_eq!(
            pause(&mut r, Some(Duration::from_secs(1)), t0),
            Some(Verdict::TooLong {
                why: "rate limited",
                until: t0 + Duration::from_secs(2)
            })
        );
        // Once the rest of the wait is within --max-wait, it is sat out.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(
            pause(&mut r, Some(Duration::from_secs(1)), Instant::now()),
            Some(Verdict::Until(..))
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(pause(&mut r, None, Instant::now()), None);
        assert_eq!(r.paused_until, None);
        // A backoff of this tool's own is never too long.
        r.pause(
            Instant::now() + Duration::from_secs(30),
            Hold::Backoff,
            "backoff",
        );
        assert!(matches!(
            pause(&mut r, Some(Duration::from_secs(1)), Instant::now()),
            Some(Verdict::Until(_, Hold::Backoff))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_target_keeps_enough_in_flight_for_the_limit_to_set_the_pace() {
        let mut f = flight();
        let now = Instant::now();
        // Before a budget and a latency are known: one at a time.
        assert_eq!(target(&f, None), 1);
        out(&mut f, now, Some(now));
        assert_eq!(in_flight_target(&f, None), Some(Verdict::Change));
        // 60 a minute at 1 s an answer: spent within 3 s takes 20 in flight.
        f.latency = Some(Duration::from_secs(1));
        let w = window(60, 59, Duration::from_secs(60));
        assert_eq!(target(&f, Some(&w)), 20);
        assert_eq!(in_flight_target(&f, Some(&w)), None);
        // ...and no more than allowed now.
        f.allowed = 1;
        assert_eq!(in_flight_target(&f, Some(&w)), Some(Verdict::Change));
        // 60 a minute at 5 ms: one.
        f.latency = Some(ms(5));
        assert_eq!(target(&f, Some(&w)), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn settling_waits_for_answers_to_be_quiet_while_others_are_in_flight() {
        let mut f = flight();
        let t0 = Instant::now();
        f.last_answer = Some(t0);
        // Nobody in flight: nothing to settle.
        assert_eq!(settle(&f, t0), None);
        out(&mut f, t0, Some(t0));
        assert_eq!(settle(&f, t0 + ms(10)), Some(Verdict::Settle(t0 + SETTLE)));
        assert_eq!(settle(&f, t0 + SETTLE), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_stream_waits_for_the_one_before_to_be_written_and_out_for_the_gap() {
        let mut f = flight();
        let mut r = Refusals::default();
        let t0 = Instant::now();
        assert_eq!(stream(&f, &r, t0, None), None);
        // One let out but not written yet: the next waits for it.
        let a = out(&mut f, t0, None);
        let b = out(&mut f, t0, Some(t0));
        assert_eq!(stream(&f, &r, t0 + ms(50), Some(b)), Some(Verdict::Change));
        f.free(b);
        // ...but it does not hold itself back.
        assert_eq!(stream(&f, &r, t0, Some(a)), None);
        // Written 1 ms after it was let out: before any refusal, the next is let out 5 ms after it was
        // let out, and written no sooner than 5 ms after it was written.
        f.out.get_mut(&a).unwrap().written = Some(t0 + ms(1));
        assert_eq!(
            stream(&f, &r, t0 + ms(2), None),
            Some(Verdict::Settle(t0 + STREAM_GAP))
        );
        assert_eq!(stream(&f, &r, t0 + STREAM_GAP, None), None);
        let c = out(&mut f, t0 + STREAM_GAP, None);
        assert_eq!(
            stream(&f, &r, t0 + STREAM_GAP, Some(c)),
            Some(Verdict::Settle(t0 + ms(1) + STREAM_GAP))
        );
        assert_eq!(stream(&f, &r, t0 + ms(1) + STREAM_GAP, Some(c)), None);
        f.free(c);
        // Once it has answered, the next goes at once.
        f.free(a);
        assert_eq!(stream(&f, &r, t0 + ms(2), None), None);
        // Refusals that took 6 ms at the slowest: four times that from the writing.
        out(&mut f, t0, Some(t0 + ms(1)));
        r.took(ms(3));
        r.took(ms(6));
        assert_eq!(refusal_gap(&r), Some(ms(24)));
        assert_eq!(
            stream(&f, &r, t0 + ms(20), None),
            Some(Verdict::Settle(t0 + ms(25)))
        );
        assert_eq!(stream(&f, &r, t0 + ms(25), None), None);
        // ...never more than the most.
        r.took(Duration::from_secs(1));
        assert_eq!(refusal_gap(&r), Some(STREAM_GAP_MOST));
        // A stall counts as a new start: answers that came meanwhile are read first.
        r.recent.clear();
        f.stalled = Some(t0 + ms(40));
        assert_eq!(
            stream(&f, &r, t0 + ms(41), None),
            Some(Verdict::Settle(t0 + ms(40) + STREAM_GAP))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_leaves_while_an_answer_is_due() {
        let mut f = flight();
        let t0 = Instant::now();
        assert_eq!(due_soon(&f, t0), None);
        f.latency = Some(Duration::from_secs(1));
        out(&mut f, t0, Some(t0));
        // Due at 1 s: open until a quarter before it, shut until a latency after it.
        assert_eq!(due_soon(&f, t0 + ms(700)), None);
        let until = t0 + Duration::from_secs(2);
        assert_eq!(due_soon(&f, t0 + ms(750)), Some(Verdict::Settle(until)));
        assert_eq!(due_soon(&f, t0 + ms(1999)), Some(Verdict::Settle(until)));
        assert_eq!(due_soon(&f, until), None);
        // A fast answer still gets the least margins: shut from 50 ms before it is due until 500 ms
        // after.
        let mut f = flight();
        f.latency = Some(ms(10));
        out(&mut f, t0 + ms(100), Some(t0 + ms(100)));
        assert_eq!(due_soon(&f, t0 + ms(59)), None);
        let until = t0 + ms(110) + DUE_LATE_LEAST;
        assert_eq!(due_soon(&f, t0 + ms(60)), Some(Verdict::Settle(until)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_window_holds_until_its_reset_or_is_too_long() {
        let t0 = Instant::now();
        let mut w = Some(window(10, 1, Duration::from_secs(5)));
        assert_eq!(window_budget(&mut w, 3, None, t0), None);
        w.as_mut().unwrap().budget = 0;
        let reset = t0 + Duration::from_secs(5);
        assert_eq!(
            window_budget(&mut w, 3, None, t0),
            Some(Verdict::Until(reset, Hold::Window))
        );
        assert_eq!(
            window_budget(&mut w, 3, Some(Duration::from_secs(2)), t0),
            Some(Verdict::TooLong {
                why: "rate limited",
                until: reset
            })
        );
        // At the reset, the new window is guessed to hold the limit less those in flight.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(window_budget(&mut w, 3, None, Instant::now()), None);
        let guess = w.as_ref().unwrap();
        assert!(guess.passed && guess.budget == 7);
        // Spent too: an answer in flight will tell; with none, one goes to learn.
        w.as_mut().unwrap().budget = 0;
        assert_eq!(
            window_budget(&mut w, 1, None, Instant::now()),
            Some(Verdict::Change)
        );
        assert_eq!(window_budget(&mut w, 0, None, Instant::now()), None);
        // No window known: one at a time.
        let mut none = None;
        assert_eq!(window_budget(&mut none, 0, None, t0), None);
        assert_eq!(window_budget(&mut none, 1, None, t0), Some(Verdict::Change));
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_cap_spaces_requests_at_the_rate() {
        let clock = TokioClock {
            start: Instant::now(),
        };
        let quota = Quota::with_period(Duration::from_millis(500))
            .unwrap()
            .allow_burst(NonZeroU32::MIN);
        let cap = RateLimiter::direct_with_clock(quota, clock.clone());
        assert_eq!(rate_cap(None, &clock, Instant::now()), None);
        assert_eq!(rate_cap(Some(&cap), &clock, Instant::now()), None);
        let t = Instant::now();
        assert_eq!(
            rate_cap(Some(&cap), &clock, t),
            Some(Verdict::Until(t + ms(500), Hold::RateCap))
        );
        tokio::time::advance(ms(500)).await;
        assert_eq!(rate_cap(Some(&cap), &clock, Instant::now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_gates_are_asked_in_order() {
        let mut st = State::new(8);
        let clock = TokioClock {
            start: Instant::now(),
        };
        let limits = Limits {
            max_wait: None,
            cap: None,
            cap_clock: &clock,
        };
        let t0 = Instant::now();
        assert_eq!(first_closed(&mut st, &limits, t0), None);
        // A spent window and a pause: the pause answers first.
        st.window = Some(window(10, 0, Duration::from_secs(5)));
        st.refusals.pause(
            t0 + Duration::from_secs(1),
            Hold::RetryAfter,
            "rate limited",
        );
        assert_eq!(
            first_closed(&mut st, &limits, t0),
            Some(Verdict::Until(
                t0 + Duration::from_secs(1),
                Hold::RetryAfter
            ))
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(
            first_closed(&mut st, &limits, Instant::now()),
            Some(Verdict::Until(_, Hold::Window))
        ));
    }
}
