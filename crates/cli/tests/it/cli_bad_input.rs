//! Artifacts `dbt-tableau` can't use: each is an input error (status 2) whose
//! message names the file and what is wrong, never a panic, for `check`,
//! `refresh` and `refresh --dry-run` alike, before any Tableau call.

use crate::cli_support;
use dbt_tableau_testkit::fake_tableau;

use cli_support::{against, artifacts, bare, run};
use fake_tableau::small_fake;
use std::path::{Path, PathBuf};

/// A target directory holding `manifest` and `results` (file contents; `None`
/// leaves the file out).
fn target_dir(name: &str, manifest: Option<&[u8]>, results: Option<&[u8]>) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-bad-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(bytes) = manifest {
        std::fs::write(dir.join("manifest.json"), bytes).unwrap();
    }
    if let Some(bytes) = results {
        std::fs::write(dir.join("run_results.json"), bytes).unwrap();
    }
    dir
}

fn real(set: &str, file: &str) -> Vec<u8> {
    std::fs::read(artifacts(set).join(file)).unwrap()
}

/// The manifest with its schema version replaced (dbt 1.4 wrote v8).
fn manifest_of_version(schema: &str) -> Vec<u8> {
    let text = String::from_utf8(real("build", "manifest.json")).unwrap();
    text.replace(
        "https://schemas.getdbt.com/dbt/manifest/v12.json",
        &format!("https://schemas.getdbt.com/dbt/manifest/{schema}.json"),
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_artifacts_are_input_errors_naming_the_file() {
    let manifest = real("build", "manifest.json");
    let results = real("build", "run_results.json");
    let truncated = &manifest[..manifest.len() / 2];
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "missing target directory",
            PathBuf::from("/nonexistent/target"),
            "target directory /nonexistent/target does not exist",
        ),
        (
            "no run_results",
            target_dir("no-results", Some(&manifest), None),
            "run_results.json not found",
        ),
        (
            "no manifest",
            target_dir("no-manifest", None, Some(&results)),
            "manifest.json not found",
        ),
        (
            "manifest not JSON",
            target_dir(
                "not-json",
                Some(b"<html>502 Bad Gateway</html>"),
                Some(&results),
            ),
            "manifest.json is not a valid dbt artifact",
        ),
        (
            "manifest cut short",
            target_dir("truncated", Some(truncated), Some(&results)),
            "manifest.json is not a valid dbt artifact",
        ),
        (
            "empty manifest",
            target_dir("empty", Some(b""), Some(&results)),
            "manifest.json",
        ),
        (
            "manifest of dbt 1.4",
            target_dir("old", Some(&manifest_of_version("v8")), Some(&results)),
            "manifest schema v8",
        ),
        (
            "run_results in place of the manifest",
            target_dir("swapped", Some(&results), Some(&results)),
            "not a manifest",
        ),
        (
            "manifest in place of run_results",
            target_dir("swapped2", Some(&manifest), Some(&manifest)),
            "run_results.json",
        ),
        (
            "run_results not JSON",
            target_dir(
                "results-not-json",
                Some(&manifest),
                Some(b"{\"results\": ["),
            ),
            "run_results.json is not a valid dbt artifact",
        ),
        (
            "docs generate's run_results",
            target_dir(
                "docs",
                Some(&real("steps", "manifest.json")),
                Some(&real("steps", "step4_docs.json")),
            ),
            "written by `dbt docs generate`, which runs no model",
        ),
    ];
    let fake = small_fake().await;
    for (what, dir, needle) in cases {
        let dir = dir.to_str().unwrap().to_owned();
        for args in [
            vec!["check", "--target-dir", &dir],
            vec!["refresh", "--json", "--target-dir", &dir],
            vec!["refresh", "--dry-run", "--target-dir", &dir],
        ] {
            let command = if args.contains(&"--dry-run") || args[0] == "check" {
                bare()
            } else {
                against(&fake)
            };
            let out = run(command, &args).await;
            assert_eq!(out.code, 2, "{what}, {args:?}: {out:#?}");
            assert!(
                out.stderr.contains(needle),
                "{what}, {args:?}: want {needle:?} in {}",
                out.stderr
            );
            assert!(
                out.stdout.is_empty() && !out.stderr.contains("panicked"),
                "{what}: {out:#?}"
            );
        }
    }
    assert!(fake.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_manifest_schema_is_read() {
    // dbt keeps the fields the decision uses; a dbt upgrade must not stop refreshes.
    let dir = target_dir(
        "newer",
        Some(&manifest_of_version("v13")),
        Some(&real("build", "run_results.json")),
    );
    let out = run(
        bare(),
        &["check", "--json", "--target-dir", dir.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, 1, "malformed exposures only: {out:#?}");
    assert_eq!(out.json()["status"], "dry_run");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_target_directory_is_target_under_the_working_directory() {
    let project = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-bad-project");
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("target")).unwrap();
    for file in ["manifest.json", "run_results.json"] {
        std::fs::copy(
            artifacts("build").join(file),
            project.join("target").join(file),
        )
        .unwrap();
    }
    let mut command = bare();
    command.current_dir(&project);
    let out = run(command, &["check", "--json"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    let mut command = bare();
    command.current_dir(project.join("target"));
    run(command, &["check"])
        .await
        .assert_usage_error("target directory target does not exist");
}
