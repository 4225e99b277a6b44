//! The state of following one run's refreshes, kept between checks: by the
//! workflow in the execution's data (so it serialises), by the command in memory.
//! Pure: the caller does the waiting and the checking.

use super::schedule::{next_wait_within, whole_seconds};
use super::{CheckOutcome, FollowSettings, JobObservation, Outcome, UNREACHABLE_LIMIT};
use crate::answer::{RefreshResult, TargetReport};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A target and what Tableau said about its job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Followed {
    #[serde(flatten)]
    pub report: TargetReport,
    /// Tableau's `createdAt`, `startedAt` and `completedAt` of the job.
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
    /// Tableau's notes on the job (the reason of a failure).
    #[serde(default)]
    pub notes: Option<String>,
    /// A job still running at the timeout: whether Tableau accepted its cancel
    /// (`CANCEL_ON_TIMEOUT`). Absent when no cancel was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<Cancel>,
}

/// What Cancel Job said for a timed-out job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    pub accepted: bool,
    /// Why not, when refused or unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The timed-out error's last words, replaced once the job is cancelled.
const MAY_STILL_FINISH: &str = "; it may still finish: see Tableau's Jobs page";

impl Followed {
    /// Still waiting for Tableau to finish its job.
    pub fn is_pending(&self) -> bool {
        self.report.result == RefreshResult::Queued && self.report.job_id.is_some()
    }

    fn end(&mut self, result: RefreshResult, error: Option<String>) {
        self.report.result = result;
        self.report.error = error;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// When following began (RFC 3339): the timeout counts from here.
    pub started_at: String,
    /// Checks made so far.
    pub waits: u32,
    /// Checks in a row that reached no job.
    pub unreachable: u32,
    /// The wait before the next check, in whole seconds (a Wait state's input).
    pub wait_seconds: u64,
    /// Nothing is left to follow.
    pub done: bool,
}

fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Parses Tableau's and dbt's timestamps (RFC 3339 / ISO 8601 with a zone).
pub fn parse_time(text: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// Starts following the refresh reports: queued jobs are followed; an item
/// Tableau queued without telling its job can't be, and is `unknown`.
pub fn begin(
    reports: Vec<TargetReport>,
    settings: &FollowSettings,
    now: SystemTime,
) -> (Vec<Followed>, Progress) {
    let mut followed: Vec<Followed> = reports
        .into_iter()
        .map(|report| Followed {
            report,
            created_at: None,
            started_at: None,
            completed_at: None,
            notes: None,
            cancel: None,
        })
        .collect();
    for target in &mut followed {
        if target.report.result == RefreshResult::Queued && target.report.job_id.is_none() {
            target.end(
                RefreshResult::Unknown,
                Some("Tableau queued the refresh without a job id, so it can't be followed".into()),
            );
        }
    }
    let wait = next_wait_within(settings, 0, Duration::ZERO).unwrap_or(Duration::ZERO);
    let progress = Progress {
        started_at: rfc3339(now),
        waits: 0,
        unreachable: 0,
        wait_seconds: whole_seconds(wait),
        done: !followed.iter().any(Followed::is_pending),
    };
    (followed, progress)
}

/// The job ids still to check, in target order.
pub fn pending_jobs(followed: &[Followed]) -> Vec<String> {
    followed
        .iter()
        .filter(|t| t.is_pending())
        .filter_map(|t| t.report.job_id.clone())
        .collect()
}

/// Takes in one check's outcome: finished jobs end their targets, unreadable
/// ones become `unknown`; three unreachable checks in a row end every job left
/// as `unknown`; past the timeout the jobs left are `timed_out`. Then sets the
/// next wait, or `done`. Returns the job ids that timed out now (for
/// `CANCEL_ON_TIMEOUT`: see [`record_cancels`]).
pub fn advance(
    followed: &mut [Followed],
    progress: &mut Progress,
    outcome: CheckOutcome,
    settings: &FollowSettings,
    now: SystemTime,
) -> Vec<String> {
    let mut timed_out = Vec::new();
    progress.waits += 1;
    match outcome {
        CheckOutcome::Checked(observed) => {
            progress.unreachable = 0;
            for seen in observed {
                for target in followed.iter_mut().filter(|t| {
                    t.is_pending() && t.report.job_id.as_deref() == Some(seen.job_id.as_str())
                }) {
                    apply(target, &seen.observation);
                }
            }
        }
        CheckOutcome::Unreachable(reason) => {
            progress.unreachable += 1;
            if progress.unreachable >= UNREACHABLE_LIMIT {
                let why = format!(
                    "Tableau could not be reached on {UNREACHABLE_LIMIT} checks in a row ({reason}); \
                     the job's end is not known: see Tableau's Jobs page"
                );
                for target in followed.iter_mut().filter(|t| t.is_pending()) {
                    target.end(RefreshResult::Unknown, Some(why.clone()));
                }
            }
        }
    }
    let started = parse_time(&progress.started_at).unwrap_or(now);
    let elapsed = now.duration_since(started).unwrap_or_default();
    match next_wait_within(settings, progress.waits, elapsed) {
        Some(wait) => progress.wait_seconds = whole_seconds(wait),
        None => {
            let why = format!(
                "Tableau had not finished the job after {} (REFRESH_TIMEOUT_MINUTES){MAY_STILL_FINISH}",
                minutes(settings.timeout)
            );
            for target in followed.iter_mut().filter(|t| t.is_pending()) {
                timed_out.extend(target.report.job_id.clone());
                target.end(RefreshResult::TimedOut, Some(why.clone()));
            }
        }
    }
    progress.done = !followed.iter().any(Followed::is_pending);
    timed_out.dedup();
    timed_out
}

/// Takes in what Cancel Job said for timed-out jobs: each target stays
/// `timed_out`, and its `cancel` and error say whether the cancel was accepted.
pub fn record_cancels(followed: &mut [Followed], results: &[(String, Result<(), String>)]) {
    for (job_id, result) in results {
        for target in followed.iter_mut().filter(|t| {
            t.report.result == RefreshResult::TimedOut
                && t.report.job_id.as_deref() == Some(job_id.as_str())
        }) {
            let error = target.report.error.get_or_insert_with(String::new);
            match result {
                Ok(()) => {
                    *error = error.replace(MAY_STILL_FINISH, "");
                    error.push_str(
                        "; cancelled in Tableau (CANCEL_ON_TIMEOUT), so it no longer holds a backgrounder slot",
                    );
                }
                Err(why) => error.push_str(&format!("; cancelling it in Tableau failed: {why}")),
            }
            target.cancel = Some(Cancel {
                accepted: result.is_ok(),
                error: result.as_ref().err().cloned(),
            });
        }
    }
}

fn apply(target: &mut Followed, observation: &JobObservation) {
    match observation {
        JobObservation::Finished {
            outcome,
            notes,
            created_at,
            started_at,
            completed_at,
        } => {
            target.created_at = created_at.clone();
            target.started_at = started_at.clone();
            target.completed_at = completed_at.clone();
            target.notes = notes.clone();
            match outcome {
                Outcome::Succeeded => target.end(RefreshResult::Succeeded, None),
                Outcome::Failed { reason } => {
                    target.end(RefreshResult::Failed, Some(reason.clone()))
                }
                Outcome::Cancelled => target.end(
                    RefreshResult::Cancelled,
                    Some("the refresh job was cancelled in Tableau".into()),
                ),
            }
        }
        JobObservation::Unreadable { reason } => {
            target.end(RefreshResult::Unknown, Some(reason.clone()))
        }
        JobObservation::Running { .. } | JobObservation::Unanswered { .. } => {}
    }
}

fn minutes(d: Duration) -> String {
    let m = d.as_secs_f64() / 60.0;
    if m.fract() == 0.0 {
        format!("{m} minutes")
    } else {
        format!("{:.0} seconds", d.as_secs_f64())
    }
}

/// Seconds from `from` to `to` (Tableau's or dbt's timestamps), when both parse.
pub fn seconds_between(from: Option<&str>, to: Option<&str>) -> Option<f64> {
    let (from, to) = (parse_time(from?)?, parse_time(to?)?);
    Some(to.duration_since(from).map_or(0.0, |d| d.as_secs_f64()))
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
