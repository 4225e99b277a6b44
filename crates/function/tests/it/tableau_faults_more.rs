//! More ways Tableau (or what stands in front of it) can misbehave: 200 answers
//! that are not JSON, cut short, or the wrong shape; 429 with "retry after N
//! minutes" in the detail and no Retry-After. In every case: the target's report,
//! an error an operator can act on, within the deadline, and the next invocation
//! on the same refresher works. Faults below HTTP are in tableau_raw_faults.rs.

use dbt_tableau_testkit::fake_tableau;

use dbt_tableau_engine::answer::{RefreshResult, TargetReport};
use dbt_tableau_engine::tableau::TableauRefresher;
use dbt_tableau_engine::targets::Target;
use fake_tableau::*;
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

/// Sign-out may run this much past the deadline (SIGN_OUT_GRACE), plus scheduling.
const SLACK: Duration = Duration::from_millis(700);

fn lookup_path() -> String {
    format!("/api/{VERSION}/sites/{SITE_ID}/workbooks")
}

fn refresh_path() -> String {
    format!("^/api/{VERSION}/sites/{SITE_ID}/workbooks/[^/]+/refresh$")
}

/// Runs one invocation and checks the deadline; returns the one report.
async fn timed(
    fake: &FakeTableau,
    refresher: &TableauRefresher,
    target: Target,
    budget: Duration,
) -> TargetReport {
    let started = Instant::now();
    let mut reports = fake.run(refresher, &[target], budget).await;
    let elapsed = started.elapsed();
    assert!(elapsed < budget + SLACK, "took {elapsed:?}");
    eprintln!("{:?} after {elapsed:?}", reports[0].error);
    reports.remove(0)
}

async fn next_invocation_works(fake: &FakeTableau, refresher: &TableauRefresher) {
    let report = timed(fake, refresher, workbook("Sales", None), BUDGET).await;
    assert!(report.result.is_success(), "next invocation: {report:?}");
}

/// A 200 lookup answer that is not what Tableau sends: the target fails (not
/// "not found"), says what was wrong, and the next invocation works.
async fn lookup_answers_200_with(body: ResponseTemplate, expected: &[&str]) {
    let fake = small_fake().await;
    Mock::given(method("GET"))
        .and(path(lookup_path()))
        .respond_with(body)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let refresher = fake.refresher();
    let report = timed(&fake, &refresher, workbook("Weekly KPIs", None), BUDGET).await;
    assert_eq!(report.result, RefreshResult::Failed);
    let error = report.error.as_deref().unwrap();
    assert!(
        error.starts_with(
            "workbook \"Weekly KPIs\": lookup failed: unexpected answer from Tableau to the item query"
        ),
        "{error}"
    );
    for part in expected {
        assert!(error.contains(part), "{part:?} not in {error}");
    }
    assert!(!error.contains("not found"), "{error}");
    assert_eq!(fake.count("POST", "/refresh").await, 0);
    assert_eq!(fake.count("POST", "/auth/signout").await, 1);
    next_invocation_works(&fake, &refresher).await;
}

#[tokio::test]
async fn lookup_200_with_an_html_page() {
    lookup_answers_200_with(
        ResponseTemplate::new(200).set_body_raw(
            "<html><body>Please log in to the corporate proxy</body></html>",
            "text/html",
        ),
        &["not JSON", "proxy"],
    )
    .await;
}

#[tokio::test]
async fn lookup_200_with_truncated_json() {
    lookup_answers_200_with(
        ResponseTemplate::new(200).set_body_raw(
            r#"{"pagination":{"pageNumber":"1","pageSize":"100","totalAvailable":"1"},"workbooks":{"workbook":[{"id":"wb-kpi","na"#,
            "application/json",
        ),
        &["ends early", "cut short"],
    )
    .await;
}

#[tokio::test]
async fn lookup_200_with_an_empty_body() {
    lookup_answers_200_with(ResponseTemplate::new(200), &["ends early"]).await;
}

#[tokio::test]
async fn lookup_200_with_a_list_where_tableau_has_an_object() {
    lookup_answers_200_with(
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"workbooks": []})),
        &["\"workbooks\" is an array, not an object"],
    )
    .await;
}

#[tokio::test]
async fn lookup_200_without_the_items_key() {
    lookup_answers_200_with(
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "pagination": {"pageNumber": "1", "pageSize": "100", "totalAvailable": "0"}})),
        &["no \"workbooks\" in the answer"],
    )
    .await;
}

#[tokio::test]
async fn lookup_200_with_items_missing_their_id() {
    lookup_answers_200_with(
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "workbooks": {"workbook": [{"name": "Weekly KPIs"}]}})),
        &["missing field `id`"],
    )
    .await;
}

#[tokio::test]
async fn lookup_200_without_pagination_still_finds_the_item() {
    let fake = small_fake().await;
    Mock::given(method("GET"))
        .and(path(lookup_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "workbooks": {"workbook": [{"id": "wb-kpi", "name": "Weekly KPIs",
                                        "project": {"id": "p", "name": "Ops"}}]}})))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let report = timed(
        &fake,
        &fake.refresher(),
        workbook("Weekly KPIs", None),
        BUDGET,
    )
    .await;
    assert_eq!(report.result, RefreshResult::Queued, "{report:?}");
    assert_eq!(
        fake.count("GET", "/workbooks").await,
        1,
        "one page, no loop"
    );
}

/// Tableau said 2xx to the refresh: the job was accepted, whatever the body.
/// The report says queued, without a job id (and the function logs a warning).
#[tokio::test]
async fn refresh_200_with_a_body_that_is_not_json_counts_as_queued_without_a_job_id() {
    let fake = small_fake().await;
    for body in [
        ResponseTemplate::new(200).set_body_raw("<html>OK</html>", "text/html"),
        ResponseTemplate::new(202).set_body_raw(r#"{"job":{"id":"job-wb"#, "application/json"),
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"unexpected": true})),
    ] {
        Mock::given(method("POST"))
            .and(path_regex(refresh_path()))
            .respond_with(body)
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&fake.server)
            .await;
        let report = timed(
            &fake,
            &fake.refresher(),
            workbook("Weekly KPIs", None),
            BUDGET,
        )
        .await;
        assert_eq!(report.result, RefreshResult::Queued, "{report:?}");
        assert_eq!(report.job_id, None);
        assert_eq!(report.id.as_deref(), Some("wb-kpi"));
    }
}

/// Tableau's 429000 names the wait in its detail only: no sleeping past the
/// deadline, and the error says when to retry.
#[tokio::test]
async fn too_many_requests_with_retry_after_minutes_in_the_detail_fails_at_once() {
    let fake = small_fake().await;
    Mock::given(method("POST"))
        .and(path_regex(refresh_path()))
        .respond_with(tableau_error(
            429,
            "429000",
            "Too Many Requests",
            "Please retry after 5 minutes",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let refresher = fake.refresher();
    let started = Instant::now();
    let report = timed(&fake, &refresher, workbook("Weekly KPIs", None), BUDGET).await;
    assert!(started.elapsed() < Duration::from_secs(2), "slept");
    assert_eq!(report.result, RefreshResult::Failed);
    let error = report.error.as_deref().unwrap();
    assert!(error.contains("HTTP 429"), "{error}");
    assert!(error.contains("retry in 300 s"), "{error}");
    assert!(error.contains("Please retry after 5 minutes"), "{error}");
    // An absolute time to retry at, e.g. "retry after 2026-01-31T19:35:36Z".
    let at = error.split("retry after ").nth(1).unwrap_or_default();
    assert!(
        at.len() > 20 && at.as_bytes()[4] == b'-' && at.as_bytes()[19] == b'Z',
        "{error}"
    );
    assert_eq!(fake.count("POST", "/refresh").await, 1, "not retried");
    next_invocation_works(&fake, &refresher).await;
}

#[tokio::test]
async fn too_many_requests_without_any_hint_retries_then_says_to_retry_later() {
    let fake = small_fake().await;
    Mock::given(method("GET"))
        .and(path(lookup_path()))
        .respond_with(tableau_error(429, "429000", "Too Many Requests", ""))
        .up_to_n_times(4)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let refresher = fake.refresher();
    let report = timed(&fake, &refresher, workbook("Weekly KPIs", None), BUDGET).await;
    let error = report.error.as_deref().unwrap();
    assert!(
        error.contains("kept refusing, without saying for how long; retry in a few minutes"),
        "{error}"
    );
    assert!(
        !error.contains("retry in 0 s") && !error.contains("retry in 1 s"),
        "{error}"
    );
    assert_eq!(fake.count("GET", "/workbooks").await, 4);
    next_invocation_works(&fake, &refresher).await;
}

/// A 429 whose named wait fits in the deadline is waited out.
#[tokio::test]
async fn too_many_requests_with_a_short_wait_in_the_detail_is_waited_out() {
    let fake = small_fake().await;
    Mock::given(method("GET"))
        .and(path(lookup_path()))
        .respond_with(tableau_error(
            429,
            "429000",
            "Too Many Requests",
            "Please retry after 1 seconds",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let started = Instant::now();
    let report = timed(
        &fake,
        &fake.refresher(),
        workbook("Weekly KPIs", None),
        BUDGET,
    )
    .await;
    assert_eq!(report.result, RefreshResult::Queued, "{report:?}");
    assert!(started.elapsed() >= Duration::from_millis(950));
}
