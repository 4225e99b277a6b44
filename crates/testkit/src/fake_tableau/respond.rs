//! The fake's wiremock responders: sign-in (PAT and JWT), sign-out, the item
//! queries with Tableau's filter and pagination quirks, and refresh.

use super::jwt::verify_jwt;
use super::{
    Item, PAT_NAME, PAT_SECRET, SCOPE_READ, SCOPE_REFRESH, SITE, SITE_ID, State, tableau_error,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wiremock::{Request, Respond, ResponseTemplate};

/// Tableau answers a call without a live session token with 401.
pub(super) fn unauthorized() -> ResponseTemplate {
    tableau_error(
        401,
        "401002",
        "Unauthorized Access",
        "Invalid authentication credentials were provided.",
    )
}

pub(super) fn authorized(state: &State, request: &Request) -> bool {
    let sent = request
        .headers
        .get("x-tableau-auth")
        .and_then(|v| v.to_str().ok());
    sent.is_some_and(|token| {
        Some(token) == state.live_token.as_deref() || state.jwt_sessions.contains_key(token)
    })
}

/// Tableau's answer to a call without a live session (401), or from a
/// connected-app session whose JWT lacks `scope`; `None` lets the call through.
pub(super) fn refused(state: &State, request: &Request, scope: &str) -> Option<ResponseTemplate> {
    if !authorized(state, request) {
        return Some(unauthorized());
    }
    out_of_scope(state, request, scope)
}

/// For a connected-app session whose JWT lacks `scope`: Tableau's answer to a
/// method outside the token's scopes.
pub(super) fn out_of_scope(
    state: &State,
    request: &Request,
    scope: &str,
) -> Option<ResponseTemplate> {
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

pub(super) struct SignIn(pub(super) Arc<Mutex<State>>);

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

pub(super) struct SignOut(pub(super) Arc<Mutex<State>>);

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

pub(super) struct List {
    pub(super) state: Arc<Mutex<State>>,
    pub(super) plural: &'static str,
    pub(super) singular: &'static str,
    pub(super) items: Vec<Item>,
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
            if let Some(refusal) = refused(&state, request, SCOPE_READ) {
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

pub(super) struct RefreshItem(pub(super) Arc<Mutex<State>>);

impl Respond for RefreshItem {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if let Some(refusal) = refused(&state, request, SCOPE_REFRESH) {
            return refusal;
        }
        let incremental = match super::flows::refresh_body(&state, request) {
            Ok(incremental) => incremental,
            Err(refusal) => return refusal,
        };
        let segments: Vec<&str> = request.url.path().split('/').collect();
        let id = segments[segments.len() - 2];
        if incremental {
            state.incremental_refreshes.push(id.to_owned());
        }
        let kind = match segments[segments.len() - 3] {
            "workbooks" => "workbook",
            _ => "datasource",
        };
        if state.known_ids_only && !state.jobs.names.contains_key(id) {
            // 404006 is REFERENCE.md's "workbook not found"; the data source
            // code is a guess (the crate reads the status, not the code).
            let (code, what) = match kind {
                "workbook" => ("404006", "Workbook"),
                _ => ("404011", "Datasource"),
            };
            return tableau_error(
                404,
                code,
                "Resource Not Found",
                &format!("{what} '{id}' could not be found."),
            );
        }
        let template = match state.refresh_answers.get(id) {
            Some((status, body)) => ResponseTemplate::new(*status).set_body_json(body),
            None => {
                // The job Query Job then follows (fake_tableau/jobs.rs).
                let job_id = state.jobs.start(kind, id);
                ResponseTemplate::new(202).set_body_json(json!({"job": {
                    "id": job_id, "mode": "Asynchronous", "type": "RefreshExtract",
                    "createdAt": "2026-01-31T19:29:36Z"}}))
            }
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
