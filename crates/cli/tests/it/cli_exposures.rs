//! `dbt-tableau refresh` and `check` on the real dbt artifacts of tests/artifacts/
//! (dbt-core 1.11): what they refresh, skip and report as malformed, checked
//! against each set's expected_decision.json, and the fake Tableau's requests.

use crate::cli_support;
use dbt_tableau_testkit::fake_tableau;

use cli_support::{Run, against, artifacts, bare, run};
use fake_tableau::{FakeTableau, item};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every item the artifacts' exposures name, LUIDs included.
async fn exposures_fake() -> FakeTableau {
    FakeTableau::start_full(
        fake_tableau::VERSION,
        vec![
            item("wb-kpi", "Weekly KPIs", "Ops"),
            item("wb-history", "Order History", "Finance"),
            item("wb-usage", "Product Usage", "Product"),
            item(
                "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
                "Product KPIs",
                "Product",
            ),
            item("wb-sales", "Sales", "Finance"),
            item("6f1c2a3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b", "Revenue", "Finance"),
        ],
        vec![
            item("ds-orders", "Orders", "Data"),
            item("ds-events", "Events", "Product"),
            item(
                "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a",
                "Product Events",
                "Product",
            ),
            item("ds-customers", "Customers", "Data"),
            item(
                "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
                "Finance Extract",
                "Finance",
            ),
            item("ds-orders-history", "Orders History", "Data"),
        ],
        vec![item("flow-clean-orders", "Clean Orders", "Prep")],
    )
    .await
}

fn expected(set: &str) -> Value {
    let text = std::fs::read_to_string(artifacts(set).join("expected_decision.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// An item as both documents name it: kind, name and project, or kind and LUID
/// (a queued item named by name also has the LUID Tableau gave).
fn key(v: &Value) -> String {
    match &v["name"] {
        Value::Null => format!("{}|{}", v["kind"], v["id"]),
        name => format!("{}|{name}|{}", v["kind"], v["project"]),
    }
}

fn with_result<'a>(doc: &'a Value, result: &str) -> Vec<&'a Value> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["result"] == result)
        .collect()
}

/// The command's targets of `result` are the expected items, and each names an
/// exposure the decision names for it.
fn assert_items(out: &Run, result: &str, expected: &[Value]) {
    let doc = out.json();
    let got: BTreeSet<String> = with_result(&doc, result).iter().map(|t| key(t)).collect();
    let want: BTreeSet<String> = expected.iter().map(key).collect();
    assert_eq!(got, want, "{result}: {doc:#}");
    for target in with_result(&doc, result) {
        assert!(
            target["exposure"]
                .as_str()
                .unwrap()
                .starts_with("exposure.tableau_demo.")
        );
    }
}

fn assert_decision(out: &Run, set: &str, fresh_result: &str) {
    let want = expected(set);
    assert_items(out, fresh_result, want["refresh"].as_array().unwrap());
    let skipped: Vec<Value> = want["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["items"].as_array().unwrap().clone())
        .collect();
    assert_items(out, "skipped", &skipped);
    let doc = out.json();
    for skip in want["skipped"].as_array().unwrap() {
        let target = with_result(&doc, "skipped")
            .into_iter()
            .find(|t| key(t) == key(&skip["items"][0]))
            .unwrap();
        let error = target["error"].as_str().unwrap();
        // The report names a blocking node and its status.
        assert!(
            skip["blocked_by"].as_array().unwrap().iter().any(|b| {
                error.contains(b["node"].as_str().unwrap())
                    && error.contains(b["status"].as_str().unwrap())
            }),
            "{error} vs {skip}"
        );
    }
    let malformed: BTreeSet<&str> = with_result(&doc, "failed")
        .iter()
        .map(|t| t["exposure"].as_str().unwrap())
        .collect();
    let want_malformed: BTreeSet<&str> = want["malformed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["exposure"].as_str().unwrap())
        .collect();
    assert_eq!(malformed, want_malformed);
    for failed in with_result(&doc, "failed") {
        assert_eq!(failed["kind"], Value::Null, "{failed}");
        assert!(
            failed["error"].as_str().unwrap().contains("meta.tableau"),
            "{failed}"
        );
    }
}

fn dir_arg(dir: &Path) -> String {
    dir.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_what_refresh_would_do_with_each_artifact_set() {
    for set in ["build", "success"] {
        let dir = dir_arg(&artifacts(set));
        let out = run(bare(), &["check", "--json", "--target-dir", &dir]).await;
        // Each set holds three malformed meta.tableau: status 1.
        assert_eq!(out.code, 1, "{set}: {out:#?}");
        assert_eq!(out.json()["status"], "dry_run");
        assert_decision(&out, set, "dry_run");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_queues_the_fresh_items_once_and_skips_the_blocked_ones() {
    let fake = exposures_fake().await;
    let dir = dir_arg(&artifacts("build"));
    let out = run(against(&fake), &["refresh", "--json", "--target-dir", &dir]).await;
    assert_eq!(out.code, 1, "the malformed exposures fail: {out:#?}");
    assert_eq!(out.json()["status"], "failed");
    assert_decision(&out, "build", "queued");
    // Weekly KPIs is named by two exposures and refreshed once; nothing skipped is.
    assert_eq!(fake.count("POST", "/refresh").await, 8);
    // The flow is run, the incremental data source refreshed incrementally.
    assert_eq!(fake.flow_runs(), ["flow-clean-orders"]);
    assert_eq!(fake.incremental_refreshes(), ["ds-orders-history"]);
    for blocked in [
        "wb-sales/",
        "6f1c2a3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b/",
        "ds-customers/",
    ] {
        assert_eq!(fake.count("POST", &format!("{blocked}refresh")).await, 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn human_output_names_exposures_and_reasons() {
    let fake = exposures_fake().await;
    let dir = dir_arg(&artifacts("build"));
    let out = run(against(&fake), &["refresh", "--target-dir", &dir]).await;
    assert_eq!(out.code, 1);
    for line in [
        "queued   workbook \"Weekly KPIs\" [Ops]  job job-wb-kpi  (exposure.tableau_demo.kpi_email)",
        "skipped  workbook \"Sales\"  (exposure.tableau_demo.sales_overview)",
        "failed   exposure exposure.tableau_demo.broken_number",
        "queued   flow \"Clean Orders\" [Prep]  job job-flow-clean-orders  (exposure.tableau_demo.orders_prep_flow)",
        "queued   data source \"Orders History\" [Data] (incremental)  job job-ds-orders-history",
        "16 targets: 9 queued, 4 skipped, 3 failed",
    ] {
        assert!(out.stdout.contains(line), "want {line:?}: {}", out.stdout);
    }
}

/// A copy of `set` under the test's scratch directory, with `edit` applied to
/// the manifest and `results` (when given) as run_results.json.
fn scratch(name: &str, set: &str, edit: impl FnOnce(&mut Value), results: Option<&str>) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-exposures-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = artifacts(set);
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("manifest.json")).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    let results = match results {
        Some(text) => text.to_owned(),
        None => std::fs::read_to_string(src.join("run_results.json")).unwrap(),
    };
    std::fs::write(dir.join("run_results.json"), results).unwrap();
    dir
}

fn without_broken(manifest: &mut Value) {
    let exposures = manifest["exposures"].as_object_mut().unwrap();
    exposures.retain(|id, _| !id.contains(".broken_"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_successful_run_exits_0_and_follows_every_job() {
    let fake = exposures_fake().await;
    let dir = scratch("clean", "success", without_broken, None);
    let mut command = against(&fake);
    cli_support::quick_polls(&mut command);
    let out = run(
        command,
        &[
            "refresh",
            "--json",
            "--wait",
            "--target-dir",
            &dir_arg(&dir),
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["status"], "succeeded");
    // Eleven extract refreshes, one of them incremental, and the flow's run.
    assert_eq!(with_result(&out.json(), "succeeded").len(), 13);
    assert_eq!(fake.count("POST", "/refresh").await, 12);
    assert_eq!(fake.count("POST", "/run").await, 1);

    let out = run(bare(), &["check", "--target-dir", &dir_arg(&dir)]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.ends_with("13 targets: 13 dry_run\n"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_fresh_is_nothing_to_do() {
    let fake = exposures_fake().await;
    let empty = json!({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"},
                       "args": {"which": "build"}, "results": []});
    let dir = scratch(
        "nothing",
        "success",
        without_broken,
        Some(&empty.to_string()),
    );
    let out = run(against(&fake), &["refresh", "--target-dir", &dir_arg(&dir)]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.starts_with("nothing to refresh"), "{out:#?}");
    let out = run(
        against(&fake),
        &["refresh", "--json", "--target-dir", &dir_arg(&dir)],
    )
    .await;
    assert_eq!(out.json(), json!({"status": "queued", "targets": []}));
    assert!(fake.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_contacts_nothing() {
    let dir = dir_arg(&artifacts("build"));
    let out = run(
        bare(),
        &["refresh", "--dry-run", "--json", "--target-dir", &dir],
    )
    .await;
    assert_eq!(out.code, 1, "the malformed exposures: {out:#?}");
    assert_eq!(out.json()["status"], "dry_run");
    assert_decision(&out, "build", "dry_run");
}
