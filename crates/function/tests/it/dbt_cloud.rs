//! The dbt Cloud client against a fake Administrative API v2: a run with its
//! steps, every step's run results and the manifest streamed as they arrive,
//! and the answers an operator must be told about (401, 403, 404).

use dbt_tableau_testkit::fake_dbt_cloud;

use dbt_tableau_engine::dbt_cloud::stream::Consume;
use dbt_tableau_engine::dbt_cloud::{ArtifactReader, DbtCloud, DbtCloudError, Run};
use fake_dbt_cloud::*;
use secrecy::SecretString;
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn token(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

fn client(fake: &FakeDbtCloud) -> DbtCloud {
    DbtCloud::new(DbtCloud::default_http().unwrap(), &fake.uri()).unwrap()
}

/// What the streaming client read of a run: each artifact's bytes, in the
/// order they arrived.
#[derive(Debug)]
pub struct Fetched {
    pub run: Run,
    pub manifest: Vec<u8>,
    pub run_results: Vec<(u32, Vec<u8>)>,
}

/// A "parse" that keeps every byte of an artifact.
pub fn whole() -> Consume<std::io::Result<Vec<u8>>> {
    Arc::new(|mut reader: ArtifactReader| {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map(|_| bytes)
    })
}

/// The run's artifacts through [`DbtCloud::stream_run_artifacts`] (what the
/// exposure resolver reads them with), each parse being "keep every byte".
pub async fn fetch(
    cloud: &DbtCloud,
    token: &SecretString,
    account: &str,
    run: &str,
    deadline: Instant,
) -> Result<Fetched, DbtCloudError> {
    let whole = whole();
    let mut run_results = Vec::new();
    let streamed = cloud
        .stream_run_artifacts(
            token,
            account,
            run,
            deadline,
            whole.clone(),
            whole,
            |step, bytes| run_results.push((step, bytes.expect("a whole run_results.json"))),
        )
        .await?;
    Ok(Fetched {
        run: streamed.run,
        manifest: streamed.manifest.expect("a whole manifest"),
        run_results,
    })
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// Placeholder artifacts written as files, until the real dbt ones
/// (tests/artifacts/) land: a manifest of a few MB, so that it arrives in many
/// chunks, and one run_results.json per dbt step.
struct Placeholders {
    _dir: TempDir,
    manifest: PathBuf,
    seed: PathBuf,
    build: PathBuf,
    docs: PathBuf,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn placeholders() -> Placeholders {
    let dir = std::env::temp_dir().join(format!(
        "dbt-cloud-test-{}-{:x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let nodes: serde_json::Map<String, serde_json::Value> = (0..6000)
        .map(|i| {
            let id = format!("model.shop.m{i:05}");
            let node = json!({"unique_id": id, "resource_type": "model",
                              "raw_code": format!("select {i} as n -- ünïcode {}", "x".repeat(400))});
            (id, node)
        })
        .collect();
    let write = |name: &str, value: serde_json::Value| {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
        path
    };
    let results = |which: &str, status: &str| {
        json!({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"},
               "args": {"which": which},
               "results": [{"unique_id": "model.shop.m00001", "status": status}]})
    };
    Placeholders {
        manifest: write(
            "manifest.json",
            json!({"metadata": {"dbt_version": "1.11.0"}, "nodes": nodes, "exposures": {}}),
        ),
        seed: write("seed.json", results("seed", "success")),
        build: write("build.json", results("build", "error")),
        docs: write("docs.json", results("generate", "success")),
        _dir: TempDir(dir),
    }
}

/// [`FakeDbtCloud::typical_job`] with run results for seed (4), build (5) and
/// docs generate (6), and the manifest on the last step.
async fn typical() -> (FakeDbtCloud, Placeholders) {
    let fake = FakeDbtCloud::typical_job().await;
    let files = placeholders();
    fake.serve_file("manifest.json", 6, &files.manifest);
    fake.serve_file("run_results.json", 4, &files.seed);
    fake.serve_file("run_results.json", 5, &files.build);
    fake.serve_file("run_results.json", 6, &files.docs);
    (fake, files)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn run_is_read_with_its_steps() {
    let (fake, _files) = typical().await;
    let run = client(&fake)
        .run(&token(TOKEN), ACCOUNT, RUN, soon())
        .await
        .unwrap();
    assert_eq!(run.id, RUN);
    assert_eq!((run.status, run.status_name()), (20, "error"));
    assert!(run.artifacts_saved);
    assert_eq!(run.steps.len(), 6);
    assert_eq!(run.steps[4].index, 5);
    assert_eq!(run.steps[4].name, "Invoke dbt with `dbt build`");
    assert_eq!(run.steps[4].status, 20);
    assert_eq!(
        fake.requests().await,
        [format!(
            "/api/v2/accounts/{ACCOUNT}/runs/{RUN}/?include_related=[\"run_steps\"]"
        )]
    );
}

#[tokio::test]
async fn every_step_with_run_results_is_fetched_in_order_and_the_manifest_streamed() {
    let (fake, files) = typical().await;
    let artifacts = fetch(&client(&fake), &token(TOKEN), ACCOUNT, RUN, soon())
        .await
        .unwrap();
    // Steps 1-3 (clone, profile, deps) answered 404: no run results, skipped.
    let steps: Vec<u32> = artifacts.run_results.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, [4, 5, 6]);
    assert_eq!(artifacts.run_results[0].1, read(&files.seed));
    assert_eq!(artifacts.run_results[1].1, read(&files.build));
    assert_eq!(artifacts.run_results[2].1, read(&files.docs));

    let served = read(&files.manifest);
    assert!(served.len() > 2 << 20, "{} bytes", served.len());
    assert_eq!(artifacts.manifest.len(), served.len());
    assert!(
        artifacts.manifest == served,
        "the manifest arrived with other bytes"
    );
    assert_eq!(artifacts.run.id, RUN);

    let mut requests = fake.requests().await;
    requests.sort();
    let base = format!("/api/v2/accounts/{ACCOUNT}/runs/{RUN}/");
    let mut expected = vec![
        format!("{base}?include_related=[\"run_steps\"]"),
        format!("{base}artifacts/manifest.json"),
    ];
    expected.extend((1..=6).map(|n| format!("{base}artifacts/run_results.json?step={n}")));
    expected.sort();
    assert_eq!(requests, expected);
}

#[tokio::test]
async fn manifest_comes_from_the_last_step_with_results_when_the_last_step_has_none() {
    let fake = FakeDbtCloud::start(
        10,
        vec![
            step("Invoke dbt with `dbt build`", 10),
            step("Invoke dbt with `dbt source freshness`", 10),
        ],
    )
    .await;
    fake.serve("manifest.json", 1, b"{\"nodes\":{}}".to_vec());
    fake.serve("run_results.json", 1, b"{\"results\":[]}".to_vec());
    let artifacts = fetch(&client(&fake), &token(TOKEN), ACCOUNT, RUN, soon())
        .await
        .unwrap();
    assert_eq!(artifacts.manifest, b"{\"nodes\":{}}");
    assert_eq!(artifacts.run_results.len(), 1);
}

#[tokio::test]
async fn run_without_listed_steps_gives_the_default_steps_results() {
    let fake = FakeDbtCloud::start(10, vec![]).await;
    fake.serve("manifest.json", 0, b"{}".to_vec());
    fake.serve("run_results.json", 0, b"{\"results\":[]}".to_vec());
    let artifacts = fetch(&client(&fake), &token(TOKEN), ACCOUNT, RUN, soon())
        .await
        .unwrap();
    assert_eq!(
        artifacts.run_results,
        [(0, b"{\"results\":[]}".to_vec())],
        "step 0 stands for dbt Cloud's default step"
    );
}

#[tokio::test]
async fn unknown_token_is_refused_naming_the_fix() {
    let (fake, _files) = typical().await;
    let error = fetch(
        &client(&fake),
        &token("dbtc_someone-elses"),
        ACCOUNT,
        RUN,
        soon(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, DbtCloudError::Denied { status: 401, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(text.starts_with("dbt Cloud at http://127.0.0.1:"), "{text}");
    assert!(text.contains("refused the token"), "{text}");
    assert!(text.contains("(HTTP 401: Invalid token.)"), "{text}");
    assert!(text.contains("DBT_CLOUD_API_TOKEN"), "{text}");
    assert!(
        text.contains(&format!("permission on account {ACCOUNT}")),
        "{text}"
    );
    // Not retried, and nothing asked after the run.
    assert_eq!(fake.requests().await.len(), 1);
}

#[tokio::test]
async fn token_without_run_access_is_forbidden_naming_the_permission() {
    let (fake, _files) = typical().await;
    let error = fetch(&client(&fake), &token(METADATA_TOKEN), ACCOUNT, RUN, soon())
        .await
        .unwrap_err();
    assert!(
        matches!(error, DbtCloudError::Denied { status: 403, .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(text.contains("does not let the token read run"), "{text}");
    assert!(
        text.contains("Job Viewer") && text.contains("Read-only"),
        "{text}"
    );
    assert!(text.contains("Metadata-only"), "{text}");
}

#[tokio::test]
async fn unknown_run_is_not_found_naming_ids_and_host() {
    let (fake, _files) = typical().await;
    let error = fetch(&client(&fake), &token(TOKEN), ACCOUNT, "999", soon())
        .await
        .unwrap_err();
    assert!(matches!(error, DbtCloudError::NotFound { .. }), "{error:?}");
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(
        text.contains(&format!("has no run 999 (account {ACCOUNT}) (HTTP 404")),
        "{text}"
    );
    assert!(text.contains("DBT_CLOUD_API_URL"), "{text}");
    assert_eq!(fake.requests().await.len(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn run_without_a_manifest_is_not_found() {
    let fake = FakeDbtCloud::typical_job().await;
    fake.serve("run_results.json", 5, b"{\"results\":[]}".to_vec());
    let error = fetch(&client(&fake), &token(TOKEN), ACCOUNT, RUN, soon())
        .await
        .unwrap_err();
    assert!(matches!(error, DbtCloudError::NotFound { .. }), "{error:?}");
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(
        text.contains(&format!("has no manifest.json of run {RUN}")),
        "{text}"
    );
    assert!(text.contains("save artifacts"), "{text}");
    // The default (last) step's and step 5's manifest were both asked for.
    let manifests = fake
        .requests()
        .await
        .into_iter()
        .filter(|r| r.contains("manifest.json"))
        .count();
    assert_eq!(manifests, 2);
}

#[tokio::test]
async fn bad_ids_and_tokens_are_refused_before_any_call() {
    let (fake, _files) = typical().await;
    let cloud = client(&fake);
    for (account, run) in [("../1", RUN), (ACCOUNT, "12?x=1"), (ACCOUNT, "")] {
        let error = cloud
            .run(&token(TOKEN), account, run, soon())
            .await
            .unwrap_err();
        assert!(
            matches!(error, DbtCloudError::InvalidInput { .. }),
            "{error:?}"
        );
    }
    let error = cloud
        .run(&token(" \n"), ACCOUNT, RUN, soon())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("DBT_CLOUD_API_TOKEN is empty"),
        "{error}"
    );
    assert!(fake.requests().await.is_empty());
    // A token pasted with a trailing newline still works.
    let padded = format!("{TOKEN}\n");
    assert!(
        cloud
            .run(&token(&padded), ACCOUNT, RUN, soon())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn env_default_host_is_dbt_clouds() {
    let cloud = DbtCloud::from_lookup(DbtCloud::default_http().unwrap(), |_| None).unwrap();
    assert_eq!(cloud.base_url(), "https://cloud.getdbt.com");
    let error = DbtCloud::from_lookup(DbtCloud::default_http().unwrap(), |_| {
        Some("https://cloud.getdbt.com/api/v2/".into())
    })
    .err()
    .unwrap();
    assert!(error.contains("DBT_CLOUD_API_URL"), "{error}");
}
