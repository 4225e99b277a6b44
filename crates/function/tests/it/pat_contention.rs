//! Two containers, one PAT: Tableau keeps one session per personal access token,
//! so two invocations that overlap end each other's sessions. Both must still
//! succeed (a backoff, then a new sign-in, inside the deadline).
//!
//! 50 pairs run at the same moment: 100 invocations at once, each with its own
//! `TableauRefresher` (a container), against one fake Tableau that keeps one live
//! session per PAT and answers each call after 20-50 ms. The two invocations of a
//! pair share a PAT and a target (one dbt job, delivered to two containers); pairs
//! differ in PAT, so contention is within a pair, as in production, while the
//! fake and the machine carry all 100 at once.

use dbt_tableau_engine::answer::{RefreshResult, TargetReport};
use dbt_tableau_engine::secrets::{TableauAccess, TableauCredentials};
use dbt_tableau_engine::tableau::{Refresher, TableauRefresher};
use dbt_tableau_engine::targets::{ItemKind, Target};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const VERSION: &str = "3.22";
const SITE: &str = "analytics";
const SITE_ID: &str = "site-luid-1";
const PAIRS: usize = 50;
/// The production deadline (dbt Cloud's 10 s delivery timeout, less margin).
const DEADLINE: Duration = Duration::from_secs(8);

#[derive(Default)]
struct Sessions {
    /// PAT name -> its one live session token.
    live: HashMap<String, String>,
    sign_ins: HashMap<String, u32>,
    /// Sessions ended by a sign-in with the same PAT.
    ended: u32,
    /// Item ids with a refresh queued (a second request answers 409093).
    queued: HashSet<String>,
    next_token: u64,
}

type Shared = Arc<Mutex<Sessions>>;

fn latency() -> Duration {
    Duration::from_millis(fastrand::u64(20..=50))
}

fn error(status: u16, code: &str, summary: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"summary": summary, "detail": summary, "code": code}}))
        .set_delay(latency())
}

fn live(state: &Sessions, request: &Request) -> bool {
    let sent = request
        .headers
        .get("x-tableau-auth")
        .and_then(|v| v.to_str().ok());
    sent.is_some_and(|token| state.live.values().any(|t| t == token))
}

struct SignIn(Shared);
impl Respond for SignIn {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().unwrap_or(Value::Null);
        let name = body["credentials"]["personalAccessTokenName"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if body["credentials"]["personalAccessTokenSecret"] != format!("secret-of-{name}").as_str()
        {
            return error(401, "401001", "Signin Error");
        }
        let mut state = self.0.lock().unwrap();
        state.next_token += 1;
        let token = format!("contended-token-{}", state.next_token);
        // One session per PAT: this sign-in ends the earlier one.
        if state.live.insert(name.clone(), token.clone()).is_some() {
            state.ended += 1;
        }
        *state.sign_ins.entry(name).or_default() += 1;
        ResponseTemplate::new(200)
            .set_body_json(json!({"credentials": {
                "site": {"id": SITE_ID, "contentUrl": SITE}, "user": {"id": "u"},
                "token": token}}))
            .set_delay(latency())
    }
}

struct SignOut(Shared);
impl Respond for SignOut {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if !live(&state, request) {
            return error(401, "401002", "Unauthorized Access");
        }
        let token = request.headers["x-tableau-auth"]
            .to_str()
            .unwrap()
            .to_owned();
        state.live.retain(|_, t| *t != token);
        ResponseTemplate::new(204).set_delay(Duration::from_millis(fastrand::u64(5..=15)))
    }
}

/// Every name `Extract-NN` exists, once, in project Ops.
struct Lookup(Shared);
impl Respond for Lookup {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !live(&self.0.lock().unwrap(), request) {
            return error(401, "401002", "Unauthorized Access");
        }
        let filter = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "filter")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let name = filter.strip_prefix("name:eq:").unwrap_or_default();
        ResponseTemplate::new(200)
            .set_body_json(json!({
                "pagination": {"pageNumber": "1", "pageSize": "100", "totalAvailable": "1"},
                "workbooks": {"workbook": [{"id": format!("wb-{name}"), "name": name,
                                            "project": {"id": "p", "name": "Ops"}}]}}))
            .set_delay(latency())
    }
}

struct Refresh(Shared);
impl Respond for Refresh {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if !live(&state, request) {
            return error(401, "401002", "Unauthorized Access");
        }
        let segments: Vec<&str> = request.url.path().split('/').collect();
        let id = segments[segments.len() - 2].to_owned();
        if !state.queued.insert(id.clone()) {
            return error(409, "409093", "Resource Conflict");
        }
        ResponseTemplate::new(202)
            .set_body_json(json!({"job": {"id": format!("job-{id}"), "mode": "Asynchronous"}}))
            .set_delay(latency())
    }
}

async fn contended_tableau() -> (MockServer, Shared) {
    let server = MockServer::start().await;
    let state = Shared::default();
    Mock::given(method("GET"))
        .and(path("/api/2.4/serverinfo"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"serverInfo": {"restApiVersion": VERSION}}))
                .set_delay(Duration::from_millis(10)),
        )
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
    Mock::given(method("GET"))
        .and(path(format!("/api/{VERSION}/sites/{SITE_ID}/workbooks")))
        .respond_with(Lookup(state.clone()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(format!(
            "^/api/{VERSION}/sites/{SITE_ID}/workbooks/[^/]+/refresh$"
        )))
        .respond_with(Refresh(state.clone()))
        .mount(&server)
        .await;
    (server, state)
}

fn access(server: &MockServer, pat: &str) -> TableauAccess {
    TableauAccess {
        server: server.uri(),
        site: SITE.into(),
        credentials: TableauCredentials::PersonalAccessToken {
            name: pat.into(),
            secret: format!("secret-of-{pat}").into(),
        },
    }
}

fn target(pair: usize) -> Target {
    Target::named(ItemKind::Workbook, &format!("Extract-{pair:02}"), None)
}

/// One invocation in a fresh container: its own refresher (HTTP client, version
/// detection), the production deadline.
async fn invocation(server: &MockServer, pair: usize) -> (TargetReport, Duration) {
    let refresher = TableauRefresher::new(None).unwrap();
    let access = access(server, &format!("pat-{pair:02}"));
    let target = target(pair);
    let started = Instant::now();
    let mut reports = refresher
        .refresh(&access, &[&target], started + DEADLINE)
        .await;
    (reports.remove(0), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_simultaneous_pairs_sharing_a_pat_all_succeed() {
    let (server, state) = contended_tableau().await;
    let started = Instant::now();
    let results = futures_util::future::join_all(
        (0..PAIRS).flat_map(|pair| [invocation(&server, pair), invocation(&server, pair)]),
    )
    .await;
    let wall = started.elapsed();

    let state = state.lock().unwrap();
    let succeeded = results
        .iter()
        .filter(|(report, _)| report.result.is_success())
        .count();
    let mut per_pair: Vec<u32> = (0..PAIRS)
        .map(|pair| state.sign_ins[&format!("pat-{pair:02}")])
        .collect();
    per_pair.sort_unstable();
    let total: u32 = per_pair.iter().sum();
    let collided = per_pair.iter().filter(|&&n| n > 2).count();
    let mut elapsed: Vec<Duration> = results.iter().map(|(_, e)| *e).collect();
    elapsed.sort_unstable();
    println!(
        "pat contention: {PAIRS} pairs (100 invocations at once): {succeeded}/{} succeeded ({:.1} %); \
         sign-ins {total} in all (2 without contention per pair), per pair min {} median {} max {}; \
         {collided} pairs signed in again at least once; {} sessions ended by the other's sign-in; \
         invocation time median {:?} max {:?}; wall {wall:?}",
        results.len(),
        100.0 * succeeded as f64 / results.len() as f64,
        per_pair[0],
        per_pair[PAIRS / 2],
        per_pair[PAIRS - 1],
        state.ended,
        elapsed[elapsed.len() / 2],
        elapsed[elapsed.len() - 1],
    );
    for (report, took) in &results {
        assert!(
            report.result.is_success(),
            "{} failed after {took:?}: {:?}",
            report.label(),
            report.error
        );
        assert!(*took < DEADLINE, "{} took {took:?}", report.label());
    }
    // Each pair's two deliveries refresh one item: one queues it, the other finds
    // it queued (409093), which counts as success.
    for pair in 0..PAIRS {
        let name = format!("Extract-{pair:02}");
        let mut results: Vec<RefreshResult> = results
            .iter()
            .filter(|(r, _)| r.name.as_deref() == Some(name.as_str()))
            .map(|(r, _)| r.result)
            .collect();
        results.sort_by_key(|r| format!("{r:?}"));
        assert_eq!(
            results,
            [RefreshResult::AlreadyQueued, RefreshResult::Queued],
            "{name}"
        );
    }
    assert!(
        state.ended > 0 && collided > 0,
        "the sessions never overlapped: the test proves nothing"
    );
    assert!(
        state.live.is_empty(),
        "sessions left signed in: {:?}",
        state.live.keys().collect::<Vec<_>>()
    );
}
