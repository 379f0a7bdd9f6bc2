//! Outputs that fail during a run: a report on a disk that fills (here a file-size limit, which fails the
//! write that crosses it as a full disk does, without needing root), and the run that finishes the job.

mod common;

use common::*;

/// `sh -c` that runs the binary with a file-size limit of `blocks` (of 512 bytes, POSIX sh's unit) and
/// SIGXFSZ ignored (an ignored signal stays ignored across exec), so a write past the limit fails with
/// an error instead of killing the process.
fn limited(sb: &Sandbox, blocks: u32, args: &[&str]) -> tokio::process::Command {
    let bin = env!("CARGO_BIN_EXE_okta-org");
    let mut script = format!("trap '' XFSZ; ulimit -f {blocks}; exec '{bin}'");
    for a in args {
        script.push_str(&format!(" '{a}'"));
    }
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args(["-c", &script])
        .current_dir(&sb.dir)
        .env_clear()
        .env("HOME", &sb.dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OKTA_CLIENT_TOKEN", TOKEN)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

#[tokio::test]
async fn a_report_that_fills_the_disk_ends_the_run_truthfully_and_resume_finishes_it() {
    let n = 6_000;
    let sim = simulator(org(n, |c| c.rate_limit = 1000)).await;
    let sb = Sandbox::new("full");
    sb.write("in.csv", user_list(0..n));
    let url = sim.url();
    // 128 KiB: the first stretch of 1,000 rows (66 KiB) and the summary fit, the second does not.
    let out = limited(
        &sb,
        256,
        &[
            "bounces",
            "remove",
            "in.csv",
            "--report",
            "r.csv",
            "--summary",
            "s.json",
            "--org-url",
            &url,
        ],
    )
    .output()
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write the report to r.csv: file too large"),
        "{stderr}"
    );
    assert!(stderr.contains("--resume r.csv"), "{stderr}");

    // The report holds whole rows only, in order, each once.
    let report = read_report(&sb.path("r.csv"));
    assert!(!report.is_empty() && report.len() < n, "{}", report.len());
    assert_rows_in_order_once(&report);

    // The summary tells the truth: every row counted, the requests sent, and what the report lacks.
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("s.json")).unwrap()).unwrap();
    assert_eq!(s["exit_status"], 1);
    assert_eq!(s["stop"]["cause"], "report_failed");
    let counts = s["counts"].as_object().unwrap();
    let total: u64 = counts.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, s["rows"].as_u64().unwrap());
    assert_eq!(s["rows"].as_u64().unwrap(), n as u64, "{s}");
    let requests = s["requests"].as_u64().unwrap();
    assert_eq!(requests, sim.record().requests.len() as u64);
    assert!(requests >= 1);
    assert_eq!(
        s["unrecorded"].as_u64().unwrap() + report.len() as u64,
        n as u64,
        "{s}"
    );
    // Nothing was sent after the report failed: what Okta took is what was accepted.
    assert_eq!(
        counts["accepted"].as_u64().unwrap(),
        sim.record().accepted.len() as u64
    );

    // --resume from the cut report finishes the job: every row once, nothing lost.
    let out = sb
        .remove(&sim, &["in.csv", "--resume", "r.csv", "--report", "r2.csv"])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let done = read_report(&sb.path("r2.csv"));
    assert_eq!(done.len(), n);
    assert_rows_in_order_once(&done);
    assert!(done.iter().all(|r| r.status == "accepted"));
    let mut cleared = sim.record().accepted;
    cleared.sort();
    cleared.dedup();
    assert_eq!(cleared.len(), n);
}
