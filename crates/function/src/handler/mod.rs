//! One webhook delivery, from raw bytes to an [`Answer`]: [`verify`] (method,
//! signature, secret, event, age), [`route`] (which targets, which mode), then
//! [`act`] (start the workflow, or a dry run or a Tableau refresh here). No
//! Lambda types here.

mod act;
mod route;
mod verify;

use crate::settings::Settings;
use crate::workflow::WorkflowStarter;
use dbt_tableau_engine::answer::{Answer, TargetReport};
use dbt_tableau_engine::resolve::ExposureResolver;
use dbt_tableau_engine::secrets::SecretSource;
use dbt_tableau_engine::tableau::Refresher;
use dbt_tableau_engine::webhook::SignatureError;
use std::sync::Arc;
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

    /// Verify (method, signature, secret, event, age), route (what the run
    /// asks of which targets), act (start the workflow, or dry-run or refresh
    /// here). Each step answers on its own when it must stop.
    async fn answer(&self, delivery: &Delivery<'_>, deadline: Instant, seen: &mut Seen) -> Answer {
        let verified = match self.verify(delivery, deadline, seen).await {
            Ok(verified) => verified,
            Err(answer) => return answer,
        };
        let workflow = self.workflow.as_deref();
        match route::route(&verified, workflow) {
            Ok(route) => self.act(route, &verified, delivery.body, deadline).await,
            Err(answer) => answer,
        }
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
