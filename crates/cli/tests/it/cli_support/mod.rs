//! Running the built `dbt-tableau` against the fake Tableau: a clean environment
//! (nothing from the developer's shell leaks in), the fake's site and PAT, and
//! the process run off the async runtime so the fake keeps answering.
#![allow(dead_code)]

use dbt_tableau_testkit::fake_tableau::{
    APP_CLIENT_ID, APP_SECRET_ID, APP_SECRET_VALUE, APP_USERNAME, FakeTableau, PAT_NAME,
    PAT_SECRET, SITE,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dbt-tableau"))
}

pub fn artifacts(set: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/artifacts")
        .join(set)
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:#?}"))
    }

    /// `(result, name or id)` of each target of the `--json` document.
    pub fn results(&self) -> Vec<(String, String)> {
        self.json()["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .map(|t| {
                let label = t["name"].as_str().or(t["id"].as_str()).unwrap_or("?");
                (t["result"].as_str().unwrap().to_owned(), label.to_owned())
            })
            .collect()
    }

    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Exit status 2, a reason on stderr naming `needle`, nothing on stdout,
    /// and no panic.
    pub fn assert_usage_error(&self, needle: &str) {
        assert_eq!(self.code, 2, "{self:#?}");
        assert!(self.stderr.contains(needle), "want {needle:?}: {self:#?}");
        assert!(self.stdout.is_empty(), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
    }
}

/// A command with only the variables given: PATH for `script`, nothing else.
pub fn bare() -> Command {
    bare_at(&binary())
}

/// [`bare`] for another copy of the command (the one a wheel installed).
pub fn bare_at(program: &Path) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

/// A command pointed at the fake with its PAT.
pub fn against(fake: &FakeTableau) -> Command {
    pointed(bare(), fake)
}

/// `command` pointed at the fake with its PAT.
pub fn pointed(mut command: Command, fake: &FakeTableau) -> Command {
    command
        .env("TABLEAU_SITE_URL", fake.server.uri())
        .env("TABLEAU_SITE_NAME", SITE)
        .env("TABLEAU_API_TOKEN_NAME", PAT_NAME)
        .env("TABLEAU_API_TOKEN_SECRET", PAT_SECRET);
    command
}

/// A command pointed at the fake with its connected app.
pub fn against_as_app(fake: &FakeTableau) -> Command {
    let mut command = bare();
    command
        .env("TABLEAU_SITE_URL", fake.server.uri())
        .env("TABLEAU_SITE_NAME", SITE)
        .env("TABLEAU_CONNECTED_APP_CLIENT_ID", APP_CLIENT_ID)
        .env("TABLEAU_CONNECTED_APP_SECRET_ID", APP_SECRET_ID)
        .env("TABLEAU_CONNECTED_APP_SECRET_VALUE", APP_SECRET_VALUE)
        .env("TABLEAU_USERNAME", APP_USERNAME)
        // CI passes every secret a workflow names; unset ones arrive empty.
        .env("TABLEAU_API_TOKEN_NAME", "")
        .env("TABLEAU_API_TOKEN_SECRET", "");
    command
}

/// Quick following: checks every 0.2 s growing to 0.5 s.
pub fn quick_polls(command: &mut Command) -> &mut Command {
    command
        .env("POLL_INITIAL_SECONDS", "0.2")
        .env("POLL_MAX_SECONDS", "0.5")
}

/// Runs `command` with `args` to its end, off the runtime.
pub async fn run(mut command: Command, args: &[&str]) -> Run {
    command.args(args);
    tokio::task::spawn_blocking(move || {
        let out = command.output().expect("dbt-tableau runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// Runs `command` on a pseudo-terminal (util-linux `script`), so stdout and
/// stderr are a terminal; `stdout` holds everything the terminal showed.
pub async fn run_on_terminal(command: Command, args: &[&str]) -> Run {
    let line = std::iter::once(command.get_program().to_string_lossy().into_owned())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    // A terminal that draws, unless the command says otherwise.
    script.env_clear().env("TERM", "xterm-256color");
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            script.env(key, value);
        }
    }
    script.args(["--quiet", "--return", "--command", &line, "/dev/null"]);
    run(script, &[]).await
}
