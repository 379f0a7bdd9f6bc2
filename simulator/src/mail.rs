//! Mail that keeps flowing while the simulator runs: `system.email.delivery` events for the org's users
//! (hard bounces, 4xx replies logged as bounces, deferrals, drops, deliveries), some stored late, and the
//! org's bounce list they fill and `remove-list` empties. Tests read the ground truth (every mail event,
//! every removal request, the list) through [`crate::Simulator::mail`].

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::Shared;
use super::logs::events::{self, Delivery, Kind, OKTA_SENDER, Shape};
use super::logs::time::{self, Millis};

/// How the mail flow runs: every `every`, `per_tick` emails, of kinds drawn from `mix` by a generator
/// seeded with `seed`, so that the same seed and the same removals give the same events.
#[derive(Debug, Clone)]
pub struct MailFlow {
    /// Time between two rounds of mail (the first comes one `every` after the start).
    pub every: Duration,
    /// Emails a round.
    pub per_tick: u32,
    pub seed: u64,
    /// How often each kind is drawn.
    pub mix: MailMix,
    /// Percent of the events stored late: written `late_by` after their `published` time, so a polling
    /// query (ordered by storage) returns them after events published later.
    pub late_percent: u32,
    pub late_by: Duration,
    /// Users whose mail bounces again after each removal of their address (a typo, a mailbox that no
    /// longer exists): the flow's first emails are one hard bounce for each, then every removal event
    /// for them is followed by another hard bounce. Everyone else gets a delivery after a removal.
    pub repeat_bouncers: Vec<String>,
    /// Stop drawing after this many emails (the follow-ups of removals go on).
    pub max_events: Option<u64>,
}

impl MailFlow {
    /// A flow of one email every `every`: the default mix, seed 1, a tenth of the events three rounds
    /// late, nobody bouncing repeatedly, no end.
    pub fn every(every: Duration) -> MailFlow {
        MailFlow {
            every,
            per_tick: 1,
            seed: 1,
            mix: MailMix::default(),
            late_percent: 10,
            late_by: every * 3,
            repeat_bouncers: Vec::new(),
            max_events: None,
        }
    }
}

/// Relative weights of each kind of email the flow draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailMix {
    /// `FAILURE` bounces with a 5xx reply or `Bounced Address`: the address goes on the bounce list.
    pub hard: u32,
    /// `FAILURE` bounces with a 4xx reply (greylisting `451 4.7.1`, a full mailbox): not on the list.
    pub soft_bounce: u32,
    /// `DEFERRED`.
    pub deferred: u32,
    /// `FAILURE` drops (an unsubscribed or spam-reporting address): not on the list.
    pub dropped: u32,
    /// `SUCCESS`.
    pub delivered: u32,
}

impl Default for MailMix {
    fn default() -> MailMix {
        MailMix {
            hard: 30,
            soft_bounce: 10,
            deferred: 15,
            dropped: 10,
            delivered: 35,
        }
    }
}

/// What an email logged by the simulator became. Only [`MailKind::HardBounce`] puts the address on the
/// bounce list; mail to an address on the list is dropped (`Bounced Address`), whatever was drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum MailKind {
    HardBounce,
    SoftBounce,
    Deferred,
    Dropped,
    Delivered,
}

/// One `system.email.delivery` event the simulator wrote, as it really was.
#[derive(Debug, Clone, Serialize)]
pub struct MailEvent {
    pub uuid: String,
    pub address: String,
    pub kind: MailKind,
    /// The event's `published`, epoch milliseconds.
    pub published_ms: i64,
    /// When it was stored (a polling query sees it from then on), epoch milliseconds.
    pub stored_ms: i64,
    /// Stored well after its `published` time, behind events published later.
    pub late: bool,
    /// Written because a removal of the address was logged (a delivery, or a repeat bouncer's bounce),
    /// not drawn by the flow.
    pub after_removal: bool,
    /// The SMTP reply or provider reason the event carries.
    pub reply: String,
}

/// One `remove-list` request, whatever its answer.
#[derive(Debug, Clone, Serialize)]
pub struct RemovalRequest {
    /// When it arrived, epoch milliseconds.
    pub arrived_ms: i64,
    pub status: u16,
    /// The addresses it held, as sent (empty when the body was not a list).
    pub held: Vec<String>,
    /// Of those, the ones it took off the bounce list (lowercased).
    pub delisted: Vec<String>,
}

/// The ground truth of the org's mail, for tests to compare with what a client did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MailTruth {
    /// Hard bounces, in the order they were stored.
    pub hard_bounces: Vec<MailEvent>,
    /// Soft bounces, deferrals and drops, in the order they were stored.
    pub soft: Vec<MailEvent>,
    /// Deliveries, in the order they were stored.
    pub deliveries: Vec<MailEvent>,
    /// Every `remove-list` request, in the order they arrived.
    pub removal_requests: Vec<RemovalRequest>,
    /// The addresses on the bounce list now (lowercased, sorted).
    pub bounce_list: Vec<String>,
    /// Events drawn but not stored yet (late ones on their way).
    pub pending_late: usize,
}

impl MailTruth {
    /// Every event, in the order stored.
    pub fn events(&self) -> Vec<&MailEvent> {
        let mut all: Vec<&MailEvent> = self
            .hard_bounces
            .iter()
            .chain(&self.soft)
            .chain(&self.deliveries)
            .collect();
        all.sort_by_key(|e| e.stored_ms);
        all
    }
}

/// The org's bounce list and the mail events written so far.
#[derive(Default)]
pub(crate) struct MailState {
    /// Lowercased addresses on the bounce list.
    bounce_list: HashSet<String>,
    /// Every `remove-list` request, in the order they arrived.
    removals: Vec<RemovalRequest>,
    /// Every mail event stored, in storage order.
    events: Vec<MailEvent>,
    pending: usize,
}

impl MailState {
    /// A bounce list holding these addresses, and no mail yet.
    pub(crate) fn listing(addresses: &[String]) -> MailState {
        MailState {
            bounce_list: addresses.iter().map(|a| a.to_lowercase()).collect(),
            ..MailState::default()
        }
    }
}

/// An email to write: what it was drawn as, to whom, how the log shows it, when.
struct Email<'a> {
    kind: MailKind,
    to: &'a str,
    shape: Shape,
    /// Which of the kind's `debugData` variants.
    variant: usize,
    uuid: String,
    published: Millis,
}

/// An email composed but not stored yet.
struct Composed {
    event: Value,
    truth: MailEvent,
}

const SMTP_550: &str = "550 5.1.1 The email account that you tried to reach does not exist";
const BOUNCED: &str = "Bounced Address";

/// More `debugData` for each kind, one of which is drawn.
fn extras(kind: MailKind) -> &'static [&'static [(&'static str, &'static str)]] {
    match kind {
        MailKind::HardBounce => &[
            &[
                ("reason", BOUNCED),
                ("smtpResponse", SMTP_550),
                ("sender", OKTA_SENDER),
            ],
            &[("reason", BOUNCED), ("sender", OKTA_SENDER)],
            &[("smtpResponse", SMTP_550), ("sender", OKTA_SENDER)],
            &[
                ("reason", BOUNCED),
                (
                    "smtpResponse",
                    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
                ),
            ],
        ],
        MailKind::SoftBounce => &[
            &[
                (
                    "smtpResponse",
                    "451 4.7.1 Greylisted, please try again later",
                ),
                ("sender", OKTA_SENDER),
            ],
            &[(
                "smtpResponse",
                "452 4.2.2 The email account that you tried to reach is over quota",
            )],
            &[(
                "smtpResponse",
                "421 4.7.0 Temporary System Problem. Try again later",
            )],
        ],
        MailKind::Deferred => &[
            &[(
                "smtpResponse",
                "421 4.7.0 Try again later, closing connection.",
            )],
            &[(
                "smtpResponse",
                "451 4.7.1 Greylisted, please try again later",
            )],
        ],
        MailKind::Dropped => &[
            &[("reason", "Unsubscribed Address")],
            &[("reason", "Spam Reporting Address")],
        ],
        MailKind::Delivered => &[&[("sender", OKTA_SENDER)]],
    }
}

/// The SMTP reply of an event's `debugData`, else its reason.
fn reply_of(extra: &[(&str, &str)]) -> String {
    let find = |key: &str| extra.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    find("smtpResponse")
        .or_else(|| find("reason"))
        .unwrap_or("")
        .to_string()
}

/// The `n`-th of the four ways an event names its recipient (a `User` target falls back to `debugData`
/// for an address of no user).
fn shape(n: u64) -> Shape {
    match n % 4 {
        0 => Shape::Target,
        1 => Shape::DebugData("recipient"),
        2 => Shape::DebugData("emailAddress"),
        _ => Shape::Message,
    }
}

fn log_kind(kind: MailKind) -> Kind {
    match kind {
        MailKind::HardBounce | MailKind::SoftBounce => Kind::Bounce,
        MailKind::Deferred => Kind::Deferred,
        MailKind::Dropped => Kind::Dropped,
        MailKind::Delivered => Kind::Delivered,
    }
}

/// One draw of the flow's generator: what the `n`-th email is, before the bounce list is consulted.
struct Draw {
    kind: MailKind,
    to: String,
    late: bool,
    shape: u64,
    variant: usize,
    uuid: String,
}

fn draw(flow: &MailFlow, users: &[String], n: u64, rng: &mut fastrand::Rng) -> Option<Draw> {
    let repeat = usize::try_from(n)
        .ok()
        .and_then(|i| flow.repeat_bouncers.get(i));
    let (kind, to) = match repeat {
        Some(to) => (MailKind::HardBounce, to.clone()),
        None => {
            let m = flow.mix;
            let weights = [
                (MailKind::HardBounce, m.hard),
                (MailKind::SoftBounce, m.soft_bounce),
                (MailKind::Deferred, m.deferred),
                (MailKind::Dropped, m.dropped),
                (MailKind::Delivered, m.delivered),
            ];
            let total: u64 = weights.iter().map(|&(_, w)| u64::from(w)).sum();
            if total == 0 || users.is_empty() {
                return None;
            }
            let mut pick = rng.u64(0..total);
            let kind = weights
                .iter()
                .find(|&&(_, w)| {
                    let hit = pick < u64::from(w);
                    pick = pick.saturating_sub(u64::from(w));
                    hit
                })
                .map_or(MailKind::Delivered, |&(k, _)| k);
            (kind, users[rng.usize(0..users.len())].clone())
        }
    };
    Some(Draw {
        kind,
        to,
        late: rng.u32(0..100) < flow.late_percent,
        shape: rng.u64(0..4),
        variant: rng.usize(0..8),
        uuid: events::uuid(rng),
    })
}

impl Shared {
    fn mail_state(&self) -> std::sync::MutexGuard<'_, MailState> {
        self.mail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Okta id of a user, by address.
    fn user_id_of(&self, address: &str) -> Option<String> {
        self.config
            .users
            .iter()
            .position(|u| u.eq_ignore_ascii_case(address))
            .and_then(|i| self.user_ids.get(i))
            .cloned()
    }

    /// After a `remove-list` request that arrived at `arrived` holding `held`: the addresses Okta
    /// accepted leave the bounce list, and the request is noted with those it delisted. (Kept here
    /// rather than in the record of requests, which tests copy often, to keep that copy cheap.)
    pub(crate) fn settle_removal(
        &self,
        arrived: Millis,
        status: axum::http::StatusCode,
        held: Option<Vec<String>>,
        accepted: &[String],
    ) {
        let mut mail = self.mail_state();
        let delisted = accepted
            .iter()
            .map(|a| a.to_lowercase())
            .filter(|a| mail.bounce_list.remove(a))
            .collect();
        mail.removals.push(RemovalRequest {
            arrived_ms: arrived,
            status: status.as_u16(),
            held: held.unwrap_or_default(),
            delisted,
        });
    }

    /// An email as the log shows it and as it really was, at `published`. A hard bounce puts the
    /// address on the bounce list; mail to an address already on it is dropped instead.
    fn compose(&self, mail: &mut MailState, email: Email<'_>) -> Composed {
        let Email {
            kind,
            to,
            shape,
            variant,
            uuid,
            published,
        } = email;
        let key = to.to_lowercase();
        let listed = mail.bounce_list.contains(&key);
        let kind = if listed { MailKind::Dropped } else { kind };
        if kind == MailKind::HardBounce {
            mail.bounce_list.insert(key);
        }
        let choices = extras(kind);
        let extra: &[(&str, &str)] = if listed {
            &[("reason", BOUNCED)]
        } else {
            choices[variant % choices.len()]
        };
        let user_id = self.user_id_of(to);
        let shape = match shape {
            Shape::Target if user_id.is_none() => Shape::DebugData("recipient"),
            s => s,
        };
        let event = events::delivery(&Delivery {
            kind: log_kind(kind),
            shape,
            to,
            user_id: user_id.as_deref(),
            published,
            extra,
            message: None,
            uuid: uuid.clone(),
        });
        let truth = MailEvent {
            uuid,
            address: to.to_string(),
            kind,
            published_ms: published,
            stored_ms: published,
            late: false,
            after_removal: false,
            reply: reply_of(extra),
        };
        Composed { event, truth }
    }

    /// Stores composed emails now, in order.
    fn store_mail(&self, mail: &mut MailState, composed: Vec<Composed>) {
        let now = time::now_ms();
        let mut store = self.store();
        for mut c in composed {
            let stored = store.push(c.event, now);
            c.truth.stored_ms = stored;
            mail.events.push(c.truth);
        }
    }

    /// After a removal event: a hard bounce (`bounce` true: the address goes back on the list) or a
    /// delivery for each address, published now. The recipient's shape varies with the events written.
    pub(crate) fn follow_removal(&self, followed: &[(String, bool)], rng: &mut fastrand::Rng) {
        let published = time::now_ms();
        let mut mail = self.mail_state();
        let composed: Vec<Composed> = followed
            .iter()
            .map(|(to, bounce)| {
                let shape = shape(self.store().next_variant());
                let kind = if *bounce {
                    MailKind::HardBounce
                } else {
                    MailKind::Delivered
                };
                // The first variant of a hard bounce carries the reason, the 550 reply and the sender.
                let email = Email {
                    kind,
                    to,
                    shape,
                    variant: 0,
                    uuid: events::uuid(rng),
                    published,
                };
                let mut c = self.compose(&mut mail, email);
                c.truth.after_removal = true;
                c
            })
            .collect();
        self.store_mail(&mut mail, composed);
    }

    /// The ground truth so far.
    pub(crate) fn mail_truth(&self) -> MailTruth {
        let mail = self.mail_state();
        let mut truth = MailTruth {
            removal_requests: mail.removals.clone(),
            pending_late: mail.pending,
            ..MailTruth::default()
        };
        for e in &mail.events {
            let into = match e.kind {
                MailKind::HardBounce => &mut truth.hard_bounces,
                MailKind::Delivered => &mut truth.deliveries,
                _ => &mut truth.soft,
            };
            into.push(e.clone());
        }
        truth.bounce_list = mail.bounce_list.iter().cloned().collect();
        truth.bounce_list.sort();
        truth
    }
}

/// The flow itself, until the simulator stops (or, with `max_events`, until the last late event is
/// stored). Late events are stored after the round that is due with them, behind events published later.
pub(crate) async fn run(s: Arc<Shared>, flow: MailFlow) {
    use tokio::time::Instant;
    let mut rng = fastrand::Rng::with_seed(flow.seed);
    let every = flow.every.max(Duration::from_millis(1));
    let users = s.config.users.clone();
    let mut drawn: u64 = 0;
    let mut next_round = Instant::now() + every;
    let mut late: VecDeque<(Instant, Composed)> = VecDeque::new();
    loop {
        let more = flow.max_events.is_none_or(|m| drawn < m);
        let wake = match (more, late.front()) {
            (true, Some((due, _))) => next_round.min(*due),
            (true, None) => next_round,
            (false, Some((due, _))) => *due,
            (false, None) => return,
        };
        tokio::time::sleep_until(wake).await;
        let now = Instant::now();
        let mut mail = s.mail_state();
        if more && now >= next_round {
            next_round = (next_round + every).max(now);
            let published = time::now_ms();
            let mut on_time = Vec::new();
            for _ in 0..flow.per_tick {
                if flow.max_events.is_some_and(|m| drawn >= m) {
                    break;
                }
                let Some(d) = draw(&flow, &users, drawn, &mut rng) else {
                    break;
                };
                drawn += 1;
                let email = Email {
                    kind: d.kind,
                    to: &d.to,
                    shape: shape(d.shape),
                    variant: d.variant,
                    uuid: d.uuid,
                    published,
                };
                let mut c = s.compose(&mut mail, email);
                if d.late {
                    c.truth.late = true;
                    mail.pending += 1;
                    late.push_back((now + flow.late_by, c));
                } else {
                    on_time.push(c);
                }
            }
            s.store_mail(&mut mail, on_time);
        }
        let mut due = Vec::new();
        while late.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, c)) = late.pop_front() {
                due.push(c);
            }
        }
        mail.pending -= due.len();
        s.store_mail(&mut mail, due);
    }
}

#[cfg(test)]
mod tests {
    use super::{MailFlow, MailKind, draw};
    use std::time::Duration;

    fn draws(flow: &MailFlow, users: &[String], n: u64) -> Vec<(MailKind, String, bool)> {
        let mut rng = fastrand::Rng::with_seed(flow.seed);
        (0..n)
            .filter_map(|i| draw(flow, users, i, &mut rng))
            .map(|d| (d.kind, d.to, d.late))
            .collect()
    }

    #[test]
    fn the_same_seed_draws_the_same_mail_and_another_seed_other_mail() {
        let users: Vec<String> = (0..20).map(|i| format!("u{i}@acme.example")).collect();
        let mut flow = MailFlow::every(Duration::from_millis(10));
        flow.repeat_bouncers = vec![users[3].clone()];
        let a = draws(&flow, &users, 200);
        assert_eq!(a, draws(&flow, &users, 200));
        assert_eq!(a[0], (MailKind::HardBounce, users[3].clone(), a[0].2));
        flow.seed = 2;
        assert_ne!(a, draws(&flow, &users, 200));
        // Every kind of the default mix comes up, in roughly its share.
        let hard = a.iter().filter(|d| d.0 == MailKind::HardBounce).count();
        assert!((30..=90).contains(&hard), "{hard}");
        for kind in [
            MailKind::SoftBounce,
            MailKind::Deferred,
            MailKind::Dropped,
            MailKind::Delivered,
        ] {
            assert!(a.iter().any(|d| d.0 == kind), "{kind:?}");
        }
        let late = a.iter().filter(|d| d.2).count();
        assert!((5..=40).contains(&late), "{late}");
    }

    #[test]
    fn a_mix_of_one_kind_draws_only_that_kind_and_an_empty_mix_nothing() {
        let users = vec!["a@acme.example".to_string()];
        let mut flow = MailFlow::every(Duration::from_millis(10));
        flow.mix = super::MailMix {
            hard: 0,
            soft_bounce: 1,
            deferred: 0,
            dropped: 0,
            delivered: 0,
        };
        assert!(
            draws(&flow, &users, 50)
                .iter()
                .all(|d| d.0 == MailKind::SoftBounce)
        );
        flow.mix.soft_bounce = 0;
        assert!(draws(&flow, &users, 5).is_empty());
    }
}
