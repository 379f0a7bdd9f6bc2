//! Opening a ledger and keeping its schema current: the version lives in `PRAGMA user_version`, and the
//! migrations below run forward only, in one exclusive transaction, right after the file is opened (the
//! pattern of cargo's `util/sqlite.rs`). A ledger newer than this build is refused before anything is
//! written to it.
//!
//! Rules for whoever adds a version: append a migration, never edit or remove one (a file in the field is
//! at every version ever released); never drop or rename a table or a column (older builds still read the
//! file until they refuse it); add columns with defaults. Document the change in docs/ledger.md.

use std::path::Path;
use std::time::SystemTime;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use super::{BUSY_TIMEOUT, Ledger, LedgerError};

/// `PRAGMA application_id` of a ledger ("oklg"), so another program's SQLite file is not taken for one.
const APPLICATION_ID: i32 = 0x6f6b_6c67;

/// Version 1: what the ledger records (runs, events and their recipients, removals, cursors).
pub(super) const V1: &str = "
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    org         TEXT NOT NULL,
    command     TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started     TEXT NOT NULL,
    ended       TEXT,
    cause       TEXT,
    exit_status INTEGER,
    counts      TEXT
);
CREATE INDEX runs_by_org ON runs (org, started);
CREATE TABLE events (
    org        TEXT NOT NULL,
    uuid       TEXT NOT NULL,
    event_type TEXT NOT NULL,
    kind       TEXT NOT NULL,
    published  TEXT NOT NULL,
    taken      TEXT NOT NULL,
    run_id     INTEGER REFERENCES runs (id),
    user_id    TEXT,
    detail     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org, uuid)
);
CREATE TABLE event_recipients (
    org     TEXT NOT NULL,
    uuid    TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (org, address, uuid),
    FOREIGN KEY (org, uuid) REFERENCES events (org, uuid)
);
CREATE INDEX event_recipients_by_event ON event_recipients (org, uuid, address);
CREATE TABLE removals (
    id          INTEGER PRIMARY KEY,
    org         TEXT NOT NULL,
    address     TEXT NOT NULL,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    command     TEXT NOT NULL,
    requested   TEXT NOT NULL,
    answer      TEXT NOT NULL DEFAULT 'sending',
    reason      TEXT NOT NULL DEFAULT '',
    answered    TEXT,
    bounce_uuid TEXT
);
CREATE INDEX removals_by_address ON removals (org, address);
CREATE INDEX removals_by_run ON removals (run_id);
CREATE TABLE cursors (
    org     TEXT PRIMARY KEY,
    since   TEXT NOT NULL,
    next    TEXT,
    updated TEXT NOT NULL,
    run_id  INTEGER REFERENCES runs (id)
);
";

/// Version 2: the verdicts of removals, derived from version 1's facts (and re-derived from them for a
/// ledger that had none), and an index for the scans of hard bounces.
pub(super) const V2: &str = "
CREATE TABLE verdicts (
    removal_id INTEGER PRIMARY KEY REFERENCES removals (id),
    org        TEXT NOT NULL,
    address    TEXT NOT NULL,
    verdict    TEXT NOT NULL,
    at         TEXT NOT NULL,
    event_uuid TEXT NOT NULL,
    decided    TEXT NOT NULL
);
CREATE INDEX verdicts_by_address ON verdicts (org, address);
CREATE INDEX events_by_kind ON events (org, kind, published);
";

/// Version 3: when Okta said the org's bounce list may be asked again (a `--max-wait` stop), so that the
/// next process sends nothing before it; and the newest event's `published` time each cursor has taken,
/// where a query starts again when Okta no longer takes a saved cursor.
pub(super) const V3: &str = "
ALTER TABLE cursors ADD COLUMN retry_at TEXT;
ALTER TABLE cursors ADD COLUMN newest TEXT;
";

/// The migrations, in order: the one at index `i` takes a ledger from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// The version from which verdicts are kept: a ledger migrated from before it gets them derived.
const VERDICTS_FROM: i64 = 2;

/// Opens (with `create`, makes) the ledger at `path` and migrates it.
pub(super) fn open(path: &Path, create: bool) -> Result<Ledger, LedgerError> {
    if create {
        make(path)?;
    }
    if path.is_dir() {
        return Err(LedgerError::Unusable {
            path: path.to_path_buf(),
            reason: "it is a directory".into(),
        });
    }
    refuse_hard_links(path)?;
    // A reader of a current ledger opens it read-only: a ledger it may not write, or in a directory it
    // may not write, still reads, and nothing of the reader's is left beside it.
    if !create && let Some(ledger) = open_read_only(path)? {
        return Ok(ledger);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let at = |e: rusqlite::Error| LedgerError::from(e).at(path);
    let mut conn = Connection::open_with_flags(path, flags).map_err(at)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(at)?;
    // Read before anything is written: a ledger from a newer build, or another program's file, is left
    // exactly as it is.
    let version = check(&conn, path)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(at)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            "the ledger {} could not use WAL (journal mode {mode}): writers of other orgs wait longer",
            path.display()
        );
    }
    // FULL: a commit is on disk before the request it records goes out, even across a power cut.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(at)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(at)?;
    // A current ledger takes no write lock to open (a reader of a file it may not write still reads).
    if version < LATEST {
        migrate(&mut conn, path, SystemTime::now())?;
    }
    Ok(Ledger {
        conn,
        path: path.to_path_buf(),
    })
}

/// The ledger at `path` opened read-only, when its schema is this build's (an older one is migrated
/// first, which takes a writer: `None`). SQLite reads a WAL ledger read-only where its `-shm` file is
/// there or can be made; otherwise (a directory the reader may not write, no writer running) it is read
/// as immutable.
fn open_read_only(path: &Path) -> Result<Option<Ledger>, LedgerError> {
    let at = |e: rusqlite::Error| LedgerError::from(e).at(path);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let attempt = |conn: rusqlite::Result<Connection>| -> Result<(Connection, i64), LedgerError> {
        let conn = conn.map_err(at)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(at)?;
        let version = check(&conn, path)?;
        Ok((conn, version))
    };
    let (conn, version) = match attempt(Connection::open_with_flags(path, flags)) {
        Ok(v) => v,
        Err(LedgerError::Unusable { .. }) => {
            let uri = format!("file:{}?immutable=1", uri_path(path));
            attempt(Connection::open_with_flags(
                uri,
                flags | OpenFlags::SQLITE_OPEN_URI,
            ))?
        }
        Err(e) => return Err(e),
    };
    Ok((version == LATEST).then(|| Ledger {
        conn,
        path: path.to_path_buf(),
    }))
}

/// `path` as the path of an SQLite `file:` URI: absolute, with `%`, `?` and `#` escaped.
fn uri_path(path: &Path) -> String {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// Refuses a ledger file of more than one name (hard links): SQLite keeps its journal (`-wal`) and lock
/// (`-shm`) files beside the name it was opened by, so two processes writing through two names would not
/// see each other's commits, nor take the same lock of an org. A symbolic link is one file, one name.
fn refuse_hard_links(path: &Path) -> Result<(), LedgerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.is_file()
            && m.nlink() > 1
        {
            return Err(LedgerError::Unusable {
                path: path.to_path_buf(),
                reason: format!(
                    "the file has {} names (hard links), and SQLite keeps its journal beside each \
                     name, so writers through two names can lose each other's records: keep one \
                     name (a symbolic link is fine)",
                    m.nlink()
                ),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes the ledger's directories (mode 0700 on Unix: it lists people's addresses) and an empty file
/// readable by its owner only (SQLite gives its `-wal` and `-shm` files the same mode).
fn make(path: &Path) -> Result<(), LedgerError> {
    let unusable = |what: &str, e: std::io::Error| LedgerError::Unusable {
        path: path.to_path_buf(),
        reason: format!("{what}: {}", crate::os_error::plain(&e)),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .map_err(|e| unusable(&format!("cannot make {}", dir.display()), e))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory || path.is_dir() => {
            Err(LedgerError::Unusable {
                path: path.to_path_buf(),
                reason: "it is a directory".into(),
            })
        }
        Err(e) if path.exists() => Err(unusable("cannot open it for writing", e)),
        Err(e) => Err(unusable("cannot create it", e)),
    }
}

/// Refuses a file that is not a ledger, or one of a newer schema than this build's; else its version.
fn check(conn: &Connection, path: &Path) -> Result<i64, LedgerError> {
    let at = |e: rusqlite::Error| LedgerError::from(e).at(path);
    let not = |why: &str| LedgerError::NotALedger {
        path: path.to_path_buf(),
        why: why.into(),
    };
    let (version, app): (i64, i32) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), \
                    (SELECT application_id FROM pragma_application_id)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(at)?;
    if app != 0 && app != APPLICATION_ID {
        return Err(not("an SQLite database of another program"));
    }
    if version > LATEST {
        return Err(LedgerError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known: LATEST,
        });
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(at)?;
        if tables > 0 {
            return Err(not("an SQLite database of another program"));
        }
    }
    Ok(version)
}

/// Brings the schema to [`LATEST`] in one exclusive transaction: the version is read again inside it (a
/// process that migrated first leaves nothing to do), every missing migration runs, verdicts are derived
/// for a ledger that had none, and the new version is written, or nothing is.
fn migrate(conn: &mut Connection, path: &Path, now: SystemTime) -> Result<(), LedgerError> {
    let run = |conn: &mut Connection| -> Result<(), LedgerError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        let from: i64 = tx.query_row("SELECT user_version FROM pragma_user_version", [], |r| {
            r.get(0)
        })?;
        if from > LATEST {
            return Err(LedgerError::TooNew {
                path: path.to_path_buf(),
                found: from,
                known: LATEST,
            });
        }
        if from == LATEST {
            return Ok(());
        }
        for ddl in &MIGRATIONS[from as usize..] {
            tx.execute_batch(ddl)?;
        }
        if from > 0 && from < VERDICTS_FROM {
            derive_all(&tx, now)?;
        }
        tx.pragma_update(None, "user_version", LATEST)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
        Ok(())
    };
    run(conn).map_err(|e| e.at(path))
}

/// Derives the verdict of every accepted removal (a ledger migrated from before verdicts were kept).
fn derive_all(tx: &Transaction<'_>, now: SystemTime) -> Result<(), LedgerError> {
    let mut s = tx.prepare(
        "SELECT DISTINCT org, address FROM removals WHERE answer = 'accepted' ORDER BY 1, 2",
    )?;
    let pairs = s
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    for (org, address) in pairs {
        super::verdicts::derive(tx, &org, &address, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "okta-org-ledger-{name}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let _ = std::fs::remove_dir_all(&d);
        d.join("nested").join("ledger.sqlite3")
    }

    fn version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT user_version FROM pragma_user_version", [], |r| {
                r.get(0)
            })
            .unwrap()
    }

    #[test]
    fn a_new_ledger_is_made_private_in_wal_at_the_latest_version() {
        let path = scratch("new");
        let l = Ledger::open(&path).unwrap();
        let mode: String = l
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(l);
        assert_eq!(version(&path), LATEST);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        // Opened again: nothing to migrate, nothing lost.
        Ledger::open(&path).unwrap();
        assert_eq!(version(&path), LATEST);
    }

    #[test]
    fn a_newer_ledger_is_refused_and_left_alone() {
        let path = scratch("newer");
        drop(Ledger::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        let e = Ledger::open(&path).err().unwrap();
        assert!(
            matches!(e, LedgerError::TooNew { found, .. } if found == LATEST + 1),
            "{e}"
        );
        assert_eq!(e.exit(), crate::exit::Exit::Usage);
        assert!(e.to_string().contains("newer okta-org"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn files_that_are_no_ledger_are_refused() {
        let path = scratch("other");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "email\nbob@x.com\n".repeat(100)).unwrap();
        let e = Ledger::open(&path).err().unwrap();
        assert!(matches!(e, LedgerError::NotALedger { .. }), "{e}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            "email\nbob@x.com\n".repeat(100).as_bytes()
        );
        // Another program's SQLite file.
        let other = path.with_file_name("app.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = Ledger::open(&other).err().unwrap();
        assert!(e.to_string().contains("another program"), "{e}");
        // A directory.
        let e = Ledger::open(path.parent().unwrap()).err().unwrap();
        assert!(e.to_string().contains("directory"), "{e}");
        assert_eq!(e.exit(), crate::exit::Exit::Usage);
    }

    #[test]
    fn a_missing_ledger_is_not_made_by_a_reader() {
        let path = scratch("missing");
        let at = Location {
            path: path.clone(),
            chosen_by: "--ledger",
        };
        let e = Ledger::open_existing(&at).err().unwrap();
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert_eq!(e.exit(), crate::exit::Exit::Usage);
        assert!(!path.exists());
    }
}
