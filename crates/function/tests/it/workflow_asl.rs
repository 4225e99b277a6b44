//! statemachine/refresh.asl.json's paths, run by moto's Step Functions interpreter
//! against stand-in steps (tests/sfn/stub_steps.py; the function name's flags say
//! how each step answers). These prove the ASL: the follow loop, the report, the
//! SNS message, every Catch and fallback. The real function's steps are covered by
//! the workflow tests that run the binary.
//!
//! Needs MOTO_ENDPOINT served by tests/sfn/moto_sfn.py (./scripts/test.sh starts it).

use crate::common::sfn;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use serde_json::{Value, json};
use sfn::{Workflow, count, entered, unique};
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_secs(60);
/// A message published during the execution is queued before it ends; this only
/// guards against a slow moto.
const QUIET: Duration = Duration::from_secs(1);
const FALLBACK_SUBJECT: &str = "dbt-tableau-refresh: workflow broken, no report";

fn input() -> Value {
    json!({
        "run": {"account_id": "1", "job_id": "123", "run_id": "12345", "event_id": "wev_1",
                "job_name": "Daily", "project_name": "Analytics", "run_status_code": 10,
                "run_finished_at": "2026-11-28T07:29:32Z"},
        "targets": [{"kind": "workbook", "name": "Sales", "project": "Finance", "id": null, "exposure": null}],
        "exposures": false
    })
}

async fn deploy(flags: &str) -> Workflow {
    Workflow::deploy(&unique(&format!("stub-{flags}")), 30).await
}

#[test]
fn the_definition_has_exactly_the_two_substitutions_the_template_gives() {
    let text = include_str!("../../../../statemachine/refresh.asl.json");
    let placeholders: Vec<&str> = text.match_indices("${").map(|(i, _)| &text[i..]).collect();
    assert!(
        placeholders
            .iter()
            .all(|p| p.starts_with("${FunctionArn}") || p.starts_with("${NotifyTopicArn}"))
    );
    assert_eq!(
        text.matches("${FunctionArn}").count(),
        4,
        "one per step task"
    );
    assert_eq!(
        text.matches("${NotifyTopicArn}").count(),
        2,
        "the report and its fallback"
    );
    let filled = sfn::definition("arn:f", "arn:t");
    let asl: Value = serde_json::from_str(&filled).expect("valid JSON after substitution");
    assert_eq!(asl["StartAt"], "Resolve");
}

/// The function is told the state machine's ARN by name (a reference would be a
/// cycle), so the name it is built from and the state machine's own must agree.
#[test]
fn the_template_gives_the_function_the_arn_of_the_state_machine_it_creates() {
    let template = include_str!("../../../../template.yaml");
    let name = "${AWS::StackName}-refresh";
    assert!(template.contains(&format!("      Name: !Sub {name}\n")));
    let arn = format!(":states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{name}\"");
    assert_eq!(
        template.matches(&arn).count(),
        2,
        "STATE_MACHINE_ARN and StartExecution's resource"
    );
    for line in [
        "DefinitionUri: statemachine/refresh.asl.json",
        "FunctionArn: !GetAtt Function.Arn",
        "NotifyTopicArn: !Ref NotifyTopic",
    ] {
        assert!(template.contains(line), "{line}");
    }
}

/// The alarm matches a metric only with its exact dimensions: the ones
/// src/metrics.rs writes.
#[test]
fn the_alarm_watches_the_metric_the_function_writes() {
    use dbt_tableau_engine::targets::ItemKind;
    let template = include_str!("../../../../template.yaml");
    let namespace = dbt_tableau_refresh::metrics::NAMESPACE;
    // "exposure": a malformed exposure's failure (TargetReport::kind_name).
    let kinds = [
        ItemKind::Workbook.as_str(),
        ItemKind::Datasource.as_str(),
        ItemKind::Flow.as_str(),
        "exposure",
    ];
    assert_eq!(
        template
            .matches(&format!("Namespace: {namespace}\n"))
            .count(),
        kinds.len()
    );
    assert_eq!(
        template.matches("MetricName: RefreshFailed\n").count(),
        kinds.len()
    );
    for kind in kinds {
        let dimension = format!("Dimensions: [{{ Name: Kind, Value: {kind} }}]");
        assert!(template.contains(&dimension), "{dimension}");
    }
}

#[tokio::test]
async fn all_succeeded_ends_succeeded_without_a_message() {
    let workflow = deploy("ok").await;
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let history = workflow.history(&done.arn).await;
    assert_eq!(
        entered(&history),
        [
            "Resolve",
            "Refresh",
            "Following?",
            "Report",
            "Notify?",
            "Failed?",
            "Done"
        ]
    );
    // The steps' state flows through: each task's output is its Payload.
    let output = done.output.expect("an output");
    assert_eq!(output["resolved"], true);
    assert_eq!(output["run"]["run_id"], "12345");
    assert_eq!(output["outcome"]["failed"], false);
    assert!(workflow.notifications(QUIET).await.is_empty());
}

#[tokio::test]
async fn a_failed_refresh_is_published_and_fails_the_execution_with_its_summary() {
    let workflow = deploy("failed").await;
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("RefreshFailed"));
    assert_eq!(
        done.cause.as_deref(),
        Some("1 of 1 refreshes failed"),
        "CausePath $.outcome.summary"
    );
    let messages = workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].topic_arn, workflow.topic_arn);
    assert_eq!(
        messages[0].subject.as_deref(),
        Some("Tableau refresh: 1 of 1 refreshes failed")
    );
    assert_eq!(
        messages[0].message,
        "1 of 1 refreshes failed\n(stub report)"
    );
}

#[tokio::test]
async fn the_follow_loop_waits_the_seconds_the_check_asks_for() {
    let workflow = deploy("loop2").await;
    let started = Instant::now();
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let history = workflow.history(&done.arn).await;
    assert_eq!(
        entered(&history),
        [
            "Resolve",
            "Refresh",
            "Following?",
            "Wait",
            "Check",
            "Following?",
            "Wait",
            "Check",
            "Following?",
            "Report",
            "Notify?",
            "Failed?",
            "Done"
        ]
    );
    assert_eq!(count(&history, HistoryEventType::WaitStateEntered), 2);
    // SecondsPath $.follow.wait_seconds = 1, twice: moto really sleeps.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(done.output.unwrap()["follow"]["waits"], 2);
}

#[tokio::test]
async fn a_step_error_is_caught_reported_and_published() {
    let workflow = deploy("raisecheck_loop1").await;
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("RefreshFailed"));
    assert_eq!(
        done.cause.as_deref(),
        Some("workflow broken: StubStepError")
    );
    let history = workflow.history(&done.arn).await;
    let states = entered(&history);
    assert_eq!(
        &states[3..],
        [
            "Wait",
            "Check",
            "Report",
            "Notify?",
            "Notify",
            "Failed?",
            "RefreshFailed"
        ]
    );
    // The function error (runtime /error) surfaced as a task failure, not retried.
    assert_eq!(count(&history, HistoryEventType::TaskFailed), 1);
    // Catch put the error beside the state: the report step saw both.
    let report_input = history
        .iter()
        .filter_map(|e| e.state_entered_event_details())
        .find(|d| d.name() == "Report")
        .and_then(|d| d.input())
        .expect("the report's input");
    let report_input: Value = serde_json::from_str(report_input).unwrap();
    assert_eq!(report_input["error"]["Error"], "StubStepError");
    assert!(
        report_input["error"]["Cause"]
            .as_str()
            .unwrap()
            .contains("stub: step check raised")
    );
    assert_eq!(report_input["run"]["run_id"], "12345");
    assert_eq!(workflow.notifications(QUIET).await.len(), 1);
}

#[tokio::test]
async fn a_state_without_follow_is_reported_as_broken() {
    let workflow = deploy("nofollow").await;
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.error.as_deref(), Some("RefreshFailed"));
    assert_eq!(
        done.cause.as_deref(),
        Some("workflow broken: FollowMalformed")
    );
    let history = workflow.history(&done.arn).await;
    assert!(entered(&history).contains(&"FollowMalformed".to_string()));
    assert_eq!(workflow.notifications(QUIET).await.len(), 1);
}

#[tokio::test]
async fn a_failing_report_step_still_reaches_the_topic() {
    let workflow = deploy("raisereport").await;
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("WorkflowBroken"));
    let cause: Value =
        serde_json::from_str(done.cause.as_deref().unwrap()).expect("the error as JSON");
    assert_eq!(cause["Error"], "StubStepError");
    let messages = workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].subject.as_deref(), Some(FALLBACK_SUBJECT));
    let execution_name = done.arn.rsplit(':').next().unwrap();
    assert!(
        messages[0].message.contains(execution_name),
        "{}",
        messages[0].message
    );
    assert!(
        messages[0].message.contains(&done.arn),
        "the execution's ARN, to find it"
    );
    assert!(
        messages[0].message.contains("stub: step report raised"),
        "{}",
        messages[0].message
    );
}

#[tokio::test]
async fn a_report_without_outcome_falls_back_to_the_generic_message() {
    let workflow = deploy("nooutcome").await;
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.error.as_deref(), Some("WorkflowBroken"));
    let messages = workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].subject.as_deref(), Some(FALLBACK_SUBJECT));
    assert!(messages[0].message.contains("OutcomeMalformed"));
}

#[tokio::test]
async fn a_subject_sns_rejects_falls_back_instead_of_losing_the_report() {
    let workflow = deploy("longsubject_notifyall").await;
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.error.as_deref(), Some("WorkflowBroken"));
    let history = workflow.history(&done.arn).await;
    assert!(entered(&history).ends_with(&[
        "Notify".to_string(),
        "Fallback".to_string(),
        "NotifyFallback".to_string(),
        "WorkflowBroken".to_string()
    ]));
    let messages = workflow.notifications(QUIET).await;
    assert_eq!(
        messages.len(),
        1,
        "only the fallback got through: {messages:?}"
    );
    assert!(
        messages[0]
            .message
            .contains("SNS.InvalidParameterException")
    );
}

#[tokio::test]
async fn lambdas_own_service_error_is_retried_not_reported() {
    let workflow = deploy("svcerrrefresh").await;
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let history = workflow.history(&done.arn).await;
    let failed: Vec<_> = history
        .iter()
        .filter_map(|e| e.task_failed_event_details())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error(), Some("Lambda.ServiceException"));
    assert!(!entered(&history).contains(&"Fallback".to_string()));
    assert!(workflow.notifications(QUIET).await.is_empty());
}

#[tokio::test]
async fn notify_on_all_publishes_a_success_too() {
    let workflow = deploy("notifyall").await;
    let done = workflow.run(&input(), WITHIN).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let messages = workflow.notifications(QUIET).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].subject.as_deref(),
        Some("Tableau refresh: all refreshes succeeded")
    );
}
