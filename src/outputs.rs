//! Output safety, checked before anything is read or sent: no output overwrites what the command reads
//! (an input, an earlier report) or another of its outputs, and an output that cannot be written is found
//! out without emptying it. Also the atomic write of a small file (the summary): whole or not at all.

use std::io::Write;
use std::path::{Path, PathBuf};

/// An output the command must not, or cannot, write: a usage error (exit 2), said in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OutputError(pub String);

/// Refuses, before anything is read or sent (and before a summary is written), an output that is one of
/// the files the command reads — an input, an earlier report — or another of its outputs: writing it
/// would destroy what the run is about. `reads` are (what, path); `writes` are (flag, path).
pub fn refuse_overwrites(
    reads: &[(String, &Path)],
    writes: &[(&str, Option<&Path>)],
) -> Result<(), OutputError> {
    let writes: Vec<(&str, &Path)> = writes
        .iter()
        .filter_map(|&(flag, p)| p.filter(|p| *p != Path::new("-")).map(|p| (flag, p)))
        .collect();
    for (k, &(flag, path)) in writes.iter().enumerate() {
        let clash = reads
            .iter()
            .find(|(_, r)| same_file(path, r))
            .map(|(what, _)| what.clone())
            .or_else(|| {
                writes[..k]
                    .iter()
                    .find(|(_, w)| same_file(path, w))
                    .map(|(other, _)| format!("what {other} writes"))
            });
        if let Some(what) = clash {
            return Err(OutputError(format!(
                "{flag} {} would overwrite {what}; write it elsewhere",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Whether an output can be written, found out before any request without emptying it: a regular file is
/// opened for appending (made when missing, and removed again); a FIFO, a terminal or a device is left
/// alone, since opening one blocks for a reader or gives the reader an end it did not ask for.
pub fn probe_writable(path: &Path, what: &str) -> Result<(), OutputError> {
    if path.is_dir() {
        return Err(OutputError(format!(
            "cannot write {what}{}: it is a directory",
            path.display()
        )));
    }
    let was_there = match std::fs::symlink_metadata(path) {
        Ok(_) if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) => return Ok(()),
        Ok(_) => true,
        Err(_) => false,
    };
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map(|_| {
            // A file made only to find out is not left behind (a run refused later leaves no output).
            if !was_there {
                let _ = std::fs::remove_file(path);
            }
        })
        .map_err(|e| {
            OutputError(format!(
                "cannot write {what}{}: {}",
                path.display(),
                crate::os_error::plain(&e)
            ))
        })
}

/// The same file: the same path, the same path once links are followed, a file of the same name in the
/// same directory (`out/x.csv` and `out/./x.csv`, neither made yet), or (on Unix) the same inode (a hard
/// link; stdin redirected from the file, as `/dev/stdin`).
pub fn same_file(a: &Path, b: &Path) -> bool {
    if a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
        || matches!((in_its_directory(a), in_its_directory(b)), (Some(x), Some(y)) if x == y)
    {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.is_file() && y.is_file() && x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}

/// `path` as its directory (links followed) and its name, when the directory is there.
fn in_its_directory(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = std::fs::canonicalize(dir.unwrap_or(Path::new("."))).ok()?;
    Some(dir.join(name))
}

/// `.NAME.PID.tmp` in the directory of `path`: on the same file system, so the rename is atomic.
pub fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "summary".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A device, a FIFO or a terminal (`/dev/null`, `/dev/stdout`) is written in place: a rename would put
    // a file where it was.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .write_all(bytes);
    }
    // Through a symbolic link, the file it names is replaced, not the link.
    let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let temp = temp_beside(path);
    let result = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO is not opened to see whether it can be written: that would block for a reader, or hand
    /// the reader an end before the rows.
    #[cfg(unix)]
    #[test]
    fn fifos_devices_and_links_stay_what_they_are() {
        let dir = std::env::temp_dir().join(format!("okta-org-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("rows");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert!(probe_writable(&fifo, "").is_ok());
        }
        // Nor is a FIFO (or /dev/null) replaced by a file when the summary is written to it.
        if fifo.exists() {
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(fifo).unwrap())
            };
            write_atomically(&fifo, b"{}\n").unwrap();
            assert_eq!(reader.join().unwrap(), b"{}\n");
            use std::os::unix::fs::FileTypeExt;
            assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        }
        // Through a link, the file it names gets the summary and the link stays.
        let file = dir.join("s.json");
        std::fs::write(&file, "old").unwrap();
        let link = dir.join("link.json");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        let missing = dir.join("no-such-dir").join("x.csv");
        let e = probe_writable(&missing, "the report ")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
