//! Targets from dbt exposures: which Tableau items a dbt run made fresh.
//!
//! Four pieces, no I/O beyond the readers' `Read`:
//! - [`read_manifest`] streams a manifest.json and keeps only the exposures with
//!   Tableau meta and the parent map ([`ManifestView`]);
//! - [`read_run_results`] reads one step's run_results.json; [`RunOutcome`] combines
//!   the steps of a run (a later step wins; docs/compile/list steps never count);
//! - [`decide`] judges every exposure: fresh, blocked or untouched ([`Verdict`]),
//!   with the Tableau items its `meta.tableau` names ([`parse_tableau`]);
//! - [`plan`] turns verdicts into items to refresh and to skip, each item once.

mod decide;
mod error;
mod graph;
mod items;
mod manifest;
mod plan;
mod run_results;
mod scan;

pub use decide::{Decision, Verdict, decide};
pub use error::{Artifact, ExposuresError};
pub use graph::{Graph, NodeId, NodeKind};
pub use items::parse_tableau;
pub use manifest::{Exposure, ManifestView, OLDEST_SCHEMA, read_manifest};
pub use plan::{Plan, plan};
pub use run_results::{
    NON_EXECUTING, NodeResult, RunOutcome, RunResults, Status, read_run_results,
};

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod reader_tests;
#[cfg(test)]
mod run_results_tests;
#[cfg(test)]
mod scan_tests;
