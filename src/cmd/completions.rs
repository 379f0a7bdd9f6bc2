//! `okta-org completions SHELL`: the shell's completion script on stdout, generated from the same clap
//! definition that parses the command line ([`super::Cli::command`]), so it never lags behind a flag.

use super::{Cli, CmdError, write_stdout};
use crate::exit::Exit;

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Install (then open a new shell):
  bash: mkdir -p ~/.local/share/bash-completion/completions
        okta-org completions bash > ~/.local/share/bash-completion/completions/okta-org
  zsh:  mkdir -p ~/.zfunc    # a directory on $fpath, before compinit
        okta-org completions zsh > ~/.zfunc/_okta-org
  fish: mkdir -p ~/.config/fish/completions
        okta-org completions fish > ~/.config/fish/completions/okta-org.fish

Example:
  okta-org completions bash > ~/.local/share/bash-completion/completions/okta-org")]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

const BIN: &str = "okta-org";

/// The script for `shell`.
pub fn script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    if shell == clap_complete::Shell::Bash {
        out = bash_hyphen_fix(out);
    }
    out
}

/// clap_complete's bash script spells the state of a hyphenated program name two ways: the loop over
/// the words builds `okta__org__subcmd__bounces`, the `case` arms read `okta__subcmd__org__subcmd__bounces`,
/// so nothing after the first subcommand completes (clap-rs/clap#6421, open). The arms are respelled the
/// way the loop builds them.
fn bash_hyphen_fix(script: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(script).expect("the script is UTF-8");
    let arms = BIN.replace('-', "__subcmd__");
    let state = BIN.replace('-', "__");
    text.replace(&arms, &state).into_bytes()
}

pub fn run(a: Args) -> Result<Exit, CmdError> {
    write_stdout(&script(a.shell))
}
