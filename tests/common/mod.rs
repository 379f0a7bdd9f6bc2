//! Helpers for the integration tests: run the real binary in an isolated directory (its own HOME, no
//! okta.yaml unless a test writes one) against a simulator started on an ephemeral port.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use okta_org_simulator::{SimConfig, Simulator};
use tokio::io::AsyncWriteExt;

pub const TOKEN: &str = "00TEST-token-Zq9xY7wV5uT3sR1pN";

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A scratch directory that is both HOME and the working directory of the binary.
pub struct Sandbox {
    pub dir: PathBuf,
}

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!(
            "okta-org-it-{name}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Sandbox { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-org"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("HOME", &self.dir)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs the binary with `env` added and `stdin` fed in, and waits for it.
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("spawn okta-org");
        if let Some(data) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            let data = data.to_vec();
            tokio::spawn(async move {
                let _ = pipe.write_all(&data).await;
            });
        }
        let out = child.wait_with_output().await.expect("wait");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `bounces remove ARGS` against `sim` with the test token, without waiting for it (to
    /// signal it, or read it as it goes).
    pub fn spawn_remove(&self, sim: &Simulator, args: &[&str]) -> tokio::process::Child {
        let url = sim.url();
        let mut all = vec!["bounces", "remove", "--org-url", &url];
        all.extend_from_slice(args);
        let mut cmd = self.command(&all);
        cmd.env("OKTA_CLIENT_TOKEN", TOKEN);
        cmd.spawn().expect("spawn okta-org")
    }

    /// `bounces remove` against `sim` with the test token.
    pub async fn remove(&self, sim: &Simulator, args: &[&str]) -> Output {
        let url = sim.url();
        let mut all = vec!["bounces", "remove", "--org-url", &url];
        all.extend_from_slice(args);
        self.run(&all, &[("OKTA_CLIENT_TOKEN", TOKEN)], None).await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub async fn simulator(config: SimConfig) -> Simulator {
    Simulator::start(config, 0).await.expect("start simulator")
}

/// A simulator config whose org has `user0@example.com` .. `user{n-1}@example.com`.
pub fn org_with_users(n: usize) -> SimConfig {
    let mut c = SimConfig::new(TOKEN);
    c.users = (0..n).map(|i| format!("user{i}@example.com")).collect();
    c
}

/// A plain list export of those users.
pub fn user_list(range: std::ops::Range<usize>) -> String {
    let mut s = String::from("email\n");
    for i in range {
        s.push_str(&format!("user{i}@example.com\n"));
    }
    s
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub line: u64,
    pub email: String,
    pub status: String,
    pub reason: String,
    pub source: String,
    pub at: String,
    /// When Okta said to try again (`failed` rows of a `--max-wait` stop).
    pub retry_at: String,
}

pub fn parse_report(csv_text: &str) -> Vec<ReportRow> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        vec![
            "line", "email", "status", "reason", "source", "at", "retry_at"
        ]
    );
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            ReportRow {
                line: r[0].parse().unwrap(),
                email: r[1].to_string(),
                status: r[2].to_string(),
                reason: r[3].to_string(),
                source: r[4].to_string(),
                at: r[5].to_string(),
                retry_at: r[6].to_string(),
            }
        })
        .collect()
}

pub fn read_report(path: &Path) -> Vec<ReportRow> {
    parse_report(&std::fs::read_to_string(path).unwrap())
}

pub fn status_counts(rows: &[ReportRow]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in rows {
        *m.entry(r.status.clone()).or_default() += 1;
    }
    m
}

/// Each (source, line) at most once, lines rising within each source.
pub fn assert_rows_in_order_once(rows: &[ReportRow]) {
    let mut last: HashMap<&str, u64> = HashMap::new();
    for r in rows {
        if let Some(prev) = last.get(r.source.as_str()) {
            assert!(
                r.line > *prev,
                "line {} of {} out of order or repeated",
                r.line,
                r.source
            );
        }
        last.insert(&r.source, r.line);
    }
}

/// What one run of the binary against a fresh simulator left: its output, the simulator (with its
/// record), the sandbox it ran in (for files it wrote), and how long it took.
pub struct Run {
    pub out: Output,
    pub sim: Simulator,
    pub sb: Sandbox,
    pub took: std::time::Duration,
}

impl Run {
    /// The report: the sandbox's `r.csv` when the run wrote one, else stdout.
    pub fn report(&self) -> Vec<ReportRow> {
        let file = self.sb.path("r.csv");
        if file.exists() {
            read_report(&file)
        } else {
            parse_report(&self.out.stdout)
        }
    }

    pub fn counts(&self) -> HashMap<String, usize> {
        status_counts(&self.report())
    }

    pub fn record(&self) -> okta_org_simulator::Record {
        self.sim.record()
    }

    /// Asserts the exit status, showing stderr when it is not.
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(self.out.code, code, "{}", self.out.stderr);
        self
    }
}

/// `okta-org bounces remove in.csv ARGS` against a fresh simulator made from `config`, with `input` as
/// `in.csv`, in a fresh sandbox, with the test token. A test case is then a line.
pub async fn remove_run(config: SimConfig, input: &str, args: &[&str]) -> Run {
    let sim = simulator(config).await;
    let sb = Sandbox::new("run");
    let path = sb.write("in.csv", input);
    let mut all = vec![path.to_str().unwrap()];
    all.extend_from_slice(args);
    let started = std::time::Instant::now();
    let out = sb.remove(&sim, &all).await;
    Run {
        out,
        took: started.elapsed(),
        sim,
        sb,
    }
}

/// A simulator config changed by `f`, for one-line cases.
pub fn org(users: usize, f: impl FnOnce(&mut SimConfig)) -> SimConfig {
    let mut c = org_with_users(users);
    f(&mut c);
    c
}

/// Sends `signal` (`-INT`, `-TERM`, ...) to the process `pid`.
pub fn kill(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal} {pid}");
}

/// Waits until the simulator has seen `n` bounce requests (or `within` passes).
pub async fn wait_for_requests(sim: &Simulator, n: usize, within: std::time::Duration) {
    let deadline = std::time::Instant::now() + within;
    while sim.record().requests.len() < n && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        sim.record().requests.len() >= n,
        "the simulator saw {} requests, not {n}",
        sim.record().requests.len()
    );
}
