//! Truth under faults through the real function binary (Lambda's Runtime API
//! from tests/sfn/moto_sfn.py, Tableau the fake behind the fault proxy):
//!
//! - workflow mode: Tableau queues the refresh but its answer is lost; the
//!   target ends `unknown`, the execution fails, the report reaches the topic,
//!   and Tableau got one refresh request;
//! - plain mode at RUST_LOG=trace: a gateway page echoing every request (sign-in
//!   body, session token) leaks no secret into the answer or the log.
//!
//! Needs MOTO_ENDPOINT served by tests/sfn/moto_sfn.py (./scripts/test.sh starts it).

use crate::common;
use crate::common::function_process;
use crate::common::sfn;
use dbt_tableau_testkit::fake_tableau;

use aws_sdk_sfn::types::ExecutionStatus;
use common::DEMO_KEY;
use common::moto::create_secret;
use fake_tableau::proxy::{Fault, FaultProxy};
use fake_tableau::{PAT_NAME, PAT_SECRET, SITE, kpi_fake};
use function_process::{FunctionProcess, invoke};
use serde_json::{Value, json};
use sfn::{Workflow, history_text, unique};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(90);
const TARGETS: &str = r#"[{"workbook":"Weekly KPIs","project":"Ops","jobs":["123"]}]"#;

/// The secret pointing the function at `server` (the proxy).
fn secret_json(server: &str) -> String {
    json!({
        "DBT_WEBHOOK_KEY": DEMO_KEY,
        "TABLEAU_SITE_URL": server,
        "TABLEAU_SITE_NAME": SITE,
        "TABLEAU_API_TOKEN_NAME": PAT_NAME,
        "TABLEAU_API_TOKEN_SECRET": PAT_SECRET,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_refresh_answer_fails_the_execution_and_reaches_the_report() {
    let fake = kpi_fake().await;
    let proxy = FaultProxy::start(&fake.uri()).await;
    proxy.on("/refresh", Fault::LoseAnswer, 1);
    let name = unique("dtr-lost");
    let secret = common::moto::unique("lost");
    create_secret(&secret, &secret_json(&proxy.uri)).await;
    let workflow = Workflow::deploy(&name, 300).await;
    let runtime_api = workflow.function.runtime_api.clone().unwrap();
    let function = FunctionProcess::spawn(
        &name,
        &runtime_api,
        &[
            ("SECRET_ID", secret),
            ("REFRESH_TARGETS", TARGETS.to_string()),
            ("STATE_MACHINE_ARN", workflow.state_machine_arn.clone()),
        ],
    );
    let (answer, error) = invoke(&function.name, &common::signed_webhook_event()).await;
    assert_eq!(error, None, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(answer["statusCode"], 202, "{body}");
    let arn = workflow.execution_arn(body["execution"].as_str().unwrap());
    let done = workflow.wait(&arn, WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    let state = done.output.clone().unwrap_or_default();
    let history = history_text(&workflow.history(&done.arn).await);
    assert!(history.contains("\"unknown\""), "{history}");
    assert!(history.contains("answer was lost"), "{history}");
    let messages = workflow.notifications(Duration::from_secs(1)).await;
    assert_eq!(messages.len(), 1, "{messages:?} {state}");
    assert!(
        messages[0].message.contains("answer was lost"),
        "{}",
        messages[0].message
    );
    // One request reached Tableau: no second job.
    assert_eq!(fake.count("POST", "/refresh").await, 1);
    for text in [&history, &function.output()] {
        assert!(!text.contains(PAT_SECRET) && !text.contains("session-token-"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoing_gateway_leaks_nothing_from_the_function_at_trace() {
    let fake = kpi_fake().await;
    let proxy = FaultProxy::start(&fake.uri()).await;
    proxy.on("/auth/signin", Fault::EchoPage, 1);
    proxy.on("/refresh", Fault::EchoPage, 1);
    let name = unique("dtr-echo");
    let registered = sfn::register_function(&name, 30).await;
    let function = FunctionProcess::spawn(
        &name,
        registered.runtime_api.as_deref().unwrap(),
        &[
            ("DBT_WEBHOOK_KEY", DEMO_KEY.to_string()),
            ("TABLEAU_SITE_URL", proxy.uri.clone()),
            ("TABLEAU_SITE_NAME", SITE.to_string()),
            ("TABLEAU_API_TOKEN_NAME", PAT_NAME.to_string()),
            ("TABLEAU_API_TOKEN_SECRET", PAT_SECRET.to_string()),
            ("REFRESH_TARGETS", TARGETS.to_string()),
            ("RUST_LOG", "trace".to_string()),
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE".to_string()),
        ],
    );
    let (answer, error) = invoke(&function.name, &common::signed_webhook_event()).await;
    assert_eq!(error, None, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    // The refresh request went and a gateway's 502 came back: unknown, 200.
    assert_eq!(body["targets"][0]["result"], "unknown", "{body}");
    assert_eq!(answer["statusCode"], 200, "{body}");
    let log = function.output();
    let all = format!("{answer}\n{log}");
    assert!(all.contains("[redacted]"), "the echo was seen: {all}");
    // The fake's session tokens are session-token-N (signed out by now).
    assert!(fake.state.lock().unwrap().sign_ins >= 1);
    for secret in [PAT_SECRET, DEMO_KEY, "session-token-"] {
        assert!(!all.contains(secret), "{secret} leaked:\n{all}");
    }
}
