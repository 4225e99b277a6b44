//! The function's answers, as the contract's table lists them. No Lambda types:
//! the HTTP adapter turns an [`Answer`] into a Function URL response.

use crate::targets::{ItemKind, Target};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshResult {
    Queued,
    /// Tableau answered 409093: a refresh of the item is already waiting.
    AlreadyQueued,
    DryRun,
    Failed,
}

impl RefreshResult {
    pub fn is_success(self) -> bool {
        !matches!(self, RefreshResult::Failed)
    }
}

/// One element of `targets` in an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetReport {
    pub kind: ItemKind,
    pub name: String,
    pub project: Option<String>,
    /// The item's Tableau LUID, once found.
    pub id: Option<String>,
    pub result: RefreshResult,
    pub job_id: Option<String>,
    pub error: Option<String>,
}

impl TargetReport {
    fn new(target: &Target, result: RefreshResult) -> TargetReport {
        TargetReport {
            kind: target.kind,
            name: target.name.clone(),
            project: target.project.clone(),
            id: None,
            result,
            job_id: None,
            error: None,
        }
    }

    pub fn dry_run(target: &Target) -> TargetReport {
        TargetReport::new(target, RefreshResult::DryRun)
    }

    pub fn failed(target: &Target, error: impl Into<String>) -> TargetReport {
        TargetReport {
            error: Some(error.into()),
            ..TargetReport::new(target, RefreshResult::Failed)
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

    /// A compact form for the invocation's log line.
    pub fn summary(&self) -> String {
        let mut line = format!("{} \"{}\"", self.kind.as_str(), self.name);
        if let Some(project) = &self.project {
            line.push_str(&format!(" [{project}]"));
        }
        line.push_str(&format!(
            ": {}",
            serde_json::to_value(self.result)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?")
        ));
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
    ConfigError(String),
}

impl Answer {
    pub fn http_status(&self) -> u16 {
        match self {
            Answer::MethodNotAllowed(_) => 405,
            Answer::Unauthorized => 401,
            Answer::BadRequest(_) => 400,
            Answer::Ignored(_) | Answer::DryRun(_) => 200,
            Answer::Refreshed(_) if self.all_succeeded() => 200,
            Answer::Refreshed(_) => 502,
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
            Answer::Refreshed(_) if self.all_succeeded() => "queued",
            Answer::Refreshed(_) => "failed",
        }
    }

    fn all_succeeded(&self) -> bool {
        match self {
            Answer::Refreshed(targets) => targets.iter().all(|t| t.result.is_success()),
            _ => false,
        }
    }

    pub fn targets(&self) -> &[TargetReport] {
        match self {
            Answer::DryRun(targets) | Answer::Refreshed(targets) => targets,
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
            error: None,
            reason: None,
            targets: None,
        };
        match self {
            Answer::MethodNotAllowed(error)
            | Answer::BadRequest(error)
            | Answer::ConfigError(error) => wire.error = Some(error),
            Answer::Unauthorized => {}
            Answer::Ignored(reason) => wire.reason = Some(reason),
            Answer::DryRun(targets) | Answer::Refreshed(targets) => wire.targets = Some(targets),
        }
        wire
    }
}

#[derive(Serialize)]
struct WireAnswer<'a> {
    status: &'static str,
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
        Target {
            kind: ItemKind::Workbook,
            name: "Sales".into(),
            project: Some("Finance".into()),
            jobs: None,
        }
    }

    #[test]
    fn one_failed_target_fails_the_answer() {
        let t = target();
        let ok = TargetReport::succeeded(&t, "luid".into(), RefreshResult::AlreadyQueued, None);
        let answer = Answer::Refreshed(vec![ok.clone()]);
        assert_eq!((answer.http_status(), answer.status()), (200, "queued"));
        let answer = Answer::Refreshed(vec![ok, TargetReport::failed(&t, "not found")]);
        assert_eq!((answer.http_status(), answer.status()), (502, "failed"));
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
