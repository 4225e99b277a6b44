//! Workbooks, published data sources and Prep flows: find one by name (and
//! project), and ask for its extract refresh (a flow: Run Flow Now). The three
//! resources have the same shapes, only the path and JSON keys differ.

use super::auth::Session;
use super::error::TableauError;
use super::json;
use crate::targets::ItemKind;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

/// A runaway pagination (a server repeating page 1) must not eat the deadline.
const MAX_PAGES: u32 = 50;

/// Everything but unreserved characters and the wildcard `*` is encoded, so
/// that a `:` or `[` in a name can't be read as filter syntax or URL structure.
const FILTER_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'*');

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub project: Option<Project>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Project {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
}

impl Item {
    fn project_name(&self) -> &str {
        self.project.as_ref().map_or("", |p| p.name.as_str())
    }
}

#[derive(Debug)]
pub enum FindError {
    NotFound,
    /// Several items carry the name; the projects that hold them, sorted.
    Ambiguous(Vec<String>),
    Tableau(TableauError),
}

impl From<TableauError> for FindError {
    fn from(e: TableauError) -> FindError {
        FindError::Tableau(e)
    }
}

fn plural(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Workbook => "workbooks",
        ItemKind::Datasource => "datasources",
        ItemKind::Flow => "flows",
    }
}

fn singular(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Workbook => "workbook",
        ItemKind::Datasource => "datasource",
        ItemKind::Flow => "flow",
    }
}

/// One `name:eq:VALUE` term. Tableau's filter syntax can't carry `,` or `&`
/// even percent-encoded, so they become the wildcard `*` and the caller matches
/// the exact name afterwards.
pub fn filter_term(field: &str, value: &str) -> String {
    let value = value.replace([',', '&'], "*");
    format!("{field}:eq:{}", utf8_percent_encode(&value, FILTER_VALUE))
}

pub fn filter(name: &str, project: Option<&str>) -> String {
    let mut filter = filter_term("name", name);
    if let Some(project) = project {
        filter.push(',');
        filter.push_str(&filter_term("projectName", project));
    }
    filter
}

/// The one item named exactly `name` (in `project`, when given).
pub async fn find(
    session: &Session<'_>,
    kind: ItemKind,
    name: &str,
    project: Option<&str>,
    page_size: u32,
    deadline: Instant,
) -> Result<Item, FindError> {
    let candidates = list(session, kind, &filter(name, project), page_size, deadline).await?;
    let mut matches: Vec<Item> = candidates
        .into_iter()
        .filter(|item| item.name == name && project.is_none_or(|p| item.project_name() == p))
        .collect();
    match matches.len() {
        0 => Err(FindError::NotFound),
        1 => Ok(matches.remove(0)),
        _ => {
            let mut projects: Vec<String> = matches
                .iter()
                .map(|item| item.project_name().to_owned())
                .collect();
            projects.sort();
            projects.dedup();
            Err(FindError::Ambiguous(projects))
        }
    }
}

/// Every item the filter returns, following pagination.
async fn list(
    session: &Session<'_>,
    kind: ItemKind,
    filter: &str,
    page_size: u32,
    deadline: Instant,
) -> Result<Vec<Item>, TableauError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Pagination {
        #[serde(default, deserialize_with = "json::count")]
        total_available: Option<u64>,
    }
    let mut items = Vec::new();
    for page in 1..=MAX_PAGES {
        let path = format!(
            "{}?filter={filter}&pageSize={page_size}&pageNumber={page}",
            plural(kind)
        );
        let body = session.call(Method::GET, &path, None, deadline).await?;
        let bad = |detail: String| TableauError::BadAnswer {
            what: "the item query",
            detail,
        };
        let mut answer: Value = serde_json::from_slice(&body).map_err(|e| bad(not_json(&e)))?;
        let pagination: Pagination = match answer.get("pagination") {
            Some(p) => serde_json::from_value(p.clone()).map_err(|e| bad(e.to_string()))?,
            None => Pagination::default(),
        };
        // No match is `"workbooks":{}`, without the inner key; anything but an
        // object there (or no such key) is not an answer to this query, and must
        // not pass for "not found".
        let list = match answer.get_mut(plural(kind)) {
            Some(list @ Value::Object(_)) => list,
            Some(other) => {
                return Err(bad(format!(
                    "\"{}\" is {}, not an object",
                    plural(kind),
                    json_kind(other)
                )));
            }
            None => {
                return Err(bad(format!(
                    "no \"{}\" in the answer (a proxy's page, or another API?)",
                    plural(kind)
                )));
            }
        };
        let found: Vec<Item> = match list.get_mut(singular(kind)).map(Value::take) {
            None | Some(Value::Null) => Vec::new(),
            Some(list @ Value::Array(_)) => {
                serde_json::from_value(list).map_err(|e| bad(e.to_string()))?
            }
            // XML-to-JSON converters write a one-element list as an object.
            Some(one) => vec![serde_json::from_value(one).map_err(|e| bad(e.to_string()))?],
        };
        let page_len = found.len();
        items.extend(found);
        let total = pagination.total_available.unwrap_or(0);
        if page_len == 0 || items.len() as u64 >= total {
            break;
        }
    }
    Ok(items)
}

/// Why a 2xx body is not JSON, without quoting it.
pub(super) fn not_json(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => format!(
            "the JSON ends early ({e}): the answer was cut short (a proxy or a dropped connection?)"
        ),
        Category::Syntax | Category::Io => format!(
            "the body is not JSON ({e}): an HTML page from a proxy or load balancer in front of Tableau?"
        ),
        Category::Data => e.to_string(),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What Tableau said to a refresh request.
#[derive(Debug, PartialEq, Eq)]
pub enum Refreshed {
    Queued { job_id: Option<String> },
    AlreadyQueued,
}

/// The first REST API version that refreshes an extract incrementally on request
/// (tableauserverclient's `refresh_req` refuses `incremental` below it).
pub const MIN_INCREMENTAL_VERSION: (u32, u32) = (3, 25);

/// The body of an incremental refresh, as tableauserverclient sends it.
pub const INCREMENTAL_BODY: &str = r#"<tsRequest><extractRefresh incremental="true"/></tsRequest>"#;

/// Asks for the item's extract refresh ("Update Workbook/Data Source Now"), an
/// incremental one when `incremental` (the caller has checked the version), or
/// for a flow, "Run Flow Now" (`POST flows/{id}/run`).
pub async fn refresh(
    session: &Session<'_>,
    kind: ItemKind,
    id: &str,
    incremental: bool,
    deadline: Instant,
) -> Result<Refreshed, TableauError> {
    let action = match kind {
        ItemKind::Flow => "run",
        ItemKind::Workbook | ItemKind::Datasource => "refresh",
    };
    let path = format!(
        "{}/{}/{action}",
        plural(kind),
        utf8_percent_encode(id, FILTER_VALUE)
    );
    let empty = Value::Object(Default::default());
    // Never sent twice once it may have arrived: a second request could start
    // a second job (and a 409093 to it would hide the first one's fate).
    let sent = if incremental && kind != ItemKind::Flow {
        session
            .call_work_xml(Method::POST, &path, INCREMENTAL_BODY, deadline)
            .await
    } else {
        session
            .call_work(Method::POST, &path, Some(&empty), deadline)
            .await
    };
    match sent {
        Ok(body) => {
            // Any 2xx means queued; a missing job id only costs the report a field.
            let job_id = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                match v.pointer("/job/id")? {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
            });
            if job_id.is_none() {
                tracing::warn!(
                    item = id,
                    body_bytes = body.len(),
                    "Tableau accepted the refresh (2xx) without a job id in its answer; reporting it queued"
                );
            }
            Ok(Refreshed::Queued { job_id })
        }
        Err(e) if e.code() == Some(super::error::ALREADY_QUEUED) => Ok(Refreshed::AlreadyQueued),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_and_ampersands_become_wildcards_and_the_rest_is_encoded() {
        assert_eq!(
            filter("Q1, Q2 & Q3: Review", None),
            "name:eq:Q1*%20Q2%20*%20Q3%3A%20Review"
        );
        assert_eq!(
            filter("Projeśt Übersicht", Some("A,B")),
            "name:eq:Proje%C5%9Bt%20%C3%9Cbersicht,projectName:eq:A*B"
        );
        assert_eq!(
            filter_term("name", "[x] \"q\" 100%*"),
            "name:eq:%5Bx%5D%20%22q%22%20100%25*"
        );
    }
}
