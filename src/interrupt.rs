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
        }
        if before < Level::Stopping as u8 && to >= Level::Stopping {
            let wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
            for w in wakers.iter() {
                w();
            }
        }
    }

    /// The signal behind a [`Level::Now`], if one was.
    pub fn signal(&self) -> Option<i32> {
        Some(self.signal.load(Ordering::SeqCst)).filter(|&s| s != 0)
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
