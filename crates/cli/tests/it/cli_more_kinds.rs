//! `dbt-tableau refresh` with the other kinds of refresh, through the built
//! command against the fake Tableau: Prep flows (`--flow`, `--flow-id`, Run Flow
//! Now, followed with `--wait`), `--incremental` (the XML body on 3.25, a named
//! failure before it), and a job past `--timeout` cancelled (CANCEL_ON_TIMEOUT).
use crate::cli_support;
use dbt_tableau_testkit::fake_tableau;

use cli_support::{against, quick_polls, run};
use fake_tableau::{FakeTableau, JobScript, VERSION, item};
use std::process::Command;

async fn fake_at(version: &str) -> FakeTableau {
    FakeTableau::start_full(
        version,
        vec![item("wb-kpi", "Weekly KPIs", "Ops")],
        vec![item("ds-orders", "Orders", "Data")],
        vec![
            item("flow-clean", "Clean Orders", "Prep"),
            item("flow-clean-old", "Clean Orders", "Archive"),
            item("flow-daily", "Daily Prep", "Prep"),
        ],
    )
    .await
}

fn quick(fake: &FakeTableau) -> Command {
    let mut command = against(fake);
    quick_polls(&mut command);
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_runs_and_is_followed_to_its_end() {
    let fake = fake_at(VERSION).await;
    fake.script_job(
        "job-flow-daily",
        JobScript::finishes(1)
            .notes("Output step 'orders_clean' failed: table is locked")
            .after_reads(1),
    );
    let out = run(
        quick(&fake),
        &[
            "refresh",
            "--flow",
            "Clean Orders",
            "--project",
            "Prep",
            "--flow-id",
            "flow-daily",
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    let doc = out.json();
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets[0]["kind"], "flow");
    assert_eq!(targets[0]["name"], "Clean Orders");
    assert_eq!(targets[0]["id"], "flow-clean");
    assert_eq!(targets[0]["result"], "succeeded", "{doc}");
    assert_eq!(targets[1]["kind"], "flow");
    assert_eq!(targets[1]["result"], "failed", "{doc}");
    // The notes sat under runFlowJobType, not extractRefreshJob.
    assert!(
        targets[1]["error"]
            .as_str()
            .unwrap()
            .contains("table is locked"),
        "{doc}"
    );
    // Targets run concurrently: the order of arrival is not fixed.
    let mut runs = fake.flow_runs();
    runs.sort();
    assert_eq!(runs, ["flow-clean", "flow-daily"]);
    assert_eq!(fake.count("POST", "/refresh").await, 0);
    assert!(
        targets.iter().all(|t| t.get("incremental").is_none()),
        "{doc}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_name_in_two_projects_is_ambiguous_and_names_them() {
    let fake = fake_at(VERSION).await;
    let out = run(against(&fake), &["refresh", "--flow", "Clean Orders"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("flow \"Clean Orders\""), "{out:#?}");
    assert!(out.stdout.contains("Archive, Prep"), "{out:#?}");
    assert!(fake.flow_runs().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_sends_the_xml_body_on_3_25() {
    let fake = fake_at(VERSION).await;
    let out = run(
        against(&fake),
        &[
            "refresh",
            "--workbook",
            "Weekly KPIs",
            "--datasource",
            "Orders",
            "--flow-id",
            "flow-daily",
            "--incremental",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    let doc = out.json();
    assert_eq!(doc["targets"][0]["incremental"], true, "{doc}");
    assert_eq!(doc["targets"][1]["incremental"], true, "{doc}");
    // A flow has no incremental run: run as usual, not marked.
    assert!(doc["targets"][2].get("incremental").is_none(), "{doc}");
    let mut incremental = fake.incremental_refreshes();
    incremental.sort();
    assert_eq!(incremental, ["ds-orders", "wb-kpi"]);
    let sent = fake.requests("POST", "/workbooks/wb-kpi/refresh").await;
    assert_eq!(
        sent[0].headers["content-type"].to_str().unwrap(),
        "application/xml"
    );
    assert_eq!(
        String::from_utf8_lossy(&sent[0].body),
        r#"<tsRequest><extractRefresh incremental="true"/></tsRequest>"#
    );
    // Without the flag: the full refresh's JSON body.
    let out = run(against(&fake), &["refresh", "--workbook", "Weekly KPIs"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(fake.incremental_refreshes().len(), 2);
    assert!(!out.stdout.contains("incremental"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_before_3_25_fails_naming_the_version_it_needs() {
    let fake = fake_at("3.22").await;
    let out = run(
        against(&fake),
        &[
            "refresh",
            "--workbook",
            "Weekly KPIs",
            "--incremental",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    let target = &out.json()["targets"][0];
    assert_eq!(target["result"], "failed");
    assert_eq!(target["incremental"], true);
    let error = target["error"].as_str().unwrap();
    assert!(
        error.contains("REST API 3.25") && error.contains("3.22"),
        "{error}"
    );
    // Never sent: the server would have refused or, worse, refreshed in full.
    assert_eq!(fake.count("POST", "/refresh").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_past_the_timeout_is_cancelled_and_the_answer_says_so() {
    let fake = fake_at(VERSION).await;
    fake.script_job("job-wb-kpi", JobScript::runs_forever());
    fake.script_job("job-flow-daily", JobScript::runs_forever());
    fake.refuse_cancel(
        "job-flow-daily",
        409,
        "409000",
        "The job has already completed.",
    );
    let out = run(
        quick(&fake),
        &[
            "refresh",
            "--workbook",
            "Weekly KPIs",
            "--flow-id",
            "flow-daily",
            "--wait",
            "--timeout",
            "0.02",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    let doc = out.json();
    let (wb, flow) = (&doc["targets"][0], &doc["targets"][1]);
    assert_eq!(wb["result"], "timed_out", "{doc}");
    assert_eq!(wb["cancel"]["accepted"], true, "{doc}");
    let error = wb["error"].as_str().unwrap();
    assert!(
        error.contains("(--timeout)") && error.contains("cancelled in Tableau"),
        "{error}"
    );
    assert!(!error.contains("may still finish"), "{error}");
    assert_eq!(flow["result"], "timed_out", "{doc}");
    assert_eq!(flow["cancel"]["accepted"], false, "{doc}");
    assert!(
        flow["cancel"]["error"]
            .as_str()
            .unwrap()
            .contains("already completed"),
        "{doc}"
    );
    assert!(
        flow["error"]
            .as_str()
            .unwrap()
            .contains("cancelling it in Tableau failed"),
        "{doc}"
    );
    let mut cancels = fake.cancels();
    cancels.sort();
    assert_eq!(cancels, ["job-flow-daily", "job-wb-kpi"]);
    // Each cancel ran in a session that then signed out.
    assert!(fake.state.lock().unwrap().live_token.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_on_timeout_false_leaves_the_job_running() {
    let fake = fake_at(VERSION).await;
    fake.script_job("job-wb-kpi", JobScript::runs_forever());
    let mut command = quick(&fake);
    command.env("CANCEL_ON_TIMEOUT", "false");
    let out = run(
        command,
        &[
            "refresh",
            "--workbook",
            "Weekly KPIs",
            "--wait",
            "--timeout",
            "0.01",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    let target = &out.json()["targets"][0];
    assert_eq!(target["result"], "timed_out");
    assert!(target.get("cancel").is_none(), "{target}");
    assert!(
        target["error"]
            .as_str()
            .unwrap()
            .contains("may still finish")
    );
    assert!(fake.cancels().is_empty());
    // A value that is neither is a configuration error, before Tableau is asked.
    let mut command = quick(&fake);
    command.env("CANCEL_ON_TIMEOUT", "sometimes");
    let out = run(command, &["refresh", "--workbook", "Weekly KPIs", "--wait"]).await;
    out.assert_usage_error("CANCEL_ON_TIMEOUT");
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_and_help() {
    let fake = fake_at(VERSION).await;
    let out = run(
        against(&fake),
        &["refresh", "--flow", "Daily Prep", "--incremental"],
    )
    .await;
    out.assert_usage_error("--incremental applies to the extracts of workbooks and data sources");
    let out = run(against(&fake), &["refresh", "--flow", ""]).await;
    assert_eq!(out.code, 2, "{out:#?}");
    let out = run(
        against(&fake),
        &["refresh", "--flow-id", "x", "--target-dir", "t"],
    )
    .await;
    assert_eq!(out.code, 2, "{out:#?}");
    let out = run(against(&fake), &["refresh", "--help"]).await;
    assert_eq!(out.code, 0);
    for flag in [
        "--flow <NAME>",
        "--flow-id <LUID>",
        "--incremental",
        "CANCEL_ON_TIMEOUT",
    ] {
        assert!(out.stdout.contains(flag), "{flag}: {}", out.stdout);
    }
    assert_eq!(fake.total_requests().await, 0);
}
