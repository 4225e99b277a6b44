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
//! #1320, #1581).
#![allow(dead_code)]

use dbt_tableau_refresh::answer::TargetReport;
use dbt_tableau_refresh::secrets::{TableauAccess, TableauCredentials};
use dbt_tableau_refresh::tableau::{Refresher, TableauRefresher};
use dbt_tableau_refresh::targets::{ItemKind, Target};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
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
pub const APP_CLIENT_ID: &str = "c0ffee00-app-client-id";
pub const APP_SECRET_ID: &str = "5ec2e7d1-app-secret-id";
pub const APP_SECRET_VALUE: &str = "app-secret-value-do-not-print";
pub const APP_USERNAME: &str = "refresh-bot@example.com";
pub const SCOPE_READ: &str = "tableau:content:read";
pub const SCOPE_REFRESH: &str = "tableau:tasks:run";

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
    /// Live connected-app sessions: token -> the JWT's scopes.
    pub jwt_sessions: HashMap<String, Vec<String>>,
    /// The most JWT sessions alive at once.
    pub max_jwt_sessions: usize,
    pub jwt_sign_ins: u32,
    /// Every `jti` accepted; like Tableau (expected, unverified), a seen `jti` is refused.
    pub seen_jtis: HashSet<String>,
    /// Why each refused JWT sign-in was refused (the fake's own words).
    pub jwt_rejections: Vec<String>,
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
    sent.is_some_and(|token| {
        Some(token) == state.live_token.as_deref() || state.jwt_sessions.contains_key(token)
    })
}

/// For a connected-app session whose JWT lacks `scope`: Tableau's answer to a
/// method outside the token's scopes.
fn out_of_scope(state: &State, request: &Request, scope: &str) -> Option<ResponseTemplate> {
    let token = request.headers.get("x-tableau-auth")?.to_str().ok()?;
    let scopes = state.jwt_sessions.get(token)?;
    let allowed = scopes.iter().any(|s| {
        s == scope
            || s == "tableau:*"
            || s.strip_suffix('*')
                .is_some_and(|prefix| prefix.ends_with(':') && scope.starts_with(prefix))
    });
    (!allowed).then(unauthorized)
}

fn sign_in_error(reason: &str) -> ResponseTemplate {
    // Tableau's sign-in answer carries only a numeric reason (the connected-apps
    // troubleshooting table: 5 user not found, 16 login failed, 126 app not
    // found, 127 secret not found).
    tableau_error(
        401,
        "401001",
        "Signin Error",
        &format!("Error signing in to Tableau Server ({reason})"),
    )
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Checks a connected-app JWT the way Tableau does; the scopes on success, else
/// Tableau's reason code and the fake's own explanation.
fn verify_jwt(state: &State, jwt: &str) -> Result<(String, Vec<String>), (&'static str, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, KeyInit, Mac};
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(("10084", "not three dot-separated parts".into()));
    };
    let json = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(h), Some(c)) = (json(header), json(claims)) else {
        return Err(("10084", "header or claims not base64url JSON".into()));
    };
    if h["alg"] != "HS256" {
        return Err(("10083", format!("alg {}", h["alg"])));
    }
    if h["iss"] != APP_CLIENT_ID || c["iss"] != APP_CLIENT_ID {
        return Err(("126", "unknown client id in header or claims iss".into()));
    }
    if h["kid"] != APP_SECRET_ID {
        return Err(("127", "unknown secret id (kid)".into()));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET_VALUE.as_bytes()).unwrap();
    mac.update(format!("{header}.{claims}").as_bytes());
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    if mac.verify_slice(&signature).is_err() {
        return Err((
            "16",
            "signature does not verify with the secret value".into(),
        ));
    }
    if c["aud"] != "tableau" {
        return Err(("16", format!("aud {}", c["aud"])));
    }
    if c["sub"] != APP_USERNAME {
        return Err(("5", format!("unknown user {}", c["sub"])));
    }
    let Some(exp) = c["exp"].as_u64() else {
        return Err(("16", "exp missing or not a number".into()));
    };
    let now = now_secs();
    if exp <= now {
        return Err(("16", format!("expired {} s ago", now - exp)));
    }
    if exp > now + 600 {
        return Err(("16", "exp more than 10 minutes ahead".into()));
    }
    let jti = c["jti"].as_str().unwrap_or_default().to_owned();
    if jti.is_empty() || state.seen_jtis.contains(&jti) {
        return Err(("16", format!("jti {jti:?} missing or already used")));
    }
    let Some(scopes) = c["scp"].as_array().and_then(|a| {
        a.iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
    }) else {
        return Err(("16", "scp is not an array of strings".into()));
    };
    Ok((jti, scopes))
}

struct SignIn(Arc<Mutex<State>>);

impl Respond for SignIn {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().unwrap_or(Value::Null);
        let c = &body["credentials"];
        if let Some(jwt) = c["jwt"].as_str() {
            let mut state = self.0.lock().unwrap();
            let (jti, scopes) = match verify_jwt(&state, jwt) {
                Ok(ok) => ok,
                Err((reason, why)) => {
                    state.jwt_rejections.push(why);
                    return sign_in_error(reason);
                }
            };
            if c["site"]["contentUrl"] != SITE {
                return sign_in_error("16");
            }
            state.seen_jtis.insert(jti);
            state.sign_ins += 1;
            state.jwt_sign_ins += 1;
            // No other session ends: connected-app sessions live side by side.
            let token = format!("jwt-session-token-{}", state.sign_ins);
            state.jwt_sessions.insert(token.clone(), scopes);
            state.max_jwt_sessions = state.max_jwt_sessions.max(state.jwt_sessions.len());
            return ResponseTemplate::new(200).set_body_json(json!({"credentials": {
                "site": {"id": SITE_ID, "contentUrl": SITE},
                "user": {"id": "app-user-luid"},
                "token": token,
                "estimatedTimeToExpiration": "0:10:00"}}));
        }
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
        let token = request.headers["x-tableau-auth"]
            .to_str()
            .unwrap()
            .to_owned();
        if state.jwt_sessions.remove(&token).is_none() {
            state.live_token = None;
        }
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
                state.jwt_sessions.clear();
            }
            if !authorized(&state, request) {
                return unauthorized();
            }
            if let Some(refusal) = out_of_scope(&state, request, SCOPE_READ) {
                return refusal;
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
        if let Some(refusal) = out_of_scope(&state, request, SCOPE_REFRESH) {
            return refusal;
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
