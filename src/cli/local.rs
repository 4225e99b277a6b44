//! Targets from a local dbt target directory: `manifest.json` and
//! `run_results.json`, as `dbt build` (or run, test, ...) leaves them, judged by
//! the same decision as the function's (CONTRACT.md, "Targets from dbt exposures").

use crate::answer::TargetReport;
use crate::exposures::{ExposuresError, RunOutcome, decide, plan, read_manifest, read_run_results};
use crate::resolve::Resolution;
use std::fs::File;
use std::path::Path;

pub const MANIFEST: &str = "manifest.json";
pub const RUN_RESULTS: &str = "run_results.json";

/// What the exposures in `dir` say about the run that wrote it. An error is an
/// input error (status 2) and says which file and what to do.
pub fn resolve_local(dir: &Path) -> Result<Resolution, String> {
    if !dir.is_dir() {
        return Err(format!(
            "target directory {} not found: run dbt first (dbt build), or give --target-dir",
            dir.display()
        ));
    }
    let results_path = dir.join(RUN_RESULTS);
    let results = read_run_results(open(&results_path)?).map_err(|e| unreadable(&results_path, &e))?;
    if !results.counts() {
        return Err(format!(
            "{} was written by `dbt {}`, which runs no model: run dbt-tableau right after \
             dbt build (or run, seed, snapshot, test), before commands that overwrite it",
            results_path.display(),
            results.which.as_deref().unwrap_or("?")
        ));
    }
    let manifest_path = dir.join(MANIFEST);
    // Streamed from the file: a large project's manifest is hundreds of MB.
    let manifest = read_manifest(open(&manifest_path)?).map_err(|e| unreadable(&manifest_path, &e))?;
    let mut outcome = RunOutcome::default();
    outcome.add(results);
    let plan = plan(&decide(&manifest, &outcome));
    let mut reports: Vec<TargetReport> = plan
        .skipped
        .iter()
        .map(|(target, why)| TargetReport::skipped(target, why.clone()))
        .collect();
    reports.extend(
        plan.malformed
            .iter()
            .map(|(exposure, error)| TargetReport::malformed_exposure(exposure, error.clone())),
    );
    Ok(Resolution {
        targets: plan.refresh,
        reports,
    })
}

fn open(path: &Path) -> Result<File, String> {
    File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{} not found: dbt writes it to its target directory when it runs \
             (dbt build); give --target-dir if yours is elsewhere",
            path.display()
        ),
        _ => format!("cannot open {}: {e}", path.display()),
    })
}

fn unreadable(path: &Path, e: &ExposuresError) -> String {
    format!("{}: {e}", path.display())
}
