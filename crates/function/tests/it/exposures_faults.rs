//! `{"exposures": true}` through the whole function when dbt Cloud refuses,
//! has nothing, is busy, failing or slow, or no token is set: what the answer
//! says and which status it asks dbt for, and that Tableau is never called
//! without a decision.

use crate::common;
use crate::exposures_harness;
use dbt_tableau_testkit::fake_dbt_cloud;

use common::invoke;
use exposures_harness::*;
use fake_dbt_cloud::{FakeDbtCloud, METADATA_TOKEN, TOKEN, dbt_error, step};
use serde_json::Value;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

const EXPOSURES: &str = r#"[{"exposures": true}]"#;
const RUN_PATH: &str = r"/runs/\d+/$";
const MANIFEST_PATH: &str = r"/artifacts/manifest\.json$";

/// One errored run's webhook through the function with `token`; the answer,
/// and how many requests the fake Tableau got.
async fn deliver(cloud: &FakeDbtCloud, token: Option<&str>) -> (i64, Value, usize) {
    deliver_event(cloud, token, completed_event(20)).await
}

async fn deliver_event(
    cloud: &FakeDbtCloud,
    token: Option<&str>,
    event: dbt_tableau_refresh::function_url::FunctionUrlRequest,
) -> (i64, Value, usize) {
    let tableau = tableau().await;
    let handler = container(&tableau, cloud, &[("REFRESH_TARGETS", EXPOSURES)], token);
    let (status, answer) = invoke(&handler, &event).await;
    (status, answer, tableau.total_requests().await)
}

/// Answers requests to paths matching `path` with `answer` (`times` times, or
/// always) before the fake does.
async fn before(cloud: &FakeDbtCloud, path: &str, answer: ResponseTemplate, times: Option<u64>) {
    let mut mock = Mock::given(method("GET"))
        .and(path_regex(path))
        .respond_with(answer)
        .with_priority(1);
    if let Some(times) = times {
        mock = mock.up_to_n_times(times);
    }
    mock.mount(&cloud.server).await;
}

fn error_of(answer: &Value) -> &str {
    assert!(answer.get("targets").is_none(), "{answer}");
    answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {answer}"))
}

#[tokio::test]
async fn unknown_token_is_200_failed_naming_dbt_cloud_and_the_permission() {
    let cloud = cloud_one_build("build", 20).await;
    let (status, answer, tableau_calls) = deliver(&cloud, Some("dbtc_revoked-token")).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("failed")));
    let error = error_of(&answer);
    assert!(
        error.starts_with("dbt Cloud at http://127.0.0.1:"),
        "{error}"
    );
    for words in [
        "dbt Cloud",
        "refused the token",
        "DBT_CLOUD_API_TOKEN",
        "Job Viewer",
    ] {
        assert!(error.contains(words), "{words}: {error}");
    }
    assert_eq!(tableau_calls, 0);
}

#[tokio::test]
async fn token_without_run_access_is_200_failed_naming_the_permission() {
    let cloud = cloud_one_build("build", 20).await;
    let (status, answer, tableau_calls) = deliver(&cloud, Some(METADATA_TOKEN)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("failed")));
    let error = error_of(&answer);
    for words in [
        "dbt Cloud",
        "does not let the token read",
        "HTTP 403",
        "Job Viewer",
    ] {
        assert!(error.contains(words), "{words}: {error}");
    }
    assert_eq!(tableau_calls, 0);
}

#[tokio::test]
async fn unknown_run_is_200_failed_naming_the_run() {
    let cloud = cloud_one_build("build", 20).await;
    let event = completed_event_for(20, "271828");
    let (status, answer, tableau_calls) = deliver_event(&cloud, Some(TOKEN), event).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("failed")));
    let error = error_of(&answer);
    assert!(error.contains("dbt Cloud at http://127.0.0.1"), "{error}");
    assert!(
        error.contains("has no run 271828 (account 70403)"),
        "{error}"
    );
    assert_eq!(tableau_calls, 0);
}

#[tokio::test]
async fn run_without_artifacts_is_200_failed_naming_the_missing_file() {
    let steps = vec![
        step("Clone git repository", 10),
        step("Invoke dbt with `dbt build`", 20),
    ];
    let cloud = FakeDbtCloud::start(20, steps).await;
    let (status, answer, tableau_calls) = deliver(&cloud, Some(TOKEN)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("failed")));
    let error = error_of(&answer);
    assert!(error.contains("has no manifest.json of run"), "{error}");
    assert!(error.contains("save artifacts"), "{error}");
    assert_eq!(tableau_calls, 0);
}

#[tokio::test]
async fn artifacts_that_are_not_dbt_json_are_200_failed() {
    let cloud = cloud_one_build("build", 20).await;
    cloud.serve("manifest.json", 3, b"<html>maintenance</html>".to_vec());
    let (status, answer, tableau_calls) = deliver(&cloud, Some(TOKEN)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("failed")));
    let error = error_of(&answer);
    assert!(error.contains("manifest.json"), "{error}");
    assert!(error.contains("run 314159"), "{error}");
    assert_eq!(tableau_calls, 0);
}

#[tokio::test]
async fn too_many_requests_then_success_refreshes() {
    let cloud = cloud_one_build("build", 20).await;
    let busy = dbt_error(429, "Too many requests").insert_header("Retry-After", "1");
    before(&cloud, RUN_PATH, busy, Some(1)).await;
    let tableau = tableau().await;
    let handler = container(
        &tableau,
        &cloud,
        &[("REFRESH_TARGETS", EXPOSURES)],
        Some(TOKEN),
    );
    let (status, answer) = invoke(&handler, &completed_event(20)).await;

    let expected = expected("build");
    assert!(assert_decision(&answer, &expected, "queued").is_empty());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(refresh_posts(&tableau).await, expected_posts(&expected));
    let run_reads = cloud.requests().await;
    let run_reads = run_reads.iter().filter(|r| r.contains("include_related"));
    assert_eq!(run_reads.count(), 2, "the 429, then the run");
}

#[tokio::test]
async fn server_errors_forever_are_502_inside_the_deadline() {
    let cloud = cloud_one_build("build", 20).await;
    let failing = dbt_error(503, "Service Unavailable");
    before(&cloud, RUN_PATH, failing, None).await;
    let started = Instant::now();
    let (status, answer, tableau_calls) = deliver(&cloud, Some(TOKEN)).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((status, answer["status"].as_str()), (502, Some("failed")));
    let error = error_of(&answer);
    assert!(
        error.contains("dbt Cloud kept failing (HTTP 503"),
        "{error}"
    );
    assert_eq!(tableau_calls, 0);
    let tries = cloud.requests().await.len();
    assert!(tries >= 2, "retried: {tries}");
}

/// The handler gets the 8 s production gives it; dbt Cloud stops waiting
/// for the answer at 10 s.
#[tokio::test]
async fn manifest_slower_than_the_deadline_is_502_before_dbt_gives_up() {
    let cloud = cloud_one_build("build", 20).await;
    let slow = ResponseTemplate::new(200)
        .set_body_raw(b"{}".to_vec(), "application/json")
        .set_delay(Duration::from_secs(30));
    before(&cloud, MANIFEST_PATH, slow, None).await;
    let started = Instant::now();
    let (status, answer, tableau_calls) = deliver(&cloud, Some(TOKEN)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed > Duration::from_secs(7) && elapsed < Duration::from_millis(9500),
        "{elapsed:?}"
    );
    assert_eq!((status, answer["status"].as_str()), (502, Some("failed")));
    let error = error_of(&answer);
    assert!(error.contains("did not answer in time"), "{error}");
    assert!(error.contains("manifest.json"), "{error}");
    assert_eq!(tableau_calls, 0);
}

#[tokio::test]
async fn missing_token_is_200_failed_saying_what_to_set() {
    let cloud = cloud_one_build("build", 20).await;
    let (status, answer, tableau_calls) = deliver(&cloud, None).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("failed")));
    let error = error_of(&answer);
    assert!(error.contains("DBT_CLOUD_API_TOKEN"), "{error}");
    assert!(error.contains("secret or the environment"), "{error}");
    assert!(cloud.requests().await.is_empty());
    assert_eq!(tableau_calls, 0);
}
