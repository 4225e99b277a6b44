//! The Tableau client and refresh flow against a fake Tableau over real HTTP:
//! version detection, sign-in/out, refresh answers.

use dbt_tableau_testkit::fake_tableau;

use dbt_tableau_engine::answer::RefreshResult;
use dbt_tableau_engine::tableau::TableauRefresher;
use fake_tableau::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::Mock;
use wiremock::matchers::{method, path};

#[tokio::test]
async fn version_is_detected_once_per_container_and_the_session_is_closed() {
    let fake = catalogue_fake().await;
    let refresher = fake.refresher();
    let mut requests_per_invocation = Vec::new();
    let mut warm_latency = Duration::ZERO;
    for _ in 0..2 {
        let before = fake.server.received_requests().await.unwrap().len();
        let started = Instant::now();
        let reports = fake
            .run(&refresher, &[workbook("Weekly KPIs", None)], BUDGET)
            .await;
        warm_latency = started.elapsed();
        assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
        assert_eq!(reports[0].id.as_deref(), Some("wb-kpi"));
        assert_eq!(reports[0].job_id.as_deref(), Some("job-wb-kpi"));
        assert_eq!(reports[0].error, None);
        requests_per_invocation.push(fake.server.received_requests().await.unwrap().len() - before);
    }
    assert_eq!(fake.count("GET", "/serverinfo").await, 1);
    assert_eq!(fake.count("POST", "/auth/signin").await, 2);
    assert_eq!(fake.count("POST", "/auth/signout").await, 2);
    assert_eq!(
        fake.state.lock().unwrap().live_token,
        None,
        "left signed in"
    );
    // serverinfo, sign-in, lookup, refresh, sign-out; then one fewer.
    assert_eq!(requests_per_invocation, [5, 4]);
    println!(
        "one-target invocation: {} Tableau requests cold, {} warm; warm latency {warm_latency:?}",
        requests_per_invocation[0], requests_per_invocation[1]
    );
}

#[tokio::test]
async fn serverinfo_is_asked_exactly_once_across_warm_invocations() {
    let fake = catalogue_fake().await;
    Mock::given(method("GET"))
        .and(path("/api/2.4/serverinfo"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(
            json!({"serverInfo": {"productVersion": {"value": "x"}, "restApiVersion": VERSION}}),
        ))
        .with_priority(1)
        .expect(1)
        .named("serverinfo")
        .mount(&fake.server)
        .await;
    let refresher = fake.refresher();
    for _ in 0..3 {
        let reports = fake
            .run(&refresher, &[workbook("Sales", Some("Finance"))], BUDGET)
            .await;
        assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    }
    fake.server.verify().await;
}

#[tokio::test]
async fn fixed_api_version_skips_detection() {
    let fake = catalogue_fake().await;
    let refresher = TableauRefresher::new(Some(VERSION.into())).unwrap();
    let reports = fake
        .run(&refresher, &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert_eq!(fake.count("GET", "/serverinfo").await, 0);
}

#[tokio::test]
async fn sign_in_sends_the_pat_and_site_content_url_as_json() {
    let fake = catalogue_fake().await;
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    let sign_ins = fake.requests("POST", "/auth/signin").await;
    assert_eq!(sign_ins.len(), 1);
    assert_eq!(sign_ins[0].headers["content-type"], "application/json");
    assert_eq!(sign_ins[0].headers["accept"], "application/json");
    assert_eq!(
        sign_ins[0].body_json::<Value>().unwrap(),
        json!({"credentials": {"personalAccessTokenName": PAT_NAME,
            "personalAccessTokenSecret": PAT_SECRET, "site": {"contentUrl": SITE}}})
    );
    // Later calls carry the session token, never the PAT.
    for request in fake.server.received_requests().await.unwrap() {
        if !request.url.path().ends_with("/auth/signin") {
            assert!(!String::from_utf8_lossy(&request.body).contains(PAT_SECRET));
        }
        if request.url.path().contains("/sites/") || request.url.path().ends_with("/signout") {
            assert_eq!(request.headers["x-tableau-auth"], "session-token-1");
            assert_eq!(request.headers["accept"], "application/json");
        }
    }
}

#[tokio::test]
async fn default_site_sends_an_empty_content_url() {
    let fake = catalogue_fake().await;
    let mut access = fake.access();
    access.site = String::new();
    let refresher = fake.refresher();
    let target = workbook("Weekly KPIs", None);
    let reports = dbt_tableau_engine::tableau::Refresher::refresh(
        &refresher,
        &access,
        &[&target],
        tokio::time::Instant::now() + BUDGET,
    )
    .await;
    let body = fake.requests("POST", "/auth/signin").await[0]
        .body_json::<Value>()
        .unwrap();
    assert_eq!(body["credentials"]["site"], json!({"contentUrl": ""}));
    // The fake only knows the "analytics" site, so this sign-in is refused.
    assert_eq!(reports[0].result, RefreshResult::Failed);
}

#[tokio::test]
async fn wrong_pat_fails_every_target_with_an_actionable_error_and_no_secret() {
    let fake = catalogue_fake().await;
    let mut access = fake.access();
    access.credentials = dbt_tableau_engine::secrets::TableauCredentials::PersonalAccessToken {
        name: PAT_NAME.into(),
        secret: "wrong-secret-value".to_owned().into(),
    };
    let (a, b) = (
        workbook("Sales", Some("Finance")),
        datasource("Orders", Some("Data")),
    );
    let reports = dbt_tableau_engine::tableau::Refresher::refresh(
        &fake.refresher(),
        &access,
        &[&a, &b],
        tokio::time::Instant::now() + BUDGET,
    )
    .await;
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert_eq!(report.result, RefreshResult::Failed);
        let error = report.error.as_deref().unwrap();
        assert!(
            error.starts_with("Tableau sign-in failed: 401001 Signin Error"),
            "{error}"
        );
        assert!(error.contains("TABLEAU_API_TOKEN_NAME") && error.contains("TABLEAU_SITE_NAME"));
        assert!(!error.contains("wrong-secret-value"));
    }
    // Nothing to sign out of, and no item calls without a session.
    assert_eq!(fake.count("POST", "/auth/signout").await, 0);
    assert_eq!(fake.count("GET", "/workbooks").await, 0);
}

#[tokio::test]
async fn already_queued_is_a_success_without_a_job() {
    let fake = catalogue_fake().await;
    fake.answer_refresh(
        "wb-kpi",
        409,
        json!({"error": {"summary": "Resource Conflict",
            "detail": "Job for 'wb-kpi' is already queued. Not queuing a duplicate.", "code": "409093"}}),
    );
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(
        reports[0].result,
        RefreshResult::AlreadyQueued,
        "{reports:?}"
    );
    assert_eq!(reports[0].id.as_deref(), Some("wb-kpi"));
    assert_eq!(
        (reports[0].job_id.as_ref(), reports[0].error.as_ref()),
        (None, None)
    );
}

#[tokio::test]
async fn refused_refresh_fails_with_tableaus_words() {
    let fake = catalogue_fake().await;
    fake.answer_refresh(
        "wb-kpi",
        409,
        json!({"error": {"summary": "Conflict",
            "detail": "Extract operation not allowed: the workbook has no extracts", "code": "409090"}}),
    );
    let reports = fake
        .run(
            &fake.refresher(),
            &[workbook("Weekly KPIs", Some("Ops"))],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Failed);
    assert_eq!(reports[0].id.as_deref(), Some("wb-kpi"));
    assert_eq!(
        reports[0].error.as_deref(),
        Some(
            "workbook \"Weekly KPIs\" in project \"Ops\": refresh failed: 409090 Conflict: \
             Extract operation not allowed: the workbook has no extracts (HTTP 409)"
        )
    );
    assert_eq!(
        fake.count("POST", "/refresh").await,
        1,
        "a 4xx is not retried"
    );
    assert_eq!(fake.count("POST", "/auth/signout").await, 1);
}

#[tokio::test]
async fn forbidden_and_html_answers_are_readable() {
    let fake = catalogue_fake().await;
    fake.answer_refresh(
        "wb-kpi",
        403,
        json!({"error": {"summary": "Forbidden", "detail": "no Refresh permission", "code": "403004"}}),
    );
    Mock::given(method("GET"))
        .and(path(format!("/api/{VERSION}/sites/{SITE_ID}/datasources")))
        .respond_with(wiremock::ResponseTemplate::new(400).set_body_raw(
            "<html><body><h1>Request blocked</h1></body></html>",
            "text/html",
        ))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let reports = fake
        .run(
            &fake.refresher(),
            &[
                workbook("Weekly KPIs", None),
                datasource("Orders", Some("Data")),
            ],
            BUDGET,
        )
        .await;
    let wb = reports[0].error.as_deref().unwrap();
    assert!(
        wb.contains("403004 Forbidden: no Refresh permission (HTTP 403)"),
        "{wb}"
    );
    assert!(wb.contains("lacks permission"), "{wb}");
    let ds = reports[1].error.as_deref().unwrap();
    assert!(
        ds.starts_with(
            "data source \"Orders\" in project \"Data\": lookup failed: HTTP 400 Bad Request"
        ),
        "{ds}"
    );
    assert!(ds.contains("Request blocked"), "{ds}");
}

/// A measurement, not an assertion: the warm one-target invocation against the
/// local fake (run with `--nocapture` to see it).
#[tokio::test]
async fn warm_invocation_latency_is_reported() {
    let fake = catalogue_fake().await;
    let refresher = fake.refresher();
    fake.run(&refresher, &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    let mut samples = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let reports = fake
            .run(&refresher, &[workbook("Weekly KPIs", None)], BUDGET)
            .await;
        samples.push(started.elapsed());
        assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    }
    samples.sort();
    println!(
        "warm one-target invocation over 20 runs: min {:?}, median {:?}, max {:?}",
        samples[0], samples[10], samples[19]
    );
    assert_eq!(fake.count("GET", "/serverinfo").await, 1);
    assert_eq!(fake.count("POST", "/auth/signin").await, 21);
    assert_eq!(fake.count("POST", "/auth/signout").await, 21);
}
