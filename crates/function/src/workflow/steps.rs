//! The workflow's steps, one per task of the state machine. Each takes the
//! execution's data and returns it updated; an `Err` is a step that could not
//! run at all (configuration), which the state machine catches into the report.

use super::report::{self, ReportSettings};
use super::state::WorkflowState;
use crate::metrics;
use dbt_tableau_engine::answer::{RefreshResult, TargetReport};
use dbt_tableau_engine::follow::tracker::{self, Followed};
use dbt_tableau_engine::follow::{self, FollowSettings, JobChecker};
use dbt_tableau_engine::resolve::{ExposureResolver, merge};
use dbt_tableau_engine::secrets::{SecretSource, Secrets, TableauAccess};
use dbt_tableau_engine::tableau::Refresher;
use dbt_tableau_engine::targets::Target;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepName {
    /// Reads the run's exposures (the first task).
    Resolve,
    Refresh,
    Check,
    Report,
}

impl FromStr for StepName {
    type Err = String;
    fn from_str(name: &str) -> Result<StepName, String> {
        match name {
            "resolve" => Ok(StepName::Resolve),
            "refresh" => Ok(StepName::Refresh),
            "check" => Ok(StepName::Check),
            "report" => Ok(StepName::Report),
            other => Err(format!(
                "unknown step \"{other}\" (expected resolve, refresh, check or report)"
            )),
        }
    }
}

/// Why a step could not run; its name becomes the task's error name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub kind: &'static str,
    pub message: String,
}

impl StepError {
    fn config(message: impl Into<String>) -> StepError {
        StepError {
            kind: "ConfigurationError",
            message: message.into(),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// The pause between tries of a retryable dbt Cloud failure in the resolve step.
const RESOLVE_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_secs(20);

/// What the steps use; built once per container.
pub struct Steps {
    pub secrets: Arc<dyn SecretSource>,
    pub refresher: Result<Arc<dyn Refresher>, String>,
    pub checker: Result<Arc<dyn JobChecker>, String>,
    pub resolver: Result<Arc<dyn ExposureResolver>, String>,
    pub follow: Result<FollowSettings, String>,
    pub report: ReportSettings,
}

impl Steps {
    pub async fn run(
        &self,
        step: StepName,
        state: WorkflowState,
        deadline: Instant,
    ) -> Result<WorkflowState, StepError> {
        self.run_attempt(step, state, 0, deadline).await
    }

    /// [`Steps::run`] for attempt `retry_count + 1` of the task (Step Functions
    /// retries a task whose Lambda answer was lost).
    pub async fn run_attempt(
        &self,
        step: StepName,
        state: WorkflowState,
        retry_count: u64,
        deadline: Instant,
    ) -> Result<WorkflowState, StepError> {
        let mut state = match step {
            StepName::Resolve => self.resolve(state, deadline).await,
            StepName::Refresh => self.refresh(state, retry_count, deadline).await,
            StepName::Check => self.check(state, deadline).await,
            StepName::Report => Ok(self.finish(state)),
        }?;
        // What a step returns is the next task's input: it must fit Step
        // Functions' 256 KiB, or the execution ends before its report.
        super::fit::fit(&mut state);
        Ok(state)
    }

    async fn resolve(
        &self,
        mut state: WorkflowState,
        deadline: Instant,
    ) -> Result<WorkflowState, StepError> {
        if !state.exposures {
            return Ok(state);
        }
        let resolver = self.resolver.as_ref().map_err(StepError::config)?;
        let secrets = self.secrets().await?;
        let token = secrets.dbt_cloud_token.as_ref();
        // The step has minutes, not dbt's 10 s: a dbt Cloud that is down or
        // throttling gets more chances before the exposures are given up.
        let mut outcome = resolver.resolve(&state.run, token, deadline).await;
        while let Err(failure) = &outcome {
            let pause = Instant::now() + RESOLVE_RETRY_PAUSE;
            if !failure.retryable || pause + RESOLVE_RETRY_PAUSE > deadline {
                break;
            }
            tracing::warn!(error = %failure.error, "dbt Cloud failed; trying again");
            tokio::time::sleep_until(pause).await;
            outcome = resolver.resolve(&state.run, token, deadline).await;
        }
        match outcome {
            Ok(resolution) => {
                let direct: Vec<&Target> = state.targets.iter().collect();
                let (targets, reports) = merge(&direct, resolution);
                state.targets = targets;
                state.reports.extend(reports.into_iter().map(unfollowed));
            }
            // The entries that name items are still refreshed; the report says
            // the exposures could not be judged.
            Err(failure) => state.problems.push(failure.error),
        }
        state.exposures = false;
        Ok(state)
    }

    async fn refresh(
        &self,
        mut state: WorkflowState,
        retry_count: u64,
        deadline: Instant,
    ) -> Result<WorkflowState, StepError> {
        let settings = self.follow.as_ref().map_err(StepError::config)?;
        let refreshed = if state.targets.is_empty() {
            Vec::new()
        } else {
            let refresher = self.refresher.as_ref().map_err(StepError::config)?;
            let secrets = self.secrets().await?;
            let access = tableau_access(&secrets)?;
            let targets: Vec<&Target> = state.targets.iter().collect();
            let reports = refresher.refresh(access, &targets, deadline).await;
            if retry_count > 0 {
                after_lost_answer(reports)
            } else {
                reports
            }
        };
        let (mut followed, progress) = tracker::begin(refreshed, settings, SystemTime::now());
        followed.append(&mut state.reports);
        state.reports = followed;
        // Each target lives on in its report: carried once, the state of 500
        // targets stays well inside Step Functions' 256 KiB. (A retry of this
        // task after a lost answer gets the resolve step's state, targets and all.)
        state.targets.clear();
        state.follow = Some(progress);
        Ok(state)
    }

    async fn check(
        &self,
        mut state: WorkflowState,
        deadline: Instant,
    ) -> Result<WorkflowState, StepError> {
        let settings = self.follow.as_ref().map_err(StepError::config)?;
        let Some(mut progress) = state.follow.take() else {
            return Err(StepError {
                kind: "InvalidState",
                message: "the check step needs the refresh step's \"follow\" data".into(),
            });
        };
        let pending = tracker::pending_jobs(&state.reports);
        if !pending.is_empty() {
            let checker = self.checker.as_ref().map_err(StepError::config)?;
            let secrets = self.secrets().await?;
            let access = tableau_access(&secrets)?;
            let outcome = checker.check_jobs(access, &pending, deadline).await;
            let timed_out = tracker::advance(
                &mut state.reports,
                &mut progress,
                outcome,
                settings,
                SystemTime::now(),
            );
            follow::cancel_timed_out(
                checker.as_ref(),
                access,
                &mut state.reports,
                &timed_out,
                settings,
                deadline,
            )
            .await;
        } else {
            progress.done = true;
        }
        state.follow = Some(progress);
        Ok(state)
    }

    /// Never fails: a broken workflow must still reach the topic.
    fn finish(&self, mut state: WorkflowState) -> WorkflowState {
        let now = SystemTime::now();
        metrics::emit(
            state
                .reports
                .iter()
                .filter_map(|t| metrics::finished_target(t, &state.run, now)),
        );
        let outcome = report::outcome(&state, &self.report);
        tracing::info!(
            run_id = state.run.run_id.as_deref(),
            failed = outcome.failed,
            notify = outcome.notify,
            summary = outcome.summary.as_str(),
            "workflow report"
        );
        state.outcome = Some(outcome);
        state
    }

    async fn secrets(&self) -> Result<Arc<Secrets>, StepError> {
        self.secrets.current().await.map_err(|e| StepError {
            kind: "SecretsUnavailable",
            message: e.to_string(),
        })
    }
}

fn tableau_access(secrets: &Secrets) -> Result<&TableauAccess, StepError> {
    secrets
        .tableau
        .as_ref()
        .map_err(|e| StepError::config(e.to_string()))
}

/// The refresh step run again by Step Functions: an earlier attempt ran (or
/// may have) and Lambda lost its answer. A 409093 now most likely answers our
/// own earlier request, whose job no one can name or follow: `unknown`, a
/// failure that reaches the report, never `already_queued`.
fn after_lost_answer(mut reports: Vec<TargetReport>) -> Vec<TargetReport> {
    for report in &mut reports {
        if report.result == RefreshResult::AlreadyQueued {
            report.result = RefreshResult::Unknown;
            report.error = Some(
                "Tableau queued a refresh whose answer was lost; its outcome is not known \
                 (the refresh step ran again after Lambda lost its earlier answer, and Tableau \
                 answered 409093: a refresh of the item is already queued; see the item's jobs in Tableau)"
                    .to_owned(),
            );
        }
    }
    reports
}

/// A report that needs no following (skipped or malformed exposures).
fn unfollowed(report: TargetReport) -> Followed {
    Followed {
        report,
        created_at: None,
        started_at: None,
        completed_at: None,
        notes: None,
        cancel: None,
    }
}
