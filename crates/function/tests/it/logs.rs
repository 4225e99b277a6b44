//! One log line per invocation, with the IDs and the decision, and never a secret.

use crate::common;

use common::*;
use std::sync::Arc;

#[tokio::test]
async fn invocation_line_names_the_event_and_never_a_secret() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let tableau = Arc::new(RecordingRefresher::default());
    let handler = handler(
        settings(&[(
            "REFRESH_TARGETS",
            r#"[{"workbook":"Sales","jobs":["123"]}]"#,
        )]),
        FixedSecrets::complete("http://127.0.0.1:9"),
        tableau,
    );
    let success = sample_event("run-succeeded.json");
    let signature = success.headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut answers = String::new();
    for name in [
        "run-succeeded.json",
        "run-succeeded-base64.json",
        "run-errored.json",
        "bad-signature.json",
    ] {
        let (_, body) = invoke(&handler, &sample_event(name)).await;
        answers.push_str(&body.to_string());
    }
    let logs = capture.text();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("webhook ")).collect();
    assert_eq!(lines.len(), 4, "one line per invocation:\n{logs}");
    assert!(
        lines[0].contains("wev_2L6Z3l8uPedXKPq9D2nWbPIip7Z"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("run_id=\"12345\"") && lines[0].contains("job_id=\"123\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("decision=\"failed\"") && lines[0].contains("Sales"),
        "{}",
        lines[0]
    );
    assert!(lines[2].contains("decision=\"ignored\""), "{}", lines[2]);
    assert!(
        lines[3].contains("decision=\"unauthorized\""),
        "{}",
        lines[3]
    );
    for secret in [DEMO_KEY, PAT_SECRET, signature.as_str()] {
        assert!(!logs.contains(secret), "secret in logs:\n{logs}");
        assert!(!answers.contains(secret), "secret in an answer: {answers}");
    }
}

#[test]
fn samples_are_signed_with_the_demo_key_and_match_their_bodies() {
    use dbt_tableau_engine::webhook::verify_signature;
    for (event, body) in [
        ("run-succeeded.json", "run-succeeded.json"),
        ("run-errored.json", "run-errored.json"),
        ("run-started.json", "run-started.json"),
    ] {
        let e = sample_event(event);
        assert_eq!(
            e.body.as_deref(),
            Some(sample_body(body).as_str()),
            "{event} is stale: run scripts/make-events.sh"
        );
        let auth = e.headers["authorization"].to_str().unwrap();
        assert_eq!(
            verify_signature(DEMO_KEY.as_bytes(), e.body.unwrap().as_bytes(), Some(auth)),
            Ok(()),
            "{event}"
        );
    }
    let bad = sample_event("bad-signature.json");
    let auth = bad.headers["authorization"].to_str().unwrap();
    assert!(
        verify_signature(
            DEMO_KEY.as_bytes(),
            bad.body.unwrap().as_bytes(),
            Some(auth)
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_rejection_is_explained_in_the_log_line_only() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let handler = handler(
        settings(&[
            ("REFRESH_TARGETS", r#"[{"workbook":"Sales"}]"#),
            ("MAX_EVENT_AGE_SECONDS", "60"),
        ]),
        FixedSecrets::complete("http://127.0.0.1:9"),
        Arc::new(RecordingRefresher::default()),
    );
    let (status, body) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(
        (status, body),
        (401, serde_json::json!({"status":"unauthorized"}))
    );
    let logs = capture.text();
    let line = logs
        .lines()
        .find(|l| l.contains("webhook unauthorized"))
        .expect("the invocation line");
    assert!(
        line.contains("MAX_EVENT_AGE_SECONDS=60")
            && line.contains("wev_2L6Z3l8uPedXKPq9D2nWbPIip7Z"),
        "{line}"
    );
}
