//! `okta-org man`: the manual page, generated from the same clap definition that parses the command line
//! ([`super::Cli::command`]). On stdout, one page for the whole tool: the program, then a section for
//! every command with its synopsis, options and examples. With `--dir`, one page a command, named as man
//! expects (`okta-org-bounces-remove.1`), each listed in the pages of its group.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Cli, CmdError, usage, write_stdout};
use crate::exit::Exit;

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Install one page a command (okta-org.1, okta-org-bounces-remove.1, ...):
  okta-org man --dir ~/.local/share/man/man1
or, instead, the whole tool as one page (also named okta-org.1):
  okta-org man > ~/.local/share/man/man1/okta-org.1

Example:
  okta-org man | man -l -")]
pub struct Args {
    /// Write one page a command into this directory (okta-org.1, okta-org-bounces.1,
    /// okta-org-bounces-remove.1, ...) instead of one page to stdout
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<Exit, CmdError> {
    match &a.dir {
        None => write_stdout(&whole_page()),
        Some(dir) => {
            let written = write_pages(dir)?;
            crate::term::note(format_args!(
                "wrote {} to {}",
                crate::term::count(written.len() as u64, "man page", "man pages"),
                dir.display()
            ));
            Ok(Exit::Ok)
        }
    }
}

/// The program as clap builds it: every subcommand named in full (`okta-org-bounces-remove`), without
/// the `help` subcommand, which needs no page.
fn built() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Every command below `cmd`, depth first, in the order `--help` lists them, each with its command line
/// (`okta-org bounces remove`).
pub fn descendants(cmd: &clap::Command, path: &str) -> Vec<(String, clap::Command)> {
    let mut all = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let line = format!("{path} {}", sub.get_name());
        all.extend(std::iter::once((line.clone(), sub.clone())));
        all.extend(descendants(sub, &line));
    }
    all
}

/// One command's page.
fn page(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .expect("writing to memory");
    rename_extra(out)
}

/// clap_mangen calls the text after the options (notes and examples) EXTRA. Its indented lines (examples,
/// install lines) are set as they are, not filled or justified: a command copied from the page runs.
fn rename_extra(roff: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(roff).expect("roff from UTF-8 text");
    let text = text.replace("\n.SH EXTRA\n", "\n.SH \"NOTES AND EXAMPLES\"\n");
    let mut out = String::with_capacity(text.len() + 64);
    let mut verbatim = false;
    for line in text.split_inclusive('\n') {
        let indented = line.starts_with("  ");
        if indented != verbatim {
            out.push_str(if indented { ".nf\n" } else { ".fi\n" });
            verbatim = indented;
        }
        out.push_str(line);
    }
    if verbatim {
        out.push_str(".fi\n");
    }
    out.into_bytes()
}

/// The page of the program, followed by a section for each command: its description, synopsis, options
/// and examples, with their headings one level down.
pub fn whole_page() -> Vec<u8> {
    let cmd = built();
    let mut out = page(cmd.clone());
    for (line, sub) in descendants(&cmd, "okta-org") {
        let mut body = Vec::new();
        let man = clap_mangen::Man::new(sub.clone());
        let _ = man.render_description_section(&mut body);
        let _ = man.render_synopsis_section(&mut body);
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            let _ = man.render_options_section(&mut body);
        }
        if sub.get_subcommands().next().is_some() {
            let _ = man.render_subcommands_section(&mut body);
        }
        if sub.get_after_help().is_some() {
            let _ = man.render_extra_section(&mut body);
        }
        let body = String::from_utf8(rename_extra(body)).expect("roff from UTF-8 text");
        let _ = writeln!(out, ".SH \"{}\"", line.to_uppercase());
        out.extend(
            body.replace("\n.SH ", "\n.SS ")
                .replacen(".SH ", ".SS ", 1)
                .bytes(),
        );
    }
    out
}

/// Writes a page for the program and for every command into `dir` (made if missing); returns their paths.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, CmdError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| usage(format!("cannot make the directory {}: {e}", dir.display())))?;
    let cmd = built();
    let mut written = Vec::new();
    let all = descendants(&cmd, "okta-org").into_iter().map(|(_, c)| c);
    for c in std::iter::once(cmd.clone()).chain(all) {
        let name = format!("{}.1", c.get_display_name().unwrap_or(c.get_name()));
        let path = dir.join(name);
        std::fs::write(&path, page(c)).map_err(|source| CmdError::Io {
            what: format!("cannot write {}", path.display()),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
