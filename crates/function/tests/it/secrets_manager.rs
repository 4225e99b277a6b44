//! The Secrets Manager source with the real SDK client over HTTP, against
//! `moto_server` (started by ./scripts/test.sh, which sets MOTO_ENDPOINT). The
//! failures moto can't produce are in secrets_manager_errors.rs.

use aws_sdk_secretsmanager::primitives::Blob;
use dbt_tableau_engine::secrets::{
    ExposeSecret, SecretSource, SecretsError, TABLEAU_SITE_NAME, TABLEAU_SITE_URL,
    TableauCredentials,
};
use dbt_tableau_engine::webhook::signature::sign;
use dbt_tableau_refresh::handler::{Delivery, WebhookHandler};
use dbt_tableau_refresh::secrets_manager::{Fallback, SecretsManagerSource};
use dbt_tableau_refresh::settings::Settings;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use crate::common;
use common::moto::{
    Calls, LONG, MINUTE, client, create_secret, moto_endpoint, no_fallback, put_secret, unique,
};

fn full_secret(webhook_key: &str) -> String {
    json!({
        "DBT_WEBHOOK_KEY": webhook_key,
        "TABLEAU_SITE_URL": "https://tableau.example.com/",
        "TABLEAU_SITE_NAME": "finance",
        "TABLEAU_API_TOKEN_NAME": "dbt-refresh",
        "TABLEAU_API_TOKEN_SECRET": "pat-secret-value",
    })
    .to_string()
}

fn fallback(pairs: &[(&str, &str)]) -> Fallback {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |key| map.get(key).cloned())
}

/// A source over moto for `name`, counting its calls.
fn source(name: &str, ttl: Duration, refetch_interval: Duration) -> (SecretsManagerSource, Calls) {
    let calls = Calls::default();
    let source = SecretsManagerSource::new(
        client(&moto_endpoint(), Some(&calls)),
        name,
        ttl,
        refetch_interval,
    )
    .with_fallback(no_fallback());
    (source, calls)
}

fn webhook_key(secrets: &dbt_tableau_engine::secrets::Secrets) -> String {
    secrets.webhook_key.expose_secret().to_owned()
}

#[tokio::test]
async fn happy_path_reads_all_five_keys() {
    let name = unique("happy");
    create_secret(&name, &full_secret("hook-key-value")).await;
    let (source, calls) = source(&name, LONG, MINUTE);

    let secrets = source.current().await.unwrap();
    assert_eq!(secrets.webhook_key.expose_secret(), "hook-key-value");
    let access = secrets.tableau.as_ref().unwrap();
    assert_eq!(access.server, "https://tableau.example.com");
    assert_eq!(access.site, "finance");
    let TableauCredentials::PersonalAccessToken { name: pat, secret } = &access.credentials else {
        panic!("expected a PAT")
    };
    assert_eq!(pat, "dbt-refresh");
    assert_eq!(secret.expose_secret(), "pat-secret-value");
    assert_eq!(calls.operations(), 1);

    let printed = format!("{secrets:?} {source:?}");
    assert!(
        !printed.contains("hook-key-value") && !printed.contains("pat-secret-value"),
        "{printed}"
    );
}

#[tokio::test]
async fn warm_invocations_make_one_get_secret_value() {
    let name = unique("warm");
    create_secret(&name, &full_secret("warm-key")).await;
    let (source, calls) = source(&name, LONG, MINUTE);
    for _ in 0..10 {
        assert_eq!(webhook_key(&source.current().await.unwrap()), "warm-key");
    }
    assert_eq!(
        calls.operations(),
        1,
        "GetSecretValue calls for 10 invocations"
    );
    assert_eq!(calls.attempts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cache_misses_make_one_call() {
    let name = unique("concurrent");
    create_secret(&name, &full_secret("concurrent-key")).await;
    let (source, calls) = source(&name, LONG, MINUTE);
    let source = Arc::new(source);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let source = Arc::clone(&source);
            tokio::spawn(async move { webhook_key(&source.current().await.unwrap()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "concurrent-key");
    }
    assert_eq!(
        calls.operations(),
        1,
        "GetSecretValue calls for 8 concurrent misses"
    );
}

#[tokio::test]
async fn ttl_expiry_fetches_again() {
    let name = unique("ttl");
    create_secret(&name, &full_secret("first-key")).await;
    let (source, calls) = source(&name, Duration::from_millis(400), MINUTE);
    assert_eq!(webhook_key(&source.current().await.unwrap()), "first-key");
    put_secret(&name, &full_secret("second-key")).await;
    assert_eq!(
        webhook_key(&source.current().await.unwrap()),
        "first-key",
        "within the TTL the cached copy is used"
    );
    assert_eq!(calls.operations(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(webhook_key(&source.current().await.unwrap()), "second-key");
    assert_eq!(calls.operations(), 2);
}

#[tokio::test]
async fn rotation_refetch_gets_the_new_key_and_is_rate_limited() {
    let name = unique("rotation");
    create_secret(&name, &full_secret("old-key")).await;
    let (source, calls) = source(&name, LONG, MINUTE);
    assert_eq!(webhook_key(&source.current().await.unwrap()), "old-key");

    put_secret(&name, &full_secret("rotated-key")).await;
    let fresher = source
        .refetch()
        .await
        .unwrap()
        .expect("a refetch is allowed");
    assert_eq!(webhook_key(&fresher), "rotated-key");
    assert_eq!(calls.operations(), 2);
    // The cache now holds the rotated key.
    assert_eq!(webhook_key(&source.current().await.unwrap()), "rotated-key");
    assert_eq!(calls.operations(), 2);

    // A second refetch within the interval is refused without a call.
    put_secret(&name, &full_secret("third-key")).await;
    assert!(source.refetch().await.unwrap().is_none());
    assert_eq!(calls.operations(), 2);
}

#[tokio::test]
async fn refetch_interval_is_configurable() {
    let name = unique("interval");
    create_secret(&name, &full_secret("k1")).await;
    let (source, calls) = source(&name, LONG, Duration::from_millis(300));
    source.current().await.unwrap();
    assert!(source.refetch().await.unwrap().is_some());
    assert!(source.refetch().await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(400)).await;
    put_secret(&name, &full_secret("k2")).await;
    let fresher = source.refetch().await.unwrap().expect("interval passed");
    assert_eq!(webhook_key(&fresher), "k2");
    assert_eq!(calls.operations(), 3);
}

#[tokio::test]
async fn key_missing_from_the_secret_comes_from_the_fallback() {
    let name = unique("fallback");
    create_secret(
        &name,
        &json!({
            "DBT_WEBHOOK_KEY": "k",
            "TABLEAU_API_TOKEN_NAME": "dbt",
            "TABLEAU_API_TOKEN_SECRET": "s",
            "TABLEAU_SITE_NAME": "from-secret",
        })
        .to_string(),
    )
    .await;
    let (source, _) = source(&name, LONG, MINUTE);
    let source = source.with_fallback(fallback(&[
        (TABLEAU_SITE_URL, "https://plain-config.example.com"),
        (TABLEAU_SITE_NAME, "from-environment"),
    ]));
    let secrets = source.current().await.unwrap();
    let access = secrets.tableau.as_ref().unwrap();
    assert_eq!(access.server, "https://plain-config.example.com");
    assert_eq!(
        access.site, "from-secret",
        "the secret wins over the fallback"
    );
}

#[tokio::test]
async fn key_missing_from_both_names_the_secret_and_the_key() {
    let name = unique("missing");
    create_secret(&name, r#"{"TABLEAU_SITE_URL":"https://t.example.com"}"#).await;
    let (source, calls) = source(&name, LONG, MINUTE);
    let err = source.current().await.unwrap_err();
    assert!(
        matches!(
            err,
            SecretsError::MissingKey {
                key: "DBT_WEBHOOK_KEY",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    eprintln!("missing key: {text}");
    assert!(text.contains("DBT_WEBHOOK_KEY"), "{text}");
    assert!(text.contains(&name), "{text}");
    // Not cached: the next invocation asks again.
    source.current().await.unwrap_err();
    assert_eq!(calls.operations(), 2);
}

#[tokio::test]
async fn not_json_is_an_error_without_the_content() {
    for (i, content) in [
        "sup3r-s3cret-plain",
        r#""sup3r-s3cret-json-string""#,
        r#"["sup3r-s3cret"]"#,
    ]
    .into_iter()
    .enumerate()
    {
        let name = unique(&format!("not-json-{i}"));
        create_secret(&name, content).await;
        let (source, _) = source(&name, LONG, MINUTE);
        let err = source.current().await.unwrap_err();
        assert!(matches!(err, SecretsError::NotJsonObject { .. }), "{err:?}");
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains("sup3r-s3cret"), "{shown}");
        assert!(shown.contains(&name), "{shown}");
    }
}

#[tokio::test]
async fn binary_only_secret_is_a_clear_error() {
    let name = unique("binary");
    client(&moto_endpoint(), None)
        .create_secret()
        .name(&name)
        .secret_binary(Blob::new(full_secret("binary-key").into_bytes()))
        .send()
        .await
        .unwrap();
    let (source, _) = source(&name, LONG, MINUTE);
    let err = source.current().await.unwrap_err().to_string();
    assert!(err.contains("SecretBinary") && err.contains(&name), "{err}");
    assert!(!err.contains("binary-key"), "{err}");
}

#[tokio::test]
async fn secret_not_found_names_the_code_and_the_secret_and_is_not_cached() {
    let name = unique("absent");
    let (source, calls) = source(&name, LONG, MINUTE);
    let err = source.current().await.unwrap_err();
    assert!(matches!(err, SecretsError::Aws { .. }), "{err:?}");
    let text = err.to_string();
    eprintln!("not found: {text}");
    assert!(text.contains("ResourceNotFoundException"), "{text}");
    assert!(text.contains(&name), "{text}");

    // Once the secret exists, the next invocation finds it.
    create_secret(&name, &full_secret("created-later")).await;
    assert_eq!(
        webhook_key(&source.current().await.unwrap()),
        "created-later"
    );
    assert_eq!(calls.operations(), 2);
}

/// The whole handler with the Secrets Manager source: the webhook key comes from
/// the secret, and a rotated key is picked up at once through `refetch`.
#[tokio::test]
async fn handler_verifies_with_the_key_from_the_secret_and_follows_rotation() {
    let name = unique("handler");
    create_secret(&name, &full_secret("handler-old-key")).await;
    let (source, calls) = source(&name, LONG, MINUTE);
    let settings = Settings::from_lookup(|key| match key {
        "REFRESH_TARGETS" => Some(r#"[{"workbook":"Sales","jobs":["123"]}]"#.into()),
        "DRY_RUN" => Some("true".into()),
        _ => None,
    });
    let handler = WebhookHandler::new(
        settings,
        Arc::new(source),
        dbt_tableau_engine::tableau::from_env(),
    );
    let body = json!({
        "accountId": 1, "eventId": "wev_1", "timestamp": "2023-01-31T19:29:35.789265936Z",
        "eventType": "job.run.completed",
        "data": {"jobId": "123", "runId": "9", "runStatus": "Success", "runStatusCode": 10}
    })
    .to_string();
    let deliver = |key: &str| {
        let signature = sign(key.as_bytes(), body.as_bytes());
        let handler = &handler;
        let body = body.as_bytes();
        async move {
            handler
                .handle(
                    Delivery {
                        method: "POST",
                        authorization: Some(&signature),
                        body,
                    },
                    Instant::now() + Duration::from_secs(8),
                )
                .await
        }
    };

    let answer = deliver("handler-old-key").await;
    assert_eq!((answer.http_status(), answer.status()), (200, "dry_run"));
    assert_eq!(calls.operations(), 1);

    put_secret(&name, &full_secret("handler-new-key")).await;
    let answer = deliver("handler-new-key").await;
    assert_eq!(
        (answer.http_status(), answer.status()),
        (200, "dry_run"),
        "the rotated key works at once"
    );
    assert_eq!(calls.operations(), 2);

    // Forged requests: one refetch per minute at most, here none (just refetched).
    for _ in 0..5 {
        assert_eq!(deliver("forged").await.http_status(), 401);
    }
    assert_eq!(calls.operations(), 2);
    let body_text = deliver("forged").await.body_text();
    assert!(!body_text.contains("handler-new-key"), "{body_text}");
}
