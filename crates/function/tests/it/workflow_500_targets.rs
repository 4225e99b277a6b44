//! A workflow of production size through the real binary in moto: 500 targets,
//! 250 workbooks whose refresh jobs fail with 3 KB of Tableau's notes and 250
//! that no longer exist. Every state handed between steps must stay under Step
//! Functions' 256 KiB, the report under SNS's 256 KB, and the history under
//! 25,000 events; the execution ends `RefreshFailed` with one report saying all
//! 500 failed.
//!
//! Needs MOTO_ENDPOINT served by tests/sfn/moto_sfn.py (./scripts/test.sh starts it).

use crate::common;
use crate::common::function_process;
use crate::common::sfn;
use dbt_tableau_testkit::fake_tableau;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent};
use common::DEMO_KEY;
use common::moto::create_secret;
use dbt_tableau_engine::follow::FollowSettings;
use dbt_tableau_refresh::workflow;
use fake_tableau::{FakeTableau, JobScript, item, workbook};
use function_process::FunctionProcess;
use serde_json::json;
use sfn::{Workflow, unique};
use std::time::Duration;

const TARGETS: usize = 500;
/// Step Functions' limit on a state's input or output, and a task's result.
const STATE_LIMIT: usize = 256 * 1024;
/// SNS's limit on a published message.
const SNS_LIMIT: usize = 262_144;
const HISTORY_LIMIT: usize = 25_000;

/// Tableau's notes on a failed job, about 3 KB, distinct per job so that a
/// shortened text is seen shortened.
fn notes(i: usize) -> String {
    let mut text = format!("Job {i}: the extract refresh failed. ");
    while text.len() < 3000 {
        text.push_str("com.tableausoftware.nativeapi.dll.DataSourceException: the warehouse closed the connection; ");
    }
    text.push_str(&format!("END-OF-NOTES-{i}"));
    text
}

/// Every input and output the history holds, with where it was seen.
fn payloads(history: &[HistoryEvent]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for e in history {
        let kind = format!("{:?} #{}", e.r#type(), e.id());
        let mut add = |s: Option<&str>| {
            if let Some(s) = s {
                found.push((kind.clone(), s.to_owned()));
            }
        };
        if let Some(d) = e.execution_started_event_details() {
            add(d.input());
        }
        if let Some(d) = e.state_entered_event_details() {
            add(d.input());
        }
        if let Some(d) = e.state_exited_event_details() {
            add(d.output());
        }
        if let Some(d) = e.task_scheduled_event_details() {
            add(Some(d.parameters()));
        }
        if let Some(d) = e.task_succeeded_event_details() {
            add(d.output());
        }
    }
    found
}

/// Names as long as production's: a dashboard's title and a nested project.
fn long(kind: &str, i: usize) -> String {
    format!("{kind} report {i} — weekly revenue by region, product line and sales channel")
}
const PROJECT: &str = "Finance Analytics — Regional Scorecards";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_targets_end_in_one_report_of_500_failures_within_every_limit() {
    let half = TARGETS / 2;
    let workbooks: Vec<_> = (0..half)
        .map(|i| item(&format!("wb-{i}"), &long("Big", i), PROJECT))
        .collect();
    let fake = FakeTableau::start(workbooks, Vec::new()).await;
    for i in 0..half {
        fake.script_job(
            &format!("job-wb-{i}"),
            JobScript::finishes(1).notes(&notes(i)),
        );
    }
    // The execution's input as the webhook (or the resolve step) writes it.
    let targets: Vec<_> = (0..half)
        .map(|i| workbook(&long("Big", i), Some(PROJECT)))
        .chain((0..half).map(|i| workbook(&long("Gone", i), Some(PROJECT))))
        .collect();

    let name = unique("dtr500");
    let secret = common::moto::unique("workflow500");
    create_secret(&secret, &fake.secret_json(DEMO_KEY)).await;
    let workflow = Workflow::deploy(&name, 300).await;
    let runtime_api = workflow.function.runtime_api.clone().unwrap();
    let function = FunctionProcess::spawn(
        &name,
        &runtime_api,
        &[
            ("SECRET_ID", secret),
            ("STATE_MACHINE_ARN", workflow.state_machine_arn.clone()),
            ("POLL_INITIAL_SECONDS", "1".into()),
            ("POLL_MAX_SECONDS", "1".into()),
            ("REFRESH_TIMEOUT_MINUTES", "5".into()),
        ],
    );
    let input = json!({
        "run": {"account_id": "1", "job_id": "42", "run_id": "500500", "project_id": "7"},
        "targets": targets,
        "exposures": false,
    });
    let done = workflow.run(&input, Duration::from_secs(240)).await;
    let log = function.output();
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}\n{log}");
    assert_eq!(done.error.as_deref(), Some("RefreshFailed"), "{done:?}");
    let cause = done.cause.clone().unwrap_or_default();
    assert!(cause.contains("500 of 500"), "{cause}");

    let history = workflow.history(&done.arn).await;
    assert!(history.len() < HISTORY_LIMIT, "{} events", history.len());
    // And within the worst case the webhook accepted these settings by.
    let follow = FollowSettings {
        poll_initial: Duration::from_secs(1),
        poll_max: Duration::from_secs(1),
        timeout: Duration::from_secs(300),
        cancel_on_timeout: true,
    };
    assert_eq!(workflow::history::check(&follow), Ok(()));
    let bound = workflow::history::worst_case_events(workflow::history::max_checks(&follow));
    assert!((history.len() as u64) <= bound, "{} events", history.len());
    let seen = payloads(&history);
    assert!(
        seen.iter().any(|(_, p)| p.contains("Big report 249")),
        "the history holds the states"
    );
    let largest = seen.iter().map(|(w, p)| (p.len(), w)).max().unwrap();
    println!("{} events; the largest state {largest:?}", history.len());
    for (place, payload) in &seen {
        assert!(
            payload.len() < STATE_LIMIT,
            "{place}: a state of {} bytes, over Step Functions' 256 KiB",
            payload.len()
        );
    }

    let messages = workflow.notifications(Duration::from_secs(2)).await;
    assert_eq!(messages.len(), 1, "one report");
    let message = &messages[0].message;
    assert!(
        message.len() < SNS_LIMIT,
        "a report of {} bytes",
        message.len()
    );
    println!("a report of {} bytes", message.len());
    assert!(message.contains("500 of 500"), "{}", &message[..500]);
    let subject = messages[0].subject.clone().unwrap_or_default();
    assert!(subject.contains("500 of 500"), "{subject}");
    // The shortened notes are whole in the function's log.
    for i in [0, half - 1] {
        assert!(
            log.contains(&format!("END-OF-NOTES-{i}")),
            "notes {i} whole in the log"
        );
    }
}
