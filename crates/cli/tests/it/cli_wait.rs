//! `dbt-tableau refresh --wait`: following jobs that succeed, fail with notes, get
//! cancelled, can't be read, or never finish, with output piped (timestamped
//! lines) and on a pseudo-terminal (the live display).

use crate::cli_support;
use dbt_tableau_testkit::fake_tableau;

use cli_support::{Run, against, quick_polls, run, run_on_terminal};
use fake_tableau::{FakeTableau, JobScript, small_fake};
use std::process::Command;
use std::time::Duration;

const ALL_THREE: [&str; 7] = [
    "--workbook",
    "Weekly KPIs",
    "--workbook",
    "Sales",
    "--datasource",
    "Orders",
    "--wait",
];

/// Weekly KPIs succeeds after two reads, Sales fails with notes, Orders is cancelled.
async fn mixed_fake() -> FakeTableau {
    let fake = small_fake().await;
    fake.script_job("job-wb-kpi", JobScript::finishes(0).after_reads(2));
    fake.script_job(
        "job-wb-sales",
        JobScript::finishes(1)
            .notes("The data source connection failed: password expired")
            .after_reads(1),
    );
    fake.script_job("job-ds-orders", JobScript::finishes(2));
    fake
}

fn quick(fake: &FakeTableau) -> Command {
    let mut command = against(fake);
    quick_polls(&mut command);
    command
}

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["refresh"];
    args.extend(ALL_THREE);
    args.extend(extra);
    args
}

#[tokio::test(flavor = "multi_thread")]
async fn every_job_followed_to_its_end_with_json() {
    let fake = mixed_fake().await;
    let out = run(quick(&fake), &args(&["--json"])).await;
    assert_eq!(out.code, 1, "{out:#?}");
    let doc = out.json();
    assert_eq!(doc["status"], "failed");
    let results: Vec<&str> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["succeeded", "failed", "cancelled"]);
    let sales = &doc["targets"][1];
    assert_eq!(sales["job_id"], "job-wb-sales");
    assert_eq!(
        sales["notes"],
        "The data source connection failed: password expired"
    );
    assert!(
        sales["error"]
            .as_str()
            .unwrap()
            .contains("password expired"),
        "{sales}"
    );
    assert!(doc["targets"][0]["completed_at"].is_string(), "{doc}");
    // Weekly KPIs ran two reads before it ended: three checks at least.
    assert!(fake.job_reads() >= 5, "{}", fake.job_reads());
}

#[tokio::test(flavor = "multi_thread")]
async fn all_succeeded_exits_0() {
    let fake = small_fake().await;
    fake.script_job("job-wb-kpi", JobScript::finishes(0).after_reads(1));
    fake.script_job("job-wb-sales", JobScript::finishes(3));
    let out = run(quick(&fake), &args(&["--json"])).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["status"], "succeeded");
    assert!(
        out.results()
            .iter()
            .all(|(result, _)| result == "succeeded"),
        "{out:#?}"
    );
}

/// `2026-11-28T07:29:32Z <what>` lines only.
fn assert_timestamped(stderr: &str) {
    for line in stderr.lines() {
        let (stamp, _) = line.split_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        assert!(
            stamp.len() == 20 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{line:?} in {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn piped_output_is_timestamped_lines_of_each_change() {
    let fake = mixed_fake().await;
    let out = run(quick(&fake), &args(&[])).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert_timestamped(&out.stderr);
    for change in [
        "Z workbook \"Weekly KPIs\": queued, job job-wb-kpi\n",
        "Z workbook \"Weekly KPIs\": running (0%)\n",
        "Z workbook \"Weekly KPIs\": running (50%)\n",
        "Z workbook \"Weekly KPIs\": succeeded in ",
        "workbook \"Sales\": failed in ",
        " s: The data source connection failed: password expired",
        "data source \"Orders\": cancelled",
        "3 jobs running; next check in 1 s",
    ] {
        assert!(
            out.stderr.contains(change),
            "want {change:?}: {}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains('\x1b'), "no terminal codes in a pipe");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("succeeded  workbook \"Weekly KPIs\"  job job-wb-kpi, "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("failed     workbook \"Sales\"  job job-wb-sales, "),
        "{lines:?}"
    );
    assert!(lines[2].contains("password expired"), "{lines:?}");
    assert_eq!(
        lines.last(),
        Some(&"3 targets: 1 succeeded, 1 failed, 1 cancelled")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_never_finishes_times_out_at_the_timeout_flag() {
    let fake = small_fake().await;
    fake.script_job("job-wb-kpi", JobScript::runs_forever());
    let started = std::time::Instant::now();
    // 0.03 minutes: 1.8 s.
    let out = run(
        quick(&fake),
        &[
            "refresh",
            "--workbook",
            "Weekly KPIs",
            "--wait",
            "--timeout",
            "0.03",
            "--json",
        ],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.json()["status"], "failed");
    let target = &out.json()["targets"][0];
    assert_eq!(target["result"], "timed_out");
    let error = target["error"].as_str().unwrap();
    assert!(
        error.contains("(--timeout)") && !error.contains("REFRESH_TIMEOUT"),
        "{error}"
    );
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeout_variable_applies_without_the_flag() {
    let fake = small_fake().await;
    fake.script_job("job-wb-kpi", JobScript::runs_forever());
    let mut command = quick(&fake);
    command.env("REFRESH_TIMEOUT_MINUTES", "0.01");
    let out = run(
        command,
        &["refresh", "--workbook", "Weekly KPIs", "--wait", "--json"],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.results()[0].0, "timed_out");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_tableau_does_not_know_is_unknown() {
    let fake = small_fake().await;
    fake.job_error(
        "job-wb-kpi",
        404,
        "404031",
        "Not Found",
        "Job could not be found.",
    );
    let out = run(
        quick(&fake),
        &["refresh", "--workbook", "Weekly KPIs", "--wait", "--json"],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.results()[0].0, "unknown");
}

#[tokio::test(flavor = "multi_thread")]
async fn already_queued_and_failed_refreshes_are_not_followed() {
    let fake = small_fake().await;
    fake.answer_refresh(
        "wb-kpi",
        409,
        serde_json::json!({"error": {"code": "409093", "summary": "Resource Conflict", "detail": "queued"}}),
    );
    let out = run(
        quick(&fake),
        &[
            "refresh",
            "--workbook",
            "Weekly KPIs",
            "--workbook",
            "Nope",
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    let results: Vec<String> = out.results().into_iter().map(|(r, _)| r).collect();
    assert_eq!(results, ["already_queued", "failed"]);
    assert_eq!(fake.job_reads(), 0);
}

fn assert_live(out: &Run) {
    let screen = &out.stdout;
    // The display redraws with cursor movements and line erasure...
    assert!(screen.contains("\x1b["), "{screen:?}");
    // ...and is cleared before the result, which is printed once, plainly.
    assert!(
        !screen.contains("Z workbook"),
        "no timestamped lines: {screen:?}"
    );
    assert!(
        screen.contains("3 targets: 1 succeeded, 1 failed, 1 cancelled"),
        "{screen:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_a_live_display_then_the_result() {
    let fake = mixed_fake().await;
    fake.script_job(
        "job-wb-kpi",
        JobScript::finishes(0).after(Duration::from_secs(2)),
    );
    let out = run_on_terminal(quick(&fake), &args(&[])).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert_live(&out);
    // The spinner's line for the job, drawn while it ran.
    assert!(out.stdout.contains("running (50%)"), "{:?}", out.stdout);
    assert!(out.stdout.contains("next check in"), "{:?}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_json_still_ends_with_one_document() {
    let fake = small_fake().await;
    let out = run_on_terminal(
        quick(&fake),
        &["refresh", "--workbook", "Weekly KPIs", "--wait", "--json"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    // After the display's last erase, on the line it cleared.
    let at = out.stdout.rfind("{\"status\"").expect("a document");
    let doc: serde_json::Value = serde_json::from_str(out.stdout[at..].trim())
        .unwrap_or_else(|e| panic!("{e}: {:?}", out.stdout));
    assert_eq!(doc["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dumb_terminal_gets_the_plain_lines() {
    let fake = small_fake().await;
    let mut command = quick(&fake);
    command.env("TERM", "dumb");
    let out = run_on_terminal(command, &["refresh", "--workbook", "Weekly KPIs", "--wait"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(!out.stdout.contains('\x1b'), "{:?}", out.stdout);
    assert!(
        out.stdout
            .contains("Z workbook \"Weekly KPIs\": succeeded in "),
        "{:?}",
        out.stdout
    );
}
