//! `okta-org bounces history [ADDRESS...]`: what the ledger knows, read from the file alone (no org, no
//! token, no request): one row per removal request, or per address with `--by address`, with the bounces
//! seen, Okta's answers, the latest verdict and whether the hold policy holds the address.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;

use super::super::CmdError;
use super::find::parse_when;
use super::summary::Summarised;
use super::{ReportFormat, RowsArgs};
use crate::cli::Global;
use crate::exit::Exit;
use crate::ledger::{
    self, AddressHistory, HistoryQuery, HoldPolicy, Ledger, OrgKey, RemovalHistory, parse_hold,
    time_text,
};
use crate::report::neutralise;
use crate::term::count;

pub const HISTORY_HELP: &str = "\
Reads the ledger that bounces sync (and bounces remove --ledger) keep, and
nothing else: no org, token or request is needed. One row per removal request:
email, org, when it was requested, by which run and command, Okta's answer and
when, the removal's verdict (removal_logged, delivered, bounced_again) and
when, the hard bounces seen, and whether the address is held. With --by
address, one row per address: its status (cleared, pending, held, rejected,
failed, sending, no_hard_bounce), bounces and soft signals seen, removals, the
latest removal and verdict. Every org in the ledger, unless --org-url or
--profile names one. Addresses match whatever their case.

An address is held when it bounced again after --hold-after K/D removals
(default 3 in 30 days): the address itself needs fixing. The hold ends by
itself once fewer than K of its removals fall within the last D.

Examples:
  okta-org bounces history jane@acme.com
  okta-org bounces history --by address --held
  okta-org bounces history --since 7d --format jsonl --output week.jsonl";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// One row per removal request
    Removal,
    /// One row per address
    Address,
}

#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Only these addresses (any case)
    #[arg(value_name = "ADDRESS")]
    pub addresses: Vec<String>,
    /// The ledger [default: $XDG_STATE_HOME/okta-org/ledger.sqlite3, else ~/.local/state/okta-org/ledger.sqlite3]
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Only removals requested since (per address: addresses with an event or a request since): how
    /// long ago (7d) or a time (2026-11-01)
    #[arg(long, value_name = "DUR|TIME")]
    pub since: Option<String>,
    /// Only addresses the hold policy holds
    #[arg(long)]
    pub held: bool,
    /// One row per removal request, or per address
    #[arg(long, value_enum, default_value_t = By::Removal)]
    pub by: By,
    /// The hold policy to judge by: held after K removals within D (as bounces sync's)
    #[arg(long, value_name = "K/D", default_value = "3/30d", value_parser = parse_hold)]
    pub hold_after: HoldPolicy,
    #[command(flatten)]
    pub rows: RowsArgs,
    /// Only this org's rows, e.g. https://acme.okta.com [default: every org in the ledger]
    #[arg(long, value_name = "URL")]
    pub org_url: Option<String>,
    /// Only the rows of the org of okta.profiles.NAME.client of okta.yaml
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// The CSV header of rows per removal: [`RemovalRow`]'s fields.
const REMOVAL_HEADER: [&str; 14] = [
    "email",
    "org",
    "removal",
    "requested",
    "run",
    "command",
    "answer",
    "reason",
    "answered",
    "verdict",
    "verdict_at",
    "bounces",
    "held",
    "held_reason",
];

#[derive(Serialize)]
struct RemovalRow<'a> {
    email: &'a str,
    org: &'a str,
    removal: i64,
    requested: String,
    run: i64,
    command: &'a str,
    answer: &'a str,
    reason: Cow<'a, str>,
    answered: Option<String>,
    verdict: Option<&'static str>,
    verdict_at: Option<String>,
    bounces: u64,
    held: bool,
    held_reason: Option<String>,
}

/// The CSV header of rows per address: [`AddressRow`]'s fields.
const ADDRESS_HEADER: [&str; 15] = [
    "email",
    "org",
    "status",
    "bounces",
    "soft",
    "last_bounce",
    "removals",
    "accepted",
    "last_requested",
    "last_run",
    "last_command",
    "last_answer",
    "verdict",
    "verdict_at",
    "held_reason",
];

#[derive(Serialize)]
struct AddressRow<'a> {
    email: &'a str,
    org: &'a str,
    status: &'static str,
    bounces: u64,
    soft: u64,
    last_bounce: Option<String>,
    removals: u64,
    accepted: u64,
    last_requested: Option<String>,
    last_run: Option<i64>,
    last_command: Option<&'a str>,
    last_answer: Option<&'static str>,
    verdict: Option<&'static str>,
    verdict_at: Option<String>,
    held_reason: Option<String>,
}

/// The summary's fields of `bounces history`.
#[derive(Debug, Serialize)]
struct Body {
    ledger: Option<String>,
    output: Option<String>,
    by: By,
    rows: u64,
    addresses: u64,
    held: u64,
}

pub async fn run(mut a: HistoryArgs, global: &Global) -> Result<Exit, CmdError> {
    let at = ledger::locate(a.ledger.as_deref())?;
    a.rows
        .check(&[(format!("the ledger {}", at.path.display()), &at.path)])?;
    let mut body = Body {
        ledger: Some(at.path.display().to_string()),
        output: a.rows.output.as_ref().map(|p| p.display().to_string()),
        by: a.by,
        rows: 0,
        addresses: 0,
        held: 0,
    };
    let summary = Summarised::start(
        "bounces history",
        a.rows.summary.as_deref(),
        a.rows.output.as_deref(),
    )?;
    let result = history(&a, &at, global, &mut body);
    summary.finish(result, &body)
}

fn history(
    a: &HistoryArgs,
    at: &ledger::Location,
    global: &Global,
    body: &mut Body,
) -> Result<Exit, CmdError> {
    let now = SystemTime::now();
    let org = match (&a.org_url, &a.profile) {
        (None, None) => None,
        _ => {
            let flags = crate::config::Flags {
                org_url: a.org_url.clone(),
                profile: a.profile.clone(),
                ..crate::config::Flags::default()
            };
            let config = crate::session::load_config(&flags, global.quiet)?;
            Some(OrgKey::from_url(&config.org_url()?.value))
        }
    };
    let since = a
        .since
        .as_deref()
        .map(|s| parse_when(s, now))
        .transpose()
        .map_err(|e| super::super::usage(format!("--since: {e}")))?;
    let query = HistoryQuery {
        org,
        addresses: a.addresses.clone(),
        since,
        held_only: a.held,
        policy: a.hold_after,
        now,
    };
    let ledger = Ledger::open_existing(at)?;
    let csv = a.rows.format == ReportFormat::Csv;
    let mut addresses = std::collections::HashSet::new();
    let mut held = std::collections::HashSet::new();
    match a.by {
        By::Removal => {
            let found = ledger.removal_history(&query)?;
            let rows: Vec<RemovalRow<'_>> = found.iter().map(|r| removal_row(r, csv)).collect();
            for r in &found {
                addresses.insert((r.org.clone(), r.address.clone()));
                if r.held.is_some() {
                    held.insert((r.org.clone(), r.address.clone()));
                }
            }
            body.rows = rows.len() as u64;
            a.rows.write(&REMOVAL_HEADER, &rows)?;
        }
        By::Address => {
            let found = ledger.address_history(&query)?;
            let rows: Vec<AddressRow<'_>> = found.iter().map(address_row).collect();
            for h in &found {
                addresses.insert((h.org.clone(), h.address.clone()));
                if h.held.is_some() {
                    held.insert((h.org.clone(), h.address.clone()));
                }
            }
            body.rows = rows.len() as u64;
            a.rows.write(&ADDRESS_HEADER, &rows)?;
        }
    }
    body.addresses = addresses.len() as u64;
    body.held = held.len() as u64;
    if !global.quiet {
        crate::term::note(format_args!(
            "{} of {} ({} held) from the ledger {}",
            count(
                body.rows,
                if a.by == By::Removal {
                    "removal"
                } else {
                    "row"
                },
                if a.by == By::Removal {
                    "removals"
                } else {
                    "rows"
                }
            ),
            count(body.addresses, "address", "addresses"),
            body.held,
            at.path.display()
        ));
    }
    Ok(Exit::Ok)
}

/// A row per removal; in CSV, Okta's reason is neutralised for spreadsheets.
fn removal_row(r: &RemovalHistory, csv: bool) -> RemovalRow<'_> {
    let reason = r.answer.reason();
    RemovalRow {
        email: &r.address,
        org: r.org.as_str(),
        removal: r.removal.0,
        requested: time_text(r.requested),
        run: r.run.0,
        command: &r.command,
        answer: r.answer.as_str(),
        reason: if csv {
            neutralise(reason)
        } else {
            Cow::Borrowed(reason)
        },
        answered: r.answered.map(time_text),
        verdict: r.verdict.map(|(v, _)| v.as_str()),
        verdict_at: r.verdict.map(|(_, t)| time_text(t)),
        bounces: r.bounces,
        held: r.held.is_some(),
        held_reason: r.held.as_ref().map(|h| h.reason()),
    }
}

fn address_row(h: &AddressHistory) -> AddressRow<'_> {
    let last = h.last_removal.as_ref();
    AddressRow {
        email: &h.address,
        org: h.org.as_str(),
        status: h.status.as_str(),
        bounces: h.bounces,
        soft: h.soft,
        last_bounce: h.last_bounce.map(time_text),
        removals: h.removals,
        accepted: h.accepted,
        last_requested: last.map(|l| time_text(l.requested)),
        last_run: last.map(|l| l.run.0),
        last_command: last.map(|l| l.command.as_str()),
        last_answer: last.map(|l| l.answer.as_str()),
        verdict: h.verdict.map(|(v, _)| v.as_str()),
        verdict_at: h.verdict.map(|(_, t)| time_text(t)),
        held_reason: h.held.as_ref().map(|h| h.reason()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Answer, RemovalId, RunId};

    #[test]
    fn the_headers_name_the_row_fields() {
        let r = RemovalHistory {
            org: OrgKey::parse("https://acme.okta.com").unwrap(),
            address: "a@x.com".into(),
            removal: RemovalId(1),
            run: RunId(1),
            command: "bounces sync".into(),
            requested: SystemTime::UNIX_EPOCH,
            answer: Answer::Accepted,
            answered: None,
            verdict: None,
            bounces: 0,
            held: None,
        };
        assert_eq!(
            super::super::header_of(removal_row(&r, true)),
            REMOVAL_HEADER.join(",")
        );
        let h = AddressHistory {
            org: r.org.clone(),
            address: "a@x.com".into(),
            bounces: 0,
            soft: 0,
            last_bounce: None,
            removals: 0,
            accepted: 0,
            last_removal: None,
            verdict: None,
            status: crate::ledger::AddressStatus::NoHardBounce,
            held: None,
        };
        assert_eq!(
            super::super::header_of(address_row(&h)),
            ADDRESS_HEADER.join(",")
        );
    }
}
