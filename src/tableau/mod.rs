//! Tableau: asks Tableau Server or Cloud to refresh the routed targets.

use crate::BoxFuture;
use crate::answer::TargetReport;
use crate::secrets::TableauAccess;
use crate::targets::Target;
use tokio::time::Instant;

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

/// The refresher this container uses.
pub fn from_env() -> std::sync::Arc<dyn Refresher> {
    std::sync::Arc::new(NotBuilt)
}

struct NotBuilt;

impl Refresher for NotBuilt {
    fn refresh<'a>(
        &'a self,
        _access: &'a TableauAccess,
        targets: &'a [&'a Target],
        _deadline: Instant,
    ) -> BoxFuture<'a, Vec<TargetReport>> {
        Box::pin(async move {
            targets
                .iter()
                .map(|t| TargetReport::failed(t, "Tableau refresh is not configured in this build"))
                .collect()
        })
    }
}
