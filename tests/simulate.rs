//! `okta-org simulate` as a user runs it: `--orgs N` prints an okta.yaml the tool reads through
//! `--profile`, each org with its own limits and token; bad per-org values are usage errors; mail keeps
//! flowing with `--bounces-every`.

mod common;

use std::time::Duration;

use common::{Output, Sandbox};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// One plain HTTP/1.1 request (no client of the tool's between the test and the simulator): the
/// status, the headers (lowercased names) and the body.
async fn http(
    url: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, String, String) {
    let host = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: SSWS {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (
        head[9..12].parse().unwrap(),
        head.to_lowercase(),
        body.to_string(),
    )
}

/// Reads lines of `from` until `done` says the text so far is complete (at most 20 s).
async fn read_until(
    from: &mut (impl tokio::io::AsyncBufRead + Unpin),
    done: impl Fn(&str) -> bool,
) -> String {
    let mut text = String::new();
    let read = async {
        let mut lines = from.lines();
        while !done(&text) {
            match lines.next_line().await.unwrap() {
                Some(line) => {
                    text.push_str(&line);
                    text.push('\n');
                }
                None => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the simulator said it all");
    text
}

#[tokio::test]
async fn simulate_orgs_prints_an_okta_yaml_the_tool_reads() {
    let sandbox = Sandbox::new("simulate-orgs");
    let mut child = sandbox
        .command(&[
            "simulate",
            "--orgs",
            "3",
            "--rate-limit",
            "60,30,10",
            "--principal-share",
            "50",
        ])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let yaml = read_until(&mut stdout, |t| t.matches("token:").count() == 3).await;
    assert!(
        yaml.starts_with("okta:\n  profiles:\n    org1:\n"),
        "{yaml}"
    );
    let path = sandbox.write("okta.yaml", &yaml);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let urls: Vec<String> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("orgUrl: "))
        .map(|u| u.trim_matches('"').to_string())
        .collect();
    let tokens: Vec<String> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("token: "))
        .map(|t| t.trim_matches('"').to_string())
        .collect();
    assert_eq!(urls.len(), 3);
    assert_eq!(
        tokens,
        ["simulator-token", "simulator-token-2", "simulator-token-3"]
    );

    // The tool reads each profile: its org and its token.
    let got: Output = sandbox
        .run(&["settings", "get", "--profile", "org2"], &[], None)
        .await;
    assert_eq!(got.code, 0, "{}", got.all());
    assert!(got.stdout.contains("Acme Corp 2"), "{}", got.stdout);
    sandbox.write("list.csv", "email\nava.adams@acme.example\n");
    let removed = sandbox
        .run(
            &["bounces", "remove", "list.csv", "--profile", "org3"],
            &[],
            None,
        )
        .await;
    assert_eq!(removed.code, 0, "{}", removed.all());
    assert!(removed.stderr.contains("1 accepted"), "{}", removed.stderr);

    // Each org its limit, of which a token gets half; another org's token is refused.
    for (i, limit) in [30, 15, 5].into_iter().enumerate() {
        let (status, head, body) = http(
            &urls[i],
            "POST",
            "/api/v1/org/email/bounces/remove-list",
            &tokens[i],
            r#"{"emailAddresses":[]}"#,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            head.contains(&format!("x-rate-limit-limit: {limit}\r\n")),
            "org{}: {head}",
            i + 1
        );
        let (status, _, _) = http(&urls[i], "GET", "/api/v1/org", &tokens[(i + 1) % 3], "").await;
        assert_eq!(status, 401);
    }
    let (_, _, record) = http(&urls[2], "GET", "/__simulator/record", "", "").await;
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(
        record["accepted"],
        serde_json::json!(["ava.adams@acme.example"])
    );

    child.kill().await.unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    for (i, url) in urls.iter().enumerate() {
        assert!(
            stderr.contains(&format!("org{}: listening on {url}", i + 1)),
            "{stderr}"
        );
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, "", "stdout holds the okta.yaml and nothing else");
}

#[tokio::test]
async fn per_org_values_must_fit_the_orgs() {
    let sandbox = Sandbox::new("simulate-usage");
    for (args, says) in [
        (
            &["simulate", "--orgs", "2", "--rate-limit", "1,2,3"][..],
            "--rate-limit has 3 values for 2 orgs",
        ),
        (
            &["simulate", "--logs-rate-limit", "5,6"][..],
            "--logs-rate-limit has 2 values, but there is one org",
        ),
        (
            &["simulate", "--principal-share", "0"][..],
            "--principal-share takes percents from 1 to 100, not 0",
        ),
        (
            &["simulate", "--rate-limit", "6,x"][..],
            "\"x\" is not a number",
        ),
        (
            &["simulate", "--bounces-every", "0s"][..],
            "must be more than 0",
        ),
        (
            &[
                "simulate",
                "--bounces-every",
                "1s",
                "--bounces-mix",
                "bounce=3",
            ][..],
            "unknown kind \"bounce\"",
        ),
    ] {
        let out = sandbox.run(args, &[], None).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.all());
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "");
    }
}

#[tokio::test]
async fn simulate_bounces_every_keeps_mail_flowing() {
    let sandbox = Sandbox::new("simulate-mail");
    sandbox.write(
        "users.txt",
        "a@acme.example\nb@acme.example\nc@acme.example\n",
    );
    let mut child = sandbox
        .command(&[
            "simulate",
            "--port",
            "0",
            "--users",
            "users.txt",
            "--bounces-every",
            "50ms",
            "--bounces-mix",
            "hard=1,delivered=1",
            "--repeat-bouncers",
            "1",
        ])
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let said = read_until(&mut stderr, |t| t.contains("bouncing after every removal")).await;
    let url = said
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap()
        .trim_end_matches(',')
        .to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let truth = loop {
        let (status, _, body) = http(&url, "GET", "/__simulator/mail", "", "").await;
        assert_eq!(status, 200);
        let truth: serde_json::Value = serde_json::from_str(&body).unwrap();
        let count = |k: &str| truth[k].as_array().unwrap().len();
        if count("hard_bounces") >= 1 && count("deliveries") + count("soft") >= 3 {
            break truth;
        }
        assert!(std::time::Instant::now() < deadline, "{truth}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The repeat bouncer bounced first; its bounce is in the System Log.
    let first = &truth["hard_bounces"][0];
    assert!(said.contains(first["address"].as_str().unwrap()), "{said}");
    let (_, _, log) = http(
        &url,
        "GET",
        "/api/v1/logs?filter=eventType%20eq%20%22system.email.delivery%22",
        "simulator-token",
        "",
    )
    .await;
    assert!(log.contains(first["uuid"].as_str().unwrap()), "{log}");
    assert_eq!(child.try_wait().unwrap(), None, "still serving");
}
