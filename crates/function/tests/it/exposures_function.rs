//! `{"exposures": true}` through the whole function: a signed
//! `job.run.completed` in, the run's real dbt artifacts (tests/artifacts/) from
//! the fake dbt Cloud, the fake Tableau refreshing, the answer out, held
//! against each set's expected_decision.json.

use crate::common;
use crate::exposures_harness;
use dbt_tableau_testkit::fake_dbt_cloud;
use dbt_tableau_testkit::fake_tableau;

use common::invoke;
use exposures_harness::*;
use fake_dbt_cloud::TOKEN;
use fake_tableau::{FakeTableau, item};
use serde_json::{Value, json};

const EXPOSURES: &str = r#"[{"exposures": true}]"#;

async fn tableau_with(workbook: fake_tableau::Item) -> FakeTableau {
    let (mut workbooks, datasources) = catalogue();
    workbooks.push(workbook);
    let flows = exposures_harness::catalogue_of("flow");
    let fake = FakeTableau::with_flows(workbooks, datasources, flows).await;
    fake.state.lock().unwrap().known_ids_only = true;
    fake
}

#[tokio::test]
async fn errored_run_refreshes_exactly_the_fresh_exposures_items() {
    let (cloud, tableau) = (cloud_one_build("build", 20).await, tableau().await);
    let handler = container(
        &tableau,
        &cloud,
        &[("REFRESH_TARGETS", EXPOSURES)],
        Some(TOKEN),
    );
    let (status, answer) = invoke(&handler, &completed_event(20)).await;

    let expected = expected("build");
    let direct = assert_decision(&answer, &expected, "queued");
    assert!(direct.is_empty(), "{answer}");
    // The malformed exposures sit below fresh models: they are touched, so
    // they fail the answer (not retryable, 200); skipped ones alone would not.
    assert!(!expected["malformed"].as_array().unwrap().is_empty());
    assert_eq!((status, answer["status"].as_str()), (200, Some("failed")));
    // One POST per item: "Weekly KPIs" is named by two exposures.
    let posts = refresh_posts(&tableau).await;
    assert_eq!(posts, expected_posts(&expected));
    assert!(posts.contains(&"workbooks/wb-weekly-kpis-ops".to_owned()));
    let requests = cloud.requests().await;
    assert!(
        requests
            .iter()
            .any(|r| r.ends_with("include_related=[\"run_steps\"]")),
        "{requests:?}"
    );
}

#[tokio::test]
async fn multi_step_run_counts_seed_run_and_test_but_not_docs_generate() {
    let (cloud, tableau) = (cloud_steps().await, tableau().await);
    let handler = container(
        &tableau,
        &cloud,
        &[("REFRESH_TARGETS", EXPOSURES)],
        Some(TOKEN),
    );
    let (status, answer) = invoke(&handler, &completed_event(20)).await;

    let expected = expected("steps");
    let counted: Vec<bool> = expected["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["counted"].as_bool().unwrap())
        .collect();
    assert_eq!(counted, [true, true, true, false]);
    assert!(assert_decision(&answer, &expected, "queued").is_empty());
    assert_eq!((status, answer["status"].as_str()), (200, Some("failed")));
    assert_eq!(refresh_posts(&tableau).await, expected_posts(&expected));
    // The docs step's results were read (and all say success): had they
    // counted as the last word, revenue_by_currency's error would be gone.
    let requests = cloud.requests().await;
    assert!(
        requests
            .iter()
            .any(|r| r.ends_with("run_results.json?step=6")),
        "{requests:?}"
    );
    let revenue = answer["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["exposure"] == "exposure.tableau_demo.revenue_workbook")
        .expect("revenue_workbook listed");
    assert_eq!(revenue["result"], "skipped", "{revenue}");
}

/// The build set's manifest without its malformed exposures.
fn manifest_without_malformed(expected: &Value) -> Vec<u8> {
    let text = std::fs::read_to_string(set("build").join("manifest.json")).unwrap();
    let mut manifest: Value = serde_json::from_str(&text).unwrap();
    for malformed in expected["malformed"].as_array().unwrap() {
        let id = malformed["exposure"].as_str().unwrap();
        manifest["exposures"].as_object_mut().unwrap().remove(id);
        manifest["parent_map"].as_object_mut().unwrap().remove(id);
        for children in manifest["child_map"].as_object_mut().unwrap().values_mut() {
            children.as_array_mut().unwrap().retain(|c| c != id);
        }
    }
    serde_json::to_vec(&manifest).unwrap()
}

#[tokio::test]
async fn skipped_exposures_are_not_failures_the_answer_is_queued() {
    let (cloud, tableau) = (cloud_one_build("build", 20).await, tableau().await);
    let mut expected = expected("build");
    cloud.serve("manifest.json", 3, manifest_without_malformed(&expected));
    expected["malformed"] = json!([]);
    let handler = container(
        &tableau,
        &cloud,
        &[("REFRESH_TARGETS", EXPOSURES)],
        Some(TOKEN),
    );
    let (status, answer) = invoke(&handler, &completed_event(20)).await;

    assert!(assert_decision(&answer, &expected, "queued").is_empty());
    assert!(!expected["skipped"].as_array().unwrap().is_empty());
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")));
    assert_eq!(refresh_posts(&tableau).await, expected_posts(&expected));
}

#[tokio::test]
async fn dry_run_reads_dbt_cloud_and_never_tableau() {
    let (cloud, tableau) = (cloud_one_build("build", 20).await, tableau().await);
    // A dry run needs only the webhook key and, for exposures, the token.
    let secrets = common::FixedSecrets::new(&[
        ("DBT_WEBHOOK_KEY", common::DEMO_KEY),
        ("DBT_CLOUD_API_TOKEN", TOKEN),
    ]);
    let handler = common::handler(
        common::settings(&[("REFRESH_TARGETS", EXPOSURES), ("DRY_RUN", "true")]),
        secrets,
        std::sync::Arc::new(tableau.refresher()),
    )
    .with_resolver(Ok(resolver(&cloud)));
    let (status, answer) = invoke(&handler, &completed_event(20)).await;

    assert_eq!((status, answer["status"].as_str()), (200, Some("dry_run")));
    let expected = expected("build");
    assert!(assert_decision(&answer, &expected, "dry_run").is_empty());
    assert_eq!(tableau.total_requests().await, 0);
    assert!(cloud.requests().await.len() >= 3);
}

#[tokio::test]
async fn entries_naming_items_act_only_on_successful_runs() {
    let targets = r#"[{"workbook": "Executive Summary"}, {"exposures": true}]"#;
    let board = || item("wb-exec", "Executive Summary", "Board");

    // Errored: the exposures' items only.
    let (cloud, tableau) = (
        cloud_one_build("build", 20).await,
        tableau_with(board()).await,
    );
    let handler = container(
        &tableau,
        &cloud,
        &[("REFRESH_TARGETS", targets)],
        Some(TOKEN),
    );
    let (status, answer) = invoke(&handler, &completed_event(20)).await;
    let expected = expected("build");
    assert!(assert_decision(&answer, &expected, "queued").is_empty());
    assert_eq!(status, 200);
    assert_eq!(refresh_posts(&tableau).await, expected_posts(&expected));

    // Successful: both.
    let (cloud, tableau) = (
        cloud_one_build("success", 10).await,
        tableau_with(board()).await,
    );
    let handler = container(
        &tableau,
        &cloud,
        &[("REFRESH_TARGETS", targets)],
        Some(TOKEN),
    );
    let (status, answer) = invoke(&handler, &completed_event(10)).await;
    let expected = exposures_harness::expected("success");
    let direct = assert_decision(&answer, &expected, "queued");
    assert_eq!(status, 200);
    assert_eq!(direct.len(), 1, "{answer}");
    assert_eq!(
        (&direct[0]["name"], &direct[0]["result"], &direct[0]["id"]),
        (
            &json!("Executive Summary"),
            &json!("queued"),
            &json!("wb-exec")
        )
    );
    let mut want = expected_posts(&expected);
    want.push("workbooks/wb-exec".into());
    want.sort();
    assert_eq!(refresh_posts(&tableau).await, want);
}

#[tokio::test]
async fn an_item_named_directly_and_by_an_exposure_is_refreshed_once() {
    let targets = r#"[{"workbook": "Weekly KPIs", "project": "Ops"}, {"exposures": true}]"#;
    let (cloud, tableau) = (cloud_one_build("success", 10).await, tableau().await);
    let handler = container(
        &tableau,
        &cloud,
        &[("REFRESH_TARGETS", targets)],
        Some(TOKEN),
    );
    let (status, answer) = invoke(&handler, &completed_event(10)).await;
    assert_eq!(status, 200);

    // The direct entry comes first and wins: its element names no exposure.
    let mut expected = expected("success");
    let kpis = json!({"kind": "workbook", "name": "Weekly KPIs", "project": "Ops"});
    let all = refreshes(&expected);
    assert!(all.iter().any(|i| key(i) == key(&kpis)));
    expected["refresh"] = all.into_iter().filter(|i| key(i) != key(&kpis)).collect();
    let direct = assert_decision(&answer, &expected, "queued");
    assert_eq!(direct.len(), 1, "{answer}");
    assert_eq!(key(&direct[0]), key(&kpis));
    assert_eq!(direct[0]["result"], "queued");
    let posts = refresh_posts(&tableau).await;
    let kpi_posts = posts
        .iter()
        .filter(|p| *p == "workbooks/wb-weekly-kpis-ops");
    assert_eq!(kpi_posts.count(), 1, "{posts:?}");
    assert_eq!(posts.len(), expected_posts(&expected).len() + 1);
}

#[tokio::test]
async fn exposure_entries_are_routed_by_jobs_like_any_entry() {
    let targets = r#"[{"exposures": true, "jobs": ["999"]}]"#;
    let (cloud, tableau) = (cloud_one_build("build", 20).await, tableau().await);
    let handler = container(
        &tableau,
        &cloud,
        &[("REFRESH_TARGETS", targets)],
        Some(TOKEN),
    );
    let (status, answer) = invoke(&handler, &completed_event(20)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ignored")));
    assert!(cloud.requests().await.is_empty());
    assert_eq!(tableau.total_requests().await, 0);
}
