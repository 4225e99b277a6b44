//! Query Job (`GET /api/{v}/sites/{site-id}/jobs/{job-id}`), and one check of
//! many jobs over one session.
//!
//! The JSON shape is the XML sample of REFERENCE.md turned into JSON the way
//! Tableau's other answers are (attributes and child elements as keys, text
//! elements as strings); no JSON sample of Query Job was available, so the
//! parser is lenient: numbers as strings or numbers, `notes` as a string or a
//! list of strings (the XML allows several `<notes>`), any field but the job
//! itself may be absent.

use super::auth::Session;
use super::client::Client;
use super::error::TableauError;
use super::items::not_json;
use super::jwt::Purpose;
use super::refresh::{sign_in_message, sign_out, version_message};
use crate::secrets::{TableauAccess, TableauCredentials};
use crate::targets::ItemKind;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

/// A job id goes into the path (`jobs/{id}`): everything but unreserved
/// characters is encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Tableau's `finishCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishCode {
    /// 0
    Success,
    /// 1: the refresh failed; `notes` says why.
    Failed,
    /// 2
    Cancelled,
    /// 3: "completed", written for bridge refreshes (tableauserverclient #1576,
    /// #1585): a success.
    Completed,
    /// Any other value, as Tableau wrote it.
    Other(String),
}

impl FinishCode {
    fn parse(text: &str) -> FinishCode {
        match text {
            "0" => FinishCode::Success,
            "1" => FinishCode::Failed,
            "2" => FinishCode::Cancelled,
            "3" => FinishCode::Completed,
            other => FinishCode::Other(other.to_owned()),
        }
    }
}

/// The item a refresh job works on (`extractRefreshJob.workbook` or `.datasource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobItem {
    pub kind: ItemKind,
    pub id: String,
    pub name: Option<String>,
}

/// What Query Job says about one job. Timestamps are Tableau's text (ISO 8601,
/// e.g. `2021-10-05T18:53:35Z`), passed on unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    pub id: String,
    pub mode: Option<String>,
    /// `type`, e.g. `RefreshExtract`.
    pub job_type: Option<String>,
    /// 0..=100.
    pub progress: Option<u64>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    /// Absent while the job runs.
    pub completed_at: Option<String>,
    /// Absent while the job runs.
    pub finish_code: Option<FinishCode>,
    /// `finishCode` as written (JSON) when it is there but not a code (an
    /// object, `true`, an empty string): for the message that says so.
    pub finish_code_read: Option<String>,
    /// Tableau's notes, several joined by newlines; often the error of a failed
    /// refresh (`java.lang.RuntimeException: ... Login failed ...`).
    pub notes: Option<String>,
    pub item: Option<JobItem>,
}

/// Reads one job.
pub async fn query_job(
    session: &Session<'_>,
    job_id: &str,
    deadline: Instant,
) -> Result<JobStatus, TableauError> {
    let path = job_path(job_id);
    let body = session.call(Method::GET, &path, None, deadline).await?;
    parse_job(job_id, &body)
}

/// The [`JobStatus`] in a Query Job answer for `job_id`.
pub fn parse_job(job_id: &str, body: &[u8]) -> Result<JobStatus, TableauError> {
    let bad = |detail: String| TableauError::BadAnswer {
        what: "the job query",
        detail,
    };
    let answer: Value = serde_json::from_slice(body).map_err(|e| bad(not_json(&e)))?;
    let Some(job) = answer.get("job").filter(|j| j.is_object()) else {
        return Err(bad(
            "no \"job\" object in the answer (a proxy's page, or another API?)".into(),
        ));
    };
    let id = text(job.get("id"));
    // An answer about another job (a cache in between?) must not settle ours.
    if let Some(other) = id.as_deref().filter(|i| !i.eq_ignore_ascii_case(job_id)) {
        return Err(bad(format!("asked for job {job_id}, answered job {other}")));
    }
    // An extract refresh names its item under `extractRefreshJob`, a flow run
    // under `runFlowJobType` (tableauserverclient's flow_refresh.xml).
    let item = [
        ("extractRefreshJob", ItemKind::Workbook),
        ("extractRefreshJob", ItemKind::Datasource),
        ("runFlowJobType", ItemKind::Flow),
    ]
    .into_iter()
    .find_map(|(holder, kind)| {
        let item = job.get(holder)?.get(kind.as_str())?;
        Some(JobItem {
            kind,
            id: text(item.get("id"))?,
            name: text(item.get("name")),
        })
    });
    Ok(JobStatus {
        id: id.unwrap_or_else(|| job_id.to_owned()),
        mode: text(job.get("mode")),
        job_type: text(job.get("type")),
        progress: text(job.get("progress")).and_then(|p| p.parse().ok()),
        created_at: text(job.get("createdAt")),
        started_at: text(job.get("startedAt")),
        completed_at: text(job.get("completedAt")),
        finish_code: text(job.get("finishCode")).map(|c| FinishCode::parse(&c)),
        finish_code_read: job
            .get("finishCode")
            .filter(|c| text(Some(c)).is_none())
            .map(|c| crate::redact::excerpt(c.to_string().as_bytes(), 80)),
        notes: all_notes(job),
        item,
    })
}

/// A string or a number as trimmed text; empty, null or anything else is absent.
fn text(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Every `notes` under the job, wherever it sits (`extractRefreshJob.notes`,
/// `runFlowJobType.notes`, the job's own, deeper), joined by
/// newlines: tableauserverclient reads every `notes` element under the job.
fn all_notes(job: &Value) -> Option<String> {
    fn walk(value: &Value, found: &mut Vec<String>, depth: u32) {
        // Tableau's job documents are a few levels deep; a hostile one can't recurse us away.
        if depth > 16 {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "notes" {
                        found.extend(notes(Some(child)));
                    } else {
                        walk(child, found, depth + 1);
                    }
                }
            }
            Value::Array(list) => list.iter().for_each(|v| walk(v, found, depth + 1)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(job, &mut found, 0);
    (!found.is_empty()).then(|| found.join("\n"))
}

/// `"notes": "..."`, or a list of them (several `<notes>` elements).
fn notes(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Array(list) => {
            let all: Vec<String> = list.iter().filter_map(|n| text(Some(n))).collect();
            (!all.is_empty()).then(|| all.join("\n"))
        }
        // `{"text": ...}` or `{"value": ...}`, as some XML-to-JSON mappings write
        // an element's text.
        // `{"note": [...]}` (or one `{"note": "..."}`), as Tableau's XML-to-JSON
        // mapping writes a list of `<note>` elements.
        Value::Object(map) => notes(map.get("note"))
            .or_else(|| text(map.get("text")))
            .or_else(|| text(map.get("value"))),
        other => text(Some(other)),
    }
}

/// What one read of many jobs got from Tableau; `crate::follow` says what it
/// means for their targets.
#[derive(Debug)]
pub enum JobReads {
    /// Each job's answer, in the order asked, over one session speaking
    /// `api_version`.
    Read {
        reads: Vec<(String, Result<JobStatus, TableauError>)>,
        api_version: String,
    },
    /// No session to read them with: the version or the sign-in failed;
    /// `message` says so in an operator's words.
    NoSession {
        error: TableauError,
        message: String,
    },
}

/// One read: the API version, ONE sign-in for every job (a session that may
/// only read jobs), one Query Job per id (at most `max_concurrency` at once,
/// `TABLEAU_MAX_CONCURRENCY` like the refreshes), and a sign-out whatever
/// happened. Never fails as a whole: every problem is in the answer.
pub(crate) async fn read_jobs(
    client: &Client,
    access: &TableauAccess,
    job_ids: &[String],
    max_concurrency: usize,
    deadline: Instant,
) -> JobReads {
    if job_ids.is_empty() {
        return JobReads::Read {
            reads: Vec::new(),
            api_version: String::new(),
        };
    }
    // Sign-out is part of the check: it ends by the deadline, the reads a moment before.
    let signed_out_by = deadline;
    let deadline = super::refresh::work_deadline(deadline);
    let (session, version) = match job_session(
        client,
        access,
        Purpose::ReadJobs,
        check_sign_in_message,
        deadline,
    )
    .await
    {
        Ok(opened) => opened,
        Err((error, message)) => return JobReads::NoSession { error, message },
    };
    // A semaphore rather than a stream's `buffered`: the future must be `Send`
    // for the workflow's handler, which `buffered` over a borrowing closure
    // can't prove.
    let permits = Semaphore::new(max_concurrency.max(1));
    let reads = futures_util::future::join_all(
        job_ids
            .iter()
            .map(|id| read_one(&session, &permits, id, deadline)),
    )
    .await;
    sign_out(&session, signed_out_by).await;
    JobReads::Read {
        reads,
        api_version: version,
    }
}

/// `jobs/{job-id}`, the id encoded.
pub(super) fn job_path(job_id: &str) -> String {
    format!("jobs/{}", utf8_percent_encode(job_id, PATH_SEGMENT))
}

/// The API version and a session signed in for `purpose`, each bounded by
/// `deadline`, for the calls on jobs (reading, cancelling); on failure the
/// error and an operator's words for it (`sign_in_words` for a sign-in).
pub(super) async fn job_session<'a>(
    client: &'a Client,
    access: &'a TableauAccess,
    purpose: Purpose,
    sign_in_words: fn(&TableauAccess, &TableauError) -> String,
    deadline: Instant,
) -> Result<(Session<'a>, String), (TableauError, String)> {
    let server = access.server.trim_end_matches('/');
    let version = timeout_at(deadline, client.api_version(server, deadline))
        .await
        .unwrap_or(Err(TableauError::Deadline))
        .map_err(|e| {
            let message = version_message(server, &e);
            (e, message)
        })?;
    let sign_in = Session::sign_in_for(client, access, &version, purpose, deadline);
    let session = timeout_at(deadline, sign_in)
        .await
        .unwrap_or(Err(TableauError::Deadline))
        .map_err(|e| {
            let message = sign_in_words(access, &e);
            (e, message)
        })?;
    Ok((session, version))
}

async fn read_one(
    session: &Session<'_>,
    permits: &Semaphore,
    job_id: &str,
    deadline: Instant,
) -> (String, Result<JobStatus, TableauError>) {
    let read = timeout_at(deadline, async {
        // Never closed, so acquiring only waits.
        let _permit = permits.acquire().await;
        query_job(session, job_id, deadline).await
    })
    .await
    .unwrap_or(Err(TableauError::Deadline));
    (job_id.to_owned(), read)
}

/// The refresh's sign-in words, plus what only a job-reading session asks of a
/// connected app.
fn check_sign_in_message(access: &TableauAccess, e: &TableauError) -> String {
    let message = sign_in_message(access, e);
    match (&access.credentials, e.status()) {
        (TableauCredentials::ConnectedApp { .. }, Some(401)) => format!(
            "{message}; to read jobs the function signs in asking for the scope {} alone: \
             if the connected app lists the scopes it grants, it must grant that one",
            super::jwt::JOB_SCOPES.join(" and ")
        ),
        _ => message,
    }
}

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;
