//! Cancel Job (`PUT /api/{v}/sites/{site-id}/jobs/{job-id}`, REST API 3.1+, as
//! tableauserverclient's `jobs.cancel` sends it: no body, any 2xx is accepted).
//! Used on jobs still running at `REFRESH_TIMEOUT_MINUTES`, which would otherwise
//! keep one of the site's few concurrent backgrounder slots busy.

use super::client::Client;
use super::error::TableauError;
use super::jobs::{job_path, job_session};
use super::jwt::Purpose;
use super::refresh::{sign_in_message, sign_out};
use crate::secrets::TableauAccess;
use reqwest::Method;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

/// Per job id: `Ok` when Tableau accepted the cancel, else why not.
pub type Cancelled = Vec<(String, Result<(), String>)>;

/// One session (signed in for cancelling), one Cancel Job per id (at most
/// `max_concurrency` at once), sign-out whatever happened. Never fails as a
/// whole: a failed sign-in is every job's reason.
pub(crate) async fn cancel(
    client: &Client,
    access: &TableauAccess,
    job_ids: &[String],
    max_concurrency: usize,
    deadline: Instant,
) -> Cancelled {
    let all = |why: String| -> Cancelled {
        job_ids
            .iter()
            .map(|id| (id.clone(), Err(why.clone())))
            .collect()
    };
    if job_ids.is_empty() {
        return Vec::new();
    }
    // Sign-out ends by the deadline, the cancels a moment before.
    let signed_out_by = deadline;
    let deadline = super::refresh::work_deadline(deadline);
    let (session, _) = match job_session(
        client,
        access,
        Purpose::CancelJobs,
        sign_in_message,
        deadline,
    )
    .await
    {
        Ok(opened) => opened,
        Err((_, why)) => return all(why),
    };
    let permits = Semaphore::new(max_concurrency.max(1));
    let results = futures_util::future::join_all(job_ids.iter().map(|id| {
        let (session, permits) = (&session, &permits);
        async move {
            let _permit = permits.acquire().await;
            let path = job_path(id);
            let sent = timeout_at(deadline, session.call(Method::PUT, &path, None, deadline))
                .await
                .unwrap_or(Err(TableauError::Deadline));
            (id.clone(), sent.map(drop).map_err(|e| words(&e)))
        }
    }))
    .await;
    sign_out(&session, signed_out_by).await;
    results
}

fn words(e: &TableauError) -> String {
    match e {
        TableauError::Deadline => "Tableau did not answer the cancel in time".to_owned(),
        _ if e.status() == Some(401) => format!(
            "{e}; a connected app cancels jobs only with the scope {} (unverified), and only if the \
             user may cancel the job",
            super::jwt::CANCEL_SCOPES.join(" and ")
        ),
        _ if e.status() == Some(403) => format!("{e}; the user lacks permission to cancel the job"),
        _ => e.to_string(),
    }
}
