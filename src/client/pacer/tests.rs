//! The pacer as a whole on tokio's paused clock: windows, pauses, the number in flight, the order
//! requests leave in, and the check before sending. Each gate on its own is tested in `gates`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::gates::SETTLE;
use super::state::Window;
use super::*;

/// Waits at the gate and passes the check before sending, as the client does.
async fn go(p: &Pacer, order: u64) -> Permit<'_> {
    let permit = p.acquire(order).await.unwrap();
    assert!(
        permit.clear_to_send(false).await,
        "held at the check before sending"
    );
    permit
}

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
    p.lock().flight.latency_floor = Duration::from_secs(1);
    Arc::new(p)
}

fn ok(permit: Permit<'_>, p: &Pacing) {
    permit.finish(Instant::now(), p, Answer::Normal).unwrap();
}

#[tokio::test(start_paused = true)]
async fn spends_the_window_budget_then_waits_for_the_reset() {
    let p = pacer(PacerOptions::default());
    let now = epoch_now();
    let first = go(&p, 0).await;
    ok(first, &pacing(3, 2, now + 10, now));
    let start = Instant::now();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(go(&p, 0).await);
    }
    assert!(start.elapsed() <= SETTLE + Duration::from_millis(1));
    drop(held);
    go(&p, 0).await;
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(9), "{waited:?}");
    assert!(waited <= Duration::from_secs(11), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn counts_requests_still_in_flight() {
    let p = pacer(PacerOptions::default());
    let now = epoch_now();
    let a = go(&p, 0).await;
    ok(a, &pacing(10, 2, now + 5, now));
    let b = go(&p, 0).await;
    let _c = go(&p, 0).await;
    // b's answer says 1 left, but c went out after b: nothing is left.
    ok(b, &pacing(10, 1, now + 5, now));
    let start = Instant::now();
    go(&p, 0).await;
    assert!(start.elapsed() >= Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn without_a_known_budget_requests_go_one_at_a_time() {
    let p = pacer(PacerOptions::default());
    let a = go(&p, 0).await;
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
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    let held: Vec<_> = futures_now(&p, 4).await;
    assert_eq!(held.len(), 4);
    assert_eq!(p.in_flight(), (4, 4));
    let p2 = p.clone();
    let fifth = tokio::spawn(async move {
        go(&p2, 0).await;
        true
    });
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
        v.push(go(p, 0).await);
    }
    v
}

#[tokio::test(start_paused = true)]
async fn a_fast_server_gets_one_request_at_a_time() {
    let p = Pacer::new(Arc::new(Control::new()), PacerOptions::default());
    p.lock().flight.latency_floor = Duration::from_millis(5);
    let now = epoch_now();
    // 60 a minute at 5 ms an answer: one request in flight spends the budget in well under a second.
    ok(go(&p, 0).await, &pacing(60, 59, now + 60, now));
    let _one = go(&p, 0).await;
    let second = tokio::time::timeout(Duration::from_millis(100), p.acquire(0)).await;
    assert!(
        second.is_err(),
        "a second request went out to a fast server"
    );
    // At 1 s an answer, 60 a minute need many in flight to be spent within a twentieth of it.
    p.lock().flight.latency = Some(Duration::from_secs(1));
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
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
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
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    let a = go(&p, 0).await;
    let b = go(&p, 0).await;
    // A worker waits behind the in-flight limit: make it 2.
    {
        p.lock().flight.allowed = 2;
    }
    let p2 = p.clone();
    let waiter = tokio::spawn(async move {
        let t = Instant::now();
        go(&p2, 0).await;
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
    ok(go(&p, 0).await, &pacing(100, 99, now + 10, now));
    let held = futures_now(&p, 2).await;
    p.lock().flight.allowed = 2;
    let p2 = p.clone();
    let waiter = tokio::spawn(async move {
        let t = Instant::now();
        go(&p2, 0).await;
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
    ok(go(&p, 0).await, &pacing(100, 99, now + 10, now));
    // Answers take a second: one request left at t0, due at t0 + 1 s.
    let early = go(&p, 0).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let p2 = p.clone();
    let next = tokio::spawn(async move {
        let t = Instant::now();
        go(&p2, 0).await;
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
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
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
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    p.pause_until(Instant::now() + Duration::from_secs(1))
        .unwrap();
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for n in [5u64, 2, 9, 1] {
        let (p, order) = (p.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let permit = go(&p, n).await;
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
    go(&p, 0).await;
    assert!(start.elapsed() >= Duration::from_secs(3));
    assert_eq!(p.control().stopped(), None);
}

#[tokio::test(start_paused = true)]
async fn an_answer_without_headers_does_not_stall_the_next_window() {
    let p = pacer(PacerOptions::default());
    let now = epoch_now();
    ok(go(&p, 0).await, &pacing(1, 0, now + 1, now));
    // After the reset, one request goes; its answer (a 401, say) carries no rate-limit headers.
    let b = go(&p, 0).await;
    ok(b, &Pacing::default());
    let start = Instant::now();
    go(&p, 0).await;
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
    ok(go(&p, 0).await, &pacing(3, 2, now + 2, now));
    let old = go(&p, 0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The window has passed: the new one is guessed to hold 3, less the one still in flight (Okta
    // may count it in the new window), and 2 go out...
    let new = futures_now(&p, 2).await;
    // ...then the old window's answer arrives, saying 1 left of the old window.
    ok(old, &pacing(3, 1, now + 2, now));
    let p2 = p.clone();
    let fourth = tokio::spawn(async move {
        go(&p2, 0).await;
        true
    });
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
    ok(go(&p, 0).await, &pacing(10, 9, now + 5, now));
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
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    p.pause_until(Instant::now() + Duration::from_secs(3))
        .unwrap();
    let start = Instant::now();
    let (a, b) = tokio::join!(go(&p, 0), go(&p, 0));
    drop((a, b));
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
    assert_eq!(stop.failure, crate::client::Failure::Retryable);
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
        go(&p, 0).await;
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
    let a = go(&p, 0).await;
    ok(a, &pacing(5, 4, now + 5, now));
    let b = go(&p, 0).await;
    let c = go(&p, 0).await;
    ok(c, &pacing(5, 2, now + 5, now));
    ok(b, &pacing(5, 3, now + 5, now));
    // Budget from c, the newest: 2 left; two go at once, then the window is spent.
    let start = Instant::now();
    let held = futures_now(&p, 2).await;
    assert!(start.elapsed() <= SETTLE + Duration::from_millis(1));
    drop(held);
    assert!(
        p.lock()
            .window
            .as_ref()
            .and_then(Window::spent_reset)
            .is_some()
    );
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_reserved_place_holds_back_higher_orders_until_it_is_used_or_dropped() {
    let p = pacer(PacerOptions::default());
    let now = epoch_now();
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    // Batches 1 and 2 are queued (their tasks not started yet); batch 3's task reaches the gate first.
    let one = p.reserve(1);
    let two = p.reserve(2);
    let p3 = p.clone();
    let three = tokio::spawn(async move {
        let permit = go(&p3, 3).await;
        let at = Instant::now();
        ok(permit, &pacing(100, 90, now + 60, now));
        at
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !three.is_finished(),
        "a higher order went before a reserved lower one"
    );
    // Batch 1's task comes: it takes its place and goes at once (later requests of its order, a
    // retry, queue as usual)...
    let start = Instant::now();
    let first = go(&p, 1).await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    drop(one);
    ok(first, &pacing(100, 98, now + 60, now));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!three.is_finished(), "batch 2's place was not kept");
    // ...batch 2 is not sent after all: dropping its place lets batch 3 go.
    let released = Instant::now();
    drop(two);
    let went = three.await.unwrap();
    assert_eq!(went, released);
}

#[tokio::test(start_paused = true)]
async fn a_reserved_place_outlives_a_wait_that_went_away() {
    let p = pacer(PacerOptions::default());
    p.pause_until(Instant::now() + Duration::from_secs(1))
        .unwrap();
    let place = p.reserve(1);
    // Batch 1's first wait is given up (a cancelled future): its place stays in line.
    assert!(tokio::time::timeout(ms(10), p.acquire(1)).await.is_err());
    let p2 = p.clone();
    let later = tokio::spawn(async move { drop(go(&p2, 2).await) });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!later.is_finished(), "batch 2 went before batch 1's place");
    drop(place);
    later.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_check_before_sending_holds_a_request_a_pause_overtook() {
    let p = pacer(PacerOptions::default());
    let now = epoch_now();
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    let a = go(&p, 0).await;
    // b is let through while a is in flight; a's 503 arrives while b's headers are being made.
    let b = p.acquire(0).await.unwrap();
    let mut h = pacing(100, 97, now + 60, now);
    h.retry_after = Some(RetryAfter::Delay(Duration::from_secs(2)));
    a.finish(Instant::now(), &h, Answer::Unavailable).unwrap();
    assert!(!b.clear_to_send(false).await, "b went out inside the pause");
    b.unsend();
    let start = Instant::now();
    drop(go(&p, 0).await);
    assert!(start.elapsed() >= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_stream_is_spaced_by_four_times_the_time_refusals_take() {
    let p = pacer(PacerOptions::default());
    let now = epoch_now();
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    // A 503 that came back 6 ms after it was written.
    let a = go(&p, 0).await;
    tokio::time::sleep(ms(6)).await;
    let mut h = pacing(100, 98, now + 60, now);
    h.retry_after = Some(RetryAfter::Delay(Duration::from_secs(1)));
    a.finish(Instant::now(), &h, Answer::Unavailable).unwrap();
    // (A `Retry-After` in seconds is waited out with a margin.)
    tokio::time::sleep(Duration::from_secs(1) + control::RETRY_AFTER_MARGIN).await;
    // The next requests of a stream leave 24 ms apart: a refusal even four times as slow is read
    // before the next.
    let start = Instant::now();
    let mut at = Vec::new();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(go(&p, 0).await);
        at.push(start.elapsed());
    }
    assert_eq!(at, vec![ms(0), ms(24), ms(48)]);
    // Once the one before has answered, the next goes at once (the answers have settled).
    for permit in held {
        ok(permit, &pacing(100, 90, now + 60, now));
    }
    tokio::time::sleep(SETTLE).await;
    let start = Instant::now();
    drop(go(&p, 0).await);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_max_wait_is_reported_and_the_acquire_loop_stops_the_run() {
    let p = pacer(PacerOptions {
        max_wait: Some(Duration::from_secs(5)),
        ..PacerOptions::default()
    });
    let now = epoch_now();
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    let a = go(&p, 0).await;
    let mut h = pacing(100, 98, now + 60, now);
    h.retry_after = Some(RetryAfter::Delay(Duration::from_secs(600)));
    let reason = a.finish(Instant::now(), &h, Answer::TooMany).unwrap_err();
    assert!(reason.retry_at.is_some(), "{reason:?}");
    // Taking in the answer does not stop the run; the pause holds everyone meanwhile...
    assert_eq!(p.control().stopped(), None);
    assert!(p.paused_until().is_some());
    // ...and the next wait at the gate stops it with the same reason.
    let stop = p.acquire(0).await.unwrap_err();
    assert_eq!(p.control().stopped(), Some(stop.clone()));
    assert_eq!(stop.retry_at, reason.retry_at);
}

#[tokio::test(start_paused = true)]
async fn a_spent_window_past_max_wait_stops_the_run_at_the_gate() {
    let p = pacer(PacerOptions {
        max_wait: Some(Duration::from_secs(5)),
        ..PacerOptions::default()
    });
    let now = epoch_now();
    ok(go(&p, 0).await, &pacing(10, 0, now + 60, now));
    let stop = p.acquire(0).await.unwrap_err();
    assert!(stop.message.contains("retry after"), "{}", stop.message);
    assert_eq!(p.control().stopped(), Some(stop));
}

#[tokio::test(start_paused = true)]
async fn the_check_before_sending_keeps_the_stream_spacing_from_the_writing() {
    let p = pacer(PacerOptions::default());
    let now = epoch_now();
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    tokio::time::sleep(SETTLE).await;
    let start = Instant::now();
    // a's headers take 3 ms to make: it is written 3 ms after it was let out.
    let a = p.acquire(0).await.unwrap();
    tokio::time::sleep(ms(3)).await;
    assert!(a.clear_to_send(false).await);
    // b is let out 5 ms after a was let out, and written no sooner than 5 ms after a was written.
    let b = p.acquire(0).await.unwrap();
    assert_eq!(start.elapsed(), ms(5));
    assert!(b.clear_to_send(false).await);
    assert_eq!(start.elapsed(), ms(8));
    drop((a, b));
}

/// A request whose body tells when the connection takes it (a remove-list request) is not written when
/// it passes the check before sending, but when its body is taken: until then the next of the stream
/// waits for it (see `gates::stream`), and the stream's gap counts from then.
#[tokio::test(start_paused = true)]
async fn a_watched_request_is_written_when_its_body_is_taken() {
    let p = Arc::new(Pacer::new(
        Arc::new(Control::new()),
        PacerOptions::default(),
    ));
    let a = p.acquire(0).await.unwrap();
    let mark = WriteMark::new(&p, &a);
    assert!(a.clear_to_send(true).await);
    let written = |p: &Pacer| p.lock().flight.out.values().next().and_then(|o| o.written);
    assert_eq!(written(&p), None, "cleared, but its body not taken yet");
    tokio::time::advance(Duration::from_millis(7)).await;
    mark.written();
    assert_eq!(written(&p), Some(Instant::now()));
    // Marked once: a second call changes nothing.
    tokio::time::advance(Duration::from_millis(3)).await;
    mark.written();
    assert_eq!(written(&p), Some(Instant::now() - Duration::from_millis(3)));
    drop(a);
    // A mark of a request no longer in flight does nothing.
    mark.written();
    assert_eq!(written(&p), None);
}

/// A `Retry-After` in seconds holds the gate that long after its answer was read, and a margin more
/// (the server counts from a moment before that).
#[tokio::test(start_paused = true)]
async fn a_retry_after_in_seconds_is_waited_out_with_a_margin() {
    let p = pacer(PacerOptions::default());
    let now = epoch_now();
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    let a = go(&p, 0).await;
    let mut h = pacing(100, 98, now + 60, now);
    h.retry_after = Some(RetryAfter::Delay(Duration::from_secs(2)));
    let read = Instant::now();
    a.finish(read, &h, Answer::TooMany).unwrap();
    drop(go(&p, 0).await);
    assert_eq!(
        Instant::now() - read,
        Duration::from_secs(2) + control::RETRY_AFTER_MARGIN
    );
}

/// A `Retry-After` of exactly `--max-wait` is sat out: the tool's own margin on it does not count
/// against `--max-wait`.
#[tokio::test(start_paused = true)]
async fn a_retry_after_of_exactly_max_wait_is_sat_out() {
    let p = pacer(PacerOptions {
        max_wait: Some(Duration::from_secs(5)),
        ..PacerOptions::default()
    });
    let now = epoch_now();
    ok(go(&p, 0).await, &pacing(100, 99, now + 60, now));
    let a = go(&p, 0).await;
    let mut h = pacing(100, 98, now + 60, now);
    h.retry_after = Some(RetryAfter::Delay(Duration::from_secs(5)));
    let read = Instant::now();
    assert!(a.finish(read, &h, Answer::TooMany).is_ok());
    drop(go(&p, 0).await);
    assert_eq!(
        Instant::now() - read,
        Duration::from_secs(5) + control::RETRY_AFTER_MARGIN
    );
    assert_eq!(p.control().stopped(), None);
}
