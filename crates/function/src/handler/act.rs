//! Act: start the workflow, or resolve the exposures and dry-run or refresh
//! the targets within this invocation.

use super::WebhookHandler;
use super::route::{Mode, Route};
use super::verify::Verified;
use crate::workflow::{ExecutionInput, Started, WorkflowStarter, execution_name};
use dbt_tableau_engine::answer::{Answer, TargetReport};
use dbt_tableau_engine::resolve::merge;
use dbt_tableau_engine::targets::{Routed, Target};
use dbt_tableau_engine::webhook::RunSummary;
use tokio::time::Instant;

impl WebhookHandler {
    pub(super) async fn act(
        &self,
        route: Route<'_>,
        verified: &Verified<'_>,
        body: &[u8],
        deadline: Instant,
    ) -> Answer {
        match route.mode {
            Mode::Workflow(starter) => {
                start_workflow(starter, &route.run, &route.routed, body, deadline).await
            }
            Mode::Here => self.here(&route, verified, deadline).await,
        }
    }

    async fn here(&self, route: &Route<'_>, verified: &Verified<'_>, deadline: Instant) -> Answer {
        let Route { run, routed, .. } = route;
        let (targets, mut reports) = if routed.exposures {
            let resolver = match &self.resolver {
                Ok(resolver) => resolver,
                Err(problem) => return Answer::ConfigError(problem.clone()),
            };
            let token = verified.secrets.dbt_cloud_token.as_ref();
            match resolver.resolve(run, token, deadline).await {
                Ok(resolution) => merge(&routed.items, resolution),
                Err(failure) => {
                    return Answer::Failed {
                        error: failure.error,
                        retryable: failure.retryable,
                    };
                }
            }
        } else {
            merge(&routed.items, Default::default())
        };
        if targets.is_empty() && reports.is_empty() {
            return Answer::Ignored(format!(
                "no exposure naming a Tableau item is downstream of a node run {} rebuilt",
                run.run_id.as_deref().unwrap_or("?")
            ));
        }
        if verified.settings.dry_run {
            let mut dry: Vec<TargetReport> = targets.iter().map(TargetReport::dry_run).collect();
            dry.append(&mut reports);
            return Answer::DryRun(dry);
        }
        let access = match &verified.secrets.tableau {
            Ok(access) => access,
            Err(problem) => return Answer::ConfigError(problem.to_string()),
        };
        let tableau = match &self.tableau {
            Ok(tableau) => tableau,
            Err(problem) => return Answer::ConfigError(problem.clone()),
        };
        let refs: Vec<&Target> = targets.iter().collect();
        let mut refreshed = tableau.refresh(access, &refs, deadline).await;
        let now = std::time::SystemTime::now();
        crate::metrics::emit(
            refreshed
                .iter()
                .filter_map(|r| crate::metrics::failed_to_queue(r, run, now)),
        );
        refreshed.append(&mut reports);
        Answer::Refreshed(refreshed)
    }
}

/// Hands the run to the workflow; the webhook path makes no Tableau and no dbt
/// Cloud call in this mode.
async fn start_workflow(
    workflow: &dyn WorkflowStarter,
    run: &RunSummary,
    routed: &Routed<'_>,
    body: &[u8],
    deadline: Instant,
) -> Answer {
    let (targets, _) = merge(&routed.items, Default::default());
    let input = ExecutionInput {
        run: run.clone(),
        targets,
        exposures: routed.exposures,
    };
    let name = execution_name(run, body);
    match workflow.start(&name, &input, deadline).await {
        Ok(started) => {
            if started == Started::AlreadyStarted {
                tracing::info!(execution = %name, "execution already started by an earlier delivery");
            }
            Answer::Accepted {
                execution: name,
                targets: input.targets.iter().map(TargetReport::accepted).collect(),
            }
        }
        // The one retry table: Step Functions throttled, failing or slow is worth
        // a redelivery (502); no such state machine or no permission is the
        // deployment's configuration (500), like a missing secret.
        Err(e) if e.retryable => Answer::Failed {
            error: e.to_string(),
            retryable: true,
        },
        Err(e) => Answer::ConfigError(e.to_string()),
    }
}
