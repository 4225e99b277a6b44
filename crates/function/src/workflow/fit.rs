//! Keeps the state each step hands back under Step Functions' 256 KiB (a task
//! result past it ends the execution with `States.DataLimitExceeded`, before
//! the report). Long texts (Tableau's notes, errors) are shortened in the state
//! only when the whole state would not fit, and then logged whole here.

use super::report::clip;
use super::state::WorkflowState;
use dbt_tableau_engine::follow::tracker::Followed;

/// Step Functions' limit is 262,144 bytes for the whole task result, which
/// wraps the function's answer (`Payload`) in Lambda's metadata, and a writer
/// that escapes non-ASCII (`…` as `\u2026`) or spaces its JSON makes the same
/// state larger: the state keeps 56 KiB clear of it.
pub const STATE_BUDGET: usize = 200 * 1024;

/// The lengths (in characters) a target's notes and error are cut to, tried in
/// order until the state fits: enough for the reason of a failure first, a
/// headline last.
const TEXT_LIMITS: [usize; 6] = [2000, 1000, 500, 200, 100, 40];

/// What [`fit`] did, for the tests and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fitted {
    /// The state was small enough as it was.
    Unchanged,
    /// Texts were cut to this many characters.
    TextsShortened(usize),
    /// The report step's state without its targets and their reports: the
    /// report (the outcome) holds them, and nothing runs after it but the publish.
    ReportsDropped,
    /// Nothing more can be taken out; the state may still be too big.
    TooBig(usize),
}

fn size(state: &WorkflowState) -> usize {
    serde_json::to_vec(state).map_or(usize::MAX, |v| v.len())
}

/// Makes `state` fit [`STATE_BUDGET`], taking out as little as it can.
pub fn fit(state: &mut WorkflowState) -> Fitted {
    fit_within(state, STATE_BUDGET)
}

pub fn fit_within(state: &mut WorkflowState, budget: usize) -> Fitted {
    if size(state) <= budget {
        return Fitted::Unchanged;
    }
    // The largest limit that fits, found on a copy so that each text is
    // logged (whole) once, at the limit it ends at.
    let chosen = TEXT_LIMITS.iter().copied().find(|&limit| {
        let mut trial = state.clone();
        for target in &mut trial.reports {
            shorten(target, limit, false);
        }
        size(&trial) <= budget
    });
    let limit = chosen.unwrap_or(TEXT_LIMITS[TEXT_LIMITS.len() - 1]);
    let run_id = state.run.run_id.clone();
    let cut = state
        .reports
        .iter_mut()
        .map(|t| shorten(t, limit, true))
        .filter(|&cut| cut)
        .count();
    tracing::info!(
        run_id = run_id.as_deref(),
        targets = cut,
        "texts shortened to {limit} characters in the workflow's state to keep it under \
         Step Functions' 256 KiB; each whole in a line above"
    );
    if chosen.is_some() {
        return Fitted::TextsShortened(limit);
    }
    if state.outcome.is_some() && !state.reports.is_empty() {
        tracing::info!(
            run_id = run_id.as_deref(),
            targets = state.reports.len(),
            "the report step's state leaves out the targets' reports to fit 256 KiB: \
             the report holds them"
        );
        state.reports.clear();
        state.targets.clear();
        if size(state) <= budget {
            return Fitted::ReportsDropped;
        }
    }
    let left = size(state);
    tracing::error!(
        run_id = run_id.as_deref(),
        bytes = left,
        "the workflow's state is still over {budget} bytes with every text shortened"
    );
    Fitted::TooBig(left)
}

/// Cuts the target's notes and error to `limit` characters; with `log`, each
/// text cut is logged whole first. Whether anything was cut.
fn shorten(target: &mut Followed, limit: usize, log: bool) -> bool {
    let label = target.report.label();
    let job_id = target.report.job_id.clone();
    let mut cut = false;
    for (what, text) in [
        ("Tableau's notes", &mut target.notes),
        ("error", &mut target.report.error),
    ] {
        let Some(whole) = text.as_deref() else {
            continue;
        };
        if whole.chars().count() <= limit {
            continue;
        }
        if log {
            tracing::warn!(
                target = label.as_str(),
                job_id = job_id.as_deref(),
                text = whole,
                "{what} in full (shortened in the workflow's state)"
            );
        }
        *text = Some(clip(whole, limit));
        cut = true;
    }
    cut
}

#[cfg(test)]
#[path = "fit_tests.rs"]
mod tests;
