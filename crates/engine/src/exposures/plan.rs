//! From verdicts to what to do: the items to refresh, the items to skip and why, and
//! the malformed exposures. Still no answer types: the resolver (src/resolve.rs)
//! turns a plan into refreshes and reports.

use super::decide::{Decision, Verdict};
use crate::targets::Target;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Items of fresh exposures, each item once, named by the first exposure (in
    /// unique_id order) that names it.
    pub refresh: Vec<Target>,
    /// Items of blocked exposures, each once, with why (for the report's `error`).
    pub skipped: Vec<(Target, String)>,
    /// Exposures whose `meta.tableau` is malformed: `(unique_id, what is wrong)`.
    pub malformed: Vec<(String, String)>,
}

/// Untouched exposures are left out. An item named by a fresh exposure and by a
/// blocked one is skipped: two exposures on one workbook say together that it
/// depends on both lineages, and one exposure listing both would be blocked.
pub fn plan(verdicts: &[Verdict]) -> Plan {
    let mut plan = Plan::default();
    for verdict in verdicts {
        let items = match &verdict.items {
            Ok(items) => items,
            Err(error) => {
                plan.malformed
                    .push((verdict.exposure.clone(), error.clone()));
                continue;
            }
        };
        let Some(why) = verdict.decision.why_blocked() else {
            continue;
        };
        for item in items {
            if !plan.skipped.iter().any(|(seen, _)| seen.same_item(item)) {
                plan.skipped.push((item.clone(), why.clone()));
            }
        }
    }
    for verdict in verdicts.iter().filter(|v| v.decision == Decision::Fresh) {
        for item in verdict.items.iter().flatten() {
            let named = |seen: &Target| seen.same_item(item);
            if !plan.refresh.iter().any(named) && !plan.skipped.iter().any(|(s, _)| named(s)) {
                plan.refresh.push(item.clone());
            }
        }
    }
    plan
}
