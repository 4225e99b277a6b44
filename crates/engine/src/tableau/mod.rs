//! Tableau: asks Tableau Server or Cloud to refresh the routed targets.
//!
//! [`client`] is the HTTP layer (version, retries, timeouts), [`auth`] the
//! session, [`items`] workbooks and data sources, [`refresh`] the flow that
//! implements [`Refresher`], [`jobs`] reads the jobs a refresh started. No
//! Lambda types here.

pub mod auth;
pub mod cancel;
pub mod client;
pub mod error;
pub mod items;
pub mod jobs;
mod json;
pub mod jwt;
pub mod refresh;

pub use error::TableauError;
pub use refresh::TableauRefresher;

use crate::BoxFuture;
use crate::answer::TargetReport;
use crate::secrets::TableauAccess;
use crate::targets::Target;
use std::sync::Arc;
use tokio::time::Instant;

pub const API_VERSION_VARIABLE: &str = "TABLEAU_API_VERSION";

/// Refreshes targets on one Tableau site and reports on each; never fails as a
/// whole, because each target's outcome is what the answer is made of.
pub trait Refresher: Send + Sync {
    fn refresh<'a>(
        &'a self,
        access: &'a TableauAccess,
        targets: &'a [&'a Target],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<TargetReport>>;
}

/// The refresher this container uses: one HTTP client and one detected API
/// version for the container's life. An error (a malformed `TABLEAU_API_VERSION`,
/// an HTTP client that could not be built) is a configuration error.
pub fn from_env() -> Result<Arc<dyn Refresher>, String> {
    refresher_from_env().map(|r| Arc::new(r) as Arc<dyn Refresher>)
}

/// The concrete refresher, for callers that also follow jobs.
pub fn refresher_from_env() -> Result<TableauRefresher, String> {
    let version = std::env::var(API_VERSION_VARIABLE).ok();
    let concurrency = max_concurrency(std::env::var(MAX_CONCURRENCY_VARIABLE).ok().as_deref())?;
    Ok(TableauRefresher::new(version)?.with_max_concurrency(concurrency))
}

pub const MAX_CONCURRENCY_VARIABLE: &str = "TABLEAU_MAX_CONCURRENCY";

/// `TABLEAU_MAX_CONCURRENCY`: a whole number from 1; unset or empty is the default.
pub fn max_concurrency(raw: Option<&str>) -> Result<usize, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(refresh::DEFAULT_MAX_CONCURRENCY),
        Some(v) => v.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(|| {
            format!("{MAX_CONCURRENCY_VARIABLE} must be a whole number of at least 1, not \"{v}\"")
        }),
    }
}
