//! Secrets Manager failures the real SDK client meets over HTTP: nothing
//! listening, an endpoint that never answers, and the error answers moto can't
//! produce (access denied, throttling) from a wiremock server speaking the same
//! protocol. Each names the secret, ends within the operation timeout, and is
//! not cached.

use dbt_tableau_engine::secrets::{SecretSource, SecretsError};
use dbt_tableau_refresh::secrets_manager::{self, SecretsManagerSource};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common;
use common::moto::{Calls, LONG, MINUTE, client, no_fallback};

#[tokio::test]
async fn endpoint_down_is_unreachable_quickly_and_not_cached() {
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let calls = Calls::default();
    let source = SecretsManagerSource::new(
        client(&format!("http://127.0.0.1:{port}"), Some(&calls)),
        "prod/dbt-tableau-refresh",
        LONG,
        MINUTE,
    )
    .with_fallback(no_fallback());
    for round in 1..=2 {
        let started = Instant::now();
        let err = source.current().await.unwrap_err();
        let elapsed = started.elapsed();
        eprintln!(
            "endpoint down, round {round}: {err} after {elapsed:?}, {} attempts so far",
            calls.attempts()
        );
        assert!(matches!(err, SecretsError::Unreachable { .. }), "{err:?}");
        assert!(
            err.to_string().contains("prod/dbt-tableau-refresh"),
            "{err}"
        );
        assert!(
            elapsed <= secrets_manager::OPERATION_TIMEOUT + Duration::from_millis(500),
            "took {elapsed:?}"
        );
        assert_eq!(calls.operations(), round, "each invocation tries again");
    }
    assert!(calls.attempts() <= 2 * secrets_manager::MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_unreachable_within_the_operation_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let source = SecretsManagerSource::new(client(&server.uri(), None), "slow", LONG, MINUTE);
    let started = Instant::now();
    let err = source.current().await.unwrap_err();
    let elapsed = started.elapsed();
    eprintln!("never answers: {err} after {elapsed:?}");
    assert!(matches!(err, SecretsError::Unreachable { .. }), "{err:?}");
    assert!(
        elapsed <= secrets_manager::OPERATION_TIMEOUT + Duration::from_millis(500),
        "took {elapsed:?}"
    );
}

/// Secrets Manager's JSON error answer, as moto can't be made to give it.
fn aws_error(code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400)
        .insert_header("content-type", "application/x-amz-json-1.1")
        .insert_header("x-amzn-requestid", "test-request")
        .set_body_string(json!({"__type": code, "Message": message}).to_string())
}

#[tokio::test]
async fn access_denied_names_the_code_and_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "secretsmanager.GetSecretValue"))
        .respond_with(aws_error(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/fn is not authorized to perform: \
             secretsmanager:GetSecretValue",
        ))
        .mount(&server)
        .await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dbt-tableau-refresh-AbCdEf";
    let source = SecretsManagerSource::new(client(&server.uri(), None), arn, LONG, MINUTE);
    let err = source.current().await.unwrap_err();
    match &err {
        SecretsError::Aws { code, .. } => assert_eq!(code, "AccessDeniedException"),
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    eprintln!("access denied: {text}");
    assert!(
        text.contains(arn) && text.contains("AccessDeniedException"),
        "{text}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "not retried"
    );
    // Not cached.
    source.current().await.unwrap_err();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn throttling_is_retried_a_bounded_number_of_times() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(aws_error("ThrottlingException", "Rate exceeded"))
        .mount(&server)
        .await;
    let source = SecretsManagerSource::new(client(&server.uri(), None), "busy", LONG, MINUTE);
    let started = Instant::now();
    let err = source.current().await.unwrap_err();
    assert!(
        started.elapsed() <= secrets_manager::OPERATION_TIMEOUT + Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    let requests = server.received_requests().await.unwrap().len();
    eprintln!(
        "throttled: {text} after {requests} requests in {:?}",
        started.elapsed()
    );
    assert!(text.contains("busy"), "{text}");
    assert!(
        text.contains("ThrottlingException") || matches!(err, SecretsError::Unreachable { .. }),
        "{text}"
    );
    let requests = server.received_requests().await.unwrap().len();
    assert!(
        (1..=secrets_manager::MAX_ATTEMPTS as usize).contains(&requests),
        "{requests} requests"
    );
}
