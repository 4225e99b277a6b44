//! Route: what a verified event asks for, and where it is done.

use super::verify::Verified;
use crate::workflow::WorkflowStarter;
use dbt_tableau_engine::answer::Answer;
use dbt_tableau_engine::targets::Routed;
use dbt_tableau_engine::webhook::{Decision, RunSummary};

/// The run and the configured entries its job routes to.
pub(super) struct Route<'a> {
    pub run: RunSummary,
    pub routed: Routed<'a>,
    pub mode: Mode<'a>,
}

pub(super) enum Mode<'a> {
    /// Workflow mode: an execution does the refresh and follows it.
    Workflow(&'a dyn WorkflowStarter),
    /// A dry run or a refresh inside this invocation.
    Here,
}

/// `Err` is the answer for an event that asks for nothing (a run still going, a
/// job no entry names).
pub(super) fn route<'a>(
    verified: &Verified<'a>,
    workflow: Option<&'a dyn WorkflowStarter>,
) -> Result<Route<'a>, Answer> {
    let (settings, event) = (verified.settings, &verified.event);
    let (job, succeeded) = match event.decision() {
        Decision::Ignore(reason) => return Err(Answer::Ignored(reason)),
        Decision::Refresh { job, succeeded } => (job, succeeded),
    };
    let routed = settings.targets.for_job(job.as_ref(), succeeded);
    if routed.is_empty() {
        return Err(Answer::Ignored(if !succeeded {
            event.unsuccessful_reason()
        } else {
            format!(
                "no target in REFRESH_TARGETS for job {}",
                job.as_ref().map_or("(none given)", |j| j.as_str())
            )
        }));
    }
    // A dry run is answered here even in workflow mode: it starts nothing.
    let mode = match workflow {
        Some(starter) if !settings.dry_run => Mode::Workflow(starter),
        _ => Mode::Here,
    };
    Ok(Route {
        run: event.summary(),
        routed,
        mode,
    })
}
