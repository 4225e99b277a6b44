//! Prep flows, Cancel Job and the incremental refresh body, shaped after
//! tableauserverclient's test assets and code:
//!
//! - Run Flow Now: `POST .../flows/{id}/run` (tableauserverclient sends an empty
//!   `tsRequest`; the crate sends `{}` as with refresh). The answer is
//!   flow_refresh.xml as JSON: `job {id mode type="RunFlow" createdAt
//!   runFlowJobType {flowRunId flow {id name}}}`.
//! - Cancel Job: `PUT .../jobs/{id}` with no body; tableauserverclient's test
//!   answers 204, and so does this fake. A cancelled job ends with finishCode 2.
//!   The answer for a job that is not running (guessed: 409 with a made-up code)
//!   and the connected-app scope `tableau:jobs:update` are unverified.
//! - Incremental refresh: the XML body `<tsRequest><extractRefresh
//!   incremental="true"/></tsRequest>` (`TaskRequest.refresh_req`), refused below
//!   REST API 3.25 (tableauserverclient refuses to send it there; Tableau's own
//!   answer is unverified: 400 with a made-up code here).

use super::respond::refused;
use super::{FakeTableau, SCOPE_CANCEL, SCOPE_REFRESH, State, tableau_error};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub(super) async fn mount(server: &MockServer, state: &Arc<Mutex<State>>, base: &str) {
    Mock::given(method("POST"))
        .and(path_regex(format!("^{base}/flows/[^/]+/run$")))
        .respond_with(RunFlow(state.clone()))
        .mount(server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex(format!("^{base}/jobs/[^/]+$")))
        .respond_with(CancelJob(state.clone()))
        .mount(server)
        .await;
}

/// Whether a refresh body asks for an incremental refresh: `{}` (JSON) is a full
/// one; the XML body is read by its element and attribute, whitespace aside.
// The error is the answer the fake sends back, built once per bad request.
#[allow(clippy::result_large_err)]
pub(super) fn refresh_body(state: &State, request: &Request) -> Result<bool, ResponseTemplate> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        return match request.body_json::<Value>() {
            Ok(body) if body == json!({}) => Ok(false),
            _ => Err(bad_request("refresh body must be {}")),
        };
    }
    if !(content_type.starts_with("application/xml") || content_type.starts_with("text/xml")) {
        return Err(bad_request("unsupported content type"));
    }
    let body = String::from_utf8_lossy(&request.body);
    let squeezed: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let incremental = match squeezed.as_str() {
        r#"<tsRequest><extractRefresh incremental="true"/></tsRequest>"#
        | r#"<tsRequest><extractRefresh incremental="true" /></tsRequest>"# => true,
        "<tsRequest><extractRefresh/></tsRequest>" | "<tsRequest />" | "<tsRequest/>" => false,
        _ => return Err(bad_request("malformed tsRequest")),
    };
    if incremental && !at_least_3_25(&state.version) {
        return Err(tableau_error(
            400,
            "400000",
            "Bad Request",
            "Incremental extract refresh is not supported in this version of the REST API.",
        ));
    }
    Ok(incremental)
}

fn at_least_3_25(version: &str) -> bool {
    let (major, minor) = version.split_once('.').unwrap_or(("0", "0"));
    (
        major.parse::<u32>().unwrap_or(0),
        minor.parse::<u32>().unwrap_or(0),
    ) >= (3, 25)
}

fn bad_request(detail: &str) -> ResponseTemplate {
    tableau_error(400, "400000", "Bad Request", detail)
}

struct RunFlow(Arc<Mutex<State>>);

impl Respond for RunFlow {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if let Some(refusal) = refused(&state, request, SCOPE_REFRESH) {
            return refusal;
        }
        if request.body_json::<Value>().ok() != Some(json!({})) {
            return bad_request("Run Flow Now takes an empty request");
        }
        let segments: Vec<&str> = request.url.path().split('/').collect();
        let id = segments[segments.len() - 2].to_owned();
        if !state.jobs.names.contains_key(&id) {
            return tableau_error(
                404,
                "404004",
                "Resource Not Found",
                &format!("Flow '{id}' could not be found."),
            );
        }
        state.flow_runs.push(id.clone());
        if let Some((status, body)) = state.refresh_answers.get(&id) {
            return ResponseTemplate::new(*status).set_body_json(body);
        }
        let job_id = state.jobs.start("flow", &id);
        ResponseTemplate::new(200).set_body_json(json!({"job": {
            "id": job_id, "mode": "Asynchronous", "type": "RunFlow",
            "createdAt": "2026-01-31T19:29:36Z",
            "runFlowJobType": {"flowRunId": format!("run-{id}"),
                               "flow": {"id": id, "name": state.jobs.names.get(&id)}}}}))
    }
}

struct CancelJob(Arc<Mutex<State>>);

impl Respond for CancelJob {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if let Some(refusal) = refused(&state, request, SCOPE_CANCEL) {
            return refusal;
        }
        let id = request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        state.cancels.push(id.clone());
        if let Some((status, body)) = state.cancel_answers.get(&id) {
            return ResponseTemplate::new(*status).set_body_json(body);
        }
        match state.jobs.jobs.get_mut(&id) {
            Some(job) => {
                job.cancelled = true;
                ResponseTemplate::new(204)
            }
            None => tableau_error(
                404,
                "404031",
                "Not Found",
                &format!("Job '{id}' could not be found."),
            ),
        }
    }
}

impl FakeTableau {
    /// Cancel Job answers `status` with Tableau's error document for `job_id`.
    pub fn refuse_cancel(&self, job_id: &str, status: u16, code: &str, detail: &str) {
        let body = json!({"error": {"summary": "Conflict", "detail": detail, "code": code}});
        let mut state = self.state.lock().unwrap();
        state.cancel_answers.insert(job_id.into(), (status, body));
    }

    pub fn cancels(&self) -> Vec<String> {
        self.state.lock().unwrap().cancels.clone()
    }

    pub fn flow_runs(&self) -> Vec<String> {
        self.state.lock().unwrap().flow_runs.clone()
    }

    pub fn incremental_refreshes(&self) -> Vec<String> {
        self.state.lock().unwrap().incremental_refreshes.clone()
    }
}
