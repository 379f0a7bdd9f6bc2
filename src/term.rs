//! Everything the tool writes on stderr goes through here: one line at a time, with the progress bar (when
//! one is drawn) lifted out of the way first, so messages, log lines and the bar never interleave.
//! Three kinds of line, `--quiet` handled once, here: notes (`okta-org: ...`, not under `--quiet`),
//! warnings (`okta-org: warning: ...`, through `tracing::warn!`, so `-v` and `RUST_LOG` see them too; not
//! under `--quiet`), and errors (`okta-org: error: ...`, always). Colour only when stderr is a terminal.
//! Whatever the text quotes from outside is escaped here ([`crate::escape`]), so nothing written can
//! drive the terminal. With `--log-format json` every line is a JSON object instead (`time`, `level`,
//! `message`, and an action's fields), for log collectors. In a run across several orgs (`--profiles`) every line an org's work writes is
//! labelled with its profile (`okta-org: [org2] ...`): the label travels with the org's tasks and threads.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// `--quiet`: set once, by [`init_logging`].
static QUIET: AtomicBool = AtomicBool::new(false);

/// `--log-format json`: set once, by [`init_logging`].
static JSON: AtomicBool = AtomicBool::new(false);

/// How lines on stderr are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `okta-org: ...` lines for people.
    #[default]
    Text,
    /// One JSON object a line (`time`, `level`, `message`, an action's fields), for log collectors.
    Json,
}

tokio::task_local! {
    /// The profile of the org whose work this task does, in a run across several orgs.
    static LABEL: Arc<str>;
}

thread_local! {
    /// The same, for a thread an org's work runs on (the reader of its inputs).
    static THREAD_LABEL: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// The label of the org this task or thread works for, if any.
pub fn label() -> Option<Arc<str>> {
    LABEL
        .try_with(Arc::clone)
        .ok()
        .or_else(|| THREAD_LABEL.with(|l| l.borrow().clone()))
}

/// Runs `fut` with every line it writes on stderr labelled `[label]` (none for `None`).
pub async fn labelled<F: Future>(label: Option<Arc<str>>, fut: F) -> F::Output {
    match label {
        Some(l) => LABEL.scope(l, fut).await,
        None => fut.await,
    }
}

/// `fut` carrying this task's label, for a task it spawns (a spawned task starts without one).
pub fn carry<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    labelled(label(), fut)
}

/// `f` carrying this task's label into the thread it will run on.
pub fn carry_thread<T>(f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let label = label();
    move || {
        THREAD_LABEL.with(|l| *l.borrow_mut() = label);
        f()
    }
}

/// `text` with every line labelled `okta-org: [label] ` (a line of the tool's own already starts
/// with `okta-org: `; the label goes after it).
fn with_label(text: &[u8], label: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 32);
    for line in text.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(b"okta-org: [");
        out.extend_from_slice(label.as_bytes());
        out.extend_from_slice(b"] ");
        out.extend_from_slice(line.strip_prefix(b"okta-org: ").unwrap_or(line));
    }
    out
}

/// Whether `--quiet` asked for errors only.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// One JSON line: `time`, `level`, `message`, then `fields`; safe on a terminal (see
/// [`crate::escape::json`]), and so are its values once decoded (`jq -r .message`): the characters a
/// terminal acts on are visible escapes in them, as in text lines.
fn json_line(level: &str, message: &str, mut fields: serde_json::Value) {
    crate::escape::value(&mut fields);
    let message = crate::escape::lines(message);
    let mut line = serde_json::Map::new();
    line.insert(
        "time".into(),
        crate::report::time_text(std::time::SystemTime::now()).into(),
    );
    line.insert("level".into(), level.into());
    line.insert("message".into(), message.into());
    if let Some(l) = label() {
        line.insert("profile".into(), crate::escape::text(&l).into());
    }
    if let serde_json::Value::Object(f) = fields {
        line.extend(f);
    }
    let text = serde_json::Value::Object(line).to_string();
    write_raw(format!("{}\n", crate::escape::json(&text)).as_bytes());
}

/// A note for the person at the terminal (`okta-org: ...`), not under `--quiet`.
pub fn note(text: impl std::fmt::Display) {
    if quiet() {
        return;
    }
    if json() {
        return json_line("info", &text.to_string(), serde_json::Value::Null);
    }
    say(format_args!("okta-org: {text}"));
}

/// An error line (`okta-org: error: ...`), always said. A command's final error is said once, by
/// `cmd::run`; this is for an error a run says on its way (a summary that could not be written).
pub fn error(text: impl std::fmt::Display) {
    if json() {
        return json_line("error", &text.to_string(), serde_json::Value::Null);
    }
    say(format_args!("okta-org: error: {text}"));
}

/// One action of a long-running command (`bounces sync --follow`), a line each, with its time: in text
/// `okta-org: 2026-12-07T10:00:00.000Z TEXT`; in JSON `{"time", "level", "message", "event": WHAT,
/// FIELDS...}`. Not under `--quiet`.
pub fn action(what: &str, text: impl std::fmt::Display, fields: serde_json::Value) {
    action_at("info", what, text, fields);
}

/// [`action`] at a level of its own (`warn` for a poll that failed).
pub fn action_at(level: &str, what: &str, text: impl std::fmt::Display, fields: serde_json::Value) {
    if quiet() {
        return;
    }
    if json() {
        let mut f = match fields {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        f.insert("event".into(), what.into());
        return json_line(level, &text.to_string(), serde_json::Value::Object(f));
    }
    say(format_args!(
        "okta-org: {} {text}",
        crate::report::time_text(std::time::SystemTime::now())
    ));
}

/// What a signal does to a run (`okta-org: interrupted: ...`), said even under `--quiet`: in JSON, a
/// `signal` event at level `warn`.
pub fn signalled(text: impl std::fmt::Display) {
    if json() {
        return json_line(
            "warn",
            &text.to_string(),
            serde_json::json!({"event": "signal"}),
        );
    }
    say(format_args!("okta-org: {text}"));
}

/// Shows `bar` until [`clear_bar`]; lines written meanwhile go above it.
pub fn set_bar(bar: ProgressBar) {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
}

pub fn clear_bar() {
    if let Some(bar) = BAR.lock().unwrap_or_else(|e| e.into_inner()).take() {
        bar.finish_and_clear();
    }
}

/// Writes `bytes` on stderr with the bar lifted, control characters but line breaks escaped. A closed
/// stderr (`2>&1 | head`) is not worth a panic.
pub fn write_stderr(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if json() {
        return json_line("info", text.trim_end(), serde_json::Value::Null);
    }
    write_raw(crate::escape::lines(&text).as_bytes());
}

/// Writes `bytes` on stderr as they are (a log line whose fields are escaped already, with its colours).
fn write_raw(bytes: &[u8]) {
    // (A JSON line carries its org as a field of its own: a prefix would make it no JSON.)
    let labelled = label()
        .filter(|_| !json())
        .map(|l| with_label(bytes, &crate::escape::text(&l)));
    let bytes = labelled.as_deref().unwrap_or(bytes);
    let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(bytes);
        let _ = err.flush();
    };
    match bar {
        Some(b) => b.suspend(write),
        None => write(),
    }
}

/// `n` and the noun that fits it: `1 row`, `40 rows`, `1 entry`, `2 entries`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Writes `text` and a newline on stderr.
pub fn say(text: impl std::fmt::Display) {
    write_stderr(format!("{text}\n").as_bytes());
}

/// Log events as `okta-org: warning: ...` lines (or JSON objects).
pub struct Lines {
    pub ansi: bool,
    pub json: bool,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if self.json {
            let mut fields = String::new();
            ctx.field_format()
                .format_fields(Writer::new(&mut fields), event)?;
            let level = event.metadata().level().as_str().to_ascii_lowercase();
            let mut line = serde_json::Map::new();
            line.insert(
                "time".into(),
                crate::report::time_text(std::time::SystemTime::now()).into(),
            );
            line.insert("level".into(), level.into());
            line.insert("message".into(), crate::escape::lines(&fields).into());
            if let Some(l) = label() {
                line.insert("profile".into(), crate::escape::text(&l).into());
            }
            let text = serde_json::Value::Object(line).to_string();
            return writeln!(writer, "{}", crate::escape::json(&text));
        }
        let (label, colour) = match *event.metadata().level() {
            Level::ERROR => ("error: ", "\x1b[31m"),
            Level::WARN => ("warning: ", "\x1b[33m"),
            Level::INFO => ("", ""),
            Level::DEBUG => ("debug: ", "\x1b[2m"),
            Level::TRACE => ("trace: ", "\x1b[2m"),
        };
        if self.ansi && !colour.is_empty() {
            write!(writer, "okta-org: {colour}{label}\x1b[0m")?;
        } else {
            write!(writer, "okta-org: {label}")?;
        }
        // The fields (the message and what it quotes) are escaped whole before they join the line, so
        // only this formatter's own colours reach the terminal.
        let mut fields = String::new();
        ctx.field_format()
            .format_fields(Writer::new(&mut fields), event)?;
        writeln!(writer, "{}", crate::escape::text(&fields))
    }
}

/// A writer for one log event that hands it to [`write_raw`] whole.
#[derive(Default)]
pub struct EventBuf(Vec<u8>);

impl Write for EventBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuf {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            write_raw(&self.0);
        }
    }
}

pub struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = EventBuf;
    fn make_writer(&'a self) -> EventBuf {
        EventBuf::default()
    }
}

/// Logging on stderr: warnings by default, `-v` each request, `-vv` retries and rate-limit details,
/// `-vvv` everything; `RUST_LOG` overrides.
pub fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    QUIET.store(quiet, Ordering::Relaxed);
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    // Only this tool's own lines, unless -vvv: a library's log (rustls reporting a certificate, say) is
    // not a message for the user, and the error it describes reaches them anyway.
    let default = match (quiet, verbose) {
        (true, _) => "okta_org=error",
        (false, 0) => "okta_org=warn",
        (false, 1) => "okta_org=info",
        (false, 2) => "okta_org=debug",
        _ => "info,okta_org=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr)
        .event_format(Lines {
            ansi: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            json: format == LogFormat::Json,
        })
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_orgs_lines_carry_its_label() {
        assert_eq!(
            with_label(b"okta-org: done\n3 requests\n", "org2"),
            b"okta-org: [org2] done\nokta-org: [org2] 3 requests\n"
        );
    }

    /// A log line keeps the formatter's own colours and escapes what its message quotes.
    #[test]
    fn log_lines_escape_their_fields_not_their_colours() {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .event_format(Lines {
                ansi: true,
                json: false,
            })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let name = "in\x1b[2J\x1b]0;pwned\x07.csv";
            tracing::warn!("{name}: no rows; Okta said {}", "\u{202e}gpj.exe\n");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "okta-org: \x1b[33mwarning: \x1b[0min\\x1b[2J\\x1b]0;pwned\\x07.csv: no rows; Okta said \
             \\u{202e}gpj.exe\\n\n"
        );
    }
}
