//! What an exposure's `meta.tableau` names: one item object or a list of them, each
//! in the target vocabulary of `REFRESH_TARGETS` ([`crate::targets::parse_item`]).

use crate::targets::{Target, parse_item};
use serde_json::Value;

/// The items `value` (found at `at`: `meta.tableau` or `config.meta.tableau`) names,
/// as targets of `exposure`. The first malformed item fails the whole exposure: half
/// a dashboard's items refreshed would hide the mistake.
pub fn parse_tableau(value: &Value, at: &str, exposure: &str) -> Result<Vec<Target>, String> {
    let target = |(kind, locator, incremental)| Target {
        kind,
        locator,
        jobs: None,
        exposure: Some(exposure.to_owned()),
        incremental,
    };
    match value {
        Value::Object(_) => parse_item(value, at).map(|item| vec![target(item)]),
        Value::Array(list) if list.is_empty() => Err(format!(
            "{at}: is an empty list, so it names no Tableau item"
        )),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(index, item)| parse_item(item, &format!("{at}[{index}]")).map(target))
            .collect(),
        other => Err(format!(
            "{at}: must be an object such as {{\"workbook\": \"Sales\"}} or a list of them, not {}",
            kind_of(other)
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
