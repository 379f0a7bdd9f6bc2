//! Names the commit the tool is built from, for `okta-org --version`: `OKTA_ORG_COMMIT` is the first 12
//! hex digits of HEAD, with `-dirty` when tracked files differ from it, or `unknown` when this is not a
//! git checkout (a source archive) or git is not installed. It asks git three quick questions and tells
//! cargo which files to watch, so a new commit or checkout rebuilds with the right name.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OKTA_ORG_COMMIT");
    let commit = std::env::var("OKTA_ORG_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(commit_of_checkout)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=OKTA_ORG_COMMIT={commit}");
}

/// HEAD of the checkout this package is the top of (not of some repository it happens to sit in).
fn commit_of_checkout() -> Option<String> {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?);
    if same(&top, &here) != Some(true) {
        return None;
    }
    // Watch what moves when HEAD does: HEAD itself (a checkout), the branch's ref (a commit), the packed
    // refs (a ref packed by gc), the index (staging, which changes what is dirty), and the sources.
    let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.extend(git(&["rev-parse", "--git-path", &branch]));
    }
    watch.extend(git(&["rev-parse", "--git-path", "packed-refs"]));
    watch.extend(git(&["rev-parse", "--git-path", "index"]));
    watch.extend(["src".to_string(), "Cargo.toml".to_string()]);
    for path in watch {
        // A path that does not exist would make cargo run this script on every build.
        if here.join(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

fn same(a: &Path, b: &Path) -> Option<bool> {
    Some(a.canonicalize().ok()? == b.canonicalize().ok()?)
}
