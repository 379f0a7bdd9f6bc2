//! The tool in an admin's shell: help that teaches, completions and man pages for every command, the
//! summary file a monitor reads, and messages that carry their fix. Commands are found by walking the
//! clap definition, so a command added later is checked too.

mod common;

use common::Sandbox;

/// Every command line of the program, `okta-org` first, then each command and group depth first.
fn command_lines() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: Vec<String>, all: &mut Vec<Vec<String>>) {
        all.push(path.clone());
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, all);
        }
    }
    let mut all = Vec::new();
    walk(&okta_org::cmd::Cli::command(), Vec::new(), &mut all);
    assert!(all.len() > 40, "{} commands", all.len());
    all
}

fn line(path: &[String]) -> String {
    std::iter::once("okta-org".to_string())
        .chain(path.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn every_help_has_an_example_naming_its_command() {
    let sb = Sandbox::new("help");
    let mut missing = Vec::new();
    for path in command_lines() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = sb.run(&args, &[], None).await;
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        let name = line(&path);
        let example = out.stdout.find("Example").map(|at| &out.stdout[at..]);
        // A line of the examples that runs this command (or, for a group, one of its commands).
        let names_it = example.is_some_and(|ex| {
            ex.lines().any(|l| {
                let l = l.trim_start();
                l == name || l.starts_with(&format!("{name} "))
            })
        });
        if !names_it {
            missing.push(name.clone());
        }
        // The command's own options come first; -o is one of them, never a connection option.
        if let (Some(conn), Some(o)) = (
            out.stdout.find("Connection and sign-in:"),
            out.stdout.find("-o, --output"),
        ) {
            assert!(o < conn, "{name}: -o listed under Connection and sign-in");
        }
    }
    assert!(missing.is_empty(), "no example naming the command: {missing:#?}");
}
