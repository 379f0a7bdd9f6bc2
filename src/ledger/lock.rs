//! One writer per org and ledger: an OS file lock (`File::try_lock`, `flock` on Unix) on a file beside the
//! ledger named by the org. The OS lets it go when the process ends however it ends, so `kill -9` never
//! leaves a stale lock; other orgs lock other files and write the same ledger at the same time.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::{LedgerError, OrgKey, time_text};

/// The lock of one org on one ledger, held until dropped. The lock file stays (removing it would let two
/// processes lock two different files of the same name); it holds the holder's pid, for the error a
/// second process gets.
#[derive(Debug)]
pub struct OrgLock {
    _file: File,
    pub(super) ledger: PathBuf,
    pub(super) org: OrgKey,
    path: PathBuf,
}

impl OrgLock {
    pub(super) fn acquire(
        ledger: &Path,
        org: &OrgKey,
        command: &str,
    ) -> Result<OrgLock, LedgerError> {
        // Beside the file itself, however it is named (a symbolic link, a relative path): one lock per
        // ledger file and org.
        let real = std::fs::canonicalize(ledger).unwrap_or_else(|_| ledger.to_path_buf());
        let path = lock_path(&real, org);
        let unusable = |e: std::io::Error| LedgerError::Unusable {
            path: ledger.to_path_buf(),
            reason: format!(
                "cannot open its lock {}: {}",
                path.display(),
                crate::os_error::plain(&e)
            ),
        };
        let mut o = OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut file = o.open(&path).map_err(unusable)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut said = String::new();
                let _ = file.read_to_string(&mut said);
                return Err(LedgerError::Locked {
                    org: org.clone(),
                    ledger: ledger.to_path_buf(),
                    lock: path,
                    holder: holder(&said),
                });
            }
            Err(TryLockError::Error(e)) => return Err(unusable(e)),
        }
        let note = format!(
            "pid {}\ncommand {command}\nsince {}\n",
            std::process::id(),
            time_text(std::time::SystemTime::now())
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(note.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(unusable)?;
        Ok(OrgLock {
            _file: file,
            ledger: ledger.to_path_buf(),
            org: org.clone(),
            path,
        })
    }

    pub fn org(&self) -> &OrgKey {
        &self.org
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `LEDGER.ORG.lock` beside the ledger; the org's origin with every byte but letters, digits, `.` and `-`
/// written `%XX`, so two orgs never share a file (`ledger.sqlite3.https%3A%2F%2Facme.okta.com.lock`).
fn lock_path(ledger: &Path, org: &OrgKey) -> PathBuf {
    let mut name = ledger
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ledger".into());
    name.push('.');
    for b in org.as_str().bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".lock");
    ledger.with_file_name(name)
}

/// What the holder wrote of itself: `pid 1234, bounces sync, since ...`.
fn holder(said: &str) -> String {
    let field = |k: &str| {
        said.lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
            .filter(|v| !v.is_empty())
    };
    match field("pid ") {
        Some(pid) => {
            let mut s = format!("pid {pid}");
            if let Some(c) = field("command ") {
                s.push_str(&format!(", {c}"));
            }
            if let Some(t) = field("since ") {
                s.push_str(&format!(", since {t}"));
            }
            s
        }
        None => "pid not known yet: it is starting".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_files_are_named_by_the_whole_org() {
        let l = Path::new("/s/ledger.sqlite3");
        let a = lock_path(l, &OrgKey("https://acme.okta.com".into()));
        assert_eq!(
            a,
            Path::new("/s/ledger.sqlite3.https%3A%2F%2Facme.okta.com.lock")
        );
        let b = lock_path(l, &OrgKey("http://acme.okta.com".into()));
        let c = lock_path(l, &OrgKey("https://acme.okta.com:8443".into()));
        assert!(a != b && a != c && b != c);
    }

    #[test]
    fn a_second_lock_of_an_org_names_the_holder_and_another_org_is_free() {
        let dir = std::env::temp_dir().join(format!(
            "okta-org-lock-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ledger = dir.join("ledger.sqlite3");
        let acme = OrgKey("https://acme.okta.com".into());
        let first = OrgLock::acquire(&ledger, &acme, "bounces sync").unwrap();
        let e = OrgLock::acquire(&ledger, &acme, "bounces sync").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&format!("pid {}, bounces sync, since ", std::process::id())),
            "{text}"
        );
        assert!(text.contains("https://acme.okta.com"), "{text}");
        assert_eq!(e.exit(), crate::exit::Exit::Retry);
        let other = OrgLock::acquire(&ledger, &OrgKey("https://beta.okta.com".into()), "x");
        assert!(other.is_ok());
        drop(first);
        OrgLock::acquire(&ledger, &acme, "bounces sync").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
