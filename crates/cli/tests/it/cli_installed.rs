//! The command as `pip install` puts it on PATH: ./scripts/test.sh builds the wheel
//! with maturin, installs it into a fresh virtual environment and passes the
//! installed file here (DBT_TABLEAU_INSTALLED); this runs it against the fake
//! Tableau and the real dbt artifacts.

use crate::cli_support;
use dbt_tableau_testkit::fake_tableau;

use cli_support::{artifacts, bare, bare_at, pointed, quick_polls, run};
use fake_tableau::{JobScript, small_fake};
use std::path::PathBuf;
use std::time::Instant;

fn installed() -> PathBuf {
    match std::env::var_os("DBT_TABLEAU_INSTALLED") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "DBT_TABLEAU_INSTALLED is not set: run ./scripts/test.sh, which builds the wheel, \
             installs it into target/wheel-venv and sets it to the installed dbt-tableau"
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_installed_command_refreshes_and_waits() {
    let program = installed();
    assert!(
        program.is_file() && program.parent().is_some_and(|bin| bin.ends_with("bin")),
        "{}",
        program.display()
    );
    let version = run(bare_at(&program), &["--version"]).await;
    assert_eq!(version.code, 0, "{version:#?}");
    assert_eq!(
        version.stdout.trim(),
        format!("dbt-tableau {}", env!("CARGO_PKG_VERSION"))
    );

    let fake = small_fake().await;
    fake.script_job("job-wb-kpi", JobScript::finishes(0).after_reads(1));
    let mut command = pointed(bare_at(&program), &fake);
    quick_polls(&mut command);
    let started = Instant::now();
    let out = run(
        command,
        &[
            "refresh",
            "--workbook",
            "Weekly KPIs",
            "--workbook",
            "Sales",
            "--datasource",
            "Orders",
            "--wait",
            "--json",
        ],
    )
    .await;
    eprintln!(
        "installed refresh --wait of 3 items: {:?}",
        started.elapsed()
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["status"], "succeeded");
    assert_eq!(fake.count("POST", "/refresh").await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_installed_command_checks_real_artifacts() {
    let dir = artifacts("success");
    let args = ["check", "--json", "--target-dir", dir.to_str().unwrap()];
    let out = run(bare_at(&installed()), &args).await;
    // success/ has three malformed meta.tableau: check says so with status 1.
    assert_eq!(out.code, 1, "{out:#?}");
    let failed = out.results().iter().filter(|(r, _)| r == "failed").count();
    assert_eq!(failed, 3, "{out:#?}");
    // And decides as the command built from this tree does, item for item.
    let built = run(bare(), &args).await;
    assert_eq!(out.json(), built.json());
    assert!(
        out.results().iter().any(|(r, _)| r == "dry_run"),
        "{out:#?}"
    );
}
