//! The whole workflow with the real binary: a signed webhook through the
//! function's Function URL path starts an execution in moto (STATE_MACHINE_ARN,
//! AWS_ENDPOINT_URL); moto runs statemachine/refresh.asl.json, whose tasks invoke
//! the same function process through its Runtime API (tests/sfn/moto_sfn.py); the
//! steps refresh and follow jobs on the fake Tableau; the report reaches the SNS
//! topic, read through a subscribed SQS queue.
//!
//! Needs MOTO_ENDPOINT served by tests/sfn/moto_sfn.py (./scripts/test.sh starts it).

use crate::common;
use crate::common::function_process;
use crate::common::sfn;
use dbt_tableau_testkit::fake_tableau;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use common::DEMO_KEY;
use common::moto::create_secret;
use fake_tableau::JobScript;
use fake_tableau::{FakeTableau, PAT_SECRET, kpi_fake};
use function_process::{FunctionProcess, invoke};
use serde_json::{Value, json};
use sfn::{
    Finished, Workflow, count, entered, history_text, lose_next_answer, release_lost_answer, unique,
};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(90);
const QUIET: Duration = Duration::from_secs(1);
const TARGETS: &str = r#"[{"workbook":"Weekly KPIs","project":"Ops","jobs":["123"]}]"#;

/// One deployed stack: state machine + topic in moto, the function's process,
/// its secret pointing at the fake Tableau.
struct Stack {
    workflow: Workflow,
    function: FunctionProcess,
    fake: FakeTableau,
}

async fn deploy(fake: FakeTableau, env: &[(&str, String)]) -> Stack {
    let name = unique("dtr");
    let secret = common::moto::unique("workflow");
    create_secret(&secret, &fake.secret_json(DEMO_KEY)).await;
    let workflow = Workflow::deploy(&name, 300).await;
    let mut all = vec![
        ("SECRET_ID", secret),
        ("REFRESH_TARGETS", TARGETS.to_string()),
        ("STATE_MACHINE_ARN", workflow.state_machine_arn.clone()),
    ];
    all.extend(env.iter().cloned());
    let runtime_api = workflow
        .function
        .runtime_api
        .clone()
        .expect("a Runtime API");
    let function = FunctionProcess::spawn(&name, &runtime_api, &all);
    Stack {
        workflow,
        function,
        fake,
    }
}

impl Stack {
    /// Delivers the webhook; answers (HTTP status, body) and the execution's ARN.
    async fn deliver(&self) -> (i64, Value, String) {
        let (answer, error) = invoke(&self.function.name, &common::signed_webhook_event()).await;
        assert_eq!(error, None, "{answer}");
        let status = answer["statusCode"].as_i64().unwrap();
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        let name = body["execution"].as_str().unwrap_or_default();
        let arn = self.workflow.execution_arn(name);
        (status, body, arn)
    }

    async fn delivered_and_finished(&self) -> Finished {
        let (status, body, arn) = self.deliver().await;
        assert_eq!(status, 202, "{body}");
        self.workflow.wait(&arn, WITHIN).await
    }

    /// No secret or token in the execution's history (kept 90 days by AWS) or
    /// the function's log.
    async fn assert_no_secrets(&self, done: &Finished) {
        let history = history_text(&self.workflow.history(&done.arn).await);
        let log = self.function.output();
        assert!(
            history.contains("Weekly KPIs"),
            "the scan reads the states: {history}"
        );
        for (place, text) in [("history", &history), ("log", &log)] {
            for secret in [PAT_SECRET, DEMO_KEY, "session-token-"] {
                assert!(!text.contains(secret), "{secret} in the {place}:\n{text}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_starts_one_execution_that_refreshes_follows_and_succeeds() {
    let stack = deploy(kpi_fake().await, &[]).await;
    let (status, body, arn) = stack.deliver().await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["targets"][0]["result"], "accepted");
    // dbt delivers again: the same execution, not a second one.
    let (again, again_body, again_arn) = stack.deliver().await;
    assert_eq!((again, &again_arn), (202, &arn), "{again_body}");

    let done = stack.workflow.wait(&arn, WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let executions = stack
        .workflow
        .sfn
        .list_executions()
        .state_machine_arn(&stack.workflow.state_machine_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions.len(), 1);
    assert_eq!(stack.fake.count("POST", "/refresh").await, 1, "one refresh");
    assert!(stack.fake.job_reads() >= 1, "the job was followed");
    let state = done.output.clone().unwrap();
    assert_eq!(state["reports"][0]["result"], "succeeded", "{state}");
    assert_eq!(state["outcome"]["failed"], false);
    assert!(stack.workflow.notifications(QUIET).await.is_empty());
    stack.assert_no_secrets(&done).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_reaches_the_topic_with_tableaus_notes() {
    let fake = kpi_fake().await;
    fake.script_job(
        "job-wb-kpi",
        JobScript::finishes(1).notes("Connection to the warehouse timed out"),
    );
    let stack = deploy(fake, &[]).await;
    let done = stack.delivered_and_finished().await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("RefreshFailed"));
    let state_summary = done.cause.clone().unwrap();
    assert!(state_summary.contains("Weekly KPIs"), "{state_summary}");
    let messages = stack.workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let subject = messages[0].subject.clone().unwrap();
    assert!(subject.len() < 100 && subject.is_ascii(), "{subject}");
    assert!(
        subject.contains("Weekly KPIs") && subject.contains("12345"),
        "{subject}"
    );
    let message = &messages[0].message;
    assert!(
        message.contains("Connection to the warehouse timed out"),
        "{message}"
    );
    assert!(message.to_lowercase().contains("failed"), "{message}");
    stack.assert_no_secrets(&done).await;
    // What RefreshFailedAlarm counts: an EMF line on the function's stdout with
    // the namespace and the one dimension template.yaml's alarm names.
    let lines = stack.function.log_lines();
    let emf = lines
        .iter()
        .find(|line| line["_aws"].is_object() && line["RefreshFailed"] == 1)
        .expect("an EMF record for the failed refresh");
    let metrics = &emf["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(metrics["Namespace"], "DbtTableauRefresh");
    assert_eq!(metrics["Dimensions"], json!([["Kind"]]));
    assert_eq!(emf["Kind"], "workbook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follow_loop_waits_until_tableau_finishes_the_job() {
    let fake = kpi_fake().await;
    fake.script_job("job-wb-kpi", JobScript::finishes(0).after_reads(2));
    let stack = deploy(fake, &[]).await;
    let done = stack.delivered_and_finished().await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let history = stack.workflow.history(&done.arn).await;
    assert_eq!(
        count(&history, HistoryEventType::WaitStateEntered),
        3,
        "{:?}",
        entered(&history)
    );
    assert_eq!(stack.fake.job_reads(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_the_timeout_is_reported_timed_out() {
    let fake = kpi_fake().await;
    fake.script_job("job-wb-kpi", JobScript::runs_forever());
    // 0.05 minutes: three seconds of one-second waits.
    let stack = deploy(fake, &[("REFRESH_TIMEOUT_MINUTES", "0.05".into())]).await;
    let done = stack.delivered_and_finished().await;
    assert_eq!(done.error.as_deref(), Some("RefreshFailed"));
    let messages = stack.workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1);
    let message = messages[0].message.to_lowercase();
    assert!(message.contains("timed_out"), "{message}");
    assert!(message.contains("refresh_timeout_minutes"), "{message}");
}

/// A step the function refuses (here: an execution input that is not the
/// workflow's data) surfaces as a task failure; the report step refuses it too,
/// and the state machine's own fallback still reaches the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_error_in_every_step_still_reaches_the_topic() {
    let stack = deploy(kpi_fake().await, &[]).await;
    let done = stack
        .workflow
        .run(&json!({"run": "not a run"}), WITHIN)
        .await;
    assert_eq!(done.error.as_deref(), Some("WorkflowBroken"), "{done:?}");
    let history = stack.workflow.history(&done.arn).await;
    assert_eq!(
        entered(&history),
        [
            "Resolve",
            "Report",
            "Fallback",
            "NotifyFallback",
            "WorkflowBroken"
        ]
    );
    let failed: Vec<_> = history
        .iter()
        .filter_map(|e| e.task_failed_event_details())
        .collect();
    assert_eq!(failed[0].error(), Some("InvalidStepEvent"), "{failed:?}");
    let messages = stack.workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].message.contains("InvalidStepEvent"));
    assert_eq!(stack.fake.count("POST", "/refresh").await, 0);
}

/// A step error the report step can describe (the secret is gone) is reported
/// by the function itself as a broken workflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_error_is_reported_by_the_report_step() {
    let stack = deploy(kpi_fake().await, &[("SECRET_ID", "no-such-secret".into())]).await;
    let input = json!({
        "run": {"account_id": "1", "job_id": "123", "run_id": "777", "event_id": "wev_1",
                "run_finished_at": "2026-11-28T07:29:32Z"},
        "targets": [{"kind": "workbook", "name": "Weekly KPIs", "project": "Ops", "id": null}],
        "exposures": false
    });
    let done = stack.workflow.run(&input, WITHIN).await;
    assert_eq!(done.error.as_deref(), Some("RefreshFailed"), "{done:?}");
    let messages = stack.workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1);
    let subject = messages[0].subject.clone().unwrap_or_default();
    assert!(subject.contains("777"), "{subject}");
    assert!(!entered(&stack.workflow.history(&done.arn).await).contains(&"Fallback".into()));
}

/// The Refresh task's Retry after Lambda lost the answer runs the step again
/// (with `$$.State.RetryCount` 1): the refresh reaches Tableau a second time and
/// meets 409093 (the first attempt's job is queued). No second job starts, but
/// that job can't be followed: the target is unknown, not already_queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_retried_after_a_lost_answer_ends_unknown_and_reports() {
    let stack = deploy(kpi_fake().await, &[]).await;
    lose_next_answer(&stack.function.name, "refresh").await;
    let (status, body, arn) = stack.deliver().await;
    assert_eq!(status, 202, "{body}");
    // The first refresh reached Tableau; from now on Tableau has the job queued.
    let deadline = std::time::Instant::now() + WITHIN;
    while stack.fake.count("POST", "/refresh").await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no refresh reached Tableau"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let conflict = json!({"error": {"summary": "Resource Conflict", "code": "409093",
        "detail": "Job for 'wb-kpi' is already queued. Not queuing a duplicate."}});
    stack.fake.answer_refresh("wb-kpi", 409, conflict);
    assert!(
        release_lost_answer(&stack.function.name).await,
        "the refresh step ran"
    );

    // A lost answer is not a success: the job the first attempt queued can't
    // be named or followed, so the target is unknown, the execution fails and
    // the report says why.
    let done = stack.workflow.wait(&arn, WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    let history = stack.workflow.history(&done.arn).await;
    let failed: Vec<_> = history
        .iter()
        .filter_map(|e| e.task_failed_event_details())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error(), Some("Lambda.ServiceException"));
    assert_eq!(stack.fake.count("POST", "/refresh").await, 2);
    let text = history_text(&history);
    assert!(text.contains("\"unknown\""), "{text}");
    assert!(
        text.contains("Tableau queued a refresh whose answer was lost; its outcome is not known"),
        "{text}"
    );
    assert_eq!(stack.fake.job_reads(), 0, "no job of ours to follow");
    let messages = stack.workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].message.contains("answer was lost"),
        "{}",
        messages[0].message
    );
}
