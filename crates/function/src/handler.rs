//! One webhook delivery, from raw bytes to an [`Answer`]: signature, event,
//! routing, then a dry run or a Tableau refresh. No Lambda types here.

use crate::settings::Settings;
use crate::workflow::{ExecutionInput, Started, WorkflowStarter, execution_name};
use dbt_tableau_engine::answer::{Answer, TargetReport};
use dbt_tableau_engine::resolve::{ExposureResolver, merge};
use dbt_tableau_engine::secrets::{ExposeSecret, SecretSource, Secrets};
use dbt_tableau_engine::tableau::Refresher;
use dbt_tableau_engine::targets::{Routed, Target};
use dbt_tableau_engine::webhook::{Decision, RunSummary, Signature, SignatureError, WebhookEvent};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

/// A request as the HTTP adapter hands it over.
pub struct Delivery<'a> {
    pub method: &'a str,
    pub authorization: Option<&'a str>,
    /// The body exactly as dbt sent it (base64 already undone).
    pub body: &'a [u8],
}

/// Built once per container and shared by every invocation.
pub struct WebhookHandler {
    settings: Result<Settings, String>,
    secrets: Arc<dyn SecretSource>,
    /// An error says why Tableau can't be used (answered as a configuration error).
    tableau: Result<Arc<dyn Refresher>, String>,
    /// Set in workflow mode: the webhook starts an execution instead of refreshing.
    workflow: Option<Arc<dyn WorkflowStarter>>,
    /// Resolves `{"exposures": true}` entries; an error says why it can't.
    resolver: Result<Arc<dyn ExposureResolver>, String>,
}

/// What the invocation's log line reports besides the answer.
#[derive(Default)]
struct Seen {
    event_id: Option<String>,
    run_id: Option<String>,
    job_id: Option<String>,
    /// Why a request was unauthorized; logged, never answered.
    rejection: Option<String>,
}

impl WebhookHandler {
    pub fn new(
        settings: Result<Settings, String>,
        secrets: Arc<dyn SecretSource>,
        tableau: Result<Arc<dyn Refresher>, String>,
    ) -> WebhookHandler {
        if let Err(problem) = &settings {
            tracing::error!(error = %problem, "configuration error: every invocation will answer 500");
        }
        if let Err(problem) = &tableau {
            tracing::error!(error = %problem, "Tableau client unavailable: refreshes will answer 500");
        }
        WebhookHandler {
            settings,
            secrets,
            tableau,
            workflow: None,
            resolver: Err("exposure targets are not available in this build".into()),
        }
    }

    /// Workflow mode: verified events start an execution of this workflow.
    pub fn with_workflow(mut self, starter: Arc<dyn WorkflowStarter>) -> WebhookHandler {
        self.workflow = Some(starter);
        self
    }

    pub fn with_resolver(
        mut self,
        resolver: Result<Arc<dyn ExposureResolver>, String>,
    ) -> WebhookHandler {
        self.resolver = resolver;
        self
    }

    /// Answers one delivery; the answer is ready by `deadline` whatever the
    /// dependencies do.
    pub async fn handle(&self, delivery: Delivery<'_>, deadline: Instant) -> Answer {
        let mut seen = Seen::default();
        let answer = self.answer(&delivery, deadline, &mut seen).await;
        log_invocation(&answer, &seen);
        answer
    }

    async fn answer(&self, delivery: &Delivery<'_>, deadline: Instant, seen: &mut Seen) -> Answer {
        // HTTP methods are case-sensitive: "post" is not POST.
        if delivery.method != "POST" {
            return Answer::MethodNotAllowed(format!(
                "method {} not allowed: dbt Cloud webhooks are POST",
                delivery.method
            ));
        }
        let signature = match Signature::parse(delivery.authorization) {
            Ok(signature) => signature,
            Err(why) => return unauthorized(why, seen),
        };
        let secrets = match self
            .verified_secrets(&signature, delivery.body, deadline, seen)
            .await
        {
            Ok(secrets) => secrets,
            Err(answer) => return answer,
        };
        let settings = match &self.settings {
            Ok(settings) => settings,
            Err(problem) => return Answer::ConfigError(problem.clone()),
        };
        let event = match WebhookEvent::parse(delivery.body) {
            Ok(event) => event,
            Err(why) => return Answer::BadRequest(why.to_string()),
        };
        seen.event_id = event.event_id.clone();
        seen.run_id = event.data.run_id.clone();
        seen.job_id = event.data.job_id.clone();
        if let Some(limit) = settings.max_event_age {
            let rejection = match event.age(SystemTime::now()) {
                Some(age) if age <= limit => None,
                Some(age) => Some(format!(
                    "event is {}s old, more than MAX_EVENT_AGE_SECONDS={}",
                    age.as_secs(),
                    limit.as_secs()
                )),
                None => Some(
                    "timestamp missing or not RFC 3339 while MAX_EVENT_AGE_SECONDS is set".into(),
                ),
            };
            if rejection.is_some() {
                seen.rejection = rejection;
                return Answer::Unauthorized;
            }
        }
        let (job, succeeded) = match event.decision() {
            Decision::Ignore(reason) => return Answer::Ignored(reason),
            Decision::Refresh { job, succeeded } => (job, succeeded),
        };
        let routed = settings.targets.for_job(job.as_ref(), succeeded);
        if routed.is_empty() {
            return Answer::Ignored(if !succeeded {
                event.unsuccessful_reason()
            } else {
                format!(
                    "no target in REFRESH_TARGETS for job {}",
                    job.as_ref().map_or("(none given)", |j| j.as_str())
                )
            });
        }
        let run = event.summary();
        if let (Some(workflow), false) = (&self.workflow, settings.dry_run) {
            return start_workflow(workflow.as_ref(), &run, &routed, delivery.body, deadline).await;
        }
        let (targets, mut reports) = if routed.exposures {
            let resolver = match &self.resolver {
                Ok(resolver) => resolver,
                Err(problem) => return Answer::ConfigError(problem.clone()),
            };
            match resolver
                .resolve(&run, secrets.dbt_cloud_token.as_ref(), deadline)
                .await
            {
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
        if settings.dry_run {
            let mut dry: Vec<TargetReport> = targets.iter().map(TargetReport::dry_run).collect();
            dry.append(&mut reports);
            return Answer::DryRun(dry);
        }
        let access = match &secrets.tableau {
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
                .filter_map(|r| crate::metrics::failed_to_queue(r, &run, now)),
        );
        refreshed.append(&mut reports);
        Answer::Refreshed(refreshed)
    }

    /// The secrets whose webhook key verifies `signature`, refetching once when a
    /// cached key fails (the key may have been rotated).
    async fn verified_secrets(
        &self,
        signature: &Signature,
        body: &[u8],
        deadline: Instant,
        seen: &mut Seen,
    ) -> Result<Arc<Secrets>, Answer> {
        // A slow, throttled or failing Secrets Manager is worth a redelivery
        // (502); a missing secret or key is a configuration error (500).
        let in_time = |what: &'static str| {
            move |_| Answer::Failed {
                error: format!("{what} did not answer before the deadline"),
                retryable: true,
            }
        };
        let secrets = tokio::time::timeout_at(deadline, self.secrets.current())
            .await
            .map_err(in_time("the secret source"))?
            .map_err(|e| {
                // Nothing is verified yet: the answer holds no names, the log all.
                tracing::error!(error = %e, "cannot get the webhook key");
                if e.is_retryable() {
                    Answer::Failed {
                        error: e.unverified_summary(),
                        retryable: true,
                    }
                } else {
                    Answer::ConfigError(e.unverified_summary())
                }
            })?;
        match signature.verify(secrets.webhook_key.expose_secret().as_bytes(), body) {
            Ok(()) => return Ok(secrets),
            Err(SignatureError::Mismatch) => {}
            Err(other) => return Err(unauthorized(other, seen)),
        }
        match tokio::time::timeout_at(deadline, self.secrets.refetch()).await {
            Ok(Ok(Some(fresher))) => {
                match signature.verify(fresher.webhook_key.expose_secret().as_bytes(), body) {
                    Ok(()) => Ok(fresher),
                    Err(why) => Err(unauthorized(why, seen)),
                }
            }
            Ok(Ok(None)) => Err(unauthorized(SignatureError::Mismatch, seen)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not refetch the secret after a signature mismatch");
                Err(unauthorized(SignatureError::Mismatch, seen))
            }
            Err(_) => Err(unauthorized(SignatureError::Mismatch, seen)),
        }
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

fn unauthorized(why: SignatureError, seen: &mut Seen) -> Answer {
    seen.rejection = Some(why.to_string());
    Answer::Unauthorized
}

/// One line per invocation: what was seen, what was decided, each target's result.
fn log_invocation(answer: &Answer, seen: &Seen) {
    let detail = match answer {
        Answer::MethodNotAllowed(e) | Answer::BadRequest(e) | Answer::ConfigError(e) => e.clone(),
        Answer::Failed { error, .. } => error.clone(),
        Answer::Accepted { execution, .. } => format!("execution {execution}"),
        Answer::Ignored(reason) => reason.clone(),
        Answer::Unauthorized => seen.rejection.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let targets = answer
        .targets()
        .iter()
        .map(TargetReport::summary)
        .collect::<Vec<_>>()
        .join("; ");
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                event_id = seen.event_id.as_deref(),
                run_id = seen.run_id.as_deref(),
                job_id = seen.job_id.as_deref(),
                http_status = answer.http_status(),
                decision = answer.status(),
                detail = detail.as_str(),
                targets = targets.as_str(),
                "webhook {}",
                answer.status()
            )
        };
    }
    match answer.http_status() {
        500.. => line!(error),
        400.. => line!(warn),
        _ => line!(info),
    }
}
