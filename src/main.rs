use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = okta_org::cmd::Cli::parse_args();
    okta_org::cmd::run(cli).into()
}
