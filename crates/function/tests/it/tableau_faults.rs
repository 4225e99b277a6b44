//! The refresh flow when Tableau misbehaves: retries, a session ended under us,
//! hangs against the deadline, concurrency over one session.

use dbt_tableau_testkit::fake_tableau;

use dbt_tableau_engine::answer::RefreshResult;
use dbt_tableau_engine::tableau::{Refresher, TableauRefresher};
use fake_tableau::*;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

fn refresh_path() -> String {
    format!("^/api/{VERSION}/sites/{SITE_ID}/workbooks/[^/]+/refresh$")
}

#[tokio::test]
async fn service_unavailable_twice_then_success() {
    let fake = small_fake().await;
    Mock::given(method("POST"))
        .and(path_regex(refresh_path()))
        .respond_with(ResponseTemplate::new(503).set_body_raw("<html>busy</html>", "text/html"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert_eq!(reports[0].job_id.as_deref(), Some("job-wb-kpi"));
    assert_eq!(fake.count("POST", "/refresh").await, 3);
}

#[tokio::test]
async fn persistent_server_error_fails_with_the_status_after_a_few_attempts() {
    // On a lookup, which may be sent again; a refresh is sent once only
    // (truth_under_faults.rs).
    let fake = small_fake().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/{VERSION}/sites/{SITE_ID}/workbooks")))
        .respond_with(ResponseTemplate::new(502).set_body_raw(
            "<html><head><title>502 Bad Gateway</title></head></html>",
            "text/html",
        ))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    let error = reports[0].error.as_deref().unwrap();
    assert!(
        error.starts_with("workbook \"Weekly KPIs\": lookup failed: HTTP 502 Bad Gateway"),
        "{error}"
    );
    assert_eq!(fake.count("GET", "/workbooks").await, 4);
    assert_eq!(fake.count("POST", "/refresh").await, 0);
    assert_eq!(fake.count("POST", "/auth/signout").await, 1);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let fake = small_fake().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/{VERSION}/sites/{SITE_ID}/workbooks")))
        .respond_with(
            tableau_error(
                429,
                "429000",
                "Too Many Requests",
                "Please retry after 1 minutes",
            )
            .insert_header("Retry-After", "1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let started = Instant::now();
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.count("GET", "/workbooks").await, 2);
}

#[tokio::test]
async fn retry_after_past_the_deadline_fails_at_once_saying_when_to_retry() {
    let fake = small_fake().await;
    Mock::given(method("POST"))
        .and(path_regex(refresh_path()))
        .respond_with(
            tableau_error(
                429,
                "429000",
                "Too Many Requests",
                "Please retry after 2 minutes",
            )
            .insert_header("Retry-After", "120"),
        )
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let started = Instant::now();
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "slept: {:?}",
        started.elapsed()
    );
    let error = reports[0].error.as_deref().unwrap();
    assert!(error.contains("retry in 120 s"), "{error}");
    assert!(error.contains("Please retry after 2 minutes"), "{error}");
    assert_eq!(fake.count("POST", "/refresh").await, 1);
}

#[tokio::test]
async fn session_ended_mid_flight_signs_in_again_and_succeeds() {
    let fake = small_fake().await;
    fake.state.lock().unwrap().end_session_on_next_queries = 1;
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert_eq!(fake.count("POST", "/auth/signin").await, 2);
    assert_eq!(fake.count("GET", "/workbooks").await, 2);
    let sign_outs = fake.requests("POST", "/auth/signout").await;
    assert_eq!(sign_outs.len(), 1);
    assert_eq!(sign_outs[0].headers["x-tableau-auth"], "session-token-2");
    assert_eq!(fake.state.lock().unwrap().live_token, None);
}

#[tokio::test]
async fn concurrent_targets_share_one_re_sign_in() {
    let fake = small_fake().await;
    fake.state.lock().unwrap().end_session_on_next_queries = 1;
    let reports = fake
        .run(
            &fake.refresher(),
            &[
                workbook("Weekly KPIs", None),
                workbook("Sales", None),
                datasource("Orders", None),
            ],
            BUDGET,
        )
        .await;
    assert!(
        reports.iter().all(|r| r.result == RefreshResult::Queued),
        "{reports:?}"
    );
    assert_eq!(fake.state.lock().unwrap().sign_ins, 2);
}

#[tokio::test]
async fn session_ended_twice_signs_in_twice_more_and_succeeds() {
    let fake = small_fake().await;
    fake.state.lock().unwrap().end_session_on_next_queries = 2;
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert_eq!(fake.count("POST", "/auth/signin").await, 3);
    assert_eq!(fake.count("GET", "/workbooks").await, 3);
    assert_eq!(fake.state.lock().unwrap().live_token, None, "signed out");
}

#[tokio::test]
async fn session_ended_on_every_call_fails_with_a_hint_within_the_deadline() {
    let fake = small_fake().await;
    // More endings than renewals allowed: every lookup meets a fresh sign-in elsewhere.
    fake.state.lock().unwrap().end_session_on_next_queries = 100;
    let started = Instant::now();
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    let elapsed = started.elapsed();
    let error = reports[0].error.as_deref().unwrap();
    assert!(error.contains("401002"), "{error}");
    assert!(error.contains("same PAT"), "{error}");
    assert!(error.contains("connected app"), "{error}");
    assert!(
        !error.contains("session-token"),
        "token in the answer: {error}"
    );
    // Renewals are bounded by their count (5) and by the deadline: the backoffs
    // before the first two (at most 0.3 s + 0.6 s) always fit in 5 s.
    let sign_ins = fake.count("POST", "/auth/signin").await;
    assert!((3..=6).contains(&sign_ins), "{sign_ins} sign-ins");
    assert!(elapsed < BUDGET + Duration::from_millis(600), "{elapsed:?}");
}

#[tokio::test]
async fn no_renewal_is_started_too_close_to_the_deadline() {
    let fake = small_fake().await;
    fake.state.lock().unwrap().end_session_on_next_queries = 100;
    // Less than the backoff plus one second is left after the first 401.
    let budget = Duration::from_millis(1000);
    let started = Instant::now();
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], budget)
        .await;
    let elapsed = started.elapsed();
    let error = reports[0].error.as_deref().unwrap();
    assert!(error.contains("401002"), "{error}");
    assert_eq!(fake.count("POST", "/auth/signin").await, 1);
    assert!(
        elapsed < budget,
        "failed at once, not at the deadline: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_hang_fails_the_target_in_time_and_still_signs_out() {
    let fake = small_fake().await;
    fake.state.lock().unwrap().refresh_delay = Duration::from_secs(30);
    let budget = Duration::from_millis(1500);
    let started = Instant::now();
    let reports = fake
        .run(
            &fake.refresher(),
            &[workbook("Weekly KPIs", Some("Ops"))],
            budget,
        )
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < budget + Duration::from_millis(1000),
        "{elapsed:?}"
    );
    // The refresh request went and its answer never came: Tableau may be
    // running it, so the target is unknown (not failed, not retried).
    assert_eq!(reports[0].result, RefreshResult::Unknown);
    let error = reports[0].error.as_deref().unwrap();
    assert!(
        error.starts_with("workbook \"Weekly KPIs\" in project \"Ops\"")
            && error.contains("answer was lost (Tableau did not answer in time)"),
        "{error}"
    );
    assert!(!reports[0].retryable);
    assert_eq!(fake.count("POST", "/refresh").await, 1);
    assert_eq!(fake.count("POST", "/auth/signout").await, 1);
}

#[tokio::test]
async fn a_hanging_sign_in_fails_every_target_in_time() {
    let fake = small_fake().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/{VERSION}/auth/signin")))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let budget = Duration::from_millis(1200);
    let started = Instant::now();
    let reports = fake
        .run(
            &fake.refresher(),
            &[workbook("Sales", None), datasource("Orders", None)],
            budget,
        )
        .await;
    assert!(started.elapsed() < budget + Duration::from_millis(1000));
    for report in &reports {
        assert_eq!(
            report.error.as_deref(),
            Some("Tableau did not answer in time (signing in)")
        );
    }
}

#[tokio::test]
async fn two_targets_run_concurrently_over_one_session() {
    let fake = small_fake().await;
    let refresher = fake.refresher();
    // Warm the container (version detection) so that only the targets are timed.
    fake.run(&refresher, &[workbook("Sales", None)], BUDGET)
        .await;
    fake.state.lock().unwrap().refresh_delay = Duration::from_millis(500);
    let started = Instant::now();
    let reports = fake
        .run(
            &refresher,
            &[workbook("Weekly KPIs", None), datasource("Orders", None)],
            BUDGET,
        )
        .await;
    let elapsed = started.elapsed();
    assert!(
        reports.iter().all(|r| r.result == RefreshResult::Queued),
        "{reports:?}"
    );
    // One after the other would take at least 1000 ms.
    assert!(
        elapsed < Duration::from_millis(980),
        "not concurrent: {elapsed:?}"
    );
    assert_eq!(
        fake.state.lock().unwrap().sign_ins,
        2,
        "one sign-in per invocation"
    );
    assert_eq!(fake.count("POST", "/auth/signout").await, 2);
}

#[tokio::test]
async fn failing_sign_out_does_not_change_the_results() {
    let fake = small_fake().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/{VERSION}/auth/signout")))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert_eq!(reports[0].error, None);
    assert!(fake.count("POST", "/auth/signout").await >= 1);
}

#[tokio::test]
async fn unreachable_server_fails_sign_in_pointing_at_the_site_url() {
    let fake = small_fake().await;
    let mut access = fake.access();
    // A port nobody listens on: bind, note, release.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    access.server = format!("http://127.0.0.1:{port}");
    let refresher = TableauRefresher::new(Some(VERSION.into())).unwrap();
    let target = workbook("Sales", None);
    let reports = refresher
        .refresh(&access, &[&target], tokio::time::Instant::now() + BUDGET)
        .await;
    let error = reports[0].error.as_deref().unwrap();
    assert!(
        error.starts_with("Tableau sign-in failed: cannot reach Tableau at http://127.0.0.1:"),
        "{error}"
    );
    assert!(error.contains("check TABLEAU_SITE_URL"), "{error}");
    // Without a fixed version, detection fails first and says so.
    let reports = fake
        .refresher()
        .refresh(&access, &[&target], tokio::time::Instant::now() + BUDGET)
        .await;
    let error = reports[0].error.as_deref().unwrap();
    assert!(
        error.starts_with("cannot read Tableau's REST API version"),
        "{error}"
    );
}

#[tokio::test]
async fn a_hanging_version_detection_is_bounded_by_the_deadline_and_not_cached() {
    let fake = small_fake().await;
    Mock::given(method("GET"))
        .and(path("/api/2.4/serverinfo"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .with_priority(1)
        .up_to_n_times(1)
        .mount(&fake.server)
        .await;
    let refresher = fake.refresher();
    let budget = Duration::from_millis(1000);
    let started = Instant::now();
    let reports = fake
        .run(&refresher, &[workbook("Sales", None)], budget)
        .await;
    assert!(started.elapsed() < budget + Duration::from_millis(1000));
    let error = reports[0].error.as_deref().unwrap();
    assert!(
        error.starts_with("Tableau did not answer in time"),
        "{error}"
    );
    assert_eq!(fake.count("POST", "/auth/signin").await, 0);
    // The next invocation detects again instead of reusing a failure.
    let reports = fake
        .run(&refresher, &[workbook("Sales", Some("Finance"))], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert_eq!(fake.count("GET", "/serverinfo").await, 2);
}
