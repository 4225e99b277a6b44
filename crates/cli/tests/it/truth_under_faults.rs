//! Truth under faults, through the real `dbt-tableau` binary against the fake
//! Tableau behind a fault-making proxy (fake_tableau/proxy.rs): a refresh whose
//! answer is lost is `unknown` and never sent twice; a resent connected-app
//! sign-in carries a new JWT; a gateway page echoing the request leaks no
//! secret at RUST_LOG=trace; plain http only for loopback; a job that completed
//! without a readable finishCode is `unknown` at once.

use crate::cli_support;
use dbt_tableau_testkit::fake_tableau;

use cli_support::{Run, against, against_as_app, quick_polls, run};
use fake_tableau::proxy::{Fault, FaultProxy};
use fake_tableau::{APP_SECRET_VALUE, FakeTableau, PAT_SECRET, small_fake};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

/// `command` sent through `proxy` instead of straight to the fake.
fn via(mut command: Command, proxy: &FaultProxy) -> Command {
    command.env("TABLEAU_SITE_URL", &proxy.uri);
    command
}

fn target(out: &Run) -> serde_json::Value {
    out.json()["targets"][0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_refresh_answer_is_unknown_and_the_request_is_not_sent_again() {
    let fake = small_fake().await;
    let proxy = FaultProxy::start(&fake.uri()).await;
    proxy.on("/refresh", Fault::LoseAnswer, 1);
    let out = run(
        via(against(&fake), &proxy),
        &["refresh", "--workbook", "Weekly KPIs", "--json"],
    )
    .await;
    assert_ne!(out.code, 0, "unknown is not a success: {out:#?}");
    let t = target(&out);
    assert_eq!(t["result"], "unknown", "{out:#?}");
    assert!(
        t["error"].as_str().unwrap().contains("answer was lost"),
        "{out:#?}"
    );
    assert_eq!(out.json()["status"], "failed");
    // Tableau got the request once: a resend would have started a second job.
    assert_eq!(fake.count("POST", "/refresh").await, 1);
    assert_eq!(proxy.count("/refresh"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_refresh_answer_is_unknown_with_wait_too() {
    let fake = small_fake().await;
    let proxy = FaultProxy::start(&fake.uri()).await;
    proxy.on("/refresh", Fault::LoseAnswer, 1);
    let mut command = via(against(&fake), &proxy);
    quick_polls(&mut command);
    let out = run(
        command,
        &["refresh", "--workbook", "Weekly KPIs", "--wait", "--json"],
    )
    .await;
    assert_ne!(out.code, 0, "{out:#?}");
    assert_eq!(target(&out)["result"], "unknown", "{out:#?}");
    assert_eq!(fake.count("POST", "/refresh").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_turned_away_before_any_work_is_sent_again() {
    // 503: the request did nothing, so sending it again is safe and expected.
    let fake = small_fake().await;
    Mock::given(method("POST"))
        .and(path_regex("/refresh$"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let out = run(
        against(&fake),
        &["refresh", "--workbook", "Weekly KPIs", "--json"],
    )
    .await;
    assert_eq!(target(&out)["result"], "queued", "{out:#?}");
    assert_eq!(fake.count("POST", "/refresh").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resent_connected_app_sign_in_carries_a_new_jwt() {
    let fake = small_fake().await;
    let proxy = FaultProxy::start(&fake.uri()).await;
    // The fake accepts the first sign-in (its jti is now spent); the answer is lost.
    proxy.on("/auth/signin", Fault::LoseAnswer, 1);
    let out = run(
        via(against_as_app(&fake), &proxy),
        &["refresh", "--workbook", "Weekly KPIs", "--json"],
    )
    .await;
    assert_eq!(target(&out)["result"], "queued", "{out:#?}");
    let state = fake.state.lock().unwrap();
    assert_eq!(state.jwt_sign_ins, 2, "{:?}", state.jwt_rejections);
    assert!(
        state.jwt_rejections.is_empty(),
        "{:?}",
        state.jwt_rejections
    );
}

/// Everything the run printed and answered, checked for every secret it held.
fn assert_no_secret(out: &Run, secrets: &[&str]) {
    let all = out.all_output();
    for secret in secrets {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    assert!(!all.contains("panicked"), "{all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoing_gateway_page_leaks_no_pat_secret_or_session_token() {
    let fake = small_fake().await;
    let proxy = FaultProxy::start(&fake.uri()).await;
    // Sign-in echoed once (PAT secret in the body), then the refresh echoed
    // (the session token in X-Tableau-Auth).
    proxy.on("/auth/signin", Fault::EchoPage, 1);
    proxy.on("/refresh", Fault::EchoPage, 1);
    let mut command = via(against(&fake), &proxy);
    command.env("RUST_LOG", "trace");
    let out = run(command, &["refresh", "--workbook", "Weekly KPIs", "--json"]).await;
    let t = target(&out);
    // The page was seen (the excerpt is there, secrets taken out of it).
    assert!(out.all_output().contains("Bad Gateway"), "{out:#?}");
    assert!(out.all_output().contains("[redacted]"), "{out:#?}");
    // A 502 from a gateway after the request left may hide a queued refresh.
    assert_eq!(t["result"], "unknown", "{out:#?}");
    let token = fake.state.lock().unwrap().live_token.clone();
    let mut secrets = vec![PAT_SECRET, "session-token-1"];
    if let Some(token) = &token {
        secrets.push(token);
    }
    assert_no_secret(&out, &secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoing_gateway_page_leaks_no_jwt_or_connected_app_secret() {
    let fake = small_fake().await;
    let proxy = FaultProxy::start(&fake.uri()).await;
    proxy.on("/auth/signin", Fault::EchoPage, 100);
    let mut command = via(against_as_app(&fake), &proxy);
    command.env("RUST_LOG", "trace");
    let out = run(command, &["refresh", "--workbook", "Weekly KPIs", "--json"]).await;
    assert_eq!(target(&out)["result"], "failed", "{out:#?}");
    assert!(out.all_output().contains("[redacted]"), "{out:#?}");
    // A JWT is three base64url parts; its header part is always the same.
    assert!(!out.all_output().contains("eyJ"), "a JWT leaked: {out:#?}");
    assert_no_secret(&out, &[APP_SECRET_VALUE]);
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_is_refused_for_a_host_that_is_not_loopback() {
    let fake = small_fake().await;
    let mut command = against(&fake);
    command.env("TABLEAU_SITE_URL", "http://tableau.acme.example");
    let out = run(command, &["refresh", "--workbook", "Weekly KPIs", "--json"]).await;
    assert_ne!(out.code, 0, "{out:#?}");
    let all = out.all_output();
    assert!(
        all.contains("TABLEAU_SITE_URL") && all.contains("https://"),
        "{all}"
    );
    assert_eq!(fake.total_requests().await, 0);
    // Loopback keeps working (every other test here uses it).
    let mut command = against(&fake);
    command.env(
        "TABLEAU_SITE_URL",
        fake.uri().replace("127.0.0.1", "localhost"),
    );
    let out = run(command, &["refresh", "--workbook", "Weekly KPIs", "--json"]).await;
    assert_eq!(target(&out)["result"], "queued", "{out:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_completed_without_a_readable_finish_code_is_unknown_at_once() {
    let fake = small_fake().await;
    Mock::given(method("GET"))
        .and(path_regex("/jobs/job-wb-kpi$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"job": {
            "id": "job-wb-kpi", "mode": "Asynchronous", "type": "RefreshExtract",
            "createdAt": "2026-01-31T19:29:36Z", "completedAt": "2026-01-31T19:31:36Z",
            "finishCode": {"value": null},
            "extractRefreshJob": {"notes": {"note": ["ORA-01017: invalid username/password"]}}}})))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let mut command = against(&fake);
    quick_polls(&mut command);
    let started = Instant::now();
    let out = run(
        command,
        &[
            "refresh",
            "--workbook",
            "Weekly KPIs",
            "--wait",
            "--timeout",
            "60",
            "--json",
        ],
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(20), "{out:#?}");
    let t = target(&out);
    assert_eq!(t["result"], "unknown", "{out:#?}");
    let error = t["error"].as_str().unwrap();
    assert!(error.contains("2026-01-31T19:31:36Z"), "{error}");
    assert!(error.contains("finishCode"), "{error}");
    assert!(error.contains("ORA-01017"), "{error}");
}

/// Sign-out held 2 s by Tableau: the refresh's answer still leaves by its deadline.
#[tokio::test(flavor = "multi_thread")]
async fn sign_out_held_two_seconds_still_answers_by_the_deadline() {
    let fake: FakeTableau = small_fake().await;
    let proxy = FaultProxy::start(&fake.uri()).await;
    proxy.on("/auth/signout", Fault::Hold(Duration::from_secs(2)), 10);
    // The refresh itself takes most of the budget.
    fake.state.lock().unwrap().refresh_delay = Duration::from_millis(2000);
    let mut access = fake.access();
    access.server = proxy.uri.clone();
    let refresher = fake.refresher();
    let budget = Duration::from_secs(3);
    let started = Instant::now();
    let reports = fake
        .run_as(
            &refresher,
            &access,
            &[fake_tableau::workbook("Weekly KPIs", None)],
            budget,
        )
        .await;
    let took = started.elapsed();
    eprintln!("answered after {took:?} with a {budget:?} budget");
    assert!(took <= budget + Duration::from_millis(100), "{took:?}");
    assert_eq!(reports[0].result.as_str(), "queued", "{reports:?}");
    assert_eq!(proxy.count("/auth/signout"), 1);
}
