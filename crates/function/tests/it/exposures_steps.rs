//! The workflow's resolve step in process with the function's dbt Cloud
//! resolver against the fake dbt Cloud (the run's real artifacts), then the
//! refresh step against the fake Tableau: the execution's data grows by the
//! exposures' items and the skipped reports, and never holds the token.

use crate::exposures_harness;
use dbt_tableau_testkit::fake_dbt_cloud;
use dbt_tableau_testkit::fake_tableau;

use dbt_tableau_engine::follow::FollowSettings;
use dbt_tableau_refresh::step_event;
use dbt_tableau_refresh::workflow::Steps;
use dbt_tableau_refresh::workflow::report::ReportSettings;
use exposures_harness::*;
use fake_dbt_cloud::{ACCOUNT, FakeDbtCloud, RUN, TOKEN};
use fake_tableau::FakeTableau;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn steps(tableau: &FakeTableau, cloud: &FakeDbtCloud) -> Steps {
    let refresher = Arc::new(tableau.refresher());
    Steps {
        secrets: secrets(tableau, Some(TOKEN)),
        refresher: Ok(refresher.clone()),
        checker: Ok(refresher),
        resolver: Ok(resolver(cloud)),
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

/// The execution input the webhook writes for an exposure entry.
fn input(status_code: u32, targets: Value) -> Value {
    json!({
        "run": {"account_id": ACCOUNT, "job_id": "123", "run_id": RUN, "event_id": "wev_2L6Z",
                "job_name": "Daily Job (dbt build)", "project_name": "Analytics",
                "run_status_code": status_code, "run_finished_at": "2026-11-28T07:49:32Z"},
        "targets": targets,
        "exposures": true
    })
}

async fn step(steps: &Steps, name: &str, state: Value) -> Value {
    let event = json!({"step": name, "state": state});
    step_event::handle(steps, event, Instant::now() + Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("step {name} failed: {e}"))
}

fn keys(values: &Value) -> BTreeSet<String> {
    values.as_array().unwrap().iter().map(key).collect()
}

#[tokio::test]
async fn resolve_adds_the_exposures_items_and_skipped_reports_then_refresh_refreshes_them() {
    let (cloud, tableau) = (cloud_steps().await, tableau().await);
    let steps = steps(&tableau, &cloud);
    let expected = expected("steps");

    let resolved = step(&steps, "resolve", input(20, json!([]))).await;
    assert_eq!(resolved["exposures"], false, "resolved once: {resolved}");
    assert_eq!(keys(&resolved["targets"]), keys(&expected["refresh"]));
    for target in resolved["targets"].as_array().unwrap() {
        let item = refreshes(&expected)
            .into_iter()
            .find(|i| key(i) == key(target))
            .unwrap();
        assert_eq!(target["exposure"], item["exposures"][0], "{target}");
    }
    // Before the refresh: only the reports that need no Tableau call.
    let mut nothing_fresh = expected.clone();
    nothing_fresh["refresh"] = json!([]);
    let reports = json!({"targets": resolved["reports"]});
    assert!(assert_decision(&reports, &nothing_fresh, "queued").is_empty());
    assert_eq!(tableau.total_requests().await, 0);

    let refreshed = step(&steps, "refresh", resolved).await;
    let reports = json!({"targets": refreshed["reports"]});
    assert!(assert_decision(&reports, &expected, "queued").is_empty());
    assert_eq!(refresh_posts(&tableau).await, expected_posts(&expected));
    assert_eq!(refreshed["follow"]["done"], false);

    let history = refreshed.to_string();
    assert!(
        !history.contains(TOKEN),
        "the token in the execution's data"
    );
}

#[tokio::test]
async fn a_routed_item_also_named_by_an_exposure_is_refreshed_once() {
    let (cloud, tableau) = (cloud_one_build("success", 10).await, tableau().await);
    let steps = steps(&tableau, &cloud);
    let direct = json!([{"kind": "workbook", "name": "Weekly KPIs", "project": "Ops"}]);
    let resolved = step(&steps, "resolve", input(10, direct.clone())).await;

    let expected = expected("success");
    assert_eq!(keys(&resolved["targets"]), keys(&expected["refresh"]));
    let first = &resolved["targets"][0];
    assert_eq!(key(first), key(&direct[0]));
    assert!(
        first["exposure"].is_null(),
        "the routed entry wins: {first}"
    );

    let refreshed = step(&steps, "refresh", resolved).await;
    assert_eq!(refresh_posts(&tableau).await, expected_posts(&expected));
    let queued = refreshed["reports"].as_array().unwrap().iter();
    // The success set's thirteen: extracts (one incremental) and the Prep flow.
    assert_eq!(queued.filter(|r| r["result"] == "queued").count(), 13);
}

#[tokio::test]
async fn dbt_cloud_refusing_is_a_problem_the_report_fails_on_without_the_token() {
    let (cloud, tableau) = (cloud_one_build("build", 20).await, tableau().await);
    cloud.refuse_echoing_the_token(401).await;
    let steps = steps(&tableau, &cloud);

    let resolved = step(&steps, "resolve", input(20, json!([]))).await;
    assert_eq!(resolved["targets"], json!([]));
    let problem = resolved["problems"][0].as_str().unwrap_or_default();
    assert!(problem.contains("refused the token"), "{resolved}");
    assert!(problem.contains("[redacted]"), "{problem}");

    let refreshed = step(&steps, "refresh", resolved).await;
    let reported = step(&steps, "report", refreshed).await;
    assert_eq!(reported["outcome"]["failed"], true, "{reported}");
    assert_eq!(tableau.total_requests().await, 0);
    let history = reported.to_string();
    assert!(
        !history.contains(TOKEN),
        "the token in the execution's data"
    );
    assert!(history.contains("dbt Cloud"), "{history}");
}
