//! The whole function as production wires it: the webhook key and the Tableau PAT
//! from a Secrets Manager secret (moto_server, real SDK client), the real Tableau
//! client against the fake Tableau, real Function URL events through the adapter.

use crate::common;
use dbt_tableau_testkit::fake_tableau;

use common::moto::{Calls, client, create_secret, moto_endpoint, unique};
use common::*;
use dbt_tableau_engine::tableau::{Refresher, TableauRefresher};
use dbt_tableau_refresh::handler::WebhookHandler;
use dbt_tableau_refresh::secrets_manager::SecretsManagerSource;
use fake_tableau::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

async fn production_like(targets: &str) -> (WebhookHandler, FakeTableau, Calls) {
    let fake = kpi_fake().await;
    let secret = unique("full-flow");
    create_secret(&secret, &fake.secret_json(DEMO_KEY)).await;
    let calls = Calls::default();
    let source = SecretsManagerSource::new(
        client(&moto_endpoint(), Some(&calls)),
        secret,
        Duration::from_secs(300),
        Duration::from_secs(60),
    )
    .with_fallback(Arc::new(|_| None));
    let tableau: Arc<dyn Refresher> = Arc::new(TableauRefresher::new(None).unwrap());
    let handler = WebhookHandler::new(
        settings(&[("REFRESH_TARGETS", targets)]),
        Arc::new(source),
        Ok(tableau),
    );
    (handler, fake, calls)
}

#[tokio::test]
async fn signed_webhooks_refresh_with_credentials_from_the_secret() {
    let (handler, fake, calls) = production_like(
        r#"[{"workbook":"Weekly KPIs","jobs":["123"]},{"datasource":"Orders","project":"Data"}]"#,
    )
    .await;

    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"status":"queued","targets":[
            {"kind":"workbook","name":"Weekly KPIs","project":null,"id":"wb-kpi","result":"queued","job_id":"job-wb-kpi","error":null},
            {"kind":"datasource","name":"Orders","project":"Data","id":"ds-orders","result":"queued","job_id":"job-ds-orders","error":null}]})
    );

    // Warm: the base64 delivery of the same run, no new Secrets Manager call.
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded-base64.json")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("queued")),
        "{answer}"
    );
    assert_eq!(
        calls.operations(),
        1,
        "warm invocations reuse the cached secret"
    );

    // Forged and ignored deliveries never reach Tableau.
    let before = fake.server.received_requests().await.unwrap().len();
    let (status, _) = invoke(&handler, &sample_event("bad-signature.json")).await;
    assert_eq!(status, 401);
    let (status, _) = invoke(&handler, &sample_event("run-errored.json")).await;
    assert_eq!(status, 200);
    assert_eq!(fake.server.received_requests().await.unwrap().len(), before);

    // Each refreshing invocation signed in with the PAT from the secret, and out.
    assert_eq!(fake.count("POST", "/auth/signin").await, 2);
    assert_eq!(fake.count("POST", "/auth/signout").await, 2);
    assert_eq!(
        fake.count("GET", "/serverinfo").await,
        1,
        "version detected once per container"
    );
    let sign_in: serde_json::Value =
        serde_json::from_slice(&fake.requests("POST", "/auth/signin").await[0].body).unwrap();
    assert_eq!(sign_in["credentials"]["personalAccessTokenName"], PAT_NAME);
    assert_eq!(sign_in["credentials"]["site"]["contentUrl"], SITE);
}

#[tokio::test]
async fn a_missing_item_is_a_200_failed_naming_it_because_no_redelivery_can_fix_it() {
    let (handler, _fake, _) =
        production_like(r#"[{"workbook":"Weekly KPIs","project":"Finance"}]"#).await;
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("failed")),
        "{answer}"
    );
    let error = answer["targets"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("Weekly KPIs") && error.contains("Finance"),
        "{error}"
    );
}
