use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = okta_org::cli::Cli::parse_args();
    okta_org::cmd::run(cli).into()
}
