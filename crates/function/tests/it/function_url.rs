//! The contract's answer table, row by row, through real Function URL event JSON
//! deserialised into lambda_http's type and handled by the real adapter.

use crate::common;

use common::*;
use serde_json::json;
use std::sync::Arc;

const TARGETS: &str = r#"[{"workbook":"Sales Overview","project":"Finance","jobs":["123"]},
    {"datasource":"Orders","jobs":[456]},{"workbook":"Everything"}]"#;

fn dry_run_handler() -> (
    dbt_tableau_refresh::handler::WebhookHandler,
    Arc<RecordingRefresher>,
) {
    let tableau = Arc::new(RecordingRefresher::default());
    let handler = handler(
        settings(&[("REFRESH_TARGETS", TARGETS), ("DRY_RUN", "true")]),
        FixedSecrets::new(&[("DBT_WEBHOOK_KEY", DEMO_KEY)]),
        tableau.clone(),
    );
    (handler, tableau)
}

fn live_handler(
    extra: &[(&str, &str)],
) -> (
    dbt_tableau_refresh::handler::WebhookHandler,
    Arc<RecordingRefresher>,
) {
    let tableau = Arc::new(RecordingRefresher::default());
    let mut pairs = vec![("REFRESH_TARGETS", TARGETS)];
    pairs.extend_from_slice(extra);
    let handler = handler(
        settings(&pairs),
        FixedSecrets::complete("http://127.0.0.1:9"),
        tableau.clone(),
    );
    (handler, tableau)
}

fn body_with(job: serde_json::Value, event_type: &str, code: serde_json::Value) -> Vec<u8> {
    let mut body: serde_json::Value =
        serde_json::from_str(&sample_body("run-succeeded.json")).unwrap();
    body["eventType"] = event_type.into();
    body["data"]["jobId"] = job;
    body["data"]["runStatusCode"] = code;
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test]
async fn sample_success_answers_dry_run_with_the_routed_targets() {
    let (handler, tableau) = dry_run_handler();
    let (status, body) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status":"dry_run","targets":[
            {"kind":"workbook","name":"Sales Overview","project":"Finance","id":null,"result":"dry_run","job_id":null,"error":null},
            {"kind":"workbook","name":"Everything","project":null,"id":null,"result":"dry_run","job_id":null,"error":null}]})
    );
    assert!(
        tableau.calls.lock().unwrap().is_empty(),
        "a dry run must not call Tableau"
    );
}

#[tokio::test]
async fn base64_body_is_verified_over_the_decoded_bytes() {
    let (handler, _) = dry_run_handler();
    let (status, body) = invoke(&handler, &sample_event("run-succeeded-base64.json")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("dry_run")));

    // Bytes that are not UTF-8 still verify: the MAC covers bytes, not text.
    let raw = b"\xff\xfe{not json";
    let event = event_with(
        raw,
        Some(&dbt_tableau_engine::webhook::signature::sign(
            DEMO_KEY.as_bytes(),
            raw,
        )),
        true,
    );
    let (status, body) = invoke(&handler, &event).await;
    assert_eq!((status, body["status"].as_str()), (400, Some("error")));
}

#[tokio::test]
async fn invalid_base64_answers_400_without_panicking() {
    let (handler, tableau) = live_handler(&[]);
    let mut event = sample_event("run-succeeded-base64.json");
    event.body = Some("%%%not base64%%%".into());
    let (status, body) = invoke(&handler, &event).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("base64"), "{body}");
    assert!(tableau.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn methods_other_than_post_answer_405() {
    let (handler, _) = dry_run_handler();
    for method in ["GET", "PUT", "DELETE", "OPTIONS", "HEAD"] {
        let (status, body) = invoke(
            &handler,
            &with_method(sample_event("run-succeeded.json"), method),
        )
        .await;
        assert_eq!(status, 405, "{method}");
        assert_eq!(body["status"], "error");
        assert!(body["error"].as_str().unwrap().contains(method));
    }
}

#[tokio::test]
async fn every_kind_of_bad_signature_answers_401_and_never_calls_tableau() {
    let (handler, tableau) = live_handler(&[]);
    let body = sample_body("run-succeeded.json");
    let good = dbt_tableau_engine::webhook::signature::sign(DEMO_KEY.as_bytes(), body.as_bytes());
    let mut tampered = body.clone().into_bytes();
    let at = tampered.iter().position(|&b| b == b'1').unwrap();
    tampered[at] = b'2';
    let cases: Vec<(&str, dbt_tableau_refresh::function_url::FunctionUrlRequest)> = vec![
        (
            "sample signed with another key",
            sample_event("bad-signature.json"),
        ),
        ("missing header", event_with(body.as_bytes(), None, false)),
        ("empty header", event_with(body.as_bytes(), Some(""), false)),
        (
            "not hex",
            event_with(body.as_bytes(), Some(&"zz".repeat(32)), false),
        ),
        (
            "too short",
            event_with(body.as_bytes(), Some(&good[..40]), false),
        ),
        (
            "too long",
            event_with(body.as_bytes(), Some(&format!("{good}00")), false),
        ),
        (
            "sha256= prefix",
            event_with(body.as_bytes(), Some(&format!("sha256={good}")), false),
        ),
        ("tampered body", event_with(&tampered, Some(&good), false)),
        (
            "tampered base64 body",
            event_with(&tampered, Some(&good), true),
        ),
    ];
    for (case, event) in cases {
        let (status, answer) = invoke(&handler, &event).await;
        assert_eq!(
            (status, answer),
            (401, json!({"status":"unauthorized"})),
            "{case}"
        );
    }
    assert!(
        tableau.calls.lock().unwrap().is_empty(),
        "Tableau called for a forged webhook"
    );
}

#[tokio::test]
async fn upper_case_hex_signature_is_accepted() {
    let (handler, _) = dry_run_handler();
    let body = sample_body("run-succeeded.json");
    let sig = dbt_tableau_engine::webhook::signature::sign(DEMO_KEY.as_bytes(), body.as_bytes())
        .to_uppercase();
    let (status, answer) = invoke(&handler, &event_with(body.as_bytes(), Some(&sig), false)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("dry_run")));
}

#[tokio::test]
async fn signed_bodies_that_are_not_events_answer_400() {
    let (handler, tableau) = live_handler(&[]);
    for body in [
        "not json",
        "[1,2]",
        r#"{"data":{}}"#,
        r#"{"eventType":"job.run.completed"}"#,
        r#"{"eventType":"job.run.completed","data":null}"#,
        "",
    ] {
        let (status, answer) = invoke(&handler, &event_with_body(body.as_bytes(), DEMO_KEY)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["status"], "error");
        assert!(!answer["error"].as_str().unwrap().is_empty());
    }
    assert!(tableau.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn runs_that_did_not_succeed_are_ignored_with_what_was_seen() {
    let (handler, tableau) = live_handler(&[]);
    let (status, answer) = invoke(&handler, &sample_event("run-errored.json")).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("job.run.errored"),
        "{answer}"
    );

    let (status, answer) = invoke(&handler, &sample_event("run-started.json")).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("job.run.started"),
        "{answer}"
    );

    // dbt also sends a failed run as job.run.completed with an error status.
    let failed = body_with(json!("123"), "job.run.completed", json!(20));
    let (status, answer) = invoke(&handler, &event_with_body(&failed, DEMO_KEY)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("runStatusCode 20"),
        "{answer}"
    );
    assert!(tableau.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn routing_by_job_with_numeric_and_string_ids() {
    let (handler, _) = dry_run_handler();
    let names = |answer: &serde_json::Value| -> Vec<String> {
        answer["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, answer) = invoke(
        &handler,
        &event_with_body(
            &body_with(json!(456), "job.run.completed", json!(10)),
            DEMO_KEY,
        ),
    )
    .await;
    assert_eq!(names(&answer), ["Orders", "Everything"]);
    let (_, answer) = invoke(
        &handler,
        &event_with_body(
            &body_with(json!("123"), "job.run.completed", json!(10)),
            DEMO_KEY,
        ),
    )
    .await;
    assert_eq!(names(&answer), ["Sales Overview", "Everything"]);
    let (_, answer) = invoke(
        &handler,
        &event_with_body(
            &body_with(json!(999), "job.run.completed", json!(10)),
            DEMO_KEY,
        ),
    )
    .await;
    assert_eq!(names(&answer), ["Everything"]);
}

#[tokio::test]
async fn a_job_with_no_target_is_ignored() {
    let tableau = Arc::new(RecordingRefresher::default());
    let handler = handler(
        settings(&[("REFRESH_TARGETS", r#"[{"workbook":"A","jobs":["1"]}]"#)]),
        FixedSecrets::complete("http://127.0.0.1:9"),
        tableau.clone(),
    );
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    assert!(
        answer["reason"].as_str().unwrap().contains("job 123"),
        "{answer}"
    );
    assert!(tableau.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_successful_run_asks_tableau_for_exactly_the_routed_targets() {
    let (handler, tableau) = live_handler(&[]);
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(
        *tableau.calls.lock().unwrap(),
        vec![vec!["Sales Overview".to_owned(), "Everything".to_owned()]]
    );
    // The recording refresher fails every target, for a reason no redelivery can
    // fix: the answer is 200 failed, so dbt Cloud does not retry in vain.
    assert_eq!((status, answer["status"].as_str()), (200, Some("failed")));
    assert_eq!(answer["targets"][0]["error"], "recorded only");
}

#[tokio::test]
async fn configuration_errors_answer_500_naming_entry_and_field() {
    let bad = r#"[{"workbook":"A"},{"workbook":"B"},{"workbook":"C","datasource":"D"}]"#;
    let handler = handler(
        settings(&[("REFRESH_TARGETS", bad)]),
        FixedSecrets::complete("http://127.0.0.1:9"),
        Arc::new(RecordingRefresher::default()),
    );
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 500);
    assert_eq!(
        answer,
        json!({"status":"error","error":"REFRESH_TARGETS[2]: both \"workbook\" and \"datasource\" given"})
    );
    // A forged request learns nothing about the configuration.
    let (status, _) = invoke(&handler, &sample_event("bad-signature.json")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn missing_secrets_answer_500_naming_the_key() {
    let handler = handler(
        settings(&[("REFRESH_TARGETS", TARGETS)]),
        FixedSecrets::new(&[("TABLEAU_SITE_URL", "https://x")]),
        Arc::new(RecordingRefresher::default()),
    );
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 500);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("DBT_WEBHOOK_KEY"),
        "{answer}"
    );

    // The webhook key alone verifies, but a real refresh needs the Tableau keys.
    let handler = common::handler(
        settings(&[("REFRESH_TARGETS", TARGETS)]),
        FixedSecrets::new(&[
            ("DBT_WEBHOOK_KEY", DEMO_KEY),
            ("TABLEAU_SITE_URL", "https://x"),
        ]),
        Arc::new(RecordingRefresher::default()),
    );
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 500);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("TABLEAU_SITE_NAME"),
        "{answer}"
    );
}

#[tokio::test]
async fn max_event_age_rejects_old_and_undated_events() {
    let (handler, tableau) = live_handler(&[("MAX_EVENT_AGE_SECONDS", "300"), ("DRY_RUN", "true")]);
    // The sample's timestamp is fixed in the past: too old.
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!((status, answer), (401, json!({"status":"unauthorized"})));

    let mut body: serde_json::Value =
        serde_json::from_str(&sample_body("run-succeeded.json")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    body["timestamp"] = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .into();
    let fresh = serde_json::to_vec(&body).unwrap();
    let (status, answer) = invoke(&handler, &event_with_body(&fresh, DEMO_KEY)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("dry_run")));

    for stamp in [json!("last tuesday"), json!(null), json!(1700000000)] {
        body["timestamp"] = stamp.clone();
        let undated = serde_json::to_vec(&body).unwrap();
        let (status, _) = invoke(&handler, &event_with_body(&undated, DEMO_KEY)).await;
        assert_eq!(status, 401, "timestamp {stamp}");
    }
    assert!(tableau.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_malformed_tableau_api_version_is_a_configuration_error() {
    let problem = dbt_tableau_engine::tableau::TableauRefresher::new(Some("three".into()))
        .err()
        .expect("a malformed version is refused");
    let handler = dbt_tableau_refresh::handler::WebhookHandler::new(
        settings(&[("REFRESH_TARGETS", TARGETS)]),
        FixedSecrets::complete("http://127.0.0.1:9"),
        Err(problem),
    );
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 500);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("TABLEAU_API_VERSION"),
        "{answer}"
    );
}
