//! From a run's artifacts to a [`Resolution`]: stream the manifest, combine the
//! steps' results, decide, plan. Blocking (the artifacts are parsed on the CPU):
//! async callers parse on the blocking pool (see `cloud`).

use super::Resolution;
use crate::answer::TargetReport;
use crate::exposures::{self, Decision, ExposuresError, ManifestView, RunOutcome};
use std::io::Read;

/// Which malformed `meta.tableau` to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Those of exposures this run touched (fresh or blocked): the function
    /// answers for this run, and an exposure the run didn't touch would have
    /// been left alone even if its meta were right.
    Touched,
    /// Every one: the local check is there to find them.
    All,
}

/// Judges the exposures of `manifest` against the results of the run's steps,
/// in step order (a later step's result for a node wins).
pub fn judge(
    manifest: impl Read,
    steps: impl IntoIterator<Item = Result<impl Read, ExposuresError>>,
    malformed: Malformed,
) -> Result<Resolution, ExposuresError> {
    let view = exposures::read_manifest(manifest)?;
    let mut outcome = RunOutcome::default();
    for step in steps {
        outcome.add(exposures::read_run_results(step?)?);
    }
    Ok(conclude(&view, &outcome, malformed))
}

/// The decision and the plan, from a manifest and the run's combined results
/// already read (the dbt Cloud resolver reads them as they download).
pub fn conclude(view: &ManifestView, outcome: &RunOutcome, malformed: Malformed) -> Resolution {
    let verdicts = exposures::decide(view, outcome);
    let plan = exposures::plan(&verdicts);
    let mut reports: Vec<TargetReport> = plan
        .skipped
        .iter()
        .map(|(target, why)| TargetReport::skipped(target, why.clone()))
        .collect();
    reports.extend(
        verdicts
            .iter()
            .filter(|v| malformed == Malformed::All || v.decision != Decision::Untouched)
            .filter_map(|v| match &v.items {
                Err(error) => Some(TargetReport::malformed_exposure(&v.exposure, error.clone())),
                Ok(_) => None,
            }),
    );
    tracing::info!(
        exposures = view.exposures.len(),
        refresh = plan.refresh.len(),
        skipped = plan.skipped.len(),
        results = outcome.len(),
        "exposures judged"
    );
    Resolution {
        targets: plan.refresh,
        reports,
    }
}
