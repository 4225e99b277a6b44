//! `REFRESH_TARGETS`: which Tableau items to refresh for which dbt jobs.
//!
//! Parsed once per container into typed targets. Unknown fields are errors, because
//! a typo such as `"job"` would otherwise silently widen a target to every job.

use crate::webhook::JobId;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

pub const VARIABLE: &str = "REFRESH_TARGETS";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Workbook,
    Datasource,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Workbook => "workbook",
            ItemKind::Datasource => "datasource",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ItemKind::Workbook => "workbook",
            ItemKind::Datasource => "data source",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: ItemKind,
    pub name: String,
    pub project: Option<String>,
    /// `None`: every job that reaches the function.
    pub jobs: Option<Vec<JobId>>,
}

impl Target {
    fn matches(&self, job: Option<&JobId>) -> bool {
        match (&self.jobs, job) {
            (None, _) => true,
            (Some(jobs), Some(job)) => jobs.contains(job),
            (Some(_), None) => false,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \"{}\"", self.kind, self.name)?;
        if let Some(project) = &self.project {
            write!(f, " in project \"{project}\"")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetsError(String);

impl fmt::Display for TargetsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetsError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets(Vec<Target>);

impl Targets {
    /// The variable's value as the environment gives it; unset is an error like a
    /// malformed value.
    pub fn from_variable(raw: Option<&str>) -> Result<Targets, TargetsError> {
        raw.map_or_else(
            || Err(TargetsError(format!("{VARIABLE} is not set"))),
            Targets::parse,
        )
    }

    pub fn parse(raw: &str) -> Result<Targets, TargetsError> {
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| TargetsError(format!("{VARIABLE} is not valid JSON: {e}")))?;
        let Value::Array(entries) = value else {
            return Err(TargetsError(format!(
                "{VARIABLE} must be a JSON array of targets"
            )));
        };
        if entries.is_empty() {
            return Err(TargetsError(format!("{VARIABLE} holds no targets")));
        }
        entries
            .iter()
            .enumerate()
            .map(|(index, entry)| parse_entry(index, entry))
            .collect::<Result<Vec<_>, _>>()
            .map(Targets)
    }

    pub fn all(&self) -> &[Target] {
        &self.0
    }

    /// The targets a successful run of `job` refreshes, in configuration order.
    pub fn for_job(&self, job: Option<&JobId>) -> Vec<&Target> {
        self.0.iter().filter(|t| t.matches(job)).collect()
    }
}

fn parse_entry(index: usize, entry: &Value) -> Result<Target, TargetsError> {
    let at = |field: &str| format!("{VARIABLE}[{index}].{field}");
    let Value::Object(fields) = entry else {
        return Err(TargetsError(format!(
            "{VARIABLE}[{index}]: must be an object such as {{\"workbook\": \"Sales\"}}"
        )));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["workbook", "datasource", "project", "jobs"].contains(&k.as_str()))
    {
        return Err(TargetsError(format!(
            "{VARIABLE}[{index}]: unknown field \"{unknown}\" (expected workbook, datasource, project, jobs)"
        )));
    }
    let (kind, key) = match (
        fields.contains_key("workbook"),
        fields.contains_key("datasource"),
    ) {
        (true, true) => {
            return Err(TargetsError(format!(
                "{VARIABLE}[{index}]: both \"workbook\" and \"datasource\" given"
            )));
        }
        (false, false) => {
            return Err(TargetsError(format!(
                "{VARIABLE}[{index}]: one of \"workbook\" or \"datasource\" is required"
            )));
        }
        (true, false) => (ItemKind::Workbook, "workbook"),
        (false, true) => (ItemKind::Datasource, "datasource"),
    };
    let name = non_empty_string(fields, key)
        .ok_or_else(|| TargetsError(format!("{}: must be a non-empty string", at(key))))?;
    let project = match fields.get("project") {
        None | Some(Value::Null) => None,
        Some(_) => Some(non_empty_string(fields, "project").ok_or_else(|| {
            TargetsError(format!("{}: must be a non-empty string", at("project")))
        })?),
    };
    let jobs = match fields.get("jobs") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(TargetsError(format!(
                "{}: is empty, so no job would refresh this target; omit it to match every job",
                at("jobs")
            )));
        }
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(j, item)| {
                    job_id(item).ok_or_else(|| {
                        TargetsError(format!(
                            "{}[{j}]: must be a dbt job ID (a string or a whole number)",
                            at("jobs")
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(TargetsError(format!(
                "{}: must be an array of dbt job IDs",
                at("jobs")
            )));
        }
    };
    Ok(Target {
        kind,
        name,
        project,
        jobs,
    })
}

fn non_empty_string(fields: &Map<String, Value>, key: &str) -> Option<String> {
    match fields.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn job_id(item: &Value) -> Option<JobId> {
    match item {
        Value::String(s) => JobId::parse(s),
        Value::Number(n) => n.as_u64().and_then(|n| JobId::parse(&n.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(raw: &str) -> String {
        Targets::parse(raw).expect_err(raw).to_string()
    }

    #[test]
    fn parses_the_contract_example() {
        let targets = Targets::parse(
            r#"[{"workbook":"Sales Overview"},
                {"workbook":"Sales","project":"Finance","jobs":["123",456]},
                {"datasource":"Orders","jobs":["789"]}]"#,
        )
        .unwrap();
        let all = targets.all();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].kind, ItemKind::Workbook);
        assert_eq!(all[1].project.as_deref(), Some("Finance"));
        assert_eq!(
            all[1].jobs,
            Some(vec![
                JobId::parse("123").unwrap(),
                JobId::parse("456").unwrap()
            ])
        );
        assert_eq!(all[2].kind, ItemKind::Datasource);
    }

    #[test]
    fn routes_by_job_and_keeps_unrestricted_targets() {
        let targets = Targets::parse(
            r#"[{"workbook":"A"},{"workbook":"B","jobs":[456]},{"datasource":"C","jobs":["789"]}]"#,
        )
        .unwrap();
        let names = |job: Option<&str>| -> Vec<String> {
            let job = job.and_then(JobId::parse);
            targets
                .for_job(job.as_ref())
                .iter()
                .map(|t| t.name.clone())
                .collect()
        };
        assert_eq!(names(Some("456")), ["A", "B"]);
        assert_eq!(names(Some("789")), ["A", "C"]);
        assert_eq!(names(Some("1")), ["A"]);
        assert_eq!(names(None), ["A"]);
    }

    #[test]
    fn errors_name_the_entry_and_the_field() {
        assert_eq!(
            error_of(r#"[{"workbook":"a"},{"workbook":"b"},{"workbook":"c","datasource":"d"}]"#),
            r#"REFRESH_TARGETS[2]: both "workbook" and "datasource" given"#
        );
        assert!(error_of(r#"[{"project":"p"}]"#).starts_with("REFRESH_TARGETS[0]: one of"));
        assert!(error_of(r#"[{"workbook":""}]"#).starts_with("REFRESH_TARGETS[0].workbook:"));
        assert!(error_of(r#"[{"datasource":7}]"#).starts_with("REFRESH_TARGETS[0].datasource:"));
        assert!(
            error_of(r#"[{"workbook":"a","project":1}]"#)
                .starts_with("REFRESH_TARGETS[0].project:")
        );
        assert!(
            error_of(r#"[{"workbook":"a","jobs":"1"}]"#).starts_with("REFRESH_TARGETS[0].jobs:")
        );
        assert!(
            error_of(r#"[{"workbook":"a","jobs":[]}]"#).starts_with("REFRESH_TARGETS[0].jobs:")
        );
        assert!(
            error_of(r#"[{"workbook":"a","jobs":[1,1.5]}]"#)
                .starts_with("REFRESH_TARGETS[0].jobs[1]:")
        );
        assert!(error_of(r#"[{"workbook":"a","job":[1]}]"#).contains(r#"unknown field "job""#));
        assert!(error_of(r#"["a"]"#).starts_with("REFRESH_TARGETS[0]: must be an object"));
        assert!(error_of(r#"{"workbook":"a"}"#).contains("must be a JSON array"));
        assert!(error_of("[]").contains("no targets"));
        assert!(error_of("[{").contains("not valid JSON"));
    }
}
