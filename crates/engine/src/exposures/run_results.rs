//! run_results.json: which nodes a step executed, and how each ended.
//!
//! Read by the byte-speed [`Scanner`]: of each result only `unique_id` and `status`
//! are kept; the rest (`compiled_code`, `timing`, `adapter_response`...) is skipped
//! without building values, so a run_results of 100 MB costs the memory of its ids.
//! `metadata` and `args` (small) are captured and read by serde.

use super::error::{Artifact, ExposuresError};
use super::scan::{Kind, Scanner};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;

/// Commands whose run_results list nodes as `success` without running them: a job
/// ending in `dbt docs generate` (`which` = `generate`) must not make anything fresh
/// or overwrite the real results of the steps before it.
pub const NON_EXECUTING: &[&str] = &[
    "generate", "docs", "compile", "ls", "list", "parse", "show", "debug", "deps", "clean",
];

/// How a node ended, as run_results spells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "String")]
pub enum Status {
    Success,
    Error,
    Skipped,
    Pass,
    Fail,
    Warn,
    /// Freshness checks' crash status; blocks like `error`.
    RuntimeError,
    /// `partial success`, `no-op`, `reused` and whatever dbt adds: neither fresh nor
    /// blocking.
    Other(String),
}

impl From<String> for Status {
    fn from(s: String) -> Status {
        match s.as_str() {
            "success" => Status::Success,
            "error" => Status::Error,
            "skipped" => Status::Skipped,
            "pass" => Status::Pass,
            "fail" => Status::Fail,
            "warn" => Status::Warn,
            "runtime error" => Status::RuntimeError,
            _ => Status::Other(s),
        }
    }
}

impl From<&str> for Status {
    fn from(s: &str) -> Status {
        Status::from(s.to_owned())
    }
}

impl Status {
    pub fn as_str(&self) -> &str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Skipped => "skipped",
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::RuntimeError => "runtime error",
            Status::Other(s) => s,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: Status,
}

/// One step's run_results.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResults {
    /// `args.which`: the dbt command that wrote the file (`build`, `run`, `generate`...).
    pub which: Option<String>,
    pub results: Vec<NodeResult>,
}

impl RunResults {
    /// Whether this step executed its nodes. A file without `args.which` (written by
    /// hand, or a dbt too old to say) counts: ignoring real results would be worse.
    pub fn counts(&self) -> bool {
        self.which
            .as_deref()
            .is_none_or(|which| !NON_EXECUTING.contains(&which))
    }
}

#[derive(Default)]
struct Raw {
    metadata: Option<RawMetadata>,
    args: Option<RawArgs>,
    results: Option<Vec<NodeResult>>,
}

#[derive(Deserialize)]
struct RawMetadata {
    #[serde(default)]
    dbt_schema_version: Option<String>,
}

#[derive(Deserialize)]
struct RawArgs {
    #[serde(default)]
    which: Option<String>,
}

/// Reads one run_results.json from a stream (a `&[u8]` is a reader too).
pub fn read_run_results(reader: impl Read) -> Result<RunResults, ExposuresError> {
    let mut scan = Scanner::new(reader, Artifact::RunResults);
    let raw = read_raw(&mut scan)?;
    scan.finish()?;
    let unsupported = |d: String| ExposuresError::unsupported(Artifact::RunResults, d);
    // Another artifact passed by mistake (a manifest has no top-level `results`, but
    // sources.json does) is named as such rather than read as empty results.
    match raw.metadata.and_then(|m| m.dbt_schema_version) {
        Some(url) if !url.contains("/run-results/") => {
            return Err(unsupported(format!("it is {url}, not a run_results.json")));
        }
        _ => {}
    }
    let Some(results) = raw.results else {
        return Err(unsupported("no \"results\" list".into()));
    };
    Ok(RunResults {
        which: raw.args.and_then(|a| a.which),
        results,
    })
}

fn read_raw<R: Read>(scan: &mut Scanner<R>) -> Result<Raw, ExposuresError> {
    let mut raw = Raw::default();
    let (mut key, mut captured) = (Vec::new(), Vec::new());
    let mut seen_results = false;
    scan.object("struct Raw")?;
    let mut first = true;
    while scan.key(&mut first, &mut key)? {
        match key.as_slice() {
            b"metadata" => {
                captured.clear();
                scan.capture_value(&mut captured)?;
                raw.metadata = serde_json::from_slice(&captured).map_err(|e| scan.malformed(e))?;
            }
            b"args" => {
                captured.clear();
                scan.capture_value(&mut captured)?;
                raw.args = serde_json::from_slice(&captured).map_err(|e| scan.malformed(e))?;
            }
            b"results" => {
                if std::mem::replace(&mut seen_results, true) {
                    return Err(scan.malformed("duplicate field `results`"));
                }
                raw.results = read_results(scan)?;
            }
            _ => scan.skip_value()?,
        }
    }
    Ok(raw)
}

/// `results`: `null`, or a list of results of which `unique_id` and `status` are
/// kept.
fn read_results<R: Read>(scan: &mut Scanner<R>) -> Result<Option<Vec<NodeResult>>, ExposuresError> {
    if scan.kind()? == Kind::Null {
        scan.null()?;
        return Ok(None);
    }
    let mut results = Vec::new();
    let (mut key, mut value) = (Vec::new(), Vec::new());
    scan.array("a sequence")?;
    let mut first = true;
    while scan.element(&mut first)? {
        let (mut unique_id, mut status) = (None, None);
        scan.object("struct NodeResult")?;
        let mut first_key = true;
        while scan.key(&mut first_key, &mut key)? {
            let field = match key.as_slice() {
                b"unique_id" => &mut unique_id,
                b"status" => &mut status,
                _ => {
                    scan.skip_value()?;
                    continue;
                }
            };
            if field.is_some() {
                let name = String::from_utf8_lossy(&key).into_owned();
                return Err(scan.malformed(format!("duplicate field `{name}`")));
            }
            scan.string(&mut value, "a string")?;
            // `string` checked the bytes as UTF-8.
            *field = Some(String::from_utf8_lossy(&value).into_owned());
        }
        let missing = |field: &str| scan.malformed(format!("missing field `{field}`"));
        let unique_id = unique_id.ok_or_else(|| missing("unique_id"))?;
        let status = status.ok_or_else(|| missing("status"))?;
        results.push(NodeResult {
            unique_id,
            status: Status::from(status),
        });
    }
    Ok(Some(results))
}

/// The run's outcome per node, combined over its steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutcome {
    statuses: HashMap<String, Status>,
}

impl RunOutcome {
    /// Steps in the order they ran: a later step's result for a node wins (a `dbt
    /// retry` or a second `dbt run` rebuilding it), and steps that do not execute
    /// nodes ([`NON_EXECUTING`]) are left out.
    pub fn from_steps<'a>(steps: impl IntoIterator<Item = &'a RunResults>) -> RunOutcome {
        let mut outcome = RunOutcome::default();
        for step in steps {
            outcome.add(step.clone());
        }
        outcome
    }

    /// Adds the next step, taking its results over: a caller fetching a run's steps
    /// one by one holds one step's file at a time, not all of them.
    pub fn add(&mut self, step: RunResults) {
        if step.counts() {
            self.statuses
                .extend(step.results.into_iter().map(|r| (r.unique_id, r.status)));
        }
    }

    pub fn status(&self, unique_id: &str) -> Option<&Status> {
        self.statuses.get(unique_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Status)> {
        self.statuses.iter().map(|(id, s)| (id.as_str(), s))
    }

    pub fn len(&self) -> usize {
        self.statuses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty()
    }
}

impl<'a> FromIterator<(&'a str, Status)> for RunOutcome {
    /// One step's results, for tests and examples.
    fn from_iter<I: IntoIterator<Item = (&'a str, Status)>>(iter: I) -> RunOutcome {
        RunOutcome {
            statuses: iter.into_iter().map(|(id, s)| (id.to_owned(), s)).collect(),
        }
    }
}
