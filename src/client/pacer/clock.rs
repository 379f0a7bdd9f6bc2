//! Okta's clock as seen from here. Window resets (`X-Rate-Limit-Reset`) and HTTP-date `Retry-After`s are
//! absolute server times; [`ServerClock`] turns them into local instants, learning the offset between the
//! answers' `Date` headers and the local clock, so no wait ends early when the two clocks disagree.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// The local wall clock, in seconds since the epoch.
pub(super) fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// How many recent `Date` samples the clock keeps: enough that one odd answer does not move the median,
/// few enough that a clock that was stepped (NTP) is followed within a minute of requests.
const CLOCK_SAMPLES: usize = 64;

/// `Date` has whole seconds: the server's clock read anywhere in the second it names.
const DATE_RESOLUTION: f64 = 1.0;

/// What an answer's travel from the server may add to the upper bound of the offset.
const TRAVEL_SLACK: f64 = 0.2;

/// A `Date` more than this above the median of the recent ones is not trusted (a caching proxy, a broken
/// node): a second, the most two honest answers of the same moment can differ by.
const OUTLIER_ABOVE: f64 = 1.0;

/// The farthest a server time is taken to be, in seconds (about 30 years): a larger one would overflow an
/// `Instant`, and no wait that long is sat out anyway (`--max-wait` or the window check refuse it).
const FARTHEST: f64 = 1e9;

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

    pub(super) fn local_epoch(&self, at: Instant) -> f64 {
        self.anchor_epoch + at.saturating_duration_since(self.anchor).as_secs_f64()
    }

    /// Takes in an answer's `Date` (epoch seconds), received at `received`.
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
        let kept: Vec<f64> = sorted
            .into_iter()
            .filter(|&s| s <= median + OUTLIER_ABOVE)
            .collect();
        let lo = kept.last().copied().unwrap_or(median);
        let hi = kept.first().copied().unwrap_or(median) + DATE_RESOLUTION + TRAVEL_SLACK;
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
            self.anchor + Duration::from_secs_f64(ahead.min(FARTHEST))
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(secs.as_secs_f64() >= epoch_now());
    }
}
