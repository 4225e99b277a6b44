//! The webhook in workflow mode, against moto's Step Functions through the real
//! aws-sdk-sfn client: 202 with the execution, no Tableau call, one execution
//! per event however often dbt delivers it, nothing secret in its input, and
//! 502 when the execution can't be started.

use crate::common;
use dbt_tableau_testkit::fake_tableau;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use common::moto::{moto_endpoint, unique};
use common::*;
use dbt_tableau_engine::tableau::TableauRefresher;
use dbt_tableau_refresh::handler::WebhookHandler;
use dbt_tableau_refresh::step_event::is_step_event;
use dbt_tableau_refresh::workflow::sfn::{StepFunctionsStarter, bounded};
use serde_json::{Value, json};
use std::sync::Arc;

fn sfn_client() -> Client {
    Client::from_conf(
        bounded(
            aws_sdk_sfn::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(moto_endpoint())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .http_client(dbt_tableau_refresh::aws_http::http_client()),
        )
        .build(),
    )
}

/// A state machine that does nothing: these tests are about starting it.
async fn state_machine() -> String {
    let name = unique("webhook").replace('/', "-");
    sfn_client()
        .create_state_machine()
        .name(&name[name.len().saturating_sub(80)..])
        .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#)
        .role_arn("arn:aws:iam::123456789012:role/test-state-machine")
        .send()
        .await
        .expect("create the state machine in moto")
        .state_machine_arn
}

async fn executions(arn: &str) -> Vec<(String, Value)> {
    let client = sfn_client();
    let list = client
        .list_executions()
        .state_machine_arn(arn)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for execution in list.executions() {
        let described = client
            .describe_execution()
            .execution_arn(execution.execution_arn())
            .send()
            .await
            .unwrap();
        let input: Value = serde_json::from_str(described.input().unwrap_or("null")).unwrap();
        out.push((execution.name().to_owned(), input));
    }
    out
}

async fn workflow_handler(
    arn: &str,
    targets: &str,
    fake: &fake_tableau::FakeTableau,
) -> WebhookHandler {
    let refresher = TableauRefresher::new(None).unwrap();
    WebhookHandler::new(
        settings(&[("REFRESH_TARGETS", targets)]),
        FixedSecrets::complete(&fake.uri()),
        Ok(Arc::new(refresher)),
    )
    .with_workflow(Arc::new(StepFunctionsStarter::new(sfn_client(), arn)))
}

#[tokio::test]
async fn the_webhook_answers_202_and_starts_one_execution_per_event() {
    let arn = state_machine().await;
    let fake = fake_tableau::kpi_fake().await;
    let handler = workflow_handler(
        &arn,
        r#"[{"workbook":"Weekly KPIs","project":"Ops"},{"exposures":true,"jobs":["123"]}]"#,
        &fake,
    )
    .await;
    let event = sample_event("run-succeeded.json");
    let (status, answer) = invoke(&handler, &event).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (202, Some("accepted")),
        "{answer}"
    );
    let execution = answer["execution"].as_str().unwrap().to_owned();
    assert!(execution.starts_with("run-12345-"), "{execution}");
    assert_eq!(
        answer["targets"],
        json!([{"kind":"workbook","name":"Weekly KPIs","project":"Ops","id":null,
                "result":"accepted","job_id":null,"error":null}])
    );
    // dbt delivers the same event again (up to 5 times): same answer, no new execution.
    for _ in 0..2 {
        let (status, again) = invoke(&handler, &event).await;
        assert_eq!((status, &again["execution"]), (202, &answer["execution"]));
    }
    let started = executions(&arn).await;
    assert_eq!(started.len(), 1, "{started:?}");
    let (name, input) = &started[0];
    assert_eq!(name, &execution);
    assert_eq!(input["run"]["run_id"], "12345");
    assert_eq!(input["run"]["job_id"], "123");
    assert_eq!(input["exposures"], true);
    assert_eq!(input["targets"][0]["name"], "Weekly KPIs");
    let text = input.to_string();
    for secret in [DEMO_KEY, PAT_SECRET, "dbt-refresh"] {
        assert!(
            !text.contains(secret),
            "{secret} in the execution input: {text}"
        );
    }
    assert_eq!(
        fake.total_requests().await,
        0,
        "the webhook path made a Tableau call"
    );
}

#[tokio::test]
async fn a_different_event_of_the_same_run_is_a_second_execution() {
    let arn = state_machine().await;
    let fake = fake_tableau::kpi_fake().await;
    let handler = workflow_handler(&arn, r#"[{"workbook":"Weekly KPIs"}]"#, &fake).await;
    let body = sample_body("run-succeeded.json");
    let other = body.replace("wev_2L6Z3l8uPedXKPq9D2nWbPIip7Z", "wev_another");
    for body in [&body, &other] {
        let (status, answer) = invoke(&handler, &event_with_body(body.as_bytes(), DEMO_KEY)).await;
        assert_eq!(status, 202, "{answer}");
    }
    assert_eq!(executions(&arn).await.len(), 2);
}

#[tokio::test]
async fn an_execution_that_cannot_start_answers_500_naming_the_state_machine() {
    let fake = fake_tableau::kpi_fake().await;
    let missing = "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-machine";
    let handler = workflow_handler(missing, r#"[{"workbook":"Weekly KPIs"}]"#, &fake).await;
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    // No such state machine: the deployment's configuration (the one retry
    // table: not a fault a redelivery outlives), like a missing secret.
    assert_eq!(
        (status, answer["status"].as_str()),
        (500, Some("error")),
        "{answer}"
    );
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("no-such-machine"), "{error}");
    assert_eq!(fake.total_requests().await, 0);
}

#[tokio::test]
async fn dry_run_and_ignored_events_start_nothing() {
    let arn = state_machine().await;
    let fake = fake_tableau::kpi_fake().await;
    let handler = WebhookHandler::new(
        settings(&[
            ("REFRESH_TARGETS", r#"[{"workbook":"Weekly KPIs"}]"#),
            ("DRY_RUN", "true"),
        ]),
        FixedSecrets::complete(&fake.uri()),
        Ok(Arc::new(TableauRefresher::new(None).unwrap())),
    )
    .with_workflow(Arc::new(StepFunctionsStarter::new(sfn_client(), &arn)));
    let (status, answer) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("dry_run")));
    let (status, answer) = invoke(&handler, &sample_event("run-errored.json")).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    let (status, _) = invoke(&handler, &sample_event("bad-signature.json")).await;
    assert_eq!(status, 401);
    assert!(executions(&arn).await.is_empty());
}

#[tokio::test]
async fn a_function_url_request_can_never_be_a_step() {
    let step = json!({"step": "refresh", "state": {"run": {}, "targets": [{"kind":"workbook","name":"Weekly KPIs"}]}});
    assert!(is_step_event(&step));
    // The same step event sent as a Function URL request's body: the event has
    // a requestContext, so it goes to the webhook, which wants a signature.
    let body = step.to_string();
    let event = event_with(body.as_bytes(), None, false);
    let as_json = serde_json::to_value(&event).unwrap();
    assert!(!is_step_event(&as_json));
    let raw: Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("run-succeeded.json")).unwrap(),
    )
    .unwrap();
    assert!(!is_step_event(&raw));
    let arn = state_machine().await;
    let fake = fake_tableau::kpi_fake().await;
    let handler = workflow_handler(&arn, r#"[{"workbook":"Weekly KPIs"}]"#, &fake).await;
    let (status, answer) = invoke(&handler, &event).await;
    assert_eq!((status, answer), (401, json!({"status":"unauthorized"})));
    assert_eq!(fake.total_requests().await, 0);
}
