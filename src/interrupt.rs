//! How far a run has been asked to stop, by Ctrl-C/SIGTERM or by the report's reader going away. The
//! first request stops sending and ends the reading of pipes and terminals at once (files are still read
//! to the end, so each of their rows is reported); requests in flight get a short grace to answer. The
//! second ends at once: in-flight requests are abandoned and files are no longer read, but every row read
//! is still written.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

/// How long requests in flight may take to answer after the first interrupt (or the report's reader
/// going away).
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// How a run ended by `signal` says so (on stderr and in its summary): after the first, nothing more was
/// sent; a second ends it at once.
pub fn describe(signal: i32, at_once: bool) -> String {
    let name = match signal {
        2 => "SIGINT".to_string(),
        15 => "SIGTERM".to_string(),
        n => format!("signal {n}"),
    };
    if at_once {
        format!("ended at once by a second {name}")
    } else {
        format!("interrupted by {name}: nothing more was sent")
    }
}

/// The stages of stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Running = 0,
    /// Send nothing more; finish the report.
    Stopping = 1,
    /// Abandon what is in flight and stop reading; finish the report with what was read.
    Now = 2,
}

type Waker = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub struct Interrupt {
    level: AtomicU8,
    /// The signal that raised the level last (for the exit status 128 + N), 0 for none.
    signal: AtomicI32,
    /// A signal (not the report's reader going away) raised the level to [`Level::Now`]: the run ended
    /// at once by a second signal.
    now_by_signal: std::sync::atomic::AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interrupt({:?})", self.level())
    }
}

impl Interrupt {
    pub fn level(&self) -> Level {
        match self.level.load(Ordering::SeqCst) {
            0 => Level::Running,
            1 => Level::Stopping,
            _ => Level::Now,
        }
    }

    pub fn stopping(&self) -> bool {
        self.level() >= Level::Stopping
    }

    /// Raises the level (never lowers it); `signal` is the signal number, or 0.
    pub fn raise(&self, to: Level, signal: i32) {
        let before = self.level.fetch_max(to as u8, Ordering::SeqCst);
        if signal != 0 {
            self.signal.store(signal, Ordering::SeqCst);
            if to == Level::Now {
                self.now_by_signal.store(true, Ordering::SeqCst);
            }
        }
        if before < Level::Stopping as u8 && to >= Level::Stopping {
            let wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
            for w in wakers.iter() {
                w();
            }
        }
    }

    /// The signal that stopped the run, if one did.
    pub fn signal(&self) -> Option<i32> {
        Some(self.signal.load(Ordering::SeqCst)).filter(|&s| s != 0)
    }

    /// The signal that ended the run at once (a second one), if one did: not a [`Level::Now`] raised
    /// for another reason (the report's reader went away) after a first signal.
    pub fn ended_by_signal(&self) -> Option<i32> {
        self.signal()
            .filter(|_| self.now_by_signal.load(Ordering::SeqCst))
    }

    /// Calls `f` once the run starts stopping (at once, if it already has).
    pub fn on_stop(&self, f: impl Fn() + Send + Sync + 'static) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        if self.stopping() {
            f();
        }
        wakers.push(Box::new(f));
    }
}

/// Waits for SIGINT or SIGTERM and returns its number.
pub async fn wait_for_signal() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => 2,
                    _ = term.recv() => 15,
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                2
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        2
    }
}

/// Where a run's stop signals come from: the process's own (SIGINT/SIGTERM, listened for when asked), or
/// a run across several orgs, whose one listener hands every org each signal the process received,
/// also those that came before the org started (so no org can miss the Ctrl-C that stops them all).
#[derive(Debug, Clone, Default)]
pub enum Signals {
    #[default]
    Process,
    Shared {
        signals: tokio::sync::watch::Receiver<Vec<i32>>,
        /// How many of them this org has taken.
        taken: usize,
    },
}

impl Signals {
    /// The next signal, by number.
    pub async fn next(&mut self) -> i32 {
        match self {
            Signals::Process => wait_for_signal().await,
            Signals::Shared { signals, taken } => {
                let seen = *taken;
                let got = signals
                    .wait_for(|s| s.len() > seen)
                    .await
                    .map(|s| s[seen])
                    .ok();
                // Without one, the listener is gone (the process is ending): nothing more will come.
                let Some(sig) = got else {
                    return std::future::pending().await;
                };
                *taken += 1;
                sig
            }
        }
    }

    /// Whether the signals are a fleet's (its one listener says what they do, not each org).
    pub fn shared(&self) -> bool {
        matches!(self, Signals::Shared { .. })
    }
}

/// The one listener of a run across several orgs: every SIGINT/SIGTERM the process receives, in order.
pub struct SignalHub {
    tx: tokio::sync::watch::Sender<Vec<i32>>,
}

impl Default for SignalHub {
    fn default() -> Self {
        SignalHub {
            tx: tokio::sync::watch::Sender::new(Vec::new()),
        }
    }
}

impl SignalHub {
    /// Passes on a signal to every org.
    pub fn send(&self, signal: i32) {
        self.tx.send_modify(|s| s.push(signal));
    }

    /// How many signals came.
    pub fn count(&self) -> usize {
        self.tx.borrow().len()
    }

    /// The signals of one org.
    pub fn signals(&self) -> Signals {
        Signals::Shared {
            signals: self.tx.subscribe(),
            taken: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first signal, then the report's reader going away (`Ctrl-C` on `... | head`): stopped at once,
    /// but not by a second signal (exit 4, not 130).
    #[test]
    fn only_a_second_signal_ends_a_run_by_signal() {
        let i = Interrupt::default();
        i.raise(Level::Stopping, 2);
        i.raise(Level::Now, 0);
        assert_eq!(
            (i.level(), i.signal(), i.ended_by_signal()),
            (Level::Now, Some(2), None)
        );
        i.raise(Level::Now, 2);
        assert_eq!(i.ended_by_signal(), Some(2));
        let j = Interrupt::default();
        j.raise(Level::Now, 0);
        assert_eq!(j.ended_by_signal(), None);
    }
}
