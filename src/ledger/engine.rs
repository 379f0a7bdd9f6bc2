//! The ledger as the engine sees it: a sink that records each batch before it is sent (`sending`) and
//! Okta's answer for each of its addresses once settled, and the `--skip-cleared` gate that leaves out
//! addresses cleared recently and not bounced since. Each write is one transaction; a crash leaves at
//! most the batch in flight as `sending`, which the next run sends again.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{
    Answer, Ledger, NewRemoval, OrgKey, RemovalId, RunEnd, RunId, VerdictChange, time_text,
};
use crate::engine::{Ended, Gate, Sink};
use crate::exit::Exit;
use crate::report::{self, Status};

/// A ledger shared by a command and its engine's sink.
pub type Shared = Arc<Mutex<Ledger>>;

fn lock(l: &Shared) -> std::sync::MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sinks and the gate the ledger gives a run's engine.
pub type EngineParts = (Vec<Box<dyn Sink>>, Option<Box<dyn Gate>>);

/// Records how a run ended (`None`: stopped by a signal as a service is, its work saved) in the ledger;
/// a failure to is said, not fatal: the run's removals are recorded already.
pub fn end_run(
    ledger: &Shared,
    run: RunId,
    ended: Option<&Ended>,
    exit: Exit,
    counts: &report::Counts,
) {
    let end = RunEnd {
        cause: ended
            .and_then(Ended::cause)
            .map_or("completed", |c| c.as_str())
            .into(),
        exit_status: exit.code().into(),
        counts: serde_json::Value::Object(
            Status::ALL
                .iter()
                .map(|&s| (s.as_str().to_string(), counts.get(s).into()))
                .collect(),
        ),
    };
    if let Err(e) = lock(ledger).end_run(run, &end, SystemTime::now()) {
        crate::term::error(format_args!(
            "cannot record the end of the run in the ledger: {e}"
        ));
    }
}

/// Records a run's removals: each batch before it goes, each answer as its row settles.
pub struct Recorder {
    ledger: Shared,
    run: RunId,
    /// The hard bounce that calls for each address (`bounces sync`); none for an export's addresses.
    bounces: HashMap<String, String>,
    /// Requests recorded as `sending`, by address, until their rows settle.
    sent: HashMap<String, RemovalId>,
    answers: Vec<(RemovalId, Answer)>,
    /// When Okta answered the first of `answers` (where a removal's verdict window starts from).
    answered: Option<SystemTime>,
    /// Addresses the ledger asked to clear that the local checks refused (`invalid`), with why: recorded
    /// as refused, so they are not asked for again until they bounce again.
    refused: Vec<(String, String)>,
    /// Verdicts the answers changed, for the caller to tell.
    pub verdicts: Arc<Mutex<Vec<VerdictChange>>>,
}

impl Recorder {
    pub fn new(ledger: Shared, run: RunId, bounces: HashMap<String, String>) -> Recorder {
        Recorder {
            ledger,
            run,
            bounces,
            sent: HashMap::new(),
            answers: Vec::new(),
            answered: None,
            refused: Vec::new(),
            verdicts: Arc::default(),
        }
    }
}

impl Sink for Recorder {
    fn sending(&mut self, addresses: &[String]) -> io::Result<()> {
        let removals: Vec<NewRemoval> = addresses
            .iter()
            .map(|a| NewRemoval {
                address: a.clone(),
                bounce: self.bounces.get(a).cloned(),
            })
            .collect();
        let ids = lock(&self.ledger)
            .record_sending(self.run, &removals, SystemTime::now())
            .map_err(io::Error::other)?;
        for (a, id) in addresses.iter().zip(ids) {
            self.sent.insert(a.clone(), id);
        }
        Ok(())
    }

    fn row(&mut self, row: &report::Row<'_>) -> io::Result<()> {
        if row.status == Status::Invalid && self.bounces.contains_key(row.email) {
            self.refused
                .push((row.email.to_string(), format!("not sent: {}", row.reason)));
            return Ok(());
        }
        let answer = match row.status {
            Status::Accepted => Answer::Accepted,
            Status::Rejected => Answer::Rejected(row.reason.to_string()),
            Status::Failed => Answer::Failed(row.reason.to_string()),
            _ => return Ok(()),
        };
        // Only a row whose address was recorded as sent has an answer to record (a `failed` row that was
        // never sent stays as the ledger had it).
        if let Some(id) = self.sent.remove(row.email) {
            self.answers.push((id, answer));
            if let Some(at) = row.at {
                self.answered = Some(self.answered.map_or(at, |a| a.min(at)));
            }
        }
        Ok(())
    }

    fn commit(&mut self) -> io::Result<()> {
        if !self.refused.is_empty() {
            let refused = std::mem::take(&mut self.refused);
            let addresses: Vec<String> = refused.iter().map(|(a, _)| a.clone()).collect();
            self.sending(&addresses)?;
            let now = SystemTime::now();
            for (a, why) in refused {
                if let Some(id) = self.sent.remove(&a) {
                    self.answers.push((id, Answer::Rejected(why)));
                }
            }
            self.answered.get_or_insert(now);
        }
        if self.answers.is_empty() {
            return Ok(());
        }
        // When Okta answered, not when the stretch reached the ledger: a removal's verdict window starts
        // there (a batch may settle well after its answer, behind an earlier batch's retries).
        let answered = self.answered.take().unwrap_or_else(SystemTime::now);
        let changed = lock(&self.ledger)
            .record_answers(&self.answers, answered)
            .map_err(io::Error::other)?;
        self.answers.clear();
        self.verdicts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(changed);
        Ok(())
    }
}

/// `--skip-cleared DUR`: leaves out addresses Okta accepted a removal of within `within`, and that have
/// not bounced since; their rows are `skipped`, with when.
pub struct SkipCleared {
    pub ledger: Shared,
    pub org: OrgKey,
    pub within: Duration,
}

impl Gate for SkipCleared {
    fn vet(&mut self, addresses: &[String]) -> Result<Vec<Option<(Status, String)>>, String> {
        let cleared = lock(&self.ledger)
            .recently_cleared(&self.org, addresses, self.within, SystemTime::now())
            .map_err(|e| format!("cannot read the ledger: {e}"))?;
        let by: HashMap<String, _> = cleared
            .into_iter()
            .map(|c| (c.address.clone(), c))
            .collect();
        Ok(addresses
            .iter()
            .map(|a| {
                by.get(&super::address_key(a)).map(|c| {
                    (
                        Status::Skipped,
                        format!(
                            "cleared {} (run {}) and not bounced since",
                            time_text(c.at),
                            c.run
                        ),
                    )
                })
            })
            .collect())
    }
}
