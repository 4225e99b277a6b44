//! `secrets::from_env` as the container builds it: SECRET_ID, the SDK's own
//! configuration (AWS_REGION, credentials, AWS_ENDPOINT_URL_SECRETS_MANAGER) and
//! SECRET_TTL_SECONDS, against moto_server. Its own test binary with one test,
//! because it sets process environment variables.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use dbt_tableau_engine::secrets::{ExposeSecret, SecretsError};
use dbt_tableau_refresh::handler::{Delivery, WebhookHandler};
use dbt_tableau_refresh::settings::Settings;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

#[test]
fn from_env_reads_the_secret_named_by_secret_id() {
    let endpoint = match std::env::var("MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "MOTO_ENDPOINT is not set: these tests need moto_server. Run ./scripts/test.sh, \
             which starts moto_server on 127.0.0.1 and sets MOTO_ENDPOINT"
        ),
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("dbt-tableau-refresh/test/from-env-{nanos}");
    // SAFETY: the only test of this binary, before any runtime or thread starts.
    unsafe {
        std::env::set_var("SECRET_ID", &name);
        std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", &endpoint);
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_PROFILE");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws-config");
        std::env::set_var(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        );
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("SECRET_TTL_SECONDS");
        // Given only in the environment: the fallback for a key the secret lacks.
        std::env::set_var("TABLEAU_SITE_URL", "https://from-environment.example.com");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let admin = Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .http_client(dbt_tableau_refresh::aws_http::http_client())
                .endpoint_url(&endpoint)
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .build(),
        );
        admin
            .create_secret()
            .name(&name)
            .secret_string(
                json!({
                    "DBT_WEBHOOK_KEY": "from-env-key",
                    "TABLEAU_SITE_NAME": "",
                    "TABLEAU_API_TOKEN_NAME": "dbt",
                    "TABLEAU_API_TOKEN_SECRET": "pat",
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap();

        let started = Instant::now();
        let source = dbt_tableau_refresh::secrets_manager::from_env().await;
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "building the source took {:?}",
            started.elapsed()
        );
        let current = source.current().await.unwrap();
        assert_eq!(current.webhook_key.expose_secret(), "from-env-key");
        assert_eq!(
            current.tableau.as_ref().unwrap().server,
            "https://from-environment.example.com"
        );

        // A whole invocation: the signature is checked with the key from the secret.
        let settings = Settings::from_lookup(|key| match key {
            "REFRESH_TARGETS" => Some(r#"[{"datasource":"Orders"}]"#.into()),
            "DRY_RUN" => Some("true".into()),
            _ => None,
        });
        let handler =
            WebhookHandler::new(settings, source, dbt_tableau_engine::tableau::from_env());
        let body = json!({
            "eventId": "wev_2", "eventType": "job.run.completed",
            "data": {"jobId": "1", "runId": "2", "runStatus": "Success", "runStatusCode": 10}
        })
        .to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(b"from-env-key").unwrap();
        mac.update(body.as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        let answer = handler
            .handle(
                Delivery {
                    method: "POST",
                    authorization: Some(&signature),
                    body: body.as_bytes(),
                },
                Instant::now() + Duration::from_secs(8),
            )
            .await;
        assert_eq!((answer.http_status(), answer.status()), (200, "dry_run"));

        // An invalid SECRET_TTL_SECONDS is a configuration error naming the variable.
        // SAFETY: still the only thread that reads or writes the environment.
        unsafe { std::env::set_var("SECRET_TTL_SECONDS", "five minutes") };
        let source = dbt_tableau_refresh::secrets_manager::from_env().await;
        let err = source.current().await.unwrap_err();
        assert!(matches!(err, SecretsError::NotConfigured(_)), "{err:?}");
        assert!(err.to_string().contains("SECRET_TTL_SECONDS"), "{err}");
        let handler = WebhookHandler::new(
            Settings::from_lookup(|_| None),
            source,
            dbt_tableau_engine::tableau::from_env(),
        );
        let answer = handler
            .handle(
                Delivery {
                    method: "POST",
                    authorization: Some(&signature),
                    body: body.as_bytes(),
                },
                Instant::now() + Duration::from_secs(8),
            )
            .await;
        assert_eq!(answer.http_status(), 500);
        assert!(
            answer.body_text().contains("SECRET_TTL_SECONDS"),
            "{}",
            answer.body_text()
        );
    });
}
