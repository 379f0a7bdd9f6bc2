//! Nothing unbounded from the network, nothing raw on a terminal: answers far larger than any real one
//! (a declared 200 MB, a chunked body without end) are refused after a bounded read on every endpoint the
//! tool reads, and text from outside (file names, cells, Okta's messages, System Log fields) reaches a
//! terminal escaped, while files and pipes keep it exactly. A terminal is a pseudo-terminal made by
//! util-linux's `script`.

mod common;

use std::time::{Duration, Instant};

use common::{Output, Sandbox, TOKEN, org, read_report, remove_run, simulator, user_list};
use okta_org_simulator::{HugeAnswers, Simulator};

/// Control bytes a terminal acts on: ESC (CSI, OSC), BEL (ends an OSC), and the C1 CSI.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| matches!(c, '\u{1b}' | '\u{7}' | '\u{9b}' | '\u{202e}'))
        .collect()
}

/// Runs `okta-org ARGS` on a pseudo-terminal (stdout and stderr both), in `sb`, with the test token and no
/// colours; returns what the terminal showed and the exit status.
async fn on_terminal(sb: &Sandbox, args: &[&str]) -> Output {
    fn quoted(s: &str) -> String {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
    let line = std::iter::once(env!("CARGO_BIN_EXE_okta-org"))
        .chain(args.iter().copied())
        .map(quoted)
        .collect::<Vec<_>>()
        .join(" ");
    let out = tokio::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(&sb.dir)
        .env_clear()
        .env("HOME", &sb.dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OKTA_CLIENT_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("util-linux's script, to run the tool on a pseudo-terminal");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `okta-org ARGS --org-url SIM` with the test token, output to pipes.
async fn okta(sim: &Simulator, sb: &Sandbox, args: &[&str]) -> Output {
    let url = sim.url();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--org-url", &url]);
    sb.run(&all, &[("OKTA_CLIENT_TOKEN", TOKEN)], None).await
}

/// A remove-list answer of 200 MB (declared) or without end is not read: the batch's rows are `failed`
/// with the reason, the run stops as retryable (4), at once, long before the 60 s timeout.
#[tokio::test]
async fn a_bounce_answer_past_its_limit_fails_its_rows_retryably() {
    for huge in [HugeAnswers::Oversize(200_000_000), HugeAnswers::Endless] {
        let started = Instant::now();
        let run = remove_run(
            org(1500, |c| c.huge_answers = Some(huge)),
            &user_list(0..1500),
            &[],
        )
        .await;
        run.expect(4);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{huge:?}: {:?}",
            started.elapsed()
        );
        let report = run.report();
        assert_eq!(report.len(), 1500, "{huge:?}");
        assert!(report.iter().all(|r| r.status == "failed"), "{huge:?}");
        assert!(
            report[0]
                .reason
                .starts_with("answer too large: HTTP 200 with a body over 4 MiB"),
            "{huge:?}: {:?}",
            report[0]
        );
        assert!(report[0].reason.contains("safe to try again"), "{report:?}");
        assert!(
            run.out.stderr.contains("answer too large"),
            "{}",
            run.out.stderr
        );
        // The run stopped there (a second request may have left while the first answer was read).
        assert!(run.record().requests.len() <= 2, "{huge:?}: sent on");
    }
}

/// A System Log page and a settings object past their limits end the command with a clear error, as
/// retryable (4), at once.
#[tokio::test]
async fn a_log_page_or_a_settings_answer_past_its_limit_is_refused() {
    for huge in [HugeAnswers::Oversize(200_000_000), HugeAnswers::Endless] {
        let sim = simulator(org(10, |c| c.huge_answers = Some(huge))).await;
        let sb = Sandbox::new("huge");
        for (args, limit) in [
            (&["bounces", "find", "--since", "1d"][..], "32 MiB"),
            (&["settings", "get"][..], "1 MiB"),
            (&["settings", "get", "-o", "json"][..], "1 MiB"),
        ] {
            let started = Instant::now();
            let out = okta(&sim, &sb, args).await;
            assert!(started.elapsed() < Duration::from_secs(20), "{args:?}");
            assert_eq!(out.code, 4, "{huge:?} {args:?}: {}", out.stderr);
            assert!(
                out.stderr.contains(&format!(
                    "okta-org: error: answer too large: HTTP 200 with a body over {limit}"
                )),
                "{huge:?} {args:?}: {}",
                out.stderr
            );
            assert!(!out.stdout.contains("errors") && !out.stdout.contains("id"));
        }
    }
}

/// A file name holding a clear-screen and a window-title sequence is shown escaped in a warning, on a
/// pipe as on a terminal; the report in a file keeps it exactly.
#[tokio::test]
async fn a_file_name_with_escapes_is_shown_escaped() {
    let sb = Sandbox::new("escape-name");
    let name = "in\u{1b}[2J\u{1b}]0;pwned\u{7}.csv";
    sb.write(name, "email\n");
    sb.write("good.csv", "email\nuser1@example.com\n");
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                name,
                "good.csv",
                "--dry-run",
                "--report",
                "r.csv",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(r"okta-org: warning: in\x1b[2J\x1b]0;pwned\x07.csv: no rows"),
        "{}",
        out.stderr
    );
    assert!(raw_controls(&out.stderr).is_empty(), "{:?}", out.stderr);
    let on_tty = on_terminal(&sb, &["bounces", "remove", name, "--dry-run"]).await;
    assert!(
        on_tty
            .stdout
            .contains(r"in\x1b[2J\x1b]0;pwned\x07.csv: no rows"),
        "{}",
        on_tty.stdout
    );
    assert!(
        raw_controls(&on_tty.stdout).is_empty(),
        "{:?}",
        on_tty.stdout
    );
}

/// A cell holding ESC and a C1 control: on a terminal the report shows them escaped; in a file, the exact
/// text. Both addresses are `invalid` (the C1 one used to pass), and neither is sent.
#[tokio::test]
async fn report_cells_are_escaped_on_a_terminal_only() {
    let input = "email,note\n\
                 jane\u{1b}[2J@example.com,a\n\
                 joe\u{9b}31m@example.com,b\n\
                 user1@example.com,c\n";
    let run = remove_run(org(5, |_| {}), input, &["--report", "r.csv"]).await;
    run.expect(3);
    let rows = read_report(&run.sb.path("r.csv"));
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[0].email.as_str(), rows[0].status.as_str()),
        ("jane\u{1b}[2J@example.com", "invalid")
    );
    assert_eq!(
        (rows[1].email.as_str(), rows[1].status.as_str()),
        ("joe\u{9b}31m@example.com", "invalid")
    );
    assert_eq!(
        rows[1].reason,
        "contains a control character (U+009B): not an address character"
    );
    assert_eq!(rows[2].status, "accepted");
    assert_eq!(
        run.record().accepted,
        ["user1@example.com"],
        "only the clean address is sent"
    );

    let sim = simulator(org(5, |_| {})).await;
    let url = sim.url();
    let shown = on_terminal(&run.sb, &["bounces", "remove", "in.csv", "--org-url", &url]).await;
    assert_eq!(shown.code, 3, "{}", shown.stdout);
    assert!(
        shown
            .stdout
            .contains(r"2,jane\x1b[2J@example.com,invalid,contains a control character (U+001B)"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains(r"3,joe\u{9b}31m@example.com,invalid"),
        "{}",
        shown.stdout
    );
    assert!(raw_controls(&shown.stdout).is_empty(), "{:?}", shown.stdout);
    // JSON lines on a terminal: the same values, with the escapes JSON has.
    let shown = on_terminal(
        &run.sb,
        &[
            "bounces",
            "remove",
            "in.csv",
            "--org-url",
            &url,
            "--report-format",
            "jsonl",
        ],
    )
    .await;
    assert!(raw_controls(&shown.stdout).is_empty(), "{:?}", shown.stdout);
    let jane = shown
        .stdout
        .lines()
        .find(|l| l.contains("\"line\":2"))
        .expect("row 2");
    let v: serde_json::Value = serde_json::from_str(jane).unwrap();
    assert_eq!(v["email"], "jane\u{1b}[2J@example.com");
}

/// Okta's error message quoting a value with escapes (a user id that does not exist, echoed in the 404):
/// on stderr escaped.
#[tokio::test]
async fn an_okta_error_message_with_escapes_is_shown_escaped() {
    let sim = simulator(org(3, |_| {})).await;
    let sb = Sandbox::new("escape-okta");
    let out = okta(
        &sim,
        &sb,
        &[
            "contacts",
            "set",
            "billing",
            "--user-id",
            "00u\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}1m",
        ],
    )
    .await;
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(r"Not found: Resource not found: 00u\x1b]0;pwned\x07\x1b[2J\u{9b}1m (User)"),
        "{}",
        out.stderr
    );
    assert!(raw_controls(&out.stderr).is_empty(), "{:?}", out.stderr);
}

/// System Log fields with escapes: `find` rows on a terminal show them escaped, to a pipe exactly.
#[tokio::test]
async fn find_rows_are_escaped_on_a_terminal_only() {
    let sim = simulator(org(3, |_| {})).await;
    let reply = "550\u{1b}[2J 5.1.1 no such user\r\n\u{1b}]0;pwned\u{7} \u{202e}gpj.exe";
    let published =
        humantime::format_rfc3339_millis(std::time::SystemTime::now() - Duration::from_secs(3600))
            .to_string();
    sim.add_log_events(vec![serde_json::json!({
        "uuid": "ev-1", "published": published, "eventType": "system.email.delivery",
        "outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
        "target": [{"id": "00uX", "type": "User", "alternateId": "user1@example.com"}],
        "debugContext": {"debugData": {"smtpResponse": reply}}
    })]);
    let sb = Sandbox::new("escape-find");
    let piped = okta(&sim, &sb, &["bounces", "find", "--since", "2h"]).await;
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    let mut rdr = csv::Reader::from_reader(piped.stdout.as_bytes());
    let row = rdr.records().next().expect("one row").unwrap();
    assert_eq!(&row[0], "user1@example.com");
    assert_eq!(&row[5], reply, "a pipe gets the exact text");

    let url = sim.url();
    let shown = on_terminal(
        &sb,
        &["bounces", "find", "--since", "2h", "--org-url", &url],
    )
    .await;
    assert_eq!(shown.code, 0, "{}", shown.stdout);
    assert!(
        shown
            .stdout
            .contains(r"550\x1b[2J 5.1.1 no such user\r\n\x1b]0;pwned\x07 \u{202e}gpj.exe"),
        "{}",
        shown.stdout
    );
    assert!(raw_controls(&shown.stdout).is_empty(), "{:?}", shown.stdout);
}

/// Org settings holding control characters and a bidi override: `-o text` and `-o json` on a terminal
/// show them escaped (the JSON still the same JSON); to a pipe, `-o json` is Okta's answer exactly.
#[tokio::test]
async fn settings_output_is_escaped_on_a_terminal_only() {
    let sim = simulator(org(3, |_| {})).await;
    let sb = Sandbox::new("escape-settings");
    let name = "Acme\u{1b}]0;pwned\u{7}\u{9b}2J \u{202e}cipot";
    let set = okta(
        &sim,
        &sb,
        &[
            "settings",
            "update",
            "--set",
            &format!("companyName={name}"),
        ],
    )
    .await;
    assert_eq!(set.code, 0, "{}", set.stderr);

    let piped = okta(&sim, &sb, &["settings", "get", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&piped.stdout).unwrap();
    assert_eq!(v["companyName"], name);
    assert!(piped.stdout.contains('\u{9b}'), "a pipe gets Okta's bytes");

    let url = sim.url();
    let text = on_terminal(&sb, &["settings", "get", "--org-url", &url]).await;
    assert_eq!(text.code, 0, "{}", text.stdout);
    assert!(
        text.stdout
            .contains(r"Acme\x1b]0;pwned\x07\u{9b}2J \u{202e}cipot"),
        "{}",
        text.stdout
    );
    assert!(raw_controls(&text.stdout).is_empty(), "{:?}", text.stdout);

    let json = on_terminal(&sb, &["settings", "get", "-o", "json", "--org-url", &url]).await;
    assert_eq!(json.code, 0, "{}", json.stdout);
    assert!(raw_controls(&json.stdout).is_empty(), "{:?}", json.stdout);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["companyName"], name, "the same JSON");
}
