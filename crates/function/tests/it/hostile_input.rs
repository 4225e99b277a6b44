//! Hostile sizes and shapes: a clear answer from the contract, in bounded time.

use crate::common;

use common::*;
use dbt_tableau_engine::webhook::signature::sign;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Function URLs accept request payloads up to 6 MB.
const SIX_MB: usize = 6 * 1024 * 1024;
/// The contract's bound: an answer well inside dbt's 10 s.
const ANSWER_BOUND: Duration = Duration::from_secs(8);

fn dry_run(targets: &str) -> dbt_tableau_refresh::handler::WebhookHandler {
    handler(
        settings(&[("REFRESH_TARGETS", targets), ("DRY_RUN", "true")]),
        FixedSecrets::new(&[("DBT_WEBHOOK_KEY", DEMO_KEY)]),
        Arc::new(RecordingRefresher::default()),
    )
}

fn padded_event(size: usize) -> Vec<u8> {
    let mut body: serde_json::Value =
        serde_json::from_str(&sample_body("run-succeeded.json")).unwrap();
    body["data"]["padding"] = "x".repeat(size).into();
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test]
async fn six_megabyte_bodies_are_answered() {
    let handler = dry_run(r#"[{"workbook":"Sales"}]"#);
    let body = padded_event(SIX_MB - 1024);
    let started = Instant::now();
    let (status, answer) = invoke(&handler, &event_with_body(&body, DEMO_KEY)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("dry_run")));
    let signature = sign(DEMO_KEY.as_bytes(), &body);
    let (status, answer) = invoke(&handler, &event_with(&body, Some(&signature), true)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("dry_run")));
    let (status, _) = invoke(&handler, &event_with(&body, Some(&"0".repeat(64)), false)).await;
    assert_eq!(status, 401);
    assert!(started.elapsed() < ANSWER_BOUND, "{:?}", started.elapsed());
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_not_a_stack_overflow() {
    let handler = dry_run(r#"[{"workbook":"Sales"}]"#);
    for depth in [200, 100_000] {
        let nested = format!(
            r#"{{"eventType":"job.run.completed","data":{{"x":{}{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let (status, answer) =
            invoke(&handler, &event_with_body(nested.as_bytes(), DEMO_KEY)).await;
        assert_eq!(status, 400, "depth {depth}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("recursion"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_megabyte_authorization_header_is_401() {
    let handler = dry_run(r#"[{"workbook":"Sales"}]"#);
    let body = sample_body("run-succeeded.json");
    for header in [
        "a".repeat(1 << 20),
        "é".repeat(1 << 19),
        "0".repeat(1 << 20),
    ] {
        let (status, answer) =
            invoke(&handler, &event_with(body.as_bytes(), Some(&header), false)).await;
        assert_eq!((status, answer), (401, json!({"status":"unauthorized"})));
    }
}

#[tokio::test]
async fn a_huge_refresh_targets_is_parsed_once_and_routed() {
    let targets: Vec<_> = (0..20_000)
        .map(|i| json!({"workbook": format!("Workbook {i}"), "jobs": [i % 200]}))
        .collect();
    let raw = serde_json::to_string(&targets).unwrap();
    let started = Instant::now();
    let handler = dry_run(&raw);
    let mut body: serde_json::Value =
        serde_json::from_str(&sample_body("run-succeeded.json")).unwrap();
    body["data"]["jobId"] = "123".into();
    let (status, answer) = invoke(
        &handler,
        &event_with_body(&serde_json::to_vec(&body).unwrap(), DEMO_KEY),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["targets"].as_array().unwrap().len(), 100);
    assert!(started.elapsed() < ANSWER_BOUND, "{:?}", started.elapsed());

    // A broken entry deep in a huge value is still named precisely.
    let mut broken = targets.clone();
    broken[19_999] = json!({"workbook": "x", "datasource": "y"});
    let handler = dry_run(&serde_json::to_string(&broken).unwrap());
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 500);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("REFRESH_TARGETS[19999]:"),
        "{answer}"
    );
}
