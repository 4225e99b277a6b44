//! The workflow's steps in process, as the state machine's tasks call them:
//! step events in (the samples of events/steps/ included), the workflow's data
//! out, against the fake Tableau with jobs that finish.

use crate::common;
use dbt_tableau_testkit::fake_tableau;

use common::*;
use dbt_tableau_engine::follow::FollowSettings;
use dbt_tableau_refresh::step_event;
use dbt_tableau_refresh::workflow::Steps;
use dbt_tableau_refresh::workflow::report::ReportSettings;
use fake_tableau::JobScript;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn steps(fake: &fake_tableau::FakeTableau) -> Steps {
    let refresher = Arc::new(fake.refresher());
    Steps {
        secrets: FixedSecrets::new(&[
            ("DBT_WEBHOOK_KEY", DEMO_KEY),
            ("TABLEAU_SITE_URL", &fake.uri()),
            ("TABLEAU_SITE_NAME", fake_tableau::SITE),
            ("TABLEAU_API_TOKEN_NAME", fake_tableau::PAT_NAME),
            ("TABLEAU_API_TOKEN_SECRET", fake_tableau::PAT_SECRET),
        ]),
        refresher: Ok(refresher.clone()),
        checker: Ok(refresher),
        resolver: Err("no exposures in this test".into()),
        follow: Ok(FollowSettings {
            poll_initial: Duration::from_secs(1),
            poll_max: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
            cancel_on_timeout: true,
        }),
        report: ReportSettings {
            notify_all: false,
            dbt_cloud_url: "https://cloud.getdbt.com".into(),
        },
    }
}

async fn step(steps: &Steps, name: &str, state: Value) -> Value {
    let event = json!({"step": name, "state": state});
    step_event::handle(steps, event, Instant::now() + Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("step {name} failed: {e}"))
}

fn sample(name: &str) -> Value {
    let path = events_dir().join("steps").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn refresh_then_check_until_every_job_ends_then_report() {
    let fake = fake_tableau::kpi_fake().await;
    fake.script_job("job-wb-kpi", JobScript::finishes(0).after_reads(1));
    fake.script_job(
        "job-ds-orders",
        JobScript::finishes(1).notes("Login failed for data source 'orders'"),
    );
    let steps = steps(&fake);
    let mut state = sample("refresh")["state"].clone();
    state["targets"] = json!([
        {"kind": "workbook", "name": "Weekly KPIs", "project": "Ops"},
        {"kind": "datasource", "name": "Orders"}
    ]);
    let state = step(&steps, "resolve", state).await;
    let mut state = step(&steps, "refresh", state).await;
    assert_eq!(state["reports"][0]["result"], "queued", "{state}");
    assert_eq!(state["reports"][0]["job_id"], "job-wb-kpi");
    assert_eq!(state["follow"]["wait_seconds"], 1);
    assert_eq!(state["follow"]["done"], false);
    let mut checks = 0;
    while state["follow"]["done"] == false {
        checks += 1;
        assert!(checks < 5, "never done: {state}");
        state = step(&steps, "check", state).await;
    }
    assert_eq!(checks, 2, "the workbook runs for one read");
    assert_eq!(state["reports"][0]["result"], "succeeded");
    assert_eq!(state["reports"][1]["result"], "failed");
    assert_eq!(
        state["reports"][1]["error"],
        "Login failed for data source 'orders'"
    );
    assert_eq!(
        fake.count("POST", "/auth/signin").await,
        3,
        "one sign-in per step"
    );
    assert_eq!(fake.count("POST", "/auth/signout").await, 3);
    let state = step(&steps, "report", state).await;
    let outcome = &state["outcome"];
    assert_eq!(
        (&outcome["failed"], &outcome["notify"]),
        (&json!(true), &json!(true))
    );
    assert!(
        outcome["message"]
            .as_str()
            .unwrap()
            .contains("Login failed for data source 'orders'"),
        "{outcome}"
    );
    let history = state.to_string();
    for secret in [DEMO_KEY, fake_tableau::PAT_SECRET] {
        assert!(!history.contains(secret), "{secret} in the workflow's data");
    }
}

#[tokio::test]
async fn the_sample_report_event_answers_a_report_without_any_call() {
    let fake = fake_tableau::kpi_fake().await;
    let steps = steps(&fake);
    let state = step(&steps, "report", sample("report")["state"].clone()).await;
    assert_eq!(state["outcome"]["failed"], true);
    assert!(
        state["outcome"]["subject"]
            .as_str()
            .unwrap()
            .contains("Sales Overview")
    );
    assert_eq!(fake.total_requests().await, 0);
    // The other samples are well-formed step events too.
    for name in ["resolve", "refresh", "check"] {
        assert!(step_event::is_step_event(&sample(name)), "{name}");
    }
}

#[tokio::test]
async fn malformed_step_events_are_errors_that_name_the_problem() {
    let fake = fake_tableau::kpi_fake().await;
    let steps = steps(&fake);
    let deadline = Instant::now() + Duration::from_secs(5);
    for (event, expected) in [
        (
            json!({"step": "explode", "state": {}}),
            "unknown step \"explode\"",
        ),
        (json!({"step": "refresh"}), "needs \"state\""),
        (
            json!({"step": "refresh", "state": {"targets": 7}}),
            "not the workflow's data",
        ),
        (
            json!({"step": "check", "state": {"run": {}}}),
            "needs the refresh step",
        ),
    ] {
        let error = step_event::handle(&steps, event.clone(), deadline)
            .await
            .expect_err(&event.to_string());
        assert!(error.message.contains(expected), "{event}: {error}");
    }
    assert_eq!(fake.total_requests().await, 0);
}
