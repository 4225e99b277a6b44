//! The function's answers, as the contract's table lists them. No Lambda types:
//! the HTTP adapter turns an [`Answer`] into a Function URL response.

use crate::targets::{ItemKind, Target};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshResult {
    Queued,
    /// Tableau answered 409093: a refresh of the item is already waiting.
    AlreadyQueued,
    DryRun,
    Failed,
    /// Handed to the workflow, which refreshes and follows it.
    Accepted,
    /// An exposure downstream of a node that failed in this run: its item keeps
    /// its last good extract.
    Skipped,
    /// The rest are the ends of a followed Tableau job.
    Succeeded,
    Cancelled,
    TimedOut,
    Unknown,
}

impl RefreshResult {
    pub fn is_success(self) -> bool {
        !matches!(
            self,
            RefreshResult::Failed
                | RefreshResult::Cancelled
                | RefreshResult::TimedOut
                | RefreshResult::Unknown
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RefreshResult::Queued => "queued",
            RefreshResult::AlreadyQueued => "already_queued",
            RefreshResult::DryRun => "dry_run",
            RefreshResult::Failed => "failed",
            RefreshResult::Accepted => "accepted",
            RefreshResult::Skipped => "skipped",
            RefreshResult::Succeeded => "succeeded",
            RefreshResult::Cancelled => "cancelled",
            RefreshResult::TimedOut => "timed_out",
            RefreshResult::Unknown => "unknown",
        }
    }
}

/// One element of `targets` in an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetReport {
    /// `None` only for an exposure whose `meta.tableau` is malformed: it names
    /// no item we could tell the kind of.
    pub kind: Option<ItemKind>,
    /// `None` for a target given by LUID whose name Tableau didn't tell us.
    pub name: Option<String>,
    pub project: Option<String>,
    /// The item's Tableau LUID, once known.
    pub id: Option<String>,
    pub result: RefreshResult,
    pub job_id: Option<String>,
    pub error: Option<String>,
    /// The `unique_id` of the dbt exposure that named the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<String>,
    /// `true` when an incremental extract refresh was asked for (absent otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incremental: bool,
    /// Whether a later delivery of the webhook could fix this failure (Tableau
    /// unreachable, 5xx, 429, the deadline); decides 502 against 200.
    #[serde(skip)]
    pub retryable: bool,
}

impl TargetReport {
    fn new(target: &Target, result: RefreshResult) -> TargetReport {
        TargetReport {
            kind: Some(target.kind),
            name: target.name().map(str::to_owned),
            project: target.project().map(str::to_owned),
            id: target.id().map(str::to_owned),
            result,
            job_id: None,
            error: None,
            exposure: target.exposure.clone(),
            incremental: target.incremental,
            retryable: false,
        }
    }

    pub fn dry_run(target: &Target) -> TargetReport {
        TargetReport::new(target, RefreshResult::DryRun)
    }

    pub fn accepted(target: &Target) -> TargetReport {
        TargetReport::new(target, RefreshResult::Accepted)
    }

    /// An exposure's item left alone because `why` (the node that blocked it).
    pub fn skipped(target: &Target, why: impl Into<String>) -> TargetReport {
        TargetReport {
            error: Some(why.into()),
            ..TargetReport::new(target, RefreshResult::Skipped)
        }
    }

    /// A failure no later delivery can fix (not found, permission, ...).
    pub fn failed(target: &Target, error: impl Into<String>) -> TargetReport {
        TargetReport {
            error: Some(error.into()),
            ..TargetReport::new(target, RefreshResult::Failed)
        }
    }

    /// A failure a later delivery may fix (unreachable, 5xx, 429, the deadline).
    pub fn failed_retryable(target: &Target, error: impl Into<String>) -> TargetReport {
        TargetReport {
            retryable: true,
            ..TargetReport::failed(target, error)
        }
    }

    /// A refresh whose outcome no one can know (its answer was lost): not a
    /// success, and not retryable (a redelivery could start a second job).
    pub fn unknown(target: &Target, id: Option<String>, why: impl Into<String>) -> TargetReport {
        TargetReport {
            id: id.or_else(|| target.id().map(str::to_owned)),
            error: Some(why.into()),
            ..TargetReport::new(target, RefreshResult::Unknown)
        }
    }

    pub fn succeeded(
        target: &Target,
        id: String,
        result: RefreshResult,
        job_id: Option<String>,
    ) -> TargetReport {
        TargetReport {
            id: Some(id),
            job_id,
            ..TargetReport::new(target, result)
        }
    }

    /// An exposure whose `meta.tableau` can't be read: a failure of that
    /// exposure alone, which no redelivery fixes.
    pub fn malformed_exposure(exposure: &str, error: impl Into<String>) -> TargetReport {
        TargetReport {
            kind: None,
            name: None,
            project: None,
            id: None,
            result: RefreshResult::Failed,
            job_id: None,
            error: Some(error.into()),
            exposure: Some(exposure.to_owned()),
            incremental: false,
            retryable: false,
        }
    }

    /// "workbook", "datasource", "flow", or "exposure" for a malformed one.
    pub fn kind_name(&self) -> &'static str {
        self.kind.map_or("exposure", ItemKind::as_str)
    }

    /// How the item reads in messages: its name, or its LUID.
    pub fn label(&self) -> String {
        match (&self.name, &self.id) {
            (Some(name), _) => format!("\"{name}\""),
            (None, Some(id)) => format!("id {id}"),
            (None, None) => self
                .exposure
                .clone()
                .unwrap_or_else(|| "(unnamed)".to_owned()),
        }
    }

    /// A compact form for the invocation's log line.
    pub fn summary(&self) -> String {
        let mut line = format!("{} {}", self.kind_name(), self.label());
        if let Some(project) = &self.project {
            line.push_str(&format!(" [{project}]"));
        }
        line.push_str(&format!(": {}", self.result.as_str()));
        if let Some(job) = &self.job_id {
            line.push_str(&format!(" job {job}"));
        }
        if let Some(error) = &self.error {
            line.push_str(&format!(" ({error})"));
        }
        line
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    MethodNotAllowed(String),
    /// Deliberately without detail: a caller without the key learns nothing.
    Unauthorized,
    BadRequest(String),
    Ignored(String),
    DryRun(Vec<TargetReport>),
    /// Tableau was asked; queued or failed depending on the targets.
    Refreshed(Vec<TargetReport>),
    /// Workflow mode: an execution (named `execution`) does the work.
    Accepted {
        execution: String,
        targets: Vec<TargetReport>,
    },
    /// Nothing could be asked of Tableau: the workflow did not start, or dbt
    /// Cloud did not give the run's artifacts. `retryable` decides 502 or 200.
    Failed {
        error: String,
        retryable: bool,
    },
    ConfigError(String),
}

impl Answer {
    pub fn http_status(&self) -> u16 {
        match self {
            Answer::MethodNotAllowed(_) => 405,
            Answer::Unauthorized => 401,
            Answer::BadRequest(_) => 400,
            Answer::Ignored(_) | Answer::DryRun(_) => 200,
            Answer::Accepted { .. } => 202,
            // dbt Cloud redelivers on a non-2xx answer, and a webhook that keeps
            // failing gets switched off: only ask for a retry that could help.
            Answer::Refreshed(targets) if targets.iter().any(|t| t.retryable) => 502,
            Answer::Refreshed(_) => 200,
            Answer::Failed {
                retryable: true, ..
            } => 502,
            Answer::Failed { .. } => 200,
            Answer::ConfigError(_) => 500,
        }
    }

    /// The `status` field of the body.
    pub fn status(&self) -> &'static str {
        match self {
            Answer::MethodNotAllowed(_) | Answer::BadRequest(_) | Answer::ConfigError(_) => "error",
            Answer::Unauthorized => "unauthorized",
            Answer::Ignored(_) => "ignored",
            Answer::DryRun(_) => "dry_run",
            Answer::Accepted { .. } => "accepted",
            Answer::Refreshed(targets) if targets.iter().all(|t| t.result.is_success()) => "queued",
            Answer::Refreshed(_) | Answer::Failed { .. } => "failed",
        }
    }

    pub fn targets(&self) -> &[TargetReport] {
        match self {
            Answer::DryRun(targets)
            | Answer::Refreshed(targets)
            | Answer::Accepted { targets, .. } => targets,
            _ => &[],
        }
    }

    /// The JSON body; fields in the contract's order.
    pub fn body_text(&self) -> String {
        serde_json::to_string(&self.wire()).expect("answers always serialise")
    }

    fn wire(&self) -> WireAnswer<'_> {
        let mut wire = WireAnswer {
            status: self.status(),
            execution: None,
            error: None,
            reason: None,
            targets: None,
        };
        match self {
            Answer::MethodNotAllowed(error)
            | Answer::BadRequest(error)
            | Answer::ConfigError(error)
            | Answer::Failed { error, .. } => wire.error = Some(error),
            Answer::Unauthorized => {}
            Answer::Ignored(reason) => wire.reason = Some(reason),
            Answer::DryRun(targets) | Answer::Refreshed(targets) => wire.targets = Some(targets),
            Answer::Accepted { execution, targets } => {
                wire.execution = Some(execution);
                wire.targets = Some(targets);
            }
        }
        wire
    }
}

#[derive(Serialize)]
struct WireAnswer<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    targets: Option<&'a [TargetReport]>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn target() -> Target {
        Target::named(ItemKind::Workbook, "Sales", Some("Finance"))
    }

    #[test]
    fn only_retryable_failures_ask_dbt_to_redeliver() {
        let t = target();
        let ok = TargetReport::succeeded(&t, "luid".into(), RefreshResult::AlreadyQueued, None);
        let answer = Answer::Refreshed(vec![ok.clone()]);
        assert_eq!((answer.http_status(), answer.status()), (200, "queued"));
        let answer = Answer::Refreshed(vec![ok.clone(), TargetReport::failed(&t, "not found")]);
        assert_eq!((answer.http_status(), answer.status()), (200, "failed"));
        let answer = Answer::Refreshed(vec![
            ok.clone(),
            TargetReport::failed(&t, "not found"),
            TargetReport::failed_retryable(&t, "Tableau unreachable"),
        ]);
        assert_eq!((answer.http_status(), answer.status()), (502, "failed"));
        let skipped = TargetReport::skipped(&t, "model.shop.orders ended error");
        let answer = Answer::Refreshed(vec![ok, skipped]);
        assert_eq!((answer.http_status(), answer.status()), (200, "queued"));
    }

    #[test]
    fn target_element_has_the_contract_shape() {
        let answer = Answer::DryRun(vec![TargetReport::dry_run(&target())]);
        assert!(
            answer
                .body_text()
                .starts_with(r#"{"status":"dry_run","targets":[{"kind":"workbook","name":"Sales""#)
        );
        let body: Value = serde_json::from_str(&answer.body_text()).unwrap();
        assert_eq!(
            body,
            json!({"status":"dry_run","targets":[{"kind":"workbook","name":"Sales","project":"Finance",
                "id":null,"result":"dry_run","job_id":null,"error":null}]})
        );
    }
}
