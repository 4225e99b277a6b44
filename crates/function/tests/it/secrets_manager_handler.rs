//! Secrets Manager throttled or down, through the whole handler: the answer is
//! the contract's 502 (a redelivery may succeed) with an actionable error within
//! the deadline (a missing secret or key stays 500), and the next
//! invocation in the same container works once Secrets Manager recovers (errors
//! are not cached). Secrets Manager is a wiremock server speaking its JSON
//! protocol; Tableau is the fake; the SDK client has production's timeouts.

use crate::common;
use dbt_tableau_testkit::fake_tableau;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use common::{LogCapture, invoke, sample_event, settings};
use dbt_tableau_refresh::handler::WebhookHandler;
use dbt_tableau_refresh::secrets_manager::{self, SecretsManagerSource};
use fake_tableau::{FakeTableau, item};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET_ID: &str = "prod/dbt-tableau-refresh";
/// The answer deadline `invoke` gives the handler.
const DEADLINE: Duration = Duration::from_secs(8);

#[derive(Clone, Copy)]
enum Outage {
    Throttled,
    Hanging,
    Failing,
    /// Not an outage: the secret does not exist (a configuration error, 500).
    Missing,
}

/// GetSecretValue: the outage while `down`, the secret otherwise.
struct SecretsManager {
    down: Arc<AtomicBool>,
    outage: Outage,
    secret: String,
    calls: Arc<AtomicUsize>,
}

impl Respond for SecretsManager {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let aws_json = |status: u16, body: serde_json::Value| {
            ResponseTemplate::new(status)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .insert_header("x-amzn-requestid", "test-request")
                .set_body_string(body.to_string())
        };
        if self.down.load(Ordering::SeqCst) {
            return match self.outage {
                Outage::Throttled => aws_json(
                    400,
                    json!({"__type": "ThrottlingException", "Message": "Rate exceeded"}),
                ),
                Outage::Failing => aws_json(
                    500,
                    json!({"__type": "InternalServiceError", "Message": "internal error"}),
                ),
                Outage::Hanging => ResponseTemplate::new(200).set_delay(Duration::from_secs(30)),
                Outage::Missing => aws_json(
                    400,
                    json!({"__type": "ResourceNotFoundException",
                           "Message": "Secrets Manager can't find the specified secret."}),
                ),
            };
        }
        aws_json(
            200,
            json!({
                "ARN": format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{SECRET_ID}-AbCdEf"),
                "Name": SECRET_ID,
                "VersionId": "v1",
                "SecretString": self.secret,
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1.7e9,
            }),
        )
    }
}

struct Setup {
    handler: WebhookHandler,
    down: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    _fake: FakeTableau,
    _sm: MockServer,
}

async fn setup(outage: Outage) -> Setup {
    let fake = FakeTableau::start(vec![item("wb-sales", "Sales", "Finance")], vec![]).await;
    let sm = MockServer::start().await;
    let down = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(header("x-amz-target", "secretsmanager.GetSecretValue"))
        .respond_with(SecretsManager {
            down: down.clone(),
            outage,
            calls: calls.clone(),
            secret: json!({
                "DBT_WEBHOOK_KEY": common::DEMO_KEY,
                "TABLEAU_SITE_URL": fake.server.uri(),
                "TABLEAU_SITE_NAME": fake_tableau::SITE,
                "TABLEAU_API_TOKEN_NAME": fake_tableau::PAT_NAME,
                "TABLEAU_API_TOKEN_SECRET": fake_tableau::PAT_SECRET,
            })
            .to_string(),
        })
        .mount(&sm)
        .await;
    // As production builds it (timeouts, retries), pointed at the wiremock server.
    let client = Client::from_conf(
        secrets_manager::bounded(
            aws_sdk_secretsmanager::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(sm.uri())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .http_client(dbt_tableau_refresh::aws_http::http_client()),
        )
        .build(),
    );
    let source = SecretsManagerSource::new(
        client,
        SECRET_ID,
        secrets_manager::DEFAULT_TTL,
        secrets_manager::DEFAULT_REFETCH_INTERVAL,
    )
    .with_fallback(Arc::new(|_| None));
    let handler = common::handler(
        settings(&[(
            "REFRESH_TARGETS",
            r#"[{"workbook":"Sales","project":"Finance","jobs":["123"]}]"#,
        )]),
        Arc::new(source),
        Arc::new(fake.refresher()),
    );
    Setup {
        handler,
        down,
        calls,
        _fake: fake,
        _sm: sm,
    }
}

/// The outage: 502 with the cause, in time; recovery: the next invocation works.
/// The answer (to a caller not yet verified) names the cause but not the secret;
/// the log names both.
async fn outage_then_recovery(outage: Outage, expected: &[&str]) {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let setup = setup(outage).await;
    let event = sample_event("run-succeeded.json");
    for round in 1..=2 {
        let started = Instant::now();
        let (status, answer) = invoke(&setup.handler, &event).await;
        let elapsed = started.elapsed();
        eprintln!("outage, invocation {round}: {status} {answer} after {elapsed:?}");
        assert_eq!(
            (status, answer["status"].as_str()),
            (502, Some("failed")),
            "{answer}"
        );
        let error = answer["error"].as_str().unwrap();
        for part in expected {
            assert!(error.contains(part), "{part:?} not in {error}");
        }
        assert!(
            !error.contains(SECRET_ID),
            "secret named to an unverified caller: {error}"
        );
        assert!(logs.text().contains(SECRET_ID), "the log names the secret");
        assert!(
            elapsed <= secrets_manager::OPERATION_TIMEOUT + Duration::from_millis(700),
            "took {elapsed:?}"
        );
        assert!(elapsed < DEADLINE);
    }
    let calls_during_outage = setup.calls.load(Ordering::SeqCst);
    assert!(
        (2..=2 * secrets_manager::MAX_ATTEMPTS as usize).contains(&calls_during_outage),
        "each invocation tried again, a bounded number of times: {calls_during_outage}"
    );

    setup.down.store(false, Ordering::SeqCst);
    let started = Instant::now();
    let (status, answer) = invoke(&setup.handler, &event).await;
    eprintln!("recovered: {status} {answer} after {:?}", started.elapsed());
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("queued")),
        "{answer}"
    );
    assert_eq!(answer["targets"][0]["result"], "queued");
}

#[tokio::test]
async fn secrets_manager_throttled_answers_502_then_recovers() {
    outage_then_recovery(Outage::Throttled, &["ThrottlingException"]).await;
}

#[tokio::test]
async fn secrets_manager_failing_answers_502_then_recovers() {
    outage_then_recovery(Outage::Failing, &["InternalServiceError"]).await;
}

#[tokio::test]
async fn secrets_manager_not_answering_answers_502_in_time_then_recovers() {
    outage_then_recovery(Outage::Hanging, &["cannot reach Secrets Manager"]).await;
}

/// The one retry table: a missing secret is no outage, and no redelivery fixes it.
#[tokio::test]
async fn a_missing_secret_stays_500() {
    let setup = setup(Outage::Missing).await;
    let (status, answer) = invoke(&setup.handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (500, Some("error")),
        "{answer}"
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("ResourceNotFoundException"),
        "{answer}"
    );
}
