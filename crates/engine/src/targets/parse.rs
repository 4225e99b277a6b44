//! The target vocabulary and `REFRESH_TARGETS` entries, parsed into typed targets
//! with errors that name the entry and the field.

use super::{Entry, ItemKind, Locator, Target, TargetsError, VARIABLE};
use crate::webhook::JobId;
use serde_json::{Map, Value};

const ITEM_KEYS: [(&str, ItemKind, bool); 6] = [
    ("workbook", ItemKind::Workbook, false),
    ("datasource", ItemKind::Datasource, false),
    ("flow", ItemKind::Flow, false),
    ("workbook_id", ItemKind::Workbook, true),
    ("datasource_id", ItemKind::Datasource, true),
    ("flow_id", ItemKind::Flow, true),
];

/// The optional key beside an item that asks for an incremental extract refresh.
const INCREMENTAL: &str = "incremental";

/// An item: its kind, how to find it, and whether its refresh is incremental.
pub type Item = (ItemKind, Locator, bool);

/// One Tableau item in the target vocabulary: exactly one of `workbook`,
/// `datasource`, `flow` (names, with an optional `project`), `workbook_id`,
/// `datasource_id`, `flow_id` (LUIDs), and optionally `"incremental": true`.
/// `at` names the place for errors, e.g. `REFRESH_TARGETS[2]` or an exposure's
/// `meta.tableau[1]`.
pub fn parse_item(value: &Value, at: &str) -> Result<Item, String> {
    match value {
        Value::Object(fields) => parse_item_fields(fields, at, &[]),
        _ => Err(format!(
            "{at}: must be an object such as {{\"workbook\": \"Sales\"}}"
        )),
    }
}

fn parse_item_fields(
    fields: &Map<String, Value>,
    at: &str,
    extra: &[&str],
) -> Result<Item, String> {
    let known = |k: &str| {
        k == "project"
            || k == INCREMENTAL
            || extra.contains(&k)
            || ITEM_KEYS.iter().any(|(key, ..)| *key == k)
    };
    if let Some(unknown) = fields.keys().find(|k| !known(k)) {
        let mut expected: Vec<&str> = ITEM_KEYS.iter().map(|(key, ..)| *key).collect();
        expected.push("project");
        expected.push(INCREMENTAL);
        expected.extend_from_slice(extra);
        return Err(format!(
            "{at}: unknown field \"{unknown}\" (expected {})",
            expected.join(", ")
        ));
    }
    let given: Vec<_> = ITEM_KEYS
        .iter()
        .filter(|(key, ..)| fields.contains_key(*key))
        .collect();
    let &&(key, kind, by_id) = match given.as_slice() {
        [one] => one,
        [] => {
            return Err(format!(
                "{at}: one of \"workbook\", \"datasource\" or \"flow\" is required (or \"workbook_id\" / \"datasource_id\" / \"flow_id\" with a Tableau LUID)"
            ));
        }
        [first, second, ..] => {
            return Err(format!(
                "{at}: both \"{}\" and \"{}\" given",
                first.0, second.0
            ));
        }
    };
    let value = non_empty_string(fields, key)
        .ok_or_else(|| format!("{at}.{key}: must be a non-empty string"))?;
    let project = match fields.get("project") {
        None | Some(Value::Null) => None,
        Some(_) => Some(
            non_empty_string(fields, "project")
                .ok_or_else(|| format!("{at}.project: must be a non-empty string"))?,
        ),
    };
    let incremental = match fields.get(INCREMENTAL) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) if kind == ItemKind::Flow => {
            return Err(format!(
                "{at}.{INCREMENTAL}: a flow has no incremental refresh (it applies to the extracts \
                 of workbooks and data sources); remove it"
            ));
        }
        Some(Value::Bool(true)) => true,
        Some(_) => return Err(format!("{at}.{INCREMENTAL}: must be true or false")),
    };
    if by_id {
        if project.is_some() {
            return Err(format!(
                "{at}.project: not allowed with \"{key}\" (a LUID needs no project)"
            ));
        }
        return Ok((kind, Locator::Id(value.trim().to_owned()), incremental));
    }
    Ok((
        kind,
        Locator::Name {
            name: value,
            project,
        },
        incremental,
    ))
}

pub(super) fn parse_entry(index: usize, entry: &Value) -> Result<Entry, TargetsError> {
    let at = format!("{VARIABLE}[{index}]");
    let Value::Object(fields) = entry else {
        return Err(TargetsError(format!(
            "{at}: must be an object such as {{\"workbook\": \"Sales\"}}"
        )));
    };
    let jobs = parse_jobs(fields, &at)?;
    if let Some(flag) = fields.get("exposures") {
        if let Some(other) = fields.keys().find(|k| *k != "exposures" && *k != "jobs") {
            return Err(TargetsError(format!(
                "{at}: \"{other}\" can't be combined with \"exposures\" (exposures name their own items)"
            )));
        }
        return match flag {
            Value::Bool(true) => Ok(Entry::Exposures { jobs }),
            _ => Err(TargetsError(format!(
                "{at}.exposures: must be true (remove the entry to turn exposures off)"
            ))),
        };
    }
    let (kind, locator, incremental) =
        parse_item_fields(fields, &at, &["jobs", "exposures"]).map_err(TargetsError)?;
    Ok(Entry::Item(Target {
        kind,
        locator,
        jobs,
        exposure: None,
        incremental,
    }))
}

fn parse_jobs(fields: &Map<String, Value>, at: &str) -> Result<Option<Vec<JobId>>, TargetsError> {
    match fields.get("jobs") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.is_empty() => Err(TargetsError(format!(
            "{at}.jobs: is empty, so no job would refresh this target; omit it to match every job"
        ))),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, item)| {
                job_id(item).ok_or_else(|| {
                    TargetsError(format!(
                        "{at}.jobs[{j}]: must be a dbt job ID (a string or a whole number)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(TargetsError(format!(
            "{at}.jobs: must be an array of dbt job IDs"
        ))),
    }
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
