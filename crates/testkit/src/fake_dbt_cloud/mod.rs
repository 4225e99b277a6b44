//! A fake dbt Cloud Administrative API v2 on 127.0.0.1, with REFERENCE.md's
//! wire shapes: answers wrapped in `{"status":{..},"data":..}` (errors too, with
//! `data: null`), numeric IDs and status codes, `run_steps` only when
//! `include_related` asks for them, artifacts per step (`?step=N`, 1 = first,
//! default the last step), 404 for a step or file that has none.
//!
//! The artifacts are whatever bytes a test hands it (read from files), so the
//! real dbt artifacts can replace placeholders without changing the fake.
//! Tests mount higher-priority mocks for faults.
//!
//! Guessed, not verified against dbt Cloud: the exact error bodies
//! (`user_message` texts), 403 for a token without run access, and that
//! `?step=N` counts the entries of `run_steps` in order.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const ACCOUNT: &str = "70403";
pub const RUN: &str = "314159";
/// A service token that can read runs.
pub const TOKEN: &str = "dbtc_fake-service-token-do-not-print";
/// A valid token without the permission to read runs (Metadata only).
pub const METADATA_TOKEN: &str = "dbtc_fake-metadata-only-token-do-not-print";

pub struct FakeStep {
    pub name: &'static str,
    /// 10 success, 20 error (dbt Cloud's run status codes).
    pub status: u32,
}

#[derive(Default)]
struct State {
    run_status: u32,
    steps: Vec<FakeStep>,
    /// `(path, step)` -> bytes; step as `?step=` counts.
    artifacts: HashMap<(String, u32), Vec<u8>>,
}

pub struct FakeDbtCloud {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeDbtCloud {
    /// A finished run (`run_status`) of account [`ACCOUNT`] with `steps` and no
    /// artifacts yet.
    pub async fn start(run_status: u32, steps: Vec<FakeStep>) -> FakeDbtCloud {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            run_status,
            steps,
            artifacts: HashMap::new(),
        }));
        Mock::given(method("GET"))
            .and(path_regex(r"^/api/v2/accounts/[^/]+/runs/[^/]+/$"))
            .respond_with(RunResponder(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(
                r"^/api/v2/accounts/[^/]+/runs/[^/]+/artifacts/.+$",
            ))
            .respond_with(ArtifactResponder(state.clone()))
            .mount(&server)
            .await;
        FakeDbtCloud { server, state }
    }

    /// A job of `dbt deps`, `dbt seed`, `dbt build`, `dbt docs generate`
    /// after the clone and profile steps dbt Cloud adds.
    pub async fn typical_job() -> FakeDbtCloud {
        FakeDbtCloud::start(
            20,
            vec![
                step("Clone git repository", 10),
                step("Create profile from connection Warehouse", 10),
                step("Invoke dbt with `dbt deps`", 10),
                step("Invoke dbt with `dbt seed`", 10),
                step("Invoke dbt with `dbt build`", 20),
                step("Invoke dbt with `dbt docs generate`", 10),
            ],
        )
        .await
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn serve(&self, path: &str, step: u32, bytes: Vec<u8>) {
        let mut state = self.state.lock().unwrap();
        state.artifacts.insert((path.to_owned(), step), bytes);
    }

    pub fn serve_file(&self, path: &str, step: u32, file: &Path) {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        self.serve(path, step, bytes);
    }

    pub fn step_count(&self) -> u32 {
        self.state.lock().unwrap().steps.len() as u32
    }

    /// The requests that reached the fake, as `path?query` with the query
    /// decoded.
    pub async fn requests(&self) -> Vec<String> {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .map(|r| {
                let query: Vec<String> = r
                    .url
                    .query_pairs()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                match query.is_empty() {
                    true => r.url.path().to_owned(),
                    false => format!("{}?{}", r.url.path(), query.join("&")),
                }
            })
            .collect()
    }
}

impl FakeDbtCloud {
    /// From now on every call is refused with `status`, the body echoing the
    /// request's Authorization header, as a proxy or a debugging endpoint
    /// might: the token must not travel on into an error, a log or an answer.
    pub async fn refuse_echoing_the_token(&self, status: u16) {
        Mock::given(method("GET"))
            .respond_with(EchoRefusal(status))
            .with_priority(1)
            .mount(&self.server)
            .await;
    }
}

struct EchoRefusal(u16);

impl Respond for EchoRefusal {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let sent = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        ResponseTemplate::new(self.0).set_body_json(json!({
            "status": {"code": self.0, "is_success": false,
                       "user_message": format!("Invalid token in header: {sent}"),
                       "developer_message": format!("authorization={sent}")},
            "data": null
        }))
    }
}

pub fn step(name: &'static str, status: u32) -> FakeStep {
    FakeStep { name, status }
}

/// dbt Cloud's envelope around an error.
pub fn dbt_error(status: u16, user_message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "status": {"code": status, "is_success": false, "user_message": user_message,
                   "developer_message": ""},
        "data": null
    }))
}

fn not_found() -> ResponseTemplate {
    dbt_error(404, "The requested resource was not found.")
}

/// `Token <t>` and `Bearer <t>` both work (REFERENCE.md); the refusal
/// otherwise.
fn refusal(request: &Request) -> Option<ResponseTemplate> {
    let header = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = header
        .strip_prefix("Token ")
        .or_else(|| header.strip_prefix("Bearer "));
    match token {
        Some(TOKEN) => None,
        Some(METADATA_TOKEN) => Some(dbt_error(
            403,
            "You do not have permission to perform this action.",
        )),
        _ => Some(dbt_error(401, "Invalid token.")),
    }
}

/// The path after the run's, or `None` for another account's or an unknown
/// run (which dbt Cloud answers with 404).
fn locate(request: &Request) -> Option<String> {
    let path = request.url.path();
    let rest = path.strip_prefix(&format!("/api/v2/accounts/{ACCOUNT}/runs/{RUN}/"))?;
    Some(rest.to_owned())
}

struct RunResponder(Arc<Mutex<State>>);

impl Respond for RunResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(refusal) = refusal(request) {
            return refusal;
        }
        if locate(request).is_none() {
            return not_found();
        }
        let state = self.0.lock().unwrap();
        let include: Vec<String> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "include_related")
            .filter_map(|(_, v)| serde_json::from_str::<Vec<String>>(&v).ok())
            .flatten()
            .collect();
        let humanized = match state.run_status {
            10 => "Success",
            20 => "Error",
            30 => "Cancelled",
            _ => "Running",
        };
        let mut data = json!({
            "id": RUN.parse::<u64>().unwrap(),
            "account_id": ACCOUNT.parse::<u64>().unwrap(),
            "job_definition_id": 123,
            "status": state.run_status,
            "status_humanized": humanized,
            "artifacts_saved": !state.artifacts.is_empty(),
            "is_complete": true,
            "finished_at": "2026-11-28 07:29:32.187302+00:00",
        });
        if include.iter().any(|i| i == "run_steps") {
            let steps: Vec<Value> = state
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    json!({"run_id": RUN.parse::<u64>().unwrap(),
                           "account_id": ACCOUNT.parse::<u64>().unwrap(),
                           "index": i + 1, "status": s.status, "name": s.name,
                           "logs": format!("{} ...", s.name)})
                })
                .collect();
            data["run_steps"] = steps.into();
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "status": {"code": 200, "is_success": true, "user_message": "Success!",
                       "developer_message": ""},
            "data": data
        }))
    }
}

struct ArtifactResponder(Arc<Mutex<State>>);

impl Respond for ArtifactResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(refusal) = refusal(request) {
            return refusal;
        }
        let rest = locate(request).unwrap_or_default();
        let Some(file) = rest.strip_prefix("artifacts/").map(str::to_owned) else {
            return not_found();
        };
        let state = self.0.lock().unwrap();
        let last = state.steps.len() as u32;
        let step = match request.url.query_pairs().find(|(k, _)| k == "step") {
            None => last,
            Some((_, v)) => match v.parse::<u32>() {
                Ok(n) => n,
                Err(_) => return dbt_error(400, "step must be an integer"),
            },
        };
        match state.artifacts.get(&(file, step)) {
            Some(bytes) => {
                ResponseTemplate::new(200).set_body_raw(bytes.clone(), "application/json")
            }
            None => not_found(),
        }
    }
}
