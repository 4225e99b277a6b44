//! Shared test plumbing: Function URL events from events/, signing, a handler
//! built from explicit settings, and log capture.
#![allow(dead_code)]

pub mod function_process;
pub mod moto;
#[cfg(feature = "workflow")]
pub mod sfn;

use dbt_tableau_engine::BoxFuture;
use dbt_tableau_engine::secrets::{Origin, SecretSource, Secrets, SecretsError};
use dbt_tableau_engine::tableau::Refresher;
use dbt_tableau_engine::webhook::signature::sign;
use dbt_tableau_refresh::function_url::{self, FunctionUrlRequest, FunctionUrlResponse};
use dbt_tableau_refresh::handler::WebhookHandler;
use dbt_tableau_refresh::settings::Settings;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The documented local demo key the events/ samples are signed with.
pub const DEMO_KEY: &str = "local-demo-webhook-key";
pub const PAT_SECRET: &str = "pat-secret-5b1f0c9e";

pub fn events_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events"))
}

/// A sample event as AWS delivers it, through lambda_http's own deserialisation.
pub fn sample_event(name: &str) -> FunctionUrlRequest {
    let text = std::fs::read_to_string(events_dir().join(name)).expect("sample event");
    serde_json::from_str(&text).expect("Function URL event JSON")
}

pub fn sample_body(name: &str) -> String {
    std::fs::read_to_string(events_dir().join("bodies").join(name)).expect("sample body")
}

/// The run-succeeded delivery (job 123) as a Function URL event, signed with
/// the demo key, as the tests that run the real binary send it.
pub fn signed_webhook_event() -> Value {
    let body = sample_body("run-succeeded.json");
    let text = std::fs::read_to_string(events_dir().join("run-succeeded.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["headers"]["authorization"] = sign(DEMO_KEY.as_bytes(), body.as_bytes()).into();
    event["body"] = body.into();
    event["isBase64Encoded"] = false.into();
    event
}

/// The run-succeeded event with `body` in place of its own, signed with `key`.
pub fn event_with_body(body: &[u8], key: &str) -> FunctionUrlRequest {
    event_with(body, Some(&sign(key.as_bytes(), body)), false)
}

/// Builds a Function URL event JSON and deserialises it like the runtime does.
pub fn event_with(body: &[u8], authorization: Option<&str>, base64: bool) -> FunctionUrlRequest {
    let mut json: Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("run-succeeded.json")).unwrap(),
    )
    .unwrap();
    let headers = json["headers"].as_object_mut().unwrap();
    match authorization {
        Some(sig) => {
            headers.insert("authorization".into(), sig.into());
        }
        None => {
            headers.remove("authorization");
        }
    }
    json["body"] = if base64 {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(body)
            .into()
    } else {
        String::from_utf8(body.to_vec()).expect("text body").into()
    };
    json["isBase64Encoded"] = base64.into();
    serde_json::from_value(json).unwrap()
}

pub fn with_method(mut event: FunctionUrlRequest, method: &str) -> FunctionUrlRequest {
    event.request_context.http.method = method.parse().unwrap();
    event
}

pub fn settings(pairs: &[(&str, &str)]) -> Result<Settings, String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(|key| map.get(key).cloned())
}

/// Secrets given in the test, as the environment source would hold them.
pub struct FixedSecrets(pub Result<Arc<Secrets>, SecretsError>);

impl FixedSecrets {
    pub fn new(pairs: &[(&'static str, &str)]) -> Arc<FixedSecrets> {
        let map: HashMap<&str, String> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Arc::new(FixedSecrets(
            Secrets::from_lookup(&Origin("the test environment".into()), |k| {
                map.get(k).cloned()
            })
            .map(Arc::new),
        ))
    }

    /// All five keys, Tableau at `server`.
    pub fn complete(server: &str) -> Arc<FixedSecrets> {
        FixedSecrets::new(&[
            ("DBT_WEBHOOK_KEY", DEMO_KEY),
            ("TABLEAU_SITE_URL", server),
            ("TABLEAU_SITE_NAME", "analytics"),
            ("TABLEAU_API_TOKEN_NAME", "dbt-refresh"),
            ("TABLEAU_API_TOKEN_SECRET", PAT_SECRET),
        ])
    }
}

impl SecretSource for FixedSecrets {
    fn current(&self) -> BoxFuture<'_, Result<Arc<Secrets>, SecretsError>> {
        let secrets = self.0.clone();
        Box::pin(async move { secrets })
    }
}

/// Records whether Tableau was asked at all; answers every target as failed so a
/// call can't pass for a success.
#[derive(Default)]
pub struct RecordingRefresher {
    pub calls: Mutex<Vec<Vec<String>>>,
}

impl Refresher for RecordingRefresher {
    fn refresh<'a>(
        &'a self,
        _access: &'a dbt_tableau_engine::secrets::TableauAccess,
        targets: &'a [&'a dbt_tableau_engine::targets::Target],
        _deadline: Instant,
    ) -> BoxFuture<'a, Vec<dbt_tableau_engine::answer::TargetReport>> {
        self.calls.lock().unwrap().push(
            targets
                .iter()
                .map(|t| t.name().unwrap_or_default().to_owned())
                .collect(),
        );
        Box::pin(async move {
            targets
                .iter()
                .map(|t| dbt_tableau_engine::answer::TargetReport::failed(t, "recorded only"))
                .collect()
        })
    }
}

pub fn handler(
    settings: Result<Settings, String>,
    secrets: Arc<dyn SecretSource>,
    tableau: Arc<dyn Refresher>,
) -> WebhookHandler {
    WebhookHandler::new(settings, secrets, Ok(tableau))
}

/// Runs one event through the adapter and returns the status and the JSON body.
pub async fn invoke(handler: &WebhookHandler, event: &FunctionUrlRequest) -> (i64, Value) {
    let deadline = Instant::now() + Duration::from_secs(8);
    response_parts(function_url::handle(handler, event, deadline).await)
}

pub fn response_parts(response: FunctionUrlResponse) -> (i64, Value) {
    assert_eq!(
        response
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    let body = match response.body.expect("a body") {
        lambda_http::Body::Text(text) => text,
        other => panic!("unexpected body {other:?}"),
    };
    let json: Value = serde_json::from_str(&body).expect("JSON answer");
    assert!(json["status"].is_string(), "answer without status: {json}");
    (response.status_code, json)
}

/// Captures every log line at TRACE level while the guard lives (on this thread).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
