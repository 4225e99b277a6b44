//! Flows, incremental refreshes and cancel-on-timeout through the real function
//! binary: plain mode (a signed webhook answered with Tableau's job ids), and
//! workflow mode in moto (statemachine/refresh.asl.json running the function's
//! steps, which run the flow, follow it like an extract job, cancel what passes
//! REFRESH_TIMEOUT_MINUTES, and report on the SNS topic).
//!
//! Needs MOTO_ENDPOINT served by tests/sfn/moto_sfn.py (./scripts/test.sh starts it).

use crate::common;
use crate::common::function_process;
use crate::common::sfn;
use dbt_tableau_testkit::fake_tableau;

use aws_sdk_sfn::types::ExecutionStatus;
use common::DEMO_KEY;
use common::moto::create_secret;
use fake_tableau::{FakeTableau, JobScript, VERSION, item};
use function_process::{FunctionProcess, invoke};
use serde_json::{Value, json};
use sfn::{Workflow, register_function, unique};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(90);
const QUIET: Duration = Duration::from_secs(1);
const TARGETS: &str = r#"[
    {"flow": "Clean Orders", "project": "Prep", "jobs": ["123"]},
    {"workbook": "Weekly KPIs", "incremental": true},
    {"flow_id": "flow-missing"}
]"#;

async fn fake_at(version: &str) -> FakeTableau {
    FakeTableau::start_full(
        version,
        vec![item("wb-kpi", "Weekly KPIs", "Ops")],
        vec![],
        vec![item("flow-clean", "Clean Orders", "Prep")],
    )
    .await
}

async fn spawn(
    name: &str,
    runtime_api: &str,
    fake: &FakeTableau,
    env: &[(&str, String)],
) -> FunctionProcess {
    let secret = common::moto::unique("more-kinds");
    create_secret(&secret, &fake.secret_json(DEMO_KEY)).await;
    let mut all = vec![
        ("SECRET_ID", secret),
        ("REFRESH_TARGETS", TARGETS.to_string()),
    ];
    all.extend(env.iter().cloned());
    FunctionProcess::spawn(name, runtime_api, &all)
}

async fn deliver(function: &FunctionProcess) -> (i64, Value) {
    let (answer, error) = invoke(&function.name, &common::signed_webhook_event()).await;
    assert_eq!(error, None, "{answer}");
    let body = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    (answer["statusCode"].as_i64().unwrap(), body)
}

/// EMF records on the function's stdout, by `Kind`.
fn emf_kinds(function: &FunctionProcess, metric: &str) -> Vec<String> {
    function
        .log_lines()
        .iter()
        .filter(|line| line["_aws"].is_object() && line[metric] == 1)
        .map(|line| line["Kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mode_runs_the_flow_and_refreshes_incrementally() {
    let fake = fake_at(VERSION).await;
    let name = unique("dtr-plain");
    let registered = register_function(&name, 30).await;
    let function = spawn(
        &name,
        registered.runtime_api.as_deref().unwrap(),
        &fake,
        &[],
    )
    .await;
    let (status, body) = deliver(&function).await;
    // The missing flow is not found: a failure no redelivery fixes.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(
        body["targets"],
        json!([
            {"kind": "flow", "name": "Clean Orders", "project": "Prep", "id": "flow-clean",
             "result": "queued", "job_id": "job-flow-clean", "error": null},
            {"kind": "workbook", "name": "Weekly KPIs", "project": null, "id": "wb-kpi",
             "result": "queued", "job_id": "job-wb-kpi", "error": null, "incremental": true},
            {"kind": "flow", "name": null, "project": null, "id": "flow-missing",
             "result": "failed", "job_id": null,
             "error": body["targets"][2]["error"]},
        ])
    );
    assert!(
        body["targets"][2]["error"]
            .as_str()
            .unwrap()
            .contains("flow with id flow-missing"),
        "{body}"
    );
    assert_eq!(fake.flow_runs(), ["flow-clean"]);
    assert_eq!(fake.count("POST", "/flows/flow-missing/run").await, 1);
    assert_eq!(fake.incremental_refreshes(), ["wb-kpi"]);
    // The failed flow counts under its own kind, which the template's alarm sums.
    assert_eq!(emf_kinds(&function, "RefreshFailed"), ["flow"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mode_before_3_25_fails_the_incremental_target_only() {
    let fake = fake_at("3.22").await;
    let name = unique("dtr-old");
    let registered = register_function(&name, 30).await;
    let function = spawn(
        &name,
        registered.runtime_api.as_deref().unwrap(),
        &fake,
        &[],
    )
    .await;
    let (status, body) = deliver(&function).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["targets"][0]["result"], "queued", "{body}");
    let wb = &body["targets"][1];
    assert_eq!(
        (wb["result"].as_str(), wb["incremental"].as_bool()),
        (Some("failed"), Some(true))
    );
    let error = wb["error"].as_str().unwrap();
    assert!(
        error.contains("REST API 3.25") && error.contains("speaks 3.22"),
        "{error}"
    );
    assert_eq!(fake.count("POST", "/refresh").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_follows_the_flow_and_cancels_what_times_out() {
    let fake = fake_at(VERSION).await;
    fake.script_job("job-flow-clean", JobScript::finishes(0).after_reads(1));
    fake.script_job("job-wb-kpi", JobScript::runs_forever());
    let name = unique("dtr");
    let workflow = Workflow::deploy(&name, 300).await;
    let runtime_api = workflow.function.runtime_api.clone().unwrap();
    let function = spawn(
        &name,
        &runtime_api,
        &fake,
        &[
            ("STATE_MACHINE_ARN", workflow.state_machine_arn.clone()),
            // Three seconds of one-second waits.
            ("REFRESH_TIMEOUT_MINUTES", "0.05".into()),
        ],
    )
    .await;
    let (status, body) = deliver(&function).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["targets"][0]["kind"], "flow");
    assert_eq!(body["targets"][1]["incremental"], true, "{body}");
    let arn = workflow.execution_arn(body["execution"].as_str().unwrap());
    let done = workflow.wait(&arn, WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    assert_eq!(fake.flow_runs(), ["flow-clean"]);
    assert_eq!(fake.incremental_refreshes(), ["wb-kpi"]);
    assert_eq!(
        fake.cancels(),
        ["job-wb-kpi"],
        "only the job past the timeout"
    );
    let messages = workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0].message;
    assert!(message.contains("Clean Orders"), "{message}");
    assert!(message.contains("TIMED_OUT"), "{message}");
    assert!(
        message.contains("\"Weekly KPIs\" [id wb-kpi] (incremental)"),
        "{message}"
    );
    assert!(
        message.contains("cancelled in Tableau (CANCEL_ON_TIMEOUT)"),
        "{message}"
    );
    assert!(message.contains("flow-missing"), "{message}");
    // One record per followed target, each under its kind.
    let mut succeeded = emf_kinds(&function, "RefreshSucceeded");
    succeeded.sort();
    assert_eq!(succeeded, ["flow"]);
    let mut failed = emf_kinds(&function, "RefreshFailed");
    failed.sort();
    assert_eq!(failed, ["flow", "workbook"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_with_cancel_on_timeout_false_leaves_the_job() {
    let fake = fake_at(VERSION).await;
    fake.script_job("job-wb-kpi", JobScript::runs_forever());
    let name = unique("dtr");
    let workflow = Workflow::deploy(&name, 300).await;
    let runtime_api = workflow.function.runtime_api.clone().unwrap();
    let function = spawn(
        &name,
        &runtime_api,
        &fake,
        &[
            ("STATE_MACHINE_ARN", workflow.state_machine_arn.clone()),
            ("REFRESH_TIMEOUT_MINUTES", "0.05".into()),
            ("CANCEL_ON_TIMEOUT", "false".into()),
        ],
    )
    .await;
    let (status, body) = deliver(&function).await;
    assert_eq!(status, 202, "{body}");
    let arn = workflow.execution_arn(body["execution"].as_str().unwrap());
    let done = workflow.wait(&arn, WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    assert!(fake.cancels().is_empty());
    let messages = workflow.notifications(QUIET).await;
    assert!(
        messages[0].message.contains("may still finish"),
        "{:?}",
        messages[0]
    );
    // A value that is neither true nor false: 500 at the webhook, no execution.
    let bad = unique("dtr-bad");
    let runtime_api = register_function(&bad, 30).await.runtime_api.unwrap();
    let function = spawn(
        &bad,
        &runtime_api,
        &fake,
        &[
            ("STATE_MACHINE_ARN", workflow.state_machine_arn.clone()),
            ("CANCEL_ON_TIMEOUT", "maybe".into()),
        ],
    )
    .await;
    let (status, body) = deliver(&function).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("CANCEL_ON_TIMEOUT"),
        "{body}"
    );
    let executions = workflow
        .sfn
        .list_executions()
        .state_machine_arn(&workflow.state_machine_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions.len(), 1);
}
