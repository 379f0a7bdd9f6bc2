//! `--profiles LIST|all`: one command across several orgs in one process. Here the command line is
//! checked for a fleet (which profiles, outputs that take `{profile}`, `--yes` for changes), each org
//! gets its own copy of the command (its profile, its paths), [`crate::fleet::run`] runs them side by
//! side, and the orgs' ends become one table, one `--fleet-summary` and the worst exit status.
//!
//! To run another command across orgs, add a match arm in [`run`] that builds the org's copy of its
//! arguments (with [`Paths`] for its outputs) and calls [`each`] with a closure returning its [`Ran`].

mod drift;
mod table;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::bounces::find::{self, FindArgs};
use super::bounces::remove::{self, RemoveArgs};
use super::bounces::sync::{self, SyncArgs};
use super::bounces::verify::{self, VerifyArgs};
use super::{CmdError, Command, Ran, usage};
use crate::cli::{ConnectArgs, Global, Output, Seat};
use crate::config::{self, Env, ProcessEnv};
use crate::exit::Exit;
use crate::interrupt::Signals;
use table::Line;

/// The placeholder an output path takes, replaced by each org's profile.
pub const PLACEHOLDER: &str = "{profile}";

/// Runs `command` for every org `--profiles` names.
pub async fn run(command: Command, global: Global) -> Result<Exit, CmdError> {
    let name = name_of(&command);
    let Some(conn) = conn_of(&command) else {
        return Err(usage(format!(
            "{name} does not run across orgs: --profiles is for bounces remove, find and verify, \
             limits and the org settings commands"
        )));
    };
    refuse_single_org_settings(conn, &ProcessEnv)?;
    let profiles = select(global.profiles.as_deref().unwrap_or_default(), &ProcessEnv)?;
    if let Some(path) = &global.fleet_summary {
        if path == Path::new("-") || path.to_string_lossy().contains(PLACEHOLDER) {
            return Err(usage(format!(
                "--fleet-summary {}: the fleet summary is one file for every org (stdout carries \
                 the commands' own output): give a file name, e.g. --fleet-summary fleet.json",
                path.display()
            )));
        }
        crate::outputs::probe_writable(path, "the fleet summary ")?;
    }
    if is_update(&command) && !global.yes && profiles.len() > 1 {
        return Err(usage(format!(
            "{name} changes every org of --profiles ({}): add --yes to confirm",
            profiles.join(", ")
        )));
    }
    let parallel = global
        .parallel
        .map_or(profiles.len(), |p| p as usize)
        .max(1);
    let fleet = Fleet {
        profiles,
        parallel,
        global,
        name,
    };
    match command {
        Command::Bounces(g) => match g.command {
            super::bounces::Command::Remove(a) => fleet.remove(a).await,
            super::bounces::Command::Find(a) => fleet.find(a).await,
            super::bounces::Command::Verify(a) => fleet.verify(a).await,
            super::bounces::Command::Sync(a) => fleet.sync(a).await,
            super::bounces::Command::History(_) => unreachable!("no connection: refused above"),
        },
        Command::Limits(a) => fleet.limits(a).await,
        other => fleet.settings(other).await,
    }
}

/// How an org's command stops on a signal.
#[derive(Debug, Clone, Copy)]
enum Stops {
    /// It watches the signals and finishes its report.
    Itself,
    /// It is ended where it is (nothing of it is half written: such commands write at their end).
    BySignal,
}

/// An org's command ended by `signal` before its end.
fn ended_by(signal: i32) -> Ran {
    Ran {
        result: Ok(Exit::Signal(signal)),
        counted: super::Counted {
            stop: Some(super::bounces::summary::Stop::new(
                crate::engine::Cause::Interrupted,
                crate::interrupt::describe(signal, true),
            )),
            ..super::Counted::default()
        },
    }
}

/// What `bounces find` found in each org, for one output with an `org` column.
type FoundByOrg = Vec<(String, Vec<crate::logs::find::Found>)>;

/// The orgs of a run, and how to run them.
struct Fleet {
    profiles: Vec<String>,
    parallel: usize,
    global: Global,
    name: &'static str,
}

impl Fleet {
    fn many(&self) -> bool {
        self.profiles.len() > 1
    }

    /// Refuses, before anything is sent, an output of one org that is the file of another org's output,
    /// of something an org reads, or of `--fleet-summary`, once `{profile}` is filled in (two profiles
    /// whose names make the same path, `x` and `./x`; a summary pointed at a report). `reads` and
    /// `writes` are (flag, path) as given, `{profile}` not yet filled in.
    fn refuse_clashes(
        &self,
        reads: &[(&str, Option<&Path>)],
        writes: &[(&str, Option<&Path>)],
    ) -> Result<(), CmdError> {
        let each = |list: &[(&str, Option<&Path>)]| -> Vec<(String, PathBuf)> {
            let mut out = Vec::new();
            for &(flag, path) in list {
                let Some(path) = path.filter(|p| *p != Path::new("-")) else {
                    continue;
                };
                // (A path without `{profile}` is one file, named once.)
                let mut mine: Vec<PathBuf> = Vec::new();
                for profile in &self.profiles {
                    let path = put_path(path, profile);
                    if !mine.contains(&path) {
                        out.push((format!("{flag} of {profile}"), path.clone()));
                        mine.push(path);
                    }
                }
            }
            out
        };
        let reads = each(reads);
        let mut writes = each(writes);
        if let Some(path) = &self.global.fleet_summary {
            writes.push(("--fleet-summary".into(), path.clone()));
        }
        let reads: Vec<(String, &Path)> = reads
            .iter()
            .map(|(what, p)| (format!("what {what} reads"), p.as_path()))
            .collect();
        let writes: Vec<(&str, Option<&Path>)> = writes
            .iter()
            .map(|(flag, p)| (flag.as_str(), Some(p.as_path())))
            .collect();
        crate::outputs::refuse_overwrites(&reads, &writes).map_err(|e| usage(e.0))
    }

    /// Runs `work` for every org with its own `Global` (its seat: profile and signals), says each
    /// org's error labelled with its profile, then the table, the fleet summary and the worst status.
    ///
    /// A command that watches the signals itself (`remove`, `verify`) finishes its report on the first;
    /// any other is ended by it (`stops`), as a signal ends it when it runs for one org.
    async fn each<F, Fut>(&self, stops: Stops, work: F) -> Result<(Exit, Vec<Line>), CmdError>
    where
        F: Fn(String, Global) -> Fut,
        Fut: Future<Output = Ran> + Send + 'static,
    {
        let global = &self.global;
        let orgs = crate::fleet::run(&self.profiles, self.parallel, |profile, signals| {
            let mut first = signals.clone();
            let g = seat(global, &profile, signals);
            let fut = work(profile, g);
            async move {
                let ran = match stops {
                    Stops::Itself => fut.await,
                    Stops::BySignal => tokio::select! {
                        ran = fut => ran,
                        sig = first.next() => ended_by(sig),
                    },
                };
                if let Err(e) = &ran.result {
                    crate::term::error(e);
                }
                ran
            }
        })
        .await;
        let lines: Vec<Line> = orgs.into_iter().map(Line::of).collect();
        let exit = table::finish(self.name, &lines, global)?;
        Ok((exit, lines))
    }

    async fn remove(&self, a: RemoveArgs) -> Result<Exit, CmdError> {
        let reads_stdin =
            a.retry_failed.is_none() && (a.inputs.is_empty() || a.inputs.iter().any(|i| i == "-"));
        if self.many() && reads_stdin {
            return Err(usage(
                "with --profiles, stdin cannot be read by every org: save it to a file and give the \
                 file (each org reads it)",
            ));
        }
        let paths = Paths::new(&self.profiles);
        paths.check("--report", a.report.as_deref())?;
        paths.check("--summary", a.summary.as_deref())?;
        for (flag, earlier) in [("--resume", &a.resume), ("--retry-failed", &a.retry_failed)] {
            if let Some(path) = earlier
                .as_deref()
                .filter(|p| self.many() && !paths.per_org(Some(p)))
            {
                return Err(usage(format!(
                    "{flag} {} would be read for every org: an earlier report holds one org's \
                     results, so put {PLACEHOLDER} in it (e.g. {flag} reports/{PLACEHOLDER}.csv)",
                    path.display()
                )));
            }
        }
        let inputs: Vec<PathBuf> = a.inputs.iter().map(PathBuf::from).collect();
        let mut reads: Vec<(&str, Option<&Path>)> = inputs
            .iter()
            .map(|p| ("input", Some(p.as_path())))
            .collect();
        reads.extend([
            ("--resume", a.resume.as_deref()),
            ("--retry-failed", a.retry_failed.as_deref()),
        ]);
        self.refuse_clashes(
            &reads,
            &[
                ("--report", a.report.as_deref()),
                ("--summary", a.summary.as_deref()),
            ],
        )?;
        self.each(Stops::Itself, |profile, g| {
            let mut a = a.clone();
            a.conn.profile = Some(profile.clone());
            a.inputs = a.inputs.iter().map(|i| put(i, &profile)).collect();
            for p in [
                &mut a.report,
                &mut a.summary,
                &mut a.resume,
                &mut a.retry_failed,
            ] {
                *p = p.as_deref().map(|p| put_path(p, &profile));
            }
            async move { remove::run_counted(a, &g).await }
        })
        .await
        .map(|(exit, _)| exit)
    }

    async fn find(&self, a: FindArgs) -> Result<Exit, CmdError> {
        let paths = Paths::new(&self.profiles);
        paths.check("--summary", a.rows.summary.as_deref())?;
        // One output for every org (stdout, or a file without {profile}): the rows with an `org` column,
        // written once every org is done.
        let one_output = self.many() && !paths.per_org(a.rows.output.as_deref());
        if !one_output {
            paths.check("--output", a.rows.output.as_deref())?;
        } else if let Some(path) = a.rows.output.as_deref().filter(|p| *p != Path::new("-")) {
            crate::outputs::probe_writable(path, "")?;
        }
        self.refuse_clashes(
            &[],
            &[
                ("--output", a.rows.output.as_deref()),
                ("--summary", a.rows.summary.as_deref()),
            ],
        )?;
        let found: Arc<Mutex<FoundByOrg>> = Arc::default();
        let (exit, _) = self
            .each(Stops::BySignal, |profile, g| {
                let mut a = a.clone();
                a.conn.profile = Some(profile.clone());
                let found = found.clone();
                if !one_output {
                    a.rows.output = a.rows.output.as_deref().map(|p| put_path(p, &profile));
                }
                a.rows.summary = a.rows.summary.as_deref().map(|p| put_path(p, &profile));
                async move {
                    if !one_output {
                        return find::run_counted(a, &g, None).await;
                    }
                    let mine = Mutex::new(Vec::new());
                    let ran = find::run_counted(a, &g, Some(&mine)).await;
                    let rows = mine.into_inner().unwrap_or_else(|e| e.into_inner());
                    found
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((profile, rows));
                    ran
                }
            })
            .await?;
        if !one_output {
            return Ok(exit);
        }
        let mut found = std::mem::take(&mut *found.lock().unwrap_or_else(|e| e.into_inner()));
        found.sort_by_key(|(p, _)| self.profiles.iter().position(|q| q == p));
        let mut rows = a.rows.clone();
        if rows.output.as_deref() == Some(Path::new("-")) {
            rows.output = None;
        }
        match find::write_with_org(&rows, &found) {
            Ok(()) => Ok(exit),
            Err(e) => {
                crate::term::error(&e);
                Ok(exit.worst(e.exit()))
            }
        }
    }

    async fn verify(&self, a: VerifyArgs) -> Result<Exit, CmdError> {
        let paths = Paths::new(&self.profiles);
        paths.check("--output", a.rows.output.as_deref())?;
        paths.check("--summary", a.rows.summary.as_deref())?;
        if self.many() && !paths.per_org(Some(&a.report)) {
            return Err(usage(format!(
                "REPORT {} would be read for every org: each org verifies its own report, so put \
                 {PLACEHOLDER} in it (e.g. reports/{PLACEHOLDER}.csv)",
                a.report.display()
            )));
        }
        self.refuse_clashes(
            &[("REPORT", Some(&a.report))],
            &[
                ("--output", a.rows.output.as_deref()),
                ("--summary", a.rows.summary.as_deref()),
            ],
        )?;
        self.each(Stops::Itself, |profile, g| {
            let mut a = a.clone();
            a.conn.profile = Some(profile.clone());
            a.report = put_path(&a.report, &profile);
            for p in [&mut a.rows.output, &mut a.rows.summary] {
                *p = p.as_deref().map(|p| put_path(p, &profile));
            }
            async move { verify::run_counted(a, &g).await }
        })
        .await
        .map(|(exit, _)| exit)
    }

    /// `bounces sync` (and `--follow`) for every org: one process, one ledger (each org under its own
    /// lock), one metrics listener for them all.
    async fn sync(&self, a: SyncArgs) -> Result<Exit, CmdError> {
        let paths = Paths::new(&self.profiles);
        paths.check("--report", a.report.as_deref())?;
        paths.check("--summary", a.summary.as_deref())?;
        self.refuse_clashes(
            &[],
            &[
                ("--report", a.report.as_deref()),
                ("--summary", a.summary.as_deref()),
            ],
        )?;
        let metrics = match a.metrics {
            Some(addr) => Some(sync::serve_metrics(addr, a.poll).await?),
            None => None,
        };
        self.each(Stops::Itself, |profile, g| {
            let mut a = a.clone();
            a.conn.profile = Some(profile.clone());
            for p in [&mut a.report, &mut a.summary] {
                *p = p.as_deref().map(|p| put_path(p, &profile));
            }
            let metrics = metrics.clone();
            async move { sync::run_counted(a, &g, metrics).await }
        })
        .await
        .map(|(exit, _)| exit)
    }

    async fn limits(&self, a: super::limits::Args) -> Result<Exit, CmdError> {
        let output = a.out.output;
        let (exit, lines) = self
            .each(Stops::BySignal, |profile, g| {
                let mut a = a.clone();
                a.conn.profile = Some(profile.clone());
                a.out.output = Output::Json;
                async move { kept(super::limits::run(a, &g)).await }
            })
            .await?;
        drift::show(&lines, output).map(|e| exit.worst(e))
    }

    /// An org settings command: each org's answer kept, then shown side by side.
    async fn settings(&self, command: Command) -> Result<Exit, CmdError> {
        let output = output_of(&command);
        let (exit, lines) = self
            .each(Stops::BySignal, |profile, g| {
                let command = for_org(&command, &profile);
                async move { kept(super::dispatch(command, &g)).await }
            })
            .await?;
        drift::show(&lines, output).map(|e| exit.worst(e))
    }
}

/// Runs a command whose answer goes to stdout, keeping the answer as the org's summary body (the JSON
/// it printed, or null).
async fn kept(fut: impl Future<Output = Result<Exit, CmdError>>) -> Ran {
    let (result, out) = super::captured(fut).await;
    let mut ran = Ran::of(result);
    ran.counted.body = serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null);
    ran
}

/// The `Global` of one org of the fleet.
fn seat(global: &Global, profile: &str, signals: Signals) -> Global {
    let mut g = global.clone();
    g.profiles = None;
    g.fleet_summary = None;
    g.seat = Some(Seat {
        profile: profile.into(),
        signals,
    });
    g
}

/// The profiles `--profiles` names: `all` (every profile of the okta.yaml files), or names separated by
/// commas, each once, in the order given. An unknown name is refused with the known ones.
pub fn select(list: &str, env: &dyn Env) -> Result<Vec<String>, CmdError> {
    let known = config::profile_names(env)?;
    if list.trim() == "all" {
        if known.is_empty() {
            return Err(usage(
                "--profiles all: the okta.yaml files hold no profiles (okta: profiles: NAME: client: \
                 ...); `okta-org config show` lists the files read",
            ));
        }
        return Ok(known);
    }
    let mut names: Vec<String> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !known.iter().any(|k| k == name) {
            let listed = if known.is_empty() {
                "the okta.yaml files hold none".to_string()
            } else {
                format!("known: {}", known.join(", "))
            };
            return Err(usage(format!(
                "--profiles: no profile {:?} in any okta.yaml ({listed})",
                crate::escape::text(name)
            )));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    if names.is_empty() {
        return Err(usage(
            "--profiles needs profile names, comma-separated, or all",
        ));
    }
    Ok(names)
}

/// Settings that would send every org's requests to one org, or with one credential, are refused with
/// `--profiles`: each org's URL and sign-in come from its profile.
fn refuse_single_org_settings(conn: &ConnectArgs, env: &dyn Env) -> Result<(), CmdError> {
    let flags = [
        ("--profile", conn.profile.is_some()),
        ("--org-url", conn.org_url.is_some()),
        ("--token-file", conn.token_file.is_some()),
        ("--client-id", conn.client_id.is_some()),
        ("--private-key", conn.private_key.is_some()),
        ("--private-key-id", conn.private_key_id.is_some()),
        ("--simulate", conn.simulate),
    ];
    if let Some((flag, _)) = flags.iter().find(|(_, given)| *given) {
        return Err(usage(format!(
            "--profiles takes each org's URL and sign-in from its profile: {flag} would apply to \
             every org (drop it, or run without --profiles)"
        )));
    }
    for var in [
        "OKTA_CLIENT_PROFILE",
        "OKTA_CLIENT_ORGURL",
        "OKTA_CLIENT_TOKEN",
        "OKTA_CLIENT_CLIENTID",
        "OKTA_CLIENT_PRIVATEKEY",
        "OKTA_CLIENT_PRIVATEKEYID",
    ] {
        if env.var(var).is_some() {
            return Err(usage(format!(
                "--profiles takes each org's URL and sign-in from its profile, but {var} is set and \
                 would apply to every org: unset it for this command"
            )));
        }
    }
    Ok(())
}

/// The checks of output paths across orgs, before anything is sent.
struct Paths<'a> {
    profiles: &'a [String],
}

impl<'a> Paths<'a> {
    fn new(profiles: &'a [String]) -> Paths<'a> {
        Paths { profiles }
    }

    /// Whether `path` names a file of its own for each org.
    fn per_org(&self, path: Option<&Path>) -> bool {
        path.is_some_and(|p| p.to_string_lossy().contains(PLACEHOLDER))
    }

    /// An output of several orgs must name a file of each (`{profile}`), not stdout; the directory of
    /// each org's file must be there (none is created).
    fn check(&self, flag: &str, path: Option<&Path>) -> Result<(), CmdError> {
        let many = self.profiles.len() > 1;
        let to_stdout = path.is_none_or(|p| p == Path::new("-"));
        if many && to_stdout && (path.is_some() || flag == "--report" || flag == "--output") {
            return Err(usage(format!(
                "{flag}: {} orgs cannot all write to stdout: give each its own file, e.g. {flag} \
                 reports/{PLACEHOLDER}.{}",
                self.profiles.len(),
                if flag == "--summary" { "json" } else { "csv" }
            )));
        }
        let Some(path) = path.filter(|_| !to_stdout) else {
            return Ok(());
        };
        if many && !self.per_org(Some(path)) {
            return Err(usage(format!(
                "{flag} {} would be written by every org: put {PLACEHOLDER} in it, e.g. {flag} \
                 reports/{PLACEHOLDER}.{}",
                path.display(),
                if flag == "--summary" { "json" } else { "csv" }
            )));
        }
        for profile in self.profiles {
            let names_a_directory =
                profile.contains(['/', '\\']) || profile == "." || profile == "..";
            if names_a_directory && self.per_org(Some(path)) {
                return Err(usage(format!(
                    "{flag} {}: the profile name `{}` cannot be put in a file name (it names a \
                     directory); rename the profile in okta.yaml",
                    path.display(),
                    crate::escape::text(profile)
                )));
            }
            let mine = put_path(path, profile);
            let dir = mine
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !dir.is_dir() {
                return Err(usage(format!(
                    "{flag} {}: there is no directory {} (okta-org creates no directories: make it \
                     first)",
                    mine.display(),
                    dir.display()
                )));
            }
        }
        Ok(())
    }
}

/// `text` with `{profile}` replaced by `profile`.
fn put(text: &str, profile: &str) -> String {
    text.replace(PLACEHOLDER, profile)
}

fn put_path(path: &Path, profile: &str) -> PathBuf {
    match path.to_str() {
        Some(s) => PathBuf::from(put(s, profile)),
        None => path.to_path_buf(),
    }
}

/// The command's name, as its summary names it.
fn name_of(c: &Command) -> &'static str {
    use super::bounces::Command as B;
    match c {
        Command::Bounces(g) => match g.command {
            B::Remove(_) => "bounces remove",
            B::Find(_) => "bounces find",
            B::Verify(_) => "bounces verify",
            B::Sync(_) => "bounces sync",
            B::History(_) => "bounces history",
        },
        Command::Settings(_) => "settings",
        Command::Contacts(_) => "contacts",
        Command::Logo(_) => "logo",
        Command::Support(_) => "support",
        Command::Aerial(_) => "aerial",
        Command::Communication(_) => "communication",
        Command::Preferences(_) => "preferences",
        Command::Admin(_) => "admin",
        Command::Limits(_) => "limits",
        Command::Metadata(_) => "metadata",
        Command::Config(_) => "config",
        Command::Simulate(_) => "simulate",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
    }
}

/// Applies `$f` to the org group of `$c` (every org settings command has its connection and output in
/// one `OrgGroup`), or gives `$none`.
macro_rules! org_group {
    ($c:expr, $g:ident => $f:expr, $none:expr) => {
        match $c {
            Command::Settings($g) => $f,
            Command::Contacts($g) => $f,
            Command::Logo($g) => $f,
            Command::Support($g) => $f,
            Command::Aerial($g) => $f,
            Command::Communication($g) => $f,
            Command::Preferences($g) => $f,
            Command::Admin($g) => $f,
            _ => $none,
        }
    };
}

/// The connection flags of a command that connects to an org and runs across orgs.
fn conn_of(c: &Command) -> Option<&ConnectArgs> {
    use super::bounces::Command as B;
    match c {
        Command::Bounces(g) => match &g.command {
            B::Remove(a) => Some(&a.conn),
            B::Find(a) => Some(&a.conn),
            B::Verify(a) => Some(&a.conn),
            B::Sync(a) => Some(&a.conn),
            B::History(_) => None,
        },
        Command::Limits(a) => Some(&a.conn),
        other => org_group!(other, g => Some(&g.conn), None),
    }
}

fn output_of(c: &Command) -> Output {
    org_group!(c, g => g.out.output, Output::Text)
}

/// One org's copy of an org settings command: its profile, and its answer as JSON (kept, not printed).
fn for_org(c: &Command, profile: &str) -> Command {
    let mut c = c.clone();
    org_group!(&mut c, g => {
        g.conn.profile = Some(profile.to_string());
        g.out.output = Output::Json;
    }, ());
    c
}

/// Whether a command changes the org (so that across orgs it needs `--yes`). `bounces remove` clears
/// bounces, the tool's main job, with the same inputs for every org: it needs no `--yes`.
fn is_update(c: &Command) -> bool {
    use super::admin::{Command as A, FlagCommand};
    use super::support::{CasesCommand, Command as S};
    match c {
        Command::Settings(g) => !matches!(g.command, super::settings::Command::Get),
        Command::Contacts(g) => matches!(g.command, super::contacts::Command::Set { .. }),
        Command::Logo(_) => true,
        Command::Support(g) => !matches!(g.command, S::Get | S::Cases(CasesCommand::List)),
        Command::Aerial(g) => !matches!(g.command, super::aerial::Command::Get),
        Command::Communication(g) => !matches!(g.command, super::communication::Command::Get),
        Command::Preferences(g) => !matches!(g.command, super::preferences::Command::Get),
        Command::Admin(g) => match &g.command {
            A::ThirdParty(f) | A::AutoAssignAdminApp(f) | A::ClientPrivileges(f) => {
                matches!(f, FlagCommand::Set { .. })
            }
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_take_the_profile() {
        assert_eq!(
            put_path(Path::new("r/{profile}.csv"), "eu"),
            PathBuf::from("r/eu.csv")
        );
        let two = ["a".to_string(), "b".to_string()];
        let paths = Paths::new(&two);
        let e = paths.check("--report", None).unwrap_err().to_string();
        assert!(e.contains("cannot all write to stdout"), "{e}");
        let e = paths
            .check("--report", Some(Path::new("r.csv")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("put {profile} in it"), "{e}");
        let e = paths
            .check(
                "--report",
                Some(Path::new("no-such-dir-here/{profile}.csv")),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("no directory no-such-dir-here"), "{e}");
        // No summary is no output; one org may write to stdout.
        assert!(paths.check("--summary", None).is_ok());
        let one = ["a".to_string()];
        assert!(Paths::new(&one).check("--report", None).is_ok());
    }
}
