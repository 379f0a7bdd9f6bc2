//! Sending one batch to `POST /api/v1/org/email/bounces/remove-list` and settling every address in it:
//! accepted, rejected with Okta's reason, or failed with why. A batch Okta finds too long is split (and the
//! smaller size kept for later batches); a batch Okta refuses whole is bisected to isolate the address(es)
//! it refuses, so one bad value cannot sink the others.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::client::{ApiError, Client, StopReason};
use crate::endpoints;
use crate::report::Status;
use crate::term::count;

/// The most addresses Okta takes in one request.
pub const MAX_BATCH: usize = 1000;

/// Requests one batch may spend on isolating addresses after a whole-batch 400: enough to find a handful
/// of bad values among 1,000 (about 10 requests each), not enough to spend hours when the 400 is about the
/// request rather than an address.
const BISECT_BUDGET: u32 = 64;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RemoveList<'a> {
    email_addresses: &'a [String],
}

#[derive(Deserialize, Default)]
struct RemoveListResult {
    #[serde(default)]
    errors: Vec<AddressError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressError {
    email_address: String,
    reason: String,
}

/// What became of one address of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub reason: String,
    /// When Okta's answer for it came (accepted or rejected rows).
    pub at: Option<SystemTime>,
    /// When Okta said to try again (a `failed` row of a `--max-wait` stop).
    pub retry_at: Option<SystemTime>,
}

impl Outcome {
    pub fn new(status: Status, reason: impl Into<String>) -> Outcome {
        let answered = matches!(status, Status::Accepted | Status::Rejected);
        Outcome {
            status,
            reason: reason.into(),
            at: answered.then(SystemTime::now),
            retry_at: None,
        }
    }

    /// A row not confirmed sent because the run stopped (or its request failed) for `why`.
    pub fn failed(why: &StopReason) -> Outcome {
        Outcome {
            retry_at: why.retry_at,
            ..Outcome::new(Status::Failed, why.message.clone())
        }
    }
}

/// Sends `addresses` (at most `max_len` a request) and returns one outcome per address, in order.
/// When an error must end the run (authentication, a wait past `--max-wait`, Okta unreachable), the
/// client's pacer is stopped, so no other batch goes out either.
/// Its requests take `order` as their place in line at the gate (the batch's place in the input).
pub async fn submit(
    client: &Client,
    addresses: &[String],
    max_len: &AtomicUsize,
    order: u64,
) -> Vec<Outcome> {
    let mut out: Vec<Option<Outcome>> = vec![None; addresses.len()];
    let mut work: Vec<Range<usize>> = Vec::new();
    work.push(0..addresses.len());
    let mut bisect_budget = BISECT_BUDGET;
    while let Some(range) = work.pop() {
        if range.is_empty() {
            continue;
        }
        let max = max_len.load(Ordering::Relaxed).max(1);
        if range.len() > max {
            push_chunks(&mut work, range, max);
            continue;
        }
        let list = &addresses[range.clone()];
        let req = endpoints::REMOVE_BOUNCES
            .request(&[])
            .order(order)
            .json(&RemoveList {
                email_addresses: list,
            })
            .note(count(list.len() as u64, "address", "addresses"));
        // Only an answer that can be read confirms anything: an empty or HTML 200 confirms nothing.
        let result = client
            .send(&req)
            .await
            .and_then(|resp| resp.json::<RemoveListResult>());
        match result {
            Ok(result) => {
                let unmatched = settle(&mut out, addresses, range, result);
                if unmatched > 0 {
                    client
                        .stats()
                        .unmatched_errors
                        .fetch_add(unmatched, Ordering::Relaxed);
                }
            }
            Err(ApiError::Status { status, error, .. })
                if (status == 400 && error.is_list_too_long() || status == 413)
                    && range.len() > 1 =>
            {
                let half = range.len().div_ceil(2);
                max_len.fetch_min(half, Ordering::Relaxed);
                tracing::warn!(
                    "Okta refused a list of {} addresses as too long; sending at most {half} a request from now on",
                    range.len()
                );
                push_chunks(&mut work, range, half);
            }
            Err(ApiError::Status { status, error, .. }) if status == 400 => {
                let text = error.text();
                let reason = if text.is_empty() {
                    "Okta refused the request (HTTP 400)".to_string()
                } else {
                    text
                };
                if range.len() == 1 {
                    out[range.start] = Some(Outcome::new(Status::Rejected, reason));
                    continue;
                }
                // When Okta names the address, that settles it in one step.
                let haystack = format!("{} {}", error.text(), error.causes().join(" "));
                let named = range.clone().find(|&i| mentions(&haystack, &addresses[i]));
                if let Some(i) = named {
                    out[i] = Some(Outcome::new(Status::Rejected, reason));
                    work.push(i + 1..range.end);
                    work.push(range.start..i);
                } else if bisect_budget > 0 {
                    bisect_budget -= 1;
                    let half = range.len().div_ceil(2);
                    push_chunks(&mut work, range, half);
                } else {
                    let why = format!(
                        "not confirmed: Okta refused the request holding it ({reason}) and isolating \
                         the refused address took too many requests"
                    );
                    for i in range {
                        out[i] = Some(Outcome::new(Status::Failed, why.clone()));
                    }
                }
            }
            Err(e) => {
                // This request's rows get its own error (sent and unanswered, or refused); the rest of
                // the batch, never sent, gets the reason the run stopped.
                let reason = e.stop_reason();
                client.control().stop(reason.clone());
                let own = Outcome {
                    retry_at: reason.retry_at,
                    ..Outcome::new(Status::Failed, e.to_string())
                };
                for i in range {
                    out[i] = Some(own.clone());
                }
                let rest = client
                    .control()
                    .stopped()
                    .map_or_else(|| own.clone(), |r| Outcome::failed(&r));
                for r in work.drain(..) {
                    for i in r {
                        out[i] = Some(rest.clone());
                    }
                }
            }
        }
    }
    out.into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::new(Status::Failed, "not sent")))
        .collect()
}

/// Whether `text` names `addr` as a whole address (not as the tail of a longer one).
fn mentions(text: &str, addr: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || "._%+-@'!#$&*/=?^`{|}~".contains(c);
    text.match_indices(addr).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + addr.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(part)
    })
}

/// Pushes `range` as chunks of `size` so that they are popped in order.
fn push_chunks(work: &mut Vec<Range<usize>>, range: Range<usize>, size: usize) {
    let mut starts: Vec<usize> = range.clone().step_by(size).collect();
    starts.reverse();
    for s in starts {
        work.push(s..(s + size).min(range.end));
    }
}

/// Settles every address of `range` from Okta's answer; returns how many `errors[]` entries named no
/// address of the request.
fn settle(
    out: &mut [Option<Outcome>],
    addresses: &[String],
    range: Range<usize>,
    result: RemoveListResult,
) -> u64 {
    let mut rejected: std::collections::HashMap<String, String> = result
        .errors
        .into_iter()
        .map(|e| (e.email_address.to_lowercase(), e.reason))
        .collect();
    for i in range {
        out[i] = Some(match rejected.remove(&addresses[i].to_lowercase()) {
            Some(reason) => Outcome::new(Status::Rejected, reason),
            None => Outcome::new(Status::Accepted, ""),
        });
    }
    for reason in rejected.values() {
        tracing::info!(
            "Okta's answer held an error for an address that was not in the request: {reason}"
        );
    }
    rejected.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_named_only_whole() {
        assert!(mentions("emailAddresses: a@b.com is refused", "a@b.com"));
        assert!(mentions("\"a@b.com\"", "a@b.com"));
        assert!(!mentions("xa@b.com is refused", "a@b.com"));
        assert!(!mentions("a@b.com.au is refused", "a@b.com"));
        assert!(mentions("xa@b.com, a@b.com", "a@b.com"));
    }

    #[test]
    fn chunks_pop_in_order() {
        let mut work = Vec::new();
        push_chunks(&mut work, 0..10, 4);
        let popped: Vec<_> = std::iter::from_fn(|| work.pop()).collect();
        assert_eq!(popped, vec![0..4, 4..8, 8..10]);
    }
}
