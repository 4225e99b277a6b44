//! The refresh flow of one invocation: version, sign in once, every target
//! concurrently over that session, sign out whatever happened, all inside the
//! invocation's deadline.

use super::Refresher;
use super::auth::Session;
use super::client::Client;
use super::error::TableauError;
use super::items::{self, FindError, Refreshed};
use crate::BoxFuture;
use crate::answer::{RefreshResult, TargetReport};
use crate::secrets::{TableauAccess, TableauCredentials};
use crate::targets::{Locator, Target};
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// The deadline is when the answer leaves, sign-out included: the targets stop
/// this much earlier so that a sign-out always has a moment, and sign-out
/// never runs past the deadline itself (nor longer than [`SIGN_OUT_MAX`]).
const SIGN_OUT_RESERVE: Duration = Duration::from_millis(400);
const SIGN_OUT_MAX: Duration = Duration::from_secs(2);

/// The production [`Refresher`]: one per container, reused by warm invocations.
pub struct TableauRefresher {
    client: Client,
    /// Targets worked on at once (each has at most one request in flight), so a
    /// run naming hundreds of items doesn't set off a 429 storm on Tableau Cloud.
    max_concurrency: usize,
}

/// `TABLEAU_MAX_CONCURRENCY` when unset.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;

impl TableauRefresher {
    /// With a reqwest client built here. `api_version`: `TABLEAU_API_VERSION`.
    pub fn new(api_version: Option<String>) -> Result<TableauRefresher, String> {
        TableauRefresher::with_http(Client::default_http()?, api_version)
    }

    /// With a given reqwest client (tests, or a caller with its own settings).
    pub fn with_http(
        http: reqwest::Client,
        api_version: Option<String>,
    ) -> Result<TableauRefresher, String> {
        Ok(TableauRefresher {
            client: Client::new(http, api_version)?,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
        })
    }

    /// Mints connected-app JWTs with `minter` instead of the default one (tests:
    /// a fixed clock, a shorter lifetime, other scopes).
    pub fn with_jwt_minter(mut self, minter: super::jwt::Minter) -> TableauRefresher {
        self.client.minter = minter;
        self
    }

    /// At most `n` targets worked on at once (at least 1).
    pub fn with_max_concurrency(mut self, n: usize) -> TableauRefresher {
        self.max_concurrency = n.max(1);
        self
    }

    /// Items asked for per page of a lookup (Tableau allows up to 1000).
    pub fn with_page_size(mut self, page_size: u32) -> TableauRefresher {
        self.client.page_size = page_size.clamp(1, 1000);
        self
    }

    async fn run(
        &self,
        access: &TableauAccess,
        targets: &[&Target],
        deadline: Instant,
    ) -> Vec<TargetReport> {
        if targets.is_empty() {
            return Vec::new();
        }
        let signed_out_by = deadline;
        let deadline = work_deadline(deadline);
        let fail_all = |error: String, retryable: bool| -> Vec<TargetReport> {
            targets
                .iter()
                .map(|t| TargetReport {
                    retryable,
                    ..TargetReport::failed(t, error.clone())
                })
                .collect()
        };
        let server = access.server.trim_end_matches('/');
        let version = match timeout_at(deadline, self.client.api_version(server, deadline)).await {
            Ok(Ok(version)) => version,
            Ok(Err(e)) => return fail_all(version_message(server, &e), retryable(&e)),
            Err(_) => {
                return fail_all(version_message(server, &TableauError::Deadline), true);
            }
        };
        let session = match timeout_at(
            deadline,
            Session::sign_in(&self.client, access, &version, deadline),
        )
        .await
        {
            Ok(Ok(session)) => session,
            // A refused sign-in (401001) stays refused until someone fixes the
            // credentials; a session ended later (401002) is another matter.
            Ok(Err(e)) => {
                let again = retryable(&e) && !e.is_session_expired();
                return fail_all(sign_in_message(access, &e), again);
            }
            Err(_) => return fail_all(sign_in_message(access, &TableauError::Deadline), true),
        };
        let page_size = self.client.page_size;
        // A semaphore over join_all rather than a buffered stream: the same
        // bound, the reports in target order, and a future that stays `Send`.
        let permits = tokio::sync::Semaphore::new(self.max_concurrency);
        let reports = futures_util::future::join_all(targets.iter().map(|target| {
            let (session, permits) = (&session, &permits);
            async move {
                let _permit = permits.acquire().await;
                // Set once the refresh request is on its way: past that point
                // the deadline leaves its outcome unknown, not failed.
                let posted = std::sync::atomic::AtomicBool::new(false);
                let work = refresh_one(
                    session,
                    &access.credentials,
                    target,
                    page_size,
                    &posted,
                    deadline,
                );
                timeout_at(deadline, work).await.unwrap_or_else(|_| {
                    if posted.load(std::sync::atomic::Ordering::SeqCst) {
                        let lost = TableauError::AnswerLost {
                            detail: TableauError::Deadline.to_string(),
                        };
                        return TargetReport::unknown(
                            target,
                            None,
                            target_message(&access.credentials, target, &lost),
                        );
                    }
                    TargetReport::failed_retryable(
                        target,
                        target_message(&access.credentials, target, &TableauError::Deadline),
                    )
                })
            }
        }))
        .await;
        sign_out(&session, signed_out_by).await;
        reports
    }
}

impl Refresher for TableauRefresher {
    fn refresh<'a>(
        &'a self,
        access: &'a TableauAccess,
        targets: &'a [&'a Target],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<TargetReport>> {
        Box::pin(self.run(access, targets, deadline))
    }
}

async fn refresh_one(
    session: &Session<'_>,
    credentials: &TableauCredentials,
    target: &Target,
    page_size: u32,
    posted: &std::sync::atomic::AtomicBool,
    deadline: Instant,
) -> TargetReport {
    let id = match &target.locator {
        Locator::Id(id) => id.clone(),
        Locator::Name { name, project } => {
            match items::find(
                session,
                target.kind,
                name,
                project.as_deref(),
                page_size,
                deadline,
            )
            .await
            {
                Ok(item) => item.id,
                Err(e) => {
                    return TargetReport {
                        retryable: matches!(&e, FindError::Tableau(e) if retryable(e)),
                        ..TargetReport::failed(target, find_message(credentials, target, &e))
                    };
                }
            }
        }
    };
    if target.incremental
        && super::client::parse_version(session.api_version())
            .is_none_or(|v| v < items::MIN_INCREMENTAL_VERSION)
    {
        let (major, minor) = items::MIN_INCREMENTAL_VERSION;
        return TargetReport {
            id: Some(id),
            ..TargetReport::failed(
                target,
                format!(
                    "{target}: an incremental refresh needs Tableau REST API {major}.{minor} or later \
                     (Tableau Cloud since February 2025, Tableau Server 2025.1); this server speaks {}: \
                     upgrade, or drop \"incremental\" for a full refresh",
                    session.api_version()
                ),
            )
        };
    }
    posted.store(true, std::sync::atomic::Ordering::SeqCst);
    match items::refresh(session, target.kind, &id, target.incremental, deadline).await {
        Ok(Refreshed::Queued { job_id }) => {
            TargetReport::succeeded(target, id, RefreshResult::Queued, job_id)
        }
        Ok(Refreshed::AlreadyQueued) => {
            TargetReport::succeeded(target, id, RefreshResult::AlreadyQueued, None)
        }
        // Not failed and not queued: Tableau may be running a refresh no one
        // can follow. `unknown` fails a workflow execution and reaches its report.
        Err(e @ TableauError::AnswerLost { .. }) => {
            TargetReport::unknown(target, Some(id), target_message(credentials, target, &e))
        }
        Err(e) => TargetReport {
            id: Some(id),
            retryable: retryable(&e),
            ..TargetReport::failed(target, target_message(credentials, target, &e))
        },
    }
}

/// When the targets must be done: the deadline less a moment for sign-out.
pub(super) fn work_deadline(deadline: Instant) -> Instant {
    deadline
        .checked_sub(SIGN_OUT_RESERVE)
        .unwrap_or(deadline)
        .max(Instant::now().min(deadline))
}

/// Whether a later attempt could go differently: the one retry table
/// ([`crate::retry`]), plus our session ended by another sign-in with the same
/// PAT. A refresh whose answer was lost is not: a redelivery would ask for a
/// second refresh while the first may be running.
pub fn retryable(e: &TableauError) -> bool {
    match e {
        TableauError::AnswerLost { .. } => false,
        _ => e.is_session_expired() || crate::retry::retryable(e.failure()),
    }
}

/// Best effort, and short: a session left behind expires on its own, while a
/// late answer makes dbt Cloud retry the whole webhook.
pub(super) async fn sign_out(session: &Session<'_>, deadline: Instant) {
    let now = Instant::now();
    // Never past the deadline: the answer waits for sign-out, and dbt Cloud
    // (or the Lambda's own deadline) does not wait for the answer.
    let until = (now + SIGN_OUT_MAX).min(deadline);
    match timeout_at(until, session.sign_out(until)).await {
        Ok(Ok(())) => tracing::debug!("signed out of Tableau"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "Tableau sign-out failed; the session will expire on its own")
        }
        Err(_) => tracing::warn!(
            "Tableau sign-out did not answer in time; the session will expire on its own"
        ),
    }
}

pub(super) fn version_message(server: &str, e: &TableauError) -> String {
    match e {
        TableauError::Deadline => {
            format!("Tableau did not answer in time (reading the REST API version from {server})")
        }
        TableauError::UnsupportedVersion(_) => e.to_string(),
        _ => format!(
            "cannot read Tableau's REST API version from {server}/api/2.4/serverinfo: {e}; \
             check TABLEAU_SITE_URL, or set TABLEAU_API_VERSION"
        ),
    }
}

pub(super) fn sign_in_message(access: &TableauAccess, e: &TableauError) -> String {
    match (e, &access.credentials) {
        (TableauError::Deadline, _) => "Tableau did not answer in time (signing in)".to_owned(),
        (
            TableauError::Api { status: 401, .. },
            TableauCredentials::ConnectedApp { client_id, .. },
        ) => format!(
            "Tableau sign-in with the connected app {client_id} failed: {e}; check that the connected app \
             is enabled and allows this site (and project), that TABLEAU_CONNECTED_APP_CLIENT_ID, \
             TABLEAU_CONNECTED_APP_SECRET_ID and TABLEAU_CONNECTED_APP_SECRET_VALUE match one of its \
             secrets, that TABLEAU_USERNAME is a user of the site, that the function's clock is right \
             (the token expires {} minutes after it is made), and TABLEAU_SITE_NAME \
             (the site's content URL, \"\" for Default)",
            super::jwt::DEFAULT_LIFETIME.as_secs() / 60
        ),
        (TableauError::Api { status: 401, .. }, _) => format!(
            "Tableau sign-in failed: {e}; check TABLEAU_API_TOKEN_NAME/TABLEAU_API_TOKEN_SECRET \
             (a PAT expires after 15 days unused) and TABLEAU_SITE_NAME (the site's content URL, \"\" for Default)"
        ),
        (TableauError::Unreachable { .. }, _) => {
            format!("Tableau sign-in failed: {e}; check TABLEAU_SITE_URL")
        }
        _ => format!("Tableau sign-in failed: {e}"),
    }
}

fn find_message(credentials: &TableauCredentials, target: &Target, e: &FindError) -> String {
    let (kind, name) = (target.kind, target.name().unwrap_or_default());
    let user = user(credentials);
    match (e, target.project()) {
        (FindError::NotFound, Some(project)) => format!(
            "{kind} \"{name}\" not found in project \"{project}\" (or {user} cannot see it)"
        ),
        (FindError::NotFound, None) => {
            format!("{kind} \"{name}\" not found on the site (or {user} cannot see it)")
        }
        (FindError::Ambiguous(projects), None) => format!(
            "{kind} \"{name}\" is in several projects: {}; set \"project\" in REFRESH_TARGETS",
            projects.join(", ")
        ),
        // Nested projects can share a name; the filter can't tell them apart.
        (FindError::Ambiguous(_), Some(project)) => format!(
            "{kind} \"{name}\" is in several projects named \"{project}\" (nested projects?); \
             rename one of the items"
        ),
        // The same words whichever timer fires first, the call's or the target's.
        (FindError::Tableau(TableauError::Deadline), _) => {
            target_message(credentials, target, &TableauError::Deadline)
        }
        (FindError::Tableau(e), _) => {
            format!("{target}: lookup failed: {}", explain(credentials, e))
        }
    }
}

fn target_message(credentials: &TableauCredentials, target: &Target, e: &TableauError) -> String {
    match e {
        TableauError::Deadline => format!("{target}: Tableau did not answer in time"),
        TableauError::Api { status: 404, .. } => format!(
            "{target} not found on the site (or {} cannot see it): {e}",
            user(credentials)
        ),
        _ if target.kind == crate::targets::ItemKind::Flow => {
            format!("{target}: Run Flow Now failed: {}", explain(credentials, e))
        }
        _ => format!("{target}: refresh failed: {}", explain(credentials, e)),
    }
}

/// Tableau's words, plus a hint where the code alone leaves the operator guessing.
fn explain(credentials: &TableauCredentials, e: &TableauError) -> String {
    let connected_app = matches!(credentials, TableauCredentials::ConnectedApp { .. });
    match e.status() {
        // Tableau answers a method outside the JWT's scopes with 401002.
        Some(401) if connected_app => format!(
            "{e}; with a connected app this means the JWT's scopes don't allow the call (the function asks \
             for {}: the connected app must allow them) or Tableau ended the session",
            super::jwt::SCOPES.join(" and ")
        ),
        Some(401) => format!(
            "{e}; Tableau ended the session (another invocation, or another tool, signing in with the same PAT \
             ends ours); a connected app has no such limit"
        ),
        Some(403) => format!("{e}; {} lacks permission on this item", user(credentials)),
        _ => e.to_string(),
    }
}

/// Who Tableau acts as, for messages.
fn user(credentials: &TableauCredentials) -> String {
    match credentials {
        TableauCredentials::PersonalAccessToken { .. } => "the PAT's user".to_owned(),
        TableauCredentials::ConnectedApp { username, .. } => {
            format!("the user {username} (TABLEAU_USERNAME)")
        }
    }
}

impl TableauRefresher {
    /// Reads each of `job_ids` once, over one session signed in for reading jobs,
    /// signed out at the end.
    pub async fn read_jobs(
        &self,
        access: &TableauAccess,
        job_ids: &[String],
        deadline: Instant,
    ) -> super::jobs::JobReads {
        super::jobs::read_jobs(
            &self.client,
            access,
            job_ids,
            self.max_concurrency,
            deadline,
        )
        .await
    }
}

impl TableauRefresher {
    /// Cancels each of `job_ids` over one session: [`super::cancel`].
    pub async fn cancel_jobs(
        &self,
        access: &TableauAccess,
        job_ids: &[String],
        deadline: Instant,
    ) -> super::cancel::Cancelled {
        super::cancel::cancel(
            &self.client,
            access,
            job_ids,
            self.max_concurrency,
            deadline,
        )
        .await
    }
}
