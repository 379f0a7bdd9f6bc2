//! The tool in an admin's shell: help that teaches, completions and man pages for every command, the
//! summary file a monitor reads, and messages that carry their fix. Commands are found by walking the
//! clap definition, so a command added later is checked too.

mod common;

use std::time::Duration;

use common::{Sandbox, org, org_with_users, remove_run, user_list};

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
        // Every line of the examples is a whole command (or a shell line of the recipe), never the
        // wrapped end of one: copied, it runs as shown.
        for l in example.into_iter().flat_map(|ex| ex.lines().skip(1)) {
            if l.is_empty() {
                break;
            }
            assert!(
                l.starts_with("  ") && !l.starts_with("  -"),
                "{name}: an example line wrapped: {l:?}"
            );
        }
        // The command's own options come first; -o is one of them, never a connection option.
        if let (Some(conn), Some(o)) = (
            out.stdout.find("Connection and sign-in:"),
            out.stdout.find("-o, --output"),
        ) {
            assert!(o < conn, "{name}: -o listed under Connection and sign-in");
        }
    }
    assert!(
        missing.is_empty(),
        "no example naming the command: {missing:#?}"
    );
}

/// The summary's documented keys, in order: a monitor may rely on every one of them being there.
const SUMMARY_KEYS: [&str; 19] = [
    "version",
    "command",
    "exit_status",
    "stop",
    "retry_at",
    "started",
    "finished",
    "elapsed_seconds",
    "inputs",
    "report",
    "dry_run",
    "rows",
    "counts",
    "carried",
    "requests",
    "retries",
    "waited_seconds",
    "verify",
    "unrecorded",
];

/// Reads a summary file and checks that it has exactly the documented shape.
fn summary_of(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the summary file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, SUMMARY_KEYS, "{text}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["command"], "bounces remove");
    let counts: Vec<&str> = v["counts"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        counts,
        [
            "accepted",
            "rejected",
            "invalid",
            "duplicate",
            "failed",
            "valid",
            "held",
            "skipped"
        ]
    );
    let sum: u64 = v["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(sum, v["rows"].as_u64().unwrap(), "counts add up to rows");
    for t in ["started", "finished"] {
        humantime::parse_rfc3339(v[t].as_str().unwrap()).expect("RFC 3339");
    }
    assert!(v["elapsed_seconds"].as_f64().unwrap() >= v["waited_seconds"].as_f64().unwrap());
    v
}

fn accepted_and_failed(summary: &serde_json::Value) -> (u64, u64) {
    let n = |s: &str| summary["counts"][s].as_u64().unwrap();
    (n("accepted"), n("failed"))
}

#[tokio::test]
async fn the_summary_of_a_clean_run() {
    let run = remove_run(
        org_with_users(1500),
        &user_list(0..1500),
        &[
            "--report",
            "r.jsonl",
            "--report-format",
            "jsonl",
            "--summary",
            "s.json",
            "--report-summary",
        ],
    )
    .await;
    run.expect(0);
    let v = summary_of(&run.sb.path("s.json"));
    assert_eq!(v["exit_status"], 0);
    assert_eq!((v["stop"].is_null(), v["retry_at"].is_null()), (true, true));
    assert_eq!(
        (v["rows"].as_u64(), v["counts"]["accepted"].as_u64()),
        (Some(1500), Some(1500))
    );
    assert_eq!(v["requests"], 2);
    assert_eq!(
        v["inputs"][0].as_str().unwrap(),
        run.sb.path("in.csv").to_str().unwrap()
    );
    assert_eq!(
        (v["report"].as_str(), v["dry_run"].as_bool()),
        (Some("r.jsonl"), Some(false))
    );
    assert!(v["verify"].is_null());
    // The JSON-lines report ends with the same object, and still reads back as a report.
    let report = std::fs::read_to_string(run.sb.path("r.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(report.lines().last().unwrap()).unwrap();
    assert_eq!(last["summary"], v);
    let again = remove_run(org_with_users(10), "email\n", &[]).await;
    let copy = again.sb.write("earlier.jsonl", &report);
    let out = again
        .sb
        .remove(
            &again.sim,
            &["--retry-failed", copy.to_str().unwrap(), "-q"],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        common::parse_report(&out.stdout).len(),
        0,
        "no failed rows, no summary row"
    );
}

#[tokio::test]
async fn the_summary_of_a_max_wait_stop_has_the_time_to_retry() {
    let config = org(3000, |c| {
        (c.rate_limit, c.window_secs, c.advertise_limits) = (1, 600, false);
    });
    let args = [
        "--max-wait",
        "2s",
        "--concurrency",
        "1",
        "--report",
        "r.csv",
        "--summary",
        "s.json",
    ];
    let before = std::time::SystemTime::now();
    let run = remove_run(config, &user_list(0..3000), &args).await;
    run.expect(4);
    let v = summary_of(&run.sb.path("s.json"));
    assert_eq!(v["exit_status"], 4);
    assert_eq!(v["stop"]["cause"], "max_wait");
    assert!(
        v["stop"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-wait"),
        "{v}"
    );
    let retry_at = humantime::parse_rfc3339(v["retry_at"].as_str().unwrap()).unwrap();
    assert!(retry_at > before + Duration::from_secs(60), "{v}");
    assert_eq!(accepted_and_failed(&v), (1000, 2000));
}

#[tokio::test]
async fn the_summary_is_written_when_the_run_is_interrupted() {
    let sim = common::simulator(org(5000, |c| (c.rate_limit, c.window_secs) = (1, 60))).await;
    let sb = Sandbox::new("sum-int");
    let input = sb.write("in.csv", user_list(0..5000));
    let args = [
        input.to_str().unwrap(),
        "--report",
        "r.csv",
        "--summary",
        "s.json",
    ];
    let child = sb.spawn_remove(&sim, &args);
    common::wait_for_requests(&sim, 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    common::kill(child.id().unwrap(), "-TERM");
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits promptly after SIGTERM")
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No terminal: the message says what a second signal does, not to press Ctrl-C.
    assert!(
        stderr.contains("a second signal stops at once") && !stderr.contains("Ctrl-C"),
        "{stderr}"
    );
    let v = summary_of(&sb.path("s.json"));
    assert_eq!(
        (v["exit_status"].as_u64(), v["stop"]["cause"].as_str()),
        (Some(4), Some("interrupted"))
    );
    let message = v["stop"]["message"].as_str().unwrap();
    assert!(message.contains("SIGTERM"), "{v}");
    assert!(v["retry_at"].is_null());
    assert_eq!(accepted_and_failed(&v), (1000, 4000));
}

#[tokio::test]
async fn the_summary_of_a_run_refused_by_okta_names_the_fix() {
    let sim = common::simulator(org_with_users(10)).await;
    let sb = Sandbox::new("sum-auth");
    sb.write("in.csv", user_list(0..10));
    let url = sim.url();
    let args = [
        "bounces",
        "remove",
        "in.csv",
        "--org-url",
        &url,
        "--report",
        "r.csv",
        "--summary",
        "s.json",
    ];
    let out = sb.run(&args, &[("OKTA_CLIENT_TOKEN", "wrong")], None).await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    let v = summary_of(&sb.path("s.json"));
    assert_eq!(
        (v["exit_status"].as_u64(), v["stop"]["cause"].as_str()),
        (Some(5), Some("auth"))
    );
    assert!(
        v["stop"]["message"]
            .as_str()
            .unwrap()
            .contains("OKTA_CLIENT_TOKEN"),
        "{v}"
    );
    assert_eq!(accepted_and_failed(&v), (0, 10));
}

#[tokio::test]
async fn a_summary_on_stdout_needs_the_report_in_a_file() {
    let sb = Sandbox::new("sum-stdout");
    sb.write("in.csv", user_list(0..3));
    let dry = |more: &[&'static str]| {
        let mut args = vec!["bounces", "remove", "in.csv", "--dry-run"];
        args.extend_from_slice(more);
        args
    };
    // (arguments, exit status, what stderr says)
    let cases = [
        (
            dry(&["--summary", "-"]),
            2,
            "--summary - would mix the summary into the report",
        ),
        (
            dry(&["--report-summary"]),
            2,
            "--report-summary needs --report-format jsonl",
        ),
        (dry(&["--report", "r.csv", "--summary", "-"]), 0, "dry run"),
    ];
    for (args, code, want) in cases {
        let out = sb.run(&args, &[], None).await;
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
    }
    let out = sb
        .run(&dry(&["--report", "r.csv", "--summary", "-"]), &[], None)
        .await;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["dry_run"].as_bool(), v["counts"]["valid"].as_u64()),
        (Some(true), Some(3))
    );
    // An error before anything is sent still leaves a summary, so a monitor never reads yesterday's.
    let args = [
        "bounces",
        "remove",
        "missing.csv",
        "--dry-run",
        "--summary",
        "s.json",
    ];
    assert_eq!(sb.run(&args, &[], None).await.code, 2);
    let text = std::fs::read_to_string(sb.path("s.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["exit_status"].as_u64(), v["stop"]["cause"].as_str()),
        (Some(2), Some("input_error"))
    );
}

/// No output may overwrite what the command reads (an input, an earlier report) or another output:
/// refused before anything is written, the summary included, and the file is left as it was.
#[tokio::test]
async fn outputs_never_overwrite_what_the_command_reads() {
    let sb = Sandbox::new("overwrite");
    let input = "email\na@example.com\n";
    sb.write("in.csv", input);
    let report = "line,email,status,reason,source,at\n2,a@example.com,failed,x,in.csv,\n";
    sb.write("r.csv", report);
    let cases: [&[&str]; 6] = [
        &[
            "bounces",
            "remove",
            "in.csv",
            "--dry-run",
            "--summary",
            "in.csv",
        ],
        &[
            "bounces",
            "remove",
            "in.csv",
            "--dry-run",
            "--report",
            "./in.csv",
        ],
        &[
            "bounces",
            "remove",
            "--retry-failed",
            "r.csv",
            "--dry-run",
            "--summary",
            "r.csv",
        ],
        &[
            "bounces",
            "verify",
            "r.csv",
            "--simulate",
            "--output",
            "r.csv",
        ],
        &[
            "bounces",
            "verify",
            "r.csv",
            "--simulate",
            "--summary",
            "r.csv",
        ],
        &[
            "bounces",
            "find",
            "--simulate",
            "--output",
            "f.csv",
            "--summary",
            "f.csv",
        ],
    ];
    // A hard link is the same file under another name.
    std::fs::hard_link(sb.path("in.csv"), sb.path("hard.csv")).unwrap();
    let hard: &[&str] = &[
        "bounces",
        "remove",
        "in.csv",
        "--dry-run",
        "--report",
        "hard.csv",
    ];
    for args in cases.into_iter().chain([hard]) {
        let out = sb.run(args, &[], None).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.all());
        assert!(
            out.stderr.contains("would overwrite"),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(std::fs::read_to_string(sb.path("in.csv")).unwrap(), input);
        assert_eq!(std::fs::read_to_string(sb.path("r.csv")).unwrap(), report);
        assert!(!sb.path("f.csv").exists(), "{args:?}");
    }
}

/// Every command line with the long flags `--help` shows for it (built, so global flags are in).
fn commands_and_flags() -> Vec<(Vec<String>, Vec<String>)> {
    fn walk(cmd: &clap::Command, path: Vec<String>, all: &mut Vec<(Vec<String>, Vec<String>)>) {
        let longs = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        all.push((path.clone(), longs));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, all);
        }
    }
    let mut cmd = okta_org::cmd::Cli::command();
    cmd.build();
    let mut all = Vec::new();
    walk(&cmd, Vec::new(), &mut all);
    all
}

#[tokio::test]
async fn completions_cover_every_command() {
    let sb = Sandbox::new("completions");
    let commands = commands_and_flags();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = sb.run(&["completions", shell], &[], None).await;
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        for (path, _) in &commands {
            if let Some(name) = path.last() {
                assert!(out.stdout.contains(name.as_str()), "{shell} lacks {path:?}");
            }
        }
        sb.write(&format!("okta-org.{shell}"), &out.stdout);
    }
    // Bash is on every machine this runs on: ask the script itself what it completes after each
    // command line, and expect every long flag of that command.
    let mut script = String::from("source okta-org.bash\n");
    for (path, _) in &commands {
        let words = std::iter::once("okta-org")
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>();
        let prev = words.last().unwrap();
        script.push_str(&format!(
            "COMP_WORDS=({} --); COMP_CWORD={}; _okta__org okta-org -- {prev}; echo \"${{COMPREPLY[*]}}\"\n",
            words.join(" "),
            words.len()
        ));
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&sb.dir)
        .output()
        .expect("bash");
    let offered: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        offered.len(),
        commands.len(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for ((path, longs), offered) in commands.iter().zip(&offered) {
        let offered: Vec<&str> = offered.split_whitespace().collect();
        for long in longs {
            assert!(
                offered.contains(&long.as_str()),
                "bash: okta-org {} -- does not offer {long}: {offered:?}",
                path.join(" ")
            );
        }
    }
}

#[tokio::test]
async fn the_man_page_covers_every_command() {
    let sb = Sandbox::new("man");
    let out = sb.run(&["man"], &[], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.starts_with(".TH"),
        "not roff"
    );
    assert!(out.stdout.contains(".TH okta-org 1"), "no title");
    let out_dir = sb.run(&["man", "--dir", "pages"], &[], None).await;
    assert_eq!(out_dir.code, 0, "{}", out_dir.stderr);
    let commands = commands_and_flags();
    for (path, longs) in &commands {
        let name = line(path);
        if !path.is_empty() {
            assert!(
                out.stdout
                    .contains(&format!(".SH \"{}\"", name.to_uppercase())),
                "the page has no section for {name}"
            );
        }
        let page = sb.path(&format!("pages/{}.1", name.replace(' ', "-")));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|_| panic!("no {page:?}"));
        assert!(text.contains(".TH"), "{page:?}");
        for long in longs {
            // roff escapes the hyphens of a flag.
            let roff = long.replace('-', "\\-");
            assert!(text.contains(&roff), "{page:?} lacks {long}");
        }
    }
    let pages = std::fs::read_dir(sb.path("pages")).unwrap().count();
    assert_eq!(pages, commands.len(), "one page a command, no more");
    assert!(
        out_dir.stderr.contains(&format!("wrote {pages} man pages")),
        "{}",
        out_dir.stderr
    );
}

/// Messages that carry their fix: each case is a command line, its exit status and what it must say.
#[tokio::test]
async fn messages_carry_their_fix() {
    let sb = Sandbox::new("messages");
    let input = sb.write("one.csv", "email\nuser0@example.com\n");
    let input = input.to_str().unwrap();
    sb.write("unknown.json", r#"{"city":"Paris","colour":"red"}"#);
    sb.write(
        "ro.json",
        r#"{"city":"Paris","lastUpdated":"2026-01-01T00:00:00.000Z"}"#,
    );
    let token = [("OKTA_CLIENT_TOKEN", common::TOKEN)];
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--version"], 0, "okta-org 0.1.0 (commit "),
        (
            vec!["bounces", "remove", input, "--org-url", "acme.okta.com"],
            2,
            "has no https://: use https://acme.okta.com",
        ),
        (
            vec!["bounces", "remove", input, "--max-wait", "forever"],
            2,
            "not a duration: give a number of seconds (90) or a number with a unit (90s, 5m, 1h30m)",
        ),
        (
            vec!["bounces", "remove", input, "--timeout", "0"],
            2,
            "must be more than 0",
        ),
        (
            vec!["bounces", "remove", input, "--dry-run"],
            0,
            "1 row from 1 input: 0 invalid, 0 duplicate, 1 valid",
        ),
        (
            vec!["config", "show", "--simulate"],
            0,
            "http://127.0.0.1:<a free port> (embedded simulator)",
        ),
        (
            vec![
                "settings",
                "update",
                "--file",
                "unknown.json",
                "--org-url",
                "https://acme.okta.com",
            ],
            2,
            "unknown field colour; writable fields: companyName",
        ),
        (
            vec![
                "settings",
                "update",
                "--file",
                "ro.json",
                "--org-url",
                "https://acme.okta.com",
            ],
            2,
            "lastUpdated is read-only; writable fields: companyName",
        ),
    ];
    for (args, code, want) in cases {
        let out = sb.run(&args, &token, None).await;
        assert_eq!(out.code, code, "{args:?}: {}", out.all());
        assert!(out.all().contains(want), "{args:?}: {}", out.all());
        assert!(!out.all().contains("1 rows"), "{args:?}: {}", out.all());
    }
}
