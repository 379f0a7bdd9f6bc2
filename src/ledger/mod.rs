//! The ledger: one SQLite file that remembers, for every org it serves, the System Log events taken, each
//! removal requested and Okta's answer, the verdicts of those removals, the polling cursor and every run.
//! It is what lets `bounces sync` send nothing twice and `bounces history` say what became of an address.
//!
//! `schema` opens it (WAL, `busy_timeout`, forward-only migrations on `PRAGMA user_version`); `record`
//! writes (each call one transaction); `verdicts` derives what became of removals; `policy` answers what
//! needs clearing (and what is held); `history` reads for people; `lock` keeps one writer per org. The
//! schema is documented for `sqlite3` users in docs/ledger.md.

pub mod engine;
mod history;
mod lock;
mod policy;
mod record;
mod schema;
mod verdicts;

#[cfg(test)]
mod behaviour;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use rusqlite::Connection;

use crate::exit::Exit;

pub use history::{AddressHistory, AddressStatus, HistoryQuery, LastRemoval, RemovalHistory};
pub use lock::OrgLock;
pub use policy::{
    BounceSeen, Cleared, Clears, Held, HoldPolicy, Pending, PreviousRequest, parse_hold,
};
pub use record::{Answer, Cursor, EventKind, NewEvent, NewRemoval, RunEnd, Taken, VerdictChange};
pub use schema::LATEST as SCHEMA_VERSION;
pub use verdicts::Verdict;

/// How long a write waits for another process's transaction on the same file (another org's sync).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// An open ledger. Writes take `&mut self` and are each one transaction; reads see one snapshot.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

/// A run's id in the ledger (`runs.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub i64);

/// A removal request's id in the ledger (`removals.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemovalId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for RemovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An org as the ledger keys it: the origin of its URL (`https://acme.okta.com`: scheme, lowercased host,
/// a port only when it is not the scheme's default), so one org is one key however its URL was typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgKey(String);

impl OrgKey {
    pub fn from_url(url: &Url) -> OrgKey {
        OrgKey(url.origin().ascii_serialization())
    }

    /// An org URL as typed on a command line, checked as every command checks it.
    pub fn parse(raw: &str) -> Result<OrgKey, crate::config::OrgUrlError> {
        crate::config::check_org_url(raw).map(|u| OrgKey::from_url(&u))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the ledger is, and what chose that place (for the errors that name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub chosen_by: &'static str,
}

/// The ledger's place: `--ledger FILE` when given, else `$XDG_STATE_HOME/okta-org/ledger.sqlite3` (an
/// absolute `XDG_STATE_HOME` only, as the XDG spec says), else `~/.local/state/okta-org/ledger.sqlite3`.
pub fn locate(flag: Option<&Path>) -> Result<Location, LedgerError> {
    locate_in(flag, |k| std::env::var_os(k).filter(|v| !v.is_empty()))
}

fn locate_in(
    flag: Option<&Path>,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Location, LedgerError> {
    if let Some(p) = flag {
        return Ok(Location {
            path: p.to_path_buf(),
            chosen_by: "given by --ledger",
        });
    }
    let file = Path::new("okta-org").join("ledger.sqlite3");
    if let Some(state) = var("XDG_STATE_HOME").map(PathBuf::from)
        && state.is_absolute()
    {
        return Ok(Location {
            path: state.join(file),
            chosen_by: "the default, under $XDG_STATE_HOME",
        });
    }
    match var("HOME").map(PathBuf::from) {
        Some(home) => Ok(Location {
            path: home.join(".local").join("state").join(file),
            chosen_by: "the default, as XDG_STATE_HOME is not set",
        }),
        None => Err(LedgerError::NoPlace),
    }
}

/// Why the ledger cannot be used; each says what to do, in one line.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no place for the ledger: neither XDG_STATE_HOME nor HOME is set; give --ledger FILE")]
    NoPlace,
    #[error(
        "no ledger at {} ({chosen_by}): nothing was recorded there yet (bounces sync keeps one); \
         --ledger FILE reads another",
        path.display()
    )]
    Missing {
        path: PathBuf,
        chosen_by: &'static str,
    },
    #[error("cannot use {} as the ledger: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
    #[error("{} is not an okta-org ledger: {why}; --ledger FILE names another", path.display())]
    NotALedger { path: PathBuf, why: String },
    #[error(
        "{} is a ledger of schema version {found}, newer than this okta-org knows ({known}): use a \
         newer okta-org (the ledger was left as it is)",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "another okta-org ({holder}) is working on {org} with the ledger {}: wait for it to end, or \
         stop it (its lock is {})",
        ledger.display(),
        lock.display()
    )]
    Locked {
        org: OrgKey,
        ledger: PathBuf,
        lock: PathBuf,
        /// `pid 1234, bounces sync, since ...` as the holder wrote it, or what is known of it.
        holder: String,
    },
    #[error(
        "the ledger {} stayed busy for {} s (another process is writing it): run again later",
        path.display(),
        BUSY_TIMEOUT.as_secs()
    )]
    Busy { path: PathBuf },
    #[error("the ledger {}: {source}", path.display())]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A database error not yet tied to its file (turned into one of the above before it leaves).
    #[error("the ledger: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A caller's mistake: an id of another ledger, a lock of another org.
    #[error("the ledger {}: {what}", path.display())]
    Misuse { path: PathBuf, what: String },
}

impl LedgerError {
    /// No ledger, a file that is none, one too new, or one that cannot be made are usage errors (2); a
    /// lock held by another run and a file busy past the timeout are "run again later" (4); database
    /// errors are unexpected (1).
    pub fn exit(&self) -> Exit {
        match self {
            LedgerError::NoPlace
            | LedgerError::Missing { .. }
            | LedgerError::Unusable { .. }
            | LedgerError::NotALedger { .. }
            | LedgerError::TooNew { .. } => Exit::Usage,
            LedgerError::Locked { .. } | LedgerError::Busy { .. } => Exit::Retry,
            LedgerError::Database { .. } | LedgerError::Sqlite(_) | LedgerError::Misuse { .. } => {
                Exit::Error
            }
        }
    }

    /// Ties a database error to the file, and names the ones a person can act on.
    fn at(self, path: &Path) -> LedgerError {
        let LedgerError::Sqlite(source) = self else {
            return self;
        };
        let path = path.to_path_buf();
        match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                LedgerError::Busy { path }
            }
            Some(rusqlite::ErrorCode::NotADatabase) => LedgerError::NotALedger {
                path,
                why: "not an SQLite database".into(),
            },
            Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
                LedgerError::Unusable {
                    path,
                    reason: source.to_string(),
                }
            }
            _ => LedgerError::Database { path, source },
        }
    }
}

impl Ledger {
    /// Opens the ledger at `path`, making it (and its directories, mode 0700 on Unix) when missing, and
    /// brings its schema up to this build's.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        schema::open(path, true)
    }

    /// Opens a ledger that must already be there (for readers such as `bounces history`).
    pub fn open_existing(at: &Location) -> Result<Ledger, LedgerError> {
        if !at.path.exists() {
            return Err(LedgerError::Missing {
                path: at.path.clone(),
                chosen_by: at.chosen_by,
            });
        }
        schema::open(&at.path, false)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the exclusive lock of `org` on this ledger for the life of the returned guard, or says which
    /// process holds it. Every command that writes removals or events of an org holds it while it runs.
    pub fn lock_org(&self, org: &OrgKey, command: &str) -> Result<OrgLock, LedgerError> {
        OrgLock::acquire(&self.path, org, command)
    }

    /// Runs `f` in one write transaction (taken at once, so it never has to upgrade a read lock and
    /// deadlock against another writer), committed when `f` succeeds.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let path = self.path.clone();
        let run = || {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e: LedgerError| e.at(&path))
    }

    /// Runs `f` on one snapshot of the ledger.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let run = || {
            let tx = self.conn.unchecked_transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e: LedgerError| e.at(&self.path))
    }

    /// The orgs the ledger knows (any run, event, removal or cursor of them).
    pub fn orgs(&self) -> Result<Vec<OrgKey>, LedgerError> {
        self.read(|c| {
            let mut s = c.prepare(
                "SELECT org FROM runs UNION SELECT org FROM events UNION SELECT org FROM removals \
                 UNION SELECT org FROM cursors ORDER BY 1",
            )?;
            let orgs = s
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(orgs.into_iter().map(OrgKey).collect())
        })
    }
}

/// A time as the ledger writes it: RFC 3339, UTC, milliseconds (`2026-11-20T10:00:00.123Z`), as the System
/// Log does; text of one width, so it sorts and compares as text in SQL, and SQLite's date functions read
/// it.
pub(crate) fn time_text(t: SystemTime) -> String {
    // humantime writes years 1970 to 9999 only.
    let latest = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    humantime::format_rfc3339_millis(t.clamp(UNIX_EPOCH, latest)).to_string()
}

/// A time the ledger wrote.
pub(crate) fn parse_time(text: &str) -> rusqlite::Result<SystemTime> {
    humantime::parse_rfc3339_weak(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// `now` less `d`, never before 1970.
pub(crate) fn ago(now: SystemTime, d: Duration) -> SystemTime {
    now.checked_sub(d).unwrap_or(UNIX_EPOCH).max(UNIX_EPOCH)
}

/// An address as the ledger keys it: trimmed and lowercased (Okta's bounce list ignores case).
pub(crate) fn address_key(a: &str) -> String {
    a.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn the_ledger_is_found_where_xdg_says() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let at = |flag: Option<&Path>, vars| locate_in(flag, env(vars)).map(|l| l.path);
        assert_eq!(
            at(None, &[("XDG_STATE_HOME", "/s"), ("HOME", "/h")]).unwrap(),
            PathBuf::from("/s/okta-org/ledger.sqlite3")
        );
        assert_eq!(
            at(None, &[("HOME", "/h")]).unwrap(),
            PathBuf::from("/h/.local/state/okta-org/ledger.sqlite3")
        );
        // A relative XDG_STATE_HOME is to be ignored (XDG base directory spec).
        assert_eq!(
            at(None, &[("XDG_STATE_HOME", "rel"), ("HOME", "/h")]).unwrap(),
            PathBuf::from("/h/.local/state/okta-org/ledger.sqlite3")
        );
        assert_eq!(
            at(Some(Path::new("x.db")), &[("HOME", "/h")]).unwrap(),
            PathBuf::from("x.db")
        );
        assert!(matches!(at(None, &[]), Err(LedgerError::NoPlace)));
    }

    #[test]
    fn orgs_are_keyed_by_origin() {
        let k = |s: &str| OrgKey::parse(s).unwrap().as_str().to_string();
        assert_eq!(k("https://ACME.okta.com"), "https://acme.okta.com");
        assert_eq!(k("https://acme.okta.com:443/"), "https://acme.okta.com");
        assert_eq!(k("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert!(OrgKey::parse("https://acme.okta.com/api").is_err());
    }

    #[test]
    fn times_sort_as_text_and_never_panic() {
        let a = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let b = a + Duration::from_millis(1);
        assert!(time_text(a) < time_text(b));
        assert_eq!(time_text(a), "2026-11-18T11:06:40.123Z");
        assert_eq!(parse_time(&time_text(a)).unwrap(), a);
        assert_eq!(ago(a, Duration::from_secs(u64::MAX / 4)), UNIX_EPOCH);
        assert_eq!(time_text(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
