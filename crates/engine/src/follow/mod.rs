//! Following refreshes to their end: the settings, the wait schedule, what a
//! job's state means for its target, and "check these jobs once".
//!
//! The workflow's check step and `dbt-tableau refresh --wait` both use it: each
//! check reads every job still running ([`JobChecker::check_jobs`]), the caller
//! keeps what finished, waits [`schedule::next_wait_within`], and checks again.
//! A check that reaches no job is [`CheckOutcome::Unreachable`]; after
//! [`UNREACHABLE_LIMIT`] of those in a row the jobs left are `unknown`. Past the
//! timeout they are `timed_out`. Everything here but the check itself is pure.

pub mod outcome;
pub mod schedule;
pub mod settings;
pub mod tracker;

pub use outcome::ReadAs;
pub use settings::FollowSettings;

use crate::BoxFuture;
use crate::secrets::TableauAccess;
use crate::tableau::TableauRefresher;
use tokio::time::Instant;

/// Unreachable checks in a row after which the jobs left are `unknown`.
pub const UNREACHABLE_LIMIT: u32 = 3;

/// How a finished job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `finishCode` 0 (success) or 3 (completed).
    Succeeded,
    /// `finishCode` 1; `reason` is Tableau's notes (or says there were none).
    Failed { reason: String },
    /// `finishCode` 2.
    Cancelled,
}

/// What one check learnt about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobObservation {
    /// Tableau finished the job. Timestamps are Tableau's ISO 8601 text.
    Finished {
        outcome: Outcome,
        notes: Option<String>,
        created_at: Option<String>,
        started_at: Option<String>,
        completed_at: Option<String>,
    },
    /// Queued or running (no `finishCode` yet): ask again later.
    Running { progress: Option<u64> },
    /// Tableau won't let us read this job, and asking again won't change that
    /// (400031 and other 4xx, a connected app without job access, a
    /// `finishCode` no one documents): the target is `unknown`, for `reason`.
    Unreadable { reason: String },
    /// No answer about this job this time (429, 5xx, network, deadline): ask
    /// again at the next wait.
    Unanswered { reason: String },
}

impl JobObservation {
    /// Still to be followed after this check.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            JobObservation::Running { .. } | JobObservation::Unanswered { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub job_id: String,
    pub observation: JobObservation,
}

/// One check of many jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// One observation per job id, in the order asked.
    Checked(Vec<Observed>),
    /// Tableau could not be reached, or signed in, or answered about none of
    /// the jobs, for a reason that may pass: try again at the next wait; the
    /// caller counts these ([`UNREACHABLE_LIMIT`]).
    Unreachable(String),
}

/// Checks jobs on one Tableau site. A trait so that the workflow's steps can be
/// tested without Tableau.
pub trait JobChecker: Send + Sync {
    /// Never fails as a whole: every problem is in the outcome.
    fn check_jobs<'a>(
        &'a self,
        access: &'a TableauAccess,
        job_ids: &'a [String],
        deadline: Instant,
    ) -> BoxFuture<'a, CheckOutcome>;

    /// Cancels jobs still running at the timeout (`CANCEL_ON_TIMEOUT`); per job,
    /// whether Tableau accepted. A checker that can't cancel says so for each.
    fn cancel_jobs<'a>(
        &'a self,
        _access: &'a TableauAccess,
        job_ids: &'a [String],
        _deadline: Instant,
    ) -> BoxFuture<'a, crate::tableau::cancel::Cancelled> {
        let why = "this checker cannot cancel jobs".to_owned();
        Box::pin(std::future::ready(
            job_ids
                .iter()
                .map(|id| (id.clone(), Err(why.clone())))
                .collect(),
        ))
    }
}

/// `CANCEL_ON_TIMEOUT`: cancels the jobs that have just timed out ([`tracker::advance`]'s
/// answer) and records whether Tableau accepted each; nothing when the setting is off.
pub async fn cancel_timed_out(
    checker: &dyn JobChecker,
    access: &TableauAccess,
    followed: &mut [tracker::Followed],
    timed_out: &[String],
    settings: &FollowSettings,
    deadline: Instant,
) {
    if settings.cancel_on_timeout && !timed_out.is_empty() {
        let cancelled = checker.cancel_jobs(access, timed_out, deadline).await;
        tracker::record_cancels(followed, &cancelled);
    }
}

impl JobChecker for TableauRefresher {
    fn check_jobs<'a>(
        &'a self,
        access: &'a TableauAccess,
        job_ids: &'a [String],
        deadline: Instant,
    ) -> BoxFuture<'a, CheckOutcome> {
        Box::pin(async move {
            let reads = TableauRefresher::read_jobs(self, access, job_ids, deadline).await;
            outcome::from_reads(access, job_ids, reads)
        })
    }

    fn cancel_jobs<'a>(
        &'a self,
        access: &'a TableauAccess,
        job_ids: &'a [String],
        deadline: Instant,
    ) -> BoxFuture<'a, crate::tableau::cancel::Cancelled> {
        Box::pin(TableauRefresher::cancel_jobs(
            self, access, job_ids, deadline,
        ))
    }
}
