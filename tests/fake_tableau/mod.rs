//! A fake Tableau on 127.0.0.1 that speaks REFERENCE.md's JSON: serverinfo,
//! PAT sign-in with one session per PAT, filtered and paginated item queries
//! (string-typed pagination, `{}` for no match, `*` wildcards, `eq` matching),
//! refresh, sign-out. Tests add higher-priority mocks for faults.
#![allow(dead_code)]

use dbt_tableau_refresh::answer::TargetReport;
use dbt_tableau_refresh::secrets::{TableauAccess, TableauCredentials};
use dbt_tableau_refresh::tableau::{Refresher, TableauRefresher};
use dbt_tableau_refresh::targets::{ItemKind, Target};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const VERSION: &str = "3.22";
pub const SITE_ID: &str = "site-luid-1";
pub const SITE: &str = "analytics";
pub const PAT_NAME: &str = "dbt-refresh";
pub const PAT_SECRET: &str = "pat-secret-do-not-print";

#[derive(Clone, Debug)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub project: String,
}

pub fn item(id: &str, name: &str, project: &str) -> Item {
    Item {
        id: id.into(),
        name: name.into(),
        project: project.into(),
    }
}

#[derive(Default)]
pub struct State {
    /// The one live session token (one session per PAT, like Tableau).
    pub live_token: Option<String>,
    pub sign_ins: u32,
    /// Item queries that end the session first (another invocation signing in).
    pub end_session_on_next_queries: u32,
    /// Per item id: a status and JSON body the refresh answers instead of 202.
    pub refresh_answers: HashMap<String, (u16, Value)>,
    pub refresh_delay: Duration,
}

pub struct FakeTableau {
    pub server: MockServer,
    pub state: Arc<Mutex<State>>,
}

impl FakeTableau {
    pub async fn start(workbooks: Vec<Item>, datasources: Vec<Item>) -> FakeTableau {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(method("GET"))
            .and(path("/api/2.4/serverinfo"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "serverInfo": {"productVersion": {"value": "2025.1.0", "build": "20251.25.0101"},
                               "restApiVersion": VERSION}})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/api/{VERSION}/auth/signin")))
            .respond_with(SignIn(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/api/{VERSION}/auth/signout")))
            .respond_with(SignOut(state.clone()))
            .mount(&server)
            .await;
        for (plural, singular, items) in [
            ("workbooks", "workbook", workbooks),
            ("datasources", "datasource", datasources),
        ] {
            Mock::given(method("GET"))
                .and(path(format!("/api/{VERSION}/sites/{SITE_ID}/{plural}")))
                .respond_with(List {
                    state: state.clone(),
                    plural,
                    singular,
                    items,
                })
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path_regex(format!(
                    "^/api/{VERSION}/sites/{SITE_ID}/{plural}/[^/]+/refresh$"
                )))
                .respond_with(RefreshItem(state.clone()))
                .mount(&server)
                .await;
        }
        FakeTableau { server, state }
    }

    pub fn access(&self) -> TableauAccess {
        TableauAccess {
            server: self.server.uri(),
            site: SITE.into(),
            credentials: TableauCredentials::PersonalAccessToken {
                name: PAT_NAME.into(),
                secret: PAT_SECRET.to_owned().into(),
            },
        }
    }

    /// A refresher as a fresh container builds it: version detected.
    pub fn refresher(&self) -> TableauRefresher {
        TableauRefresher::new(None).unwrap()
    }

    pub async fn run(
        &self,
        refresher: &TableauRefresher,
        targets: &[Target],
        budget: Duration,
    ) -> Vec<TargetReport> {
        let targets: Vec<&Target> = targets.iter().collect();
        refresher
            .refresh(&self.access(), &targets, Instant::now() + budget)
            .await
    }

    /// The requests received whose path ends with `suffix`, as "METHOD path?query".
    pub async fn requests(&self, method: &str, suffix: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == method && r.url.path().ends_with(suffix))
            .collect()
    }

    pub async fn count(&self, method: &str, suffix: &str) -> usize {
        self.requests(method, suffix).await.len()
    }

    pub fn answer_refresh(&self, id: &str, status: u16, body: Value) {
        self.state
            .lock()
            .unwrap()
            .refresh_answers
            .insert(id.into(), (status, body));
    }
}

pub fn workbook(name: &str, project: Option<&str>) -> Target {
    Target {
        kind: ItemKind::Workbook,
        name: name.into(),
        project: project.map(Into::into),
        jobs: None,
    }
}

pub fn datasource(name: &str, project: Option<&str>) -> Target {
    Target {
        kind: ItemKind::Datasource,
        name: name.into(),
        project: project.map(Into::into),
        jobs: None,
    }
}

pub fn tableau_error(status: u16, code: &str, summary: &str, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"summary": summary, "detail": detail, "code": code}}))
}

/// Tableau answers a call without a live session token with 401.
fn unauthorized() -> ResponseTemplate {
    tableau_error(
        401,
        "401002",
        "Unauthorized Access",
        "Invalid authentication credentials were provided.",
    )
}

fn authorized(state: &State, request: &Request) -> bool {
    let sent = request
        .headers
        .get("x-tableau-auth")
        .and_then(|v| v.to_str().ok());
    sent.is_some() && sent == state.live_token.as_deref()
}

struct SignIn(Arc<Mutex<State>>);

impl Respond for SignIn {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().unwrap_or(Value::Null);
        let c = &body["credentials"];
        if c["personalAccessTokenName"] != PAT_NAME || c["personalAccessTokenSecret"] != PAT_SECRET
        {
            return tableau_error(
                401,
                "401001",
                "Signin Error",
                "Error signing in to Tableau Server",
            );
        }
        if c["site"]["contentUrl"] != SITE {
            return tableau_error(
                401,
                "401001",
                "Signin Error",
                "Error signing in to Tableau Server",
            );
        }
        let mut state = self.0.lock().unwrap();
        state.sign_ins += 1;
        // A new sign-in with the same PAT ends the earlier session.
        let token = format!("session-token-{}", state.sign_ins);
        state.live_token = Some(token.clone());
        ResponseTemplate::new(200).set_body_json(json!({"credentials": {
            "site": {"id": SITE_ID, "contentUrl": SITE},
            "user": {"id": "user-luid"},
            "token": token,
            "estimatedTimeToExpiration": "365:12:34"}}))
    }
}

struct SignOut(Arc<Mutex<State>>);

impl Respond for SignOut {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if !authorized(&state, request) {
            return unauthorized();
        }
        state.live_token = None;
        ResponseTemplate::new(204)
    }
}

struct List {
    state: Arc<Mutex<State>>,
    plural: &'static str,
    singular: &'static str,
    items: Vec<Item>,
}

/// Tableau's `eq` with `*` as a wildcard for any run of characters.
fn eq_matches(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &value[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn bad_filter(detail: &str) -> ResponseTemplate {
    tableau_error(400, "400065", "Bad Request", detail)
}

impl Respond for List {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        {
            let mut state = self.state.lock().unwrap();
            if state.end_session_on_next_queries > 0 {
                state.end_session_on_next_queries -= 1;
                state.live_token = None;
            }
            if !authorized(&state, request) {
                return unauthorized();
            }
        }
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let page_size: usize = query
            .get("pageSize")
            .map_or(Some(100), |s| s.parse().ok())
            .unwrap_or(0);
        let page_number: usize = query
            .get("pageNumber")
            .map_or(Some(1), |s| s.parse().ok())
            .unwrap_or(0);
        if page_size == 0 || page_size > 1000 || page_number == 0 {
            return bad_filter("invalid page size or number");
        }
        let mut terms = Vec::new();
        if let Some(filter) = query.get("filter") {
            for term in filter.split(',') {
                let mut parts = term.splitn(3, ':');
                let (Some(field), Some(op), Some(value)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return bad_filter(&format!("malformed filter expression: {term}"));
                };
                if op != "eq" || !["name", "projectName"].contains(&field) {
                    return bad_filter(&format!("unsupported filter: {term}"));
                }
                // What Tableau can't carry even encoded.
                if value.contains('&') {
                    return bad_filter("filter value holds '&'");
                }
                terms.push((field.to_owned(), value.to_owned()));
            }
        }
        let matching: Vec<&Item> = self
            .items
            .iter()
            .filter(|item| {
                terms.iter().all(|(field, value)| {
                    let actual = if field == "name" {
                        &item.name
                    } else {
                        &item.project
                    };
                    eq_matches(value, actual)
                })
            })
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip((page_number - 1) * page_size)
            .take(page_size)
            .map(|item| {
                json!({"id": item.id, "name": item.name, "contentUrl": item.name.replace(' ', ""),
                       "project": {"id": format!("p-{}", item.project), "name": item.project},
                       "owner": {"id": "user-luid"}})
            })
            .collect();
        let list = if page.is_empty() {
            json!({})
        } else {
            json!({ self.singular: page })
        };
        ResponseTemplate::new(200).set_body_json(json!({
            "pagination": {"pageNumber": page_number.to_string(), "pageSize": page_size.to_string(),
                           "totalAvailable": matching.len().to_string()},
            self.plural: list,
        }))
    }
}

struct RefreshItem(Arc<Mutex<State>>);

impl Respond for RefreshItem {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = self.0.lock().unwrap();
        if !authorized(&state, request) {
            return unauthorized();
        }
        if request.body_json::<Value>().ok() != Some(json!({})) {
            return bad_filter("refresh body must be {}");
        }
        let segments: Vec<&str> = request.url.path().split('/').collect();
        let id = segments[segments.len() - 2];
        let template = match state.refresh_answers.get(id) {
            Some((status, body)) => ResponseTemplate::new(*status).set_body_json(body),
            None => ResponseTemplate::new(202).set_body_json(json!({"job": {
                "id": format!("job-{id}"), "mode": "Asynchronous", "type": "RefreshExtract",
                "createdAt": "2026-01-31T19:29:36Z"}})),
        };
        template.set_delay(state.refresh_delay)
    }
}

#[test]
fn wildcards_match_like_tableau() {
    assert!(eq_matches("Q1* Q2 * Q3: Review", "Q1, Q2 & Q3: Review"));
    assert!(eq_matches("Weekly KPIs", "Weekly KPIs"));
    assert!(!eq_matches("Weekly KPIs", "Weekly KPIs (old)"));
    assert!(eq_matches("Weekly*", "Weekly KPIs (old)"));
    assert!(!eq_matches("a*b", "ab-c"));
}
