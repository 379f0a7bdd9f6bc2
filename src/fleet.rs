//! Running one piece of work per org, side by side in one process (`--profiles`): a semaphore of
//! `--parallel` places, each org's work in a task of its own with its lines labelled by its profile,
//! one listener for SIGINT/SIGTERM that hands every org the signals, and each org's time. What the work
//! is (a command, with its own configuration, sign-in, client and engine) is the caller's: this module
//! knows nothing of commands, so one org's failure can only end that org's task.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::interrupt::{GRACE, SignalHub, Signals, wait_for_signal};

/// How one org's work ended.
#[derive(Debug)]
pub enum Done<T> {
    /// It ran, and came to this.
    Ran(T),
    /// A signal came before its turn: it was not started (nothing was sent to it).
    NotStarted,
    /// Its task panicked (a bug): the other orgs went on.
    Panicked(String),
}

/// One org of the fleet, when its work is over.
#[derive(Debug)]
pub struct Org<T> {
    pub profile: String,
    pub done: Done<T>,
    /// From when its turn came to its end.
    pub elapsed: Duration,
}

/// Runs `work(profile, signals)` for every profile, at most `parallel` at once, and returns each org's
/// end in the order of `profiles`. Every line an org's work writes on stderr is labelled with its
/// profile. The first SIGINT/SIGTERM reaches every org that has started (each finishes its own work as
/// a single run would), and no org starts after it; the second ends every org at once.
pub async fn run<T, F, Fut>(profiles: &[String], parallel: usize, work: F) -> Vec<Org<T>>
where
    F: Fn(String, Signals) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let hub = Arc::new(SignalHub::default());
    let listener = tokio::spawn(listen(hub.clone()));
    let places = Arc::new(Semaphore::new(parallel.max(1)));
    // Orgs take their places in the order of `profiles`: each task is started only once it holds one.
    let mut tasks = Vec::with_capacity(profiles.len());
    for profile in profiles {
        let fut = work(profile.clone(), hub.signals());
        let hub = hub.clone();
        let label: Arc<str> = profile.as_str().into();
        let place = places.clone().acquire_owned().await;
        tasks.push(tokio::spawn(async move {
            let _place = place;
            if hub.count() > 0 {
                return (Done::NotStarted, Duration::ZERO);
            }
            let started = Instant::now();
            let value = crate::term::labelled(Some(label), fut).await;
            (Done::Ran(value), started.elapsed())
        }));
    }
    let mut orgs = Vec::with_capacity(tasks.len());
    for (task, profile) in tasks.into_iter().zip(profiles) {
        let (done, elapsed) = match task.await {
            Ok(r) => r,
            Err(e) => (Done::Panicked(panic_text(e)), Duration::ZERO),
        };
        orgs.push(Org {
            profile: profile.clone(),
            done,
            elapsed,
        });
    }
    listener.abort();
    orgs
}

/// What a panicked task said.
fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into()),
        Err(e) => e.to_string(),
    }
}

/// The fleet's one listener: passes every signal on, and says once what it does.
async fn listen(hub: Arc<SignalHub>) {
    loop {
        let sig = wait_for_signal().await;
        let line = match hub.count() {
            0 => format!(
                "{}: every org sends nothing more, waits up to {} s for answers in flight, \
                 then finishes its report; orgs not started are not started (a second signal stops at \
                 once)",
                if sig == 15 { "SIGTERM" } else { "interrupted" },
                GRACE.as_secs()
            ),
            1 => "interrupted again: every org abandons requests in flight and finishes its \
                  report now"
                .to_string(),
            _ => String::new(),
        };
        if !line.is_empty() {
            crate::term::signalled(line);
        }
        hub.send(sig);
    }
}
