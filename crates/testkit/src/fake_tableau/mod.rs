//! A fake Tableau on 127.0.0.1 that speaks REFERENCE.md's JSON: serverinfo,
//! PAT sign-in with one session per PAT, filtered and paginated item queries
//! (string-typed pagination, `{}` for no match, `*` wildcards, `eq` matching),
//! refresh, sign-out. Tests add higher-priority mocks for faults.
//!
//! Connected-app (JWT) sign-in is verified here independently of the crate's
//! minter: the HS256 signature under the shared secret, header `kid`/`iss`, claims
//! `iss`/`sub`/`aud`, `exp` in the future and at most 10 minutes ahead, a `jti`
//! never seen before. JWT sessions live side by side (a sign-in ends no other
//! session), and each call checks the session's `scp` the way Tableau does: a
//! method outside the scopes answers 401002 (tableau/server-client-python
//! #1320, #1581). Jobs and Query Job: jobs.rs. Prep flows (Run Flow Now), Cancel
//! Job and the incremental refresh body with its REST API 3.25 rule: flows.rs.
#![allow(dead_code)]

mod flows;
mod jobs;
mod jwt;
pub mod proxy;
mod respond;

use dbt_tableau_engine::answer::TargetReport;
use dbt_tableau_engine::secrets::{TableauAccess, TableauCredentials};
use dbt_tableau_engine::tableau::{Refresher, TableauRefresher};
use dbt_tableau_engine::targets::{ItemKind, Target};
// Only the tests that follow jobs name it.
#[allow(unused_imports)]
pub use jobs::JobScript;
pub use jwt::{
    APP_CLIENT_ID, APP_SECRET_ID, APP_SECRET_VALUE, APP_USERNAME, SCOPE_CANCEL, SCOPE_JOBS,
    SCOPE_READ, SCOPE_REFRESH,
};
use respond::{List, RefreshItem, SignIn, SignOut};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// REST API 3.25 is Tableau Server 2025.1 (the serverinfo's productVersion), the
/// first where a connected app may read jobs.
pub const VERSION: &str = "3.25";
pub const SITE_ID: &str = "site-luid-1";
pub const SITE: &str = "analytics";
pub const PAT_NAME: &str = "dbt-refresh";
pub const PAT_SECRET: &str = "pat-secret-do-not-print";
/// The time a test gives one refresh invocation.
pub const BUDGET: Duration = Duration::from_secs(5);

/// Names that Tableau's filter syntax makes hard: commas, ampersands, colons,
/// non-ASCII letters, brackets, quotes, `*`, and a name that prefixes another.
pub fn catalogue() -> Vec<Item> {
    vec![
        item("wb-sales-fin", "Sales", "Finance"),
        item("wb-sales-mkt", "Sales", "Marketing"),
        item("wb-q", "Q1, Q2 & Q3: Review", "Finance"),
        item("wb-q-decoy", "Q1; Q2 + Q3: Review", "Finance"),
        item("wb-pl", "Projeśt Übersicht", "Europa"),
        item("wb-kpi", "Weekly KPIs", "Ops"),
        item("wb-kpi-old", "Weekly KPIs (old)", "Ops"),
        item("wb-brackets", "[Draft] \"Revenue\" 100%*", "Ops"),
    ]
}

/// A fake holding [`catalogue`] and data sources of the same name in two projects.
pub async fn catalogue_fake() -> FakeTableau {
    FakeTableau::start(
        catalogue(),
        vec![
            item("ds-orders", "Orders", "Data"),
            item("ds-orders-old", "Orders", "Archive"),
            item("ds-customers", "Customers", "Data"),
        ],
    )
    .await
}

/// "Weekly KPIs" beside "Weekly KPIs (old)", and one data source: what the
/// whole-function tests refresh.
pub async fn kpi_fake() -> FakeTableau {
    FakeTableau::start(
        vec![
            item("wb-kpi", "Weekly KPIs", "Ops"),
            item("wb-kpi-old", "Weekly KPIs (old)", "Ops"),
        ],
        vec![item("ds-orders", "Orders", "Data")],
    )
    .await
}

/// A fake with one unambiguous workbook and data source per name.
pub async fn small_fake() -> FakeTableau {
    FakeTableau::start(
        vec![
            item("wb-kpi", "Weekly KPIs", "Ops"),
            item("wb-sales", "Sales", "Finance"),
        ],
        vec![item("ds-orders", "Orders", "Data")],
    )
    .await
}

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
    /// Answer a refresh of an id the fake doesn't hold with Tableau's 404, as
    /// a target given by LUID meets it (off by default: fault tests mount
    /// item lists of their own).
    pub known_ids_only: bool,
    /// Live connected-app sessions: token -> the JWT's scopes.
    pub jwt_sessions: HashMap<String, Vec<String>>,
    /// The most JWT sessions alive at once.
    pub max_jwt_sessions: usize,
    pub jwt_sign_ins: u32,
    /// Every `jti` accepted; like Tableau (expected, unverified), a seen `jti` is refused.
    pub seen_jtis: HashSet<String>,
    /// Why each refused JWT sign-in was refused (the fake's own words).
    pub jwt_rejections: Vec<String>,
    /// The scopes the connected app grants, when it lists them; `None` grants
    /// whatever the JWT asks for.
    pub app_granted_scopes: Option<Vec<String>>,
    pub jobs: jobs::Jobs,
    /// The REST API version the fake speaks (serverinfo, every path).
    pub version: String,
    /// Item ids refreshed with the incremental body, in order.
    pub incremental_refreshes: Vec<String>,
    /// Flow ids run with Run Flow Now, in order.
    pub flow_runs: Vec<String>,
    /// Job ids a Cancel Job request named (accepted or not), in order.
    pub cancels: Vec<String>,
    /// Per job id: a status and JSON body Cancel Job answers instead of accepting.
    pub cancel_answers: HashMap<String, (u16, Value)>,
}

pub struct FakeTableau {
    pub server: MockServer,
    pub state: Arc<Mutex<State>>,
}

impl FakeTableau {
    pub async fn start(workbooks: Vec<Item>, datasources: Vec<Item>) -> FakeTableau {
        FakeTableau::start_full(VERSION, workbooks, datasources, Vec::new()).await
    }

    /// With Prep flows too (`GET flows`, Run Flow Now).
    pub async fn with_flows(
        workbooks: Vec<Item>,
        datasources: Vec<Item>,
        flows: Vec<Item>,
    ) -> FakeTableau {
        FakeTableau::start_full(VERSION, workbooks, datasources, flows).await
    }

    /// A fake speaking REST API `version` (e.g. "3.22", before incremental refresh).
    pub async fn start_full(
        version: &str,
        workbooks: Vec<Item>,
        datasources: Vec<Item>,
        flows: Vec<Item>,
    ) -> FakeTableau {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            version: version.to_owned(),
            ..State::default()
        }));
        state.lock().unwrap().jobs.names = workbooks
            .iter()
            .chain(&datasources)
            .chain(&flows)
            .map(|item| (item.id.clone(), item.name.clone()))
            .collect();
        Mock::given(method("GET"))
            .and(path("/api/2.4/serverinfo"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "serverInfo": {"productVersion": {"value": "2025.1.0", "build": "20251.25.0101"},
                               "restApiVersion": version}})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/api/{version}/auth/signin")))
            .respond_with(SignIn(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/api/{version}/auth/signout")))
            .respond_with(SignOut(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(format!(
                "^/api/{version}/sites/{SITE_ID}/jobs/[^/]+$"
            )))
            .respond_with(jobs::QueryJob(state.clone()))
            .mount(&server)
            .await;
        flows::mount(&server, &state, &format!("/api/{version}/sites/{SITE_ID}")).await;
        for (plural, singular, items) in [
            ("workbooks", "workbook", workbooks),
            ("datasources", "datasource", datasources),
            ("flows", "flow", flows),
        ] {
            Mock::given(method("GET"))
                .and(path(format!("/api/{version}/sites/{SITE_ID}/{plural}")))
                .respond_with(List {
                    state: state.clone(),
                    plural,
                    singular,
                    items,
                })
                .mount(&server)
                .await;
            // A flow has no extract refresh: a POST there meets wiremock's 404.
            if plural == "flows" {
                continue;
            }
            Mock::given(method("POST"))
                .and(path_regex(format!(
                    "^/api/{version}/sites/{SITE_ID}/{plural}/[^/]+/refresh$"
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

    /// The connected app's credentials, as a secret holding its four keys gives them.
    pub fn app_access(&self) -> TableauAccess {
        self.app_access_with_secret(APP_SECRET_VALUE)
    }

    pub fn app_access_with_secret(&self, secret_value: &str) -> TableauAccess {
        TableauAccess {
            server: self.server.uri(),
            site: SITE.into(),
            credentials: TableauCredentials::ConnectedApp {
                client_id: APP_CLIENT_ID.into(),
                secret_id: APP_SECRET_ID.into(),
                secret_value: secret_value.to_owned().into(),
                username: APP_USERNAME.into(),
            },
        }
    }

    pub async fn run_as(
        &self,
        refresher: &TableauRefresher,
        access: &TableauAccess,
        targets: &[Target],
        budget: Duration,
    ) -> Vec<TargetReport> {
        let targets: Vec<&Target> = targets.iter().collect();
        refresher
            .refresh(access, &targets, Instant::now() + budget)
            .await
    }

    /// The Secrets Manager secret (SecretString) that points the function here.
    pub fn secret_json(&self, webhook_key: &str) -> String {
        json!({
            "DBT_WEBHOOK_KEY": webhook_key,
            "TABLEAU_SITE_URL": format!("{}/", self.server.uri()),
            "TABLEAU_SITE_NAME": SITE,
            "TABLEAU_API_TOKEN_NAME": PAT_NAME,
            "TABLEAU_API_TOKEN_SECRET": PAT_SECRET,
        })
        .to_string()
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

    /// Every request the fake received, whatever it was.
    pub async fn total_requests(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .len()
    }

    pub fn uri(&self) -> String {
        self.server.uri()
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
    Target::named(ItemKind::Workbook, name, project)
}

pub fn flow(name: &str, project: Option<&str>) -> Target {
    Target::named(ItemKind::Flow, name, project)
}

pub fn datasource(name: &str, project: Option<&str>) -> Target {
    Target::named(ItemKind::Datasource, name, project)
}

pub fn tableau_error(status: u16, code: &str, summary: &str, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"summary": summary, "detail": detail, "code": code}}))
}
