//! The progress bar of `bounces remove` on stderr: how much of the input is read, how many addresses went
//! to Okta, when the run should end at the pace the rate limit allows, and what it is waiting for now
//! ("waiting 23 s for the rate-limit window"). Drawn only on a terminal, never under `--quiet`, and not
//! when the report itself goes to the terminal: rows printed there are the progress, and a bar redrawn
//! between them would leave pieces among the rows. It is the shared bar of [`crate::term`], so log lines
//! are written above it.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::Client;
use crate::client::pacer::{Hold, Pacer};
use crate::endpoints;
use crate::engine::Tally;
use crate::engine::submit::MAX_BATCH;

/// The bar's length: it shows a share, to a hundredth of a percent.
const BAR_UNITS: u64 = 10_000;

pub struct Progress {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// A bar for a run that counts in `tally`, when stderr is a terminal that the report does not also
    /// write to. `total` is the inputs' size when every input is a file; `client` is `None` for a dry run.
    pub fn new(
        tally: Arc<Tally>,
        total: Option<u64>,
        report_to_stdout: bool,
        client: Option<Arc<Client>>,
        wanted: bool,
    ) -> Progress {
        let report_on_terminal = report_to_stdout && std::io::stdout().is_terminal();
        if !wanted || crate::term::quiet() || !std::io::stderr().is_terminal() || report_on_terminal
        {
            return Progress {
                bar: None,
                ticker: None,
            };
        }
        // Two lines: what is done beside the bar, then what is ahead (the time left, the wait and its
        // cause), so neither is cut on an 80-column terminal.
        // With files, the bar is the share of rows settled in the report (of the rows the inputs hold, as
        // far as their size tells), which counts both reading and sending.
        let bar = match total {
            Some(_) => ProgressBar::with_draw_target(Some(BAR_UNITS), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template("{bar:24} {percent:>3}%  {prefix}\n{wide_msg}")
                        .expect("template"),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{spinner}  {prefix}\n{wide_msg}").expect("template"),
            ),
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        crate::term::set_bar(bar.clone());
        let view = View {
            tally: tally.clone(),
            total,
            pacer: client.map(|c| c.pacer(endpoints::REMOVE_BOUNCES.bucket)),
            started: Instant::now(),
        };
        let drawn = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                let (done, ahead) = view.lines(Instant::now());
                if let Some(f) = view.settled_share() {
                    drawn.set_position((f * BAR_UNITS as f64) as u64);
                }
                // (Counts and the tool's words only; escaped anyway, as everything on stderr is.)
                drawn.set_prefix(crate::escape::text(&done).into_owned());
                drawn.set_message(crate::escape::text(&ahead).into_owned());
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Progress {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }

    pub fn finish(&self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        if self.bar.is_some() {
            crate::term::clear_bar();
        }
    }
}

/// What the bar shows, from the tally and the bounce list's pacer.
struct View {
    tally: Arc<Tally>,
    /// The inputs' size, when every input is a file.
    total: Option<u64>,
    /// `None` for `--dry-run`.
    pacer: Option<Arc<Pacer>>,
    started: Instant,
}

impl View {
    /// What is done (rows read, addresses Okta answered for), and what is ahead (the time left at the
    /// pace the limits allow, the wait in progress and its cause).
    fn lines(&self, now: Instant) -> (String, String) {
        let t = &self.tally;
        let (rows, sent, failed) = (
            t.rows.load(Ordering::Relaxed),
            t.sent.load(Ordering::Relaxed),
            t.failed.load(Ordering::Relaxed),
        );
        let mut done = format!("{} rows read", HumanCount(rows));
        let Some(pacer) = &self.pacer else {
            return (done, "dry run: nothing is sent".into());
        };
        done.push_str(&format!(" · {} addresses sent", HumanCount(sent)));
        if failed > 0 {
            done.push_str(&format!(" · {} failed", HumanCount(failed)));
        }
        let hold = pacer
            .holding()
            .map(|(why, until)| (why, until.saturating_duration_since(now)));
        let to_send = self.addresses_to_send().map(|n| n.saturating_sub(sent));
        let elapsed = now.saturating_duration_since(self.started);
        let mut ahead = Vec::new();
        if let Some(left) = to_send
            && let Some(eta) = eta(left, |n| pacer.time_for(n, now), sent, elapsed)
        {
            ahead.push(format!("about {} left", short(eta)));
        }
        if let Some((why, wait)) = hold {
            ahead.push(waiting(why, wait));
        }
        (done, ahead.join(" · "))
    }

    /// How many addresses the run will send in all.
    fn addresses_to_send(&self) -> Option<u64> {
        self.in_all(self.tally.batched.load(Ordering::Relaxed))
    }

    /// The share of the input's rows settled in the report.
    fn settled_share(&self) -> Option<f64> {
        let rows = self.in_all(self.tally.rows.load(Ordering::Relaxed))?;
        let settled = self.tally.settled.load(Ordering::Relaxed);
        Some(if rows == 0 {
            0.0
        } else {
            (settled as f64 / rows as f64).min(1.0)
        })
    }

    /// What `so_far` (counted over what was read) comes to over the whole input: itself once the inputs
    /// are read, scaled by the bytes still to read when they are files, unknown while a pipe is read.
    fn in_all(&self, so_far: u64) -> Option<u64> {
        let t = &self.tally;
        if t.read_all.load(Ordering::Relaxed) {
            return Some(so_far);
        }
        let read = t.bytes.load(Ordering::Relaxed);
        let total = self.total?;
        (read > 0).then(|| (so_far as f64 * total as f64 / read as f64).round() as u64)
    }
}

/// "waiting 23 s for the rate-limit window" (or for Okta's Retry-After, or for --rate).
fn waiting(why: Hold, wait: Duration) -> String {
    format!("waiting {} for {why}", short(wait))
}

/// How long sending `left` more addresses takes: their requests at the pace the limits allow
/// (`paced`, which knows Okta's windows and any wait in progress), or, before Okta has told any limit, at
/// the pace so far.
fn eta(
    left: u64,
    paced: impl FnOnce(u64) -> Option<Duration>,
    sent: u64,
    elapsed: Duration,
) -> Option<Duration> {
    let requests = left.div_ceil(MAX_BATCH as u64);
    if requests == 0 {
        return None;
    }
    paced(requests).or_else(|| {
        let observed = (sent > 0 && elapsed >= Duration::from_secs(1))
            .then(|| sent as f64 / MAX_BATCH as f64 / elapsed.as_secs_f64())
            .filter(|r| *r > 0.0)?;
        Some(Duration::from_secs_f64(requests as f64 / observed))
    })
}

/// `23 s`, `4 min 10 s`, `1 h 05 min`.
fn short(d: Duration) -> String {
    let s = d.as_secs_f64().ceil() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_follows_the_pace_the_limit_allows() {
        // No limit told yet: the pace so far (10 requests in 5 s).
        assert_eq!(
            eta(4_500, |_| None, 10_000, Duration::from_secs(5)),
            Some(Duration::from_secs_f64(2.5))
        );
        assert_eq!(
            eta(4_500, |n| Some(Duration::from_secs(n)), 0, Duration::ZERO),
            Some(Duration::from_secs(5))
        );
        assert_eq!(eta(0, |_| Some(Duration::ZERO), 0, Duration::ZERO), None);
        assert_eq!(eta(10, |_| None, 0, Duration::ZERO), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_left_counts_whole_windows() {
        use crate::client::headers::Pacing;
        // 2 requests a 10 s window, both spent: 8 more go 2 at each reset, the first reset 10 s away.
        let pacer = Pacer::new(
            Arc::new(crate::client::pacer::Control::new()),
            Default::default(),
        );
        let now_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let p = pacer.acquire(0).await.unwrap();
        let pacing = Pacing {
            limit: Some(2),
            remaining: Some(0),
            reset: Some(now_epoch + 10),
            date: Some(now_epoch),
            ..Pacing::default()
        };
        p.finish(
            Instant::now(),
            &pacing,
            crate::client::pacer::Answer::Normal,
        )
        .unwrap();
        let left = pacer.time_for(8, Instant::now()).unwrap().as_secs_f64();
        // Resets at about 10, 20, 30 and 40 s: the last two go at the fourth, not a window later.
        assert!((39.0..42.0).contains(&left), "{left}");
        assert_eq!(pacer.time_for(0, Instant::now()), Some(Duration::ZERO));
    }

    #[test]
    fn waits_say_their_cause() {
        assert_eq!(
            waiting(Hold::Window, Duration::from_millis(22_100)),
            "waiting 23 s for the rate-limit window"
        );
        assert_eq!(
            waiting(Hold::RetryAfter, Duration::from_secs(90)),
            "waiting 1 min 30 s for Okta's Retry-After"
        );
        assert_eq!(
            waiting(Hold::RateCap, Duration::from_secs(2)),
            "waiting 2 s for --rate"
        );
        assert_eq!(short(Duration::from_secs(3 * 3600 + 300)), "3 h 05 min");
        assert_eq!(short(Duration::from_secs(120)), "2 min");
    }

    #[test]
    fn the_message_counts_rows_and_addresses() {
        let tally = Arc::new(Tally::default());
        tally.rows.store(120_000, Ordering::Relaxed);
        tally.batched.store(100_000, Ordering::Relaxed);
        tally.sent.store(40_000, Ordering::Relaxed);
        tally.bytes.store(50, Ordering::Relaxed);
        let control = Arc::new(crate::client::pacer::Control::new());
        let pacer = Arc::new(Pacer::new(
            control,
            crate::client::pacer::PacerOptions {
                rate_per_minute: std::num::NonZeroU32::new(60),
                ..Default::default()
            },
        ));
        let view = View {
            tally,
            total: Some(100),
            pacer: Some(pacer),
            started: Instant::now(),
        };
        // Half the input read: 200,000 addresses expected, 160,000 left, 160 requests at one a second.
        let lines = |v: &View| {
            let (a, b) = v.lines(Instant::now());
            (a, b)
        };
        assert_eq!(
            lines(&view),
            (
                "120,000 rows read · 40,000 addresses sent".into(),
                "about 2 min 40 s left".into()
            )
        );
        view.tally.settled.store(60_000, Ordering::Relaxed);
        assert_eq!(view.settled_share(), Some(0.25));
        view.tally.read_all.store(true, Ordering::Relaxed);
        assert_eq!(view.settled_share(), Some(0.5));
        view.tally.failed.store(1, Ordering::Relaxed);
        assert_eq!(
            lines(&view),
            (
                "120,000 rows read · 40,000 addresses sent · 1 failed".into(),
                "about 1 min left".into()
            )
        );
    }
}
