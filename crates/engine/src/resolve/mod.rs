//! The seam between "which items does this run refresh" and where the answer
//! comes from: the run's artifacts in dbt Cloud (the function) or a local
//! `target/` directory (the command). Also merges exposure items with the
//! entries that name items directly, so that an item is refreshed once.

use crate::BoxFuture;
use crate::answer::TargetReport;
use crate::targets::Target;
use crate::webhook::RunSummary;
use secrecy::SecretString;
use tokio::time::Instant;

pub mod cloud;
mod judge;
pub mod local;

pub use judge::{Malformed, conclude, judge};

/// What the exposures say about one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Items of fresh, unblocked exposures, each with `exposure` set.
    pub targets: Vec<Target>,
    /// Reports that need no Tableau call: blocked exposures (`skipped`) and
    /// malformed `meta.tableau` (`failed`).
    pub reports: Vec<TargetReport>,
}

/// Why the run's exposures could not be judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveFailure {
    /// Names the source (dbt Cloud) and what to fix.
    pub error: String,
    /// Whether a later try could succeed (429, 5xx, unreachable, the deadline).
    pub retryable: bool,
}

/// Resolves the exposure entries of one run.
pub trait ExposureResolver: Send + Sync {
    fn resolve<'a>(
        &'a self,
        run: &'a RunSummary,
        token: Option<&'a SecretString>,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Resolution, ResolveFailure>>;
}

/// The resolver this container uses: the run's artifacts from dbt Cloud at
/// `DBT_CLOUD_API_URL`. An error (a malformed URL) answers exposure entries
/// with a configuration error.
pub fn from_env() -> Result<std::sync::Arc<dyn ExposureResolver>, String> {
    let client = crate::dbt_cloud::DbtCloud::from_env()?;
    Ok(std::sync::Arc::new(cloud::DbtCloudResolver::new(client)))
}

/// The direct entries followed by the exposures' items, each item once: the
/// first entry that names it wins (a direct entry before an exposure).
pub fn merge(direct: &[&Target], resolution: Resolution) -> (Vec<Target>, Vec<TargetReport>) {
    let mut targets: Vec<Target> = Vec::new();
    for target in direct
        .iter()
        .map(|t| (*t).clone())
        .chain(resolution.targets)
    {
        if !targets.iter().any(|seen| seen.same_item(&target)) {
            targets.push(target);
        }
    }
    (targets, resolution.reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::ItemKind;

    #[test]
    fn an_item_named_twice_is_refreshed_once_and_the_direct_entry_wins() {
        let direct = Target::named(ItemKind::Workbook, "Sales", Some("Finance"));
        let mut from_exposure = direct.clone();
        from_exposure.exposure = Some("exposure.shop.sales".into());
        let mut orders = Target::named(ItemKind::Datasource, "Orders", None);
        orders.exposure = Some("exposure.shop.orders".into());
        let mut orders_again = orders.clone();
        orders_again.exposure = Some("exposure.shop.orders_v2".into());
        let (targets, _) = merge(
            &[&direct],
            Resolution {
                targets: vec![from_exposure, orders.clone(), orders_again],
                reports: vec![],
            },
        );
        assert_eq!(targets, vec![direct, orders]);
    }

    #[test]
    fn a_workbook_and_a_datasource_of_one_name_are_two_items() {
        let wb = Target::named(ItemKind::Workbook, "Orders", None);
        let ds = Target::named(ItemKind::Datasource, "Orders", None);
        let (targets, _) = merge(&[&wb, &ds], Resolution::default());
        assert_eq!(targets.len(), 2);
    }
}
