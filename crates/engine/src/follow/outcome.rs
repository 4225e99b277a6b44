//! What Tableau's answers about jobs mean for their targets. Pure: the check in
//! `tableau::jobs` feeds it what it read.

use super::{CheckOutcome, JobObservation, Observed, Outcome};
use crate::secrets::{TableauAccess, TableauCredentials};
use crate::tableau::TableauError;
use crate::tableau::jobs::{FinishCode, JobReads, JobStatus};
use crate::tableau::jwt::JOB_SCOPES;

/// Whose session read the jobs: it changes what a 401 means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAs<'a> {
    /// A PAT session reads the jobs its user started on any version; a 401 is
    /// another sign-in with the same PAT ending ours (the session already
    /// signed in again a few times before giving up).
    Pat,
    /// A connected app reads jobs only with `tableau:jobs:read` on REST API
    /// 3.25+; anything else answers 401002 (REFERENCE.md).
    ConnectedApp {
        client_id: &'a str,
        /// The REST API version the check used.
        api_version: &'a str,
    },
}

/// One job's observation from its Query Job result.
pub fn observe(read: Result<JobStatus, TableauError>, read_as: ReadAs<'_>) -> JobObservation {
    match read {
        Ok(job) => from_status(job),
        Err(e) if is_transient(&e) || (e.status() == Some(401) && read_as == ReadAs::Pat) => {
            JobObservation::Unanswered {
                reason: transient_words(&e),
            }
        }
        Err(e) => JobObservation::Unreadable {
            reason: unreadable_words(&e, read_as),
        },
    }
}

fn from_status(job: JobStatus) -> JobObservation {
    let outcome = match &job.finish_code {
        // A job that says it completed without a code we can read has ended in
        // a way no one can tell: unknown now, not "running" until the timeout.
        None if job.completed_at.is_some() => {
            let notes = job
                .notes
                .as_deref()
                .map(|n| format!("; Tableau's notes: {n}"))
                .unwrap_or_default();
            return JobObservation::Unreadable {
                reason: format!(
                    "Tableau says the job completed at {} but gives no readable finishCode \
                     (read: {}){notes}; how it ended is not known: see the item's jobs in Tableau",
                    job.completed_at.as_deref().unwrap_or_default(),
                    job.finish_code_read.as_deref().unwrap_or("none"),
                ),
            };
        }
        // Absent while the job is queued or running.
        None => {
            return JobObservation::Running {
                progress: job.progress,
            };
        }
        Some(FinishCode::Success | FinishCode::Completed) => Outcome::Succeeded,
        Some(FinishCode::Failed) => Outcome::Failed {
            reason: job.notes.clone().unwrap_or_else(|| {
                "Tableau reports the refresh failed (finishCode 1) without notes; \
                 the job's details are in Tableau (Jobs page)"
                    .to_owned()
            }),
        },
        Some(FinishCode::Cancelled) => Outcome::Cancelled,
        // A code added after this was written (3 broke clients that way, tableauserverclient
        // #1576): the job ended, how is not known; not a crash, not a success.
        Some(FinishCode::Other(code)) => {
            let notes = job
                .notes
                .as_deref()
                .map(|n| format!("; Tableau's notes: {n}"))
                .unwrap_or_default();
            return JobObservation::Unreadable {
                reason: format!(
                    "Tableau ended the job with finishCode {code}, which is not one it documents \
                     (0 success, 1 failed, 2 cancelled, 3 completed){notes}"
                ),
            };
        }
    };
    JobObservation::Finished {
        outcome,
        notes: job.notes,
        created_at: job.created_at,
        started_at: job.started_at,
        completed_at: job.completed_at,
    }
}

/// Errors that waiting can cure: the one retry table ([`crate::retry`]) says
/// which (no answer, a busy or failing Tableau, a 408). An unreadable 2xx is
/// not among them: it becomes `unknown` at once, naming what was read.
pub fn is_transient(e: &TableauError) -> bool {
    crate::retry::retryable(e.failure())
}

/// The client's words for a 429 speak of the webhook's deadline; a check just
/// waits for the next one.
fn transient_words(e: &TableauError) -> String {
    match e {
        TableauError::RetryLater {
            status,
            after,
            detail,
            ..
        } => {
            let asked = after
                .map(|a| format!(" and asked to wait {} s", a.as_secs().max(1)))
                .unwrap_or_default();
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            };
            format!("Tableau is busy (HTTP {status}){asked}; asked again at the next check{detail}")
        }
        _ => format!("{e}; asked again at the next check"),
    }
}

fn unreadable_words(e: &TableauError, read_as: ReadAs<'_>) -> String {
    match (e.status(), read_as) {
        (
            Some(401),
            ReadAs::ConnectedApp {
                client_id,
                api_version,
            },
        ) => format!(
            "Tableau does not let the connected app {client_id} read the refresh job: {e}. A connected \
             app reads jobs only with a JWT holding the scope {} (the function asks for it: if the \
             connected app lists the scopes it grants, grant it) and only on Tableau Cloud since \
             February 2025 or Tableau Server 2025.1 and later (REST API 3.25; this check used {api_version}). \
             Grant the scope, upgrade Tableau Server, or sign in with a personal access token to follow refreshes",
            JOB_SCOPES.join(" and ")
        ),
        _ if e.code() == Some("400031") => format!(
            "Tableau does not let this job be read: {e}; the refresh may still run: see the item in Tableau"
        ),
        (Some(403), _) => {
            format!("Tableau does not let this job be read: {e}; the user lacks permission")
        }
        (Some(404), _) => format!("Tableau does not know this job (any more): {e}"),
        _ => format!("Tableau does not let this job be read: {e}"),
    }
}

/// A check's outcome from every job's read: [`CheckOutcome::Unreachable`] when
/// not one job got an answer, so that a job Tableau keeps failing to answer
/// about ends up `unknown` once it is the last one followed.
pub fn summarise(
    reads: Vec<(String, Result<JobStatus, TableauError>)>,
    read_as: ReadAs<'_>,
) -> CheckOutcome {
    let observed: Vec<Observed> = reads
        .into_iter()
        .map(|(job_id, read)| Observed {
            job_id,
            observation: observe(read, read_as),
        })
        .collect();
    let first_unanswered = observed.iter().find_map(|o| match &o.observation {
        JobObservation::Unanswered { reason } => Some(reason.clone()),
        _ => None,
    });
    match first_unanswered {
        Some(reason)
            if observed
                .iter()
                .all(|o| matches!(o.observation, JobObservation::Unanswered { .. })) =>
        {
            CheckOutcome::Unreachable(reason)
        }
        _ => CheckOutcome::Checked(observed),
    }
}

/// The outcome of a check that got no session (version or sign-in failed):
/// unreachable when waiting may cure it, else every job is unreadable for
/// `message` (a refused sign-in won't start working by itself).
pub fn no_session(job_ids: &[String], e: &TableauError, message: String) -> CheckOutcome {
    if is_transient(e) {
        let message = match e {
            TableauError::RetryLater { .. } => transient_words(e),
            _ => message,
        };
        return CheckOutcome::Unreachable(message);
    }
    CheckOutcome::Checked(
        job_ids
            .iter()
            .map(|job_id| Observed {
                job_id: job_id.clone(),
                observation: JobObservation::Unreadable {
                    reason: message.clone(),
                },
            })
            .collect(),
    )
}

/// What a read of `job_ids` ([`crate::tableau::jobs::JobReads`]) means for
/// their targets; `access` says whose session read them.
pub fn from_reads(access: &TableauAccess, job_ids: &[String], reads: JobReads) -> CheckOutcome {
    match reads {
        JobReads::Read { reads, api_version } => {
            let read_as = match &access.credentials {
                TableauCredentials::PersonalAccessToken { .. } => ReadAs::Pat,
                TableauCredentials::ConnectedApp { client_id, .. } => ReadAs::ConnectedApp {
                    client_id,
                    api_version: &api_version,
                },
            };
            summarise(reads, read_as)
        }
        JobReads::NoSession { error, message } => no_session(job_ids, &error, message),
    }
}

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
