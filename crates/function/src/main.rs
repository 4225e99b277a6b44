//! Wires the function together: configuration and clients once per container,
//! then, per event, the Function URL adapter or a workflow step.

use dbt_tableau_engine::{resolve, tableau};
use dbt_tableau_refresh::function_url::{self, FunctionUrlRequest};
use dbt_tableau_refresh::handler::WebhookHandler;
use dbt_tableau_refresh::settings::{Settings, answer_deadline, step_deadline};
#[cfg(feature = "workflow")]
use dbt_tableau_refresh::workflow::sfn::StepFunctionsStarter;
use dbt_tableau_refresh::workflow::{self, Steps};
use dbt_tableau_refresh::{aws_http, secrets_manager, step_event};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    dbt_tableau_engine::logging::init();
    // Only what the configured mode uses is built, and the AWS clients share one
    // SDK configuration (loaded when the first of them needs it); every client
    // has the one TLS configuration, whose roots are read on first use (tls.rs).
    let sdk = tokio::sync::OnceCell::new();
    let sdk_config = || sdk.get_or_init(|| aws_http::sdk_config(aws_http::http_client()));
    let secrets = secrets_manager::from_env_with(|| async { sdk_config().await.clone() }).await;
    let settings = settings();
    let refresher = tableau::refresher_from_env().map(Arc::new);
    // dbt Cloud is read only for exposure entries.
    let resolver = match &settings {
        Ok(s) if !s.targets.has_exposures() => {
            Err("REFRESH_TARGETS has no exposure entry: dbt Cloud is not read".to_owned())
        }
        _ => resolve::from_env(),
    };
    let handler = WebhookHandler::new(
        settings,
        Arc::clone(&secrets),
        refresher.clone().map(|r| r as _),
    )
    .with_resolver(resolver.clone());
    #[cfg(feature = "workflow")]
    let handler = match workflow::state_machine_from_env() {
        Some(arn) => handler.with_workflow(Arc::new(StepFunctionsStarter::from_sdk_config(
            sdk_config().await,
            &arn,
        ))),
        None => handler,
    };
    let handler = Arc::new(handler);
    let steps = Arc::new(Steps {
        secrets,
        refresher: refresher.clone().map(|r| r as _),
        checker: refresher.map(|r| r as _),
        resolver,
        follow: dbt_tableau_engine::follow::FollowSettings::from_env(),
        report: workflow::report::ReportSettings::from_env(),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (handler, steps) = (Arc::clone(&handler), Arc::clone(&steps));
        async move {
            let lambda_deadline =
                SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
            if step_event::is_step_event(&event.payload) {
                let deadline = step_deadline(Instant::now(), SystemTime::now(), lambda_deadline);
                return step_event::handle(&steps, event.payload, deadline)
                    .await
                    .map_err(|e| Diagnostic {
                        error_type: e.kind.to_owned(),
                        error_message: e.message,
                    });
            }
            let request: FunctionUrlRequest =
                serde_json::from_value(event.payload).map_err(|e| Diagnostic {
                    error_type: "InvalidEvent".to_owned(),
                    error_message: format!(
                        "neither a Function URL request nor a workflow step event: {e}"
                    ),
                })?;
            let deadline = answer_deadline(Instant::now(), SystemTime::now(), lambda_deadline);
            let response = function_url::handle(&handler, &request, deadline).await;
            serde_json::to_value(response).map_err(|e| Diagnostic {
                error_type: "InternalError".to_owned(),
                error_message: format!("cannot write the response: {e}"),
            })
        }
    }))
    .await
}

/// The webhook's settings. A build without the Step Functions client (no
/// `workflow` feature) can't start executions: a state machine ARN then makes
/// every answer a 500 that says so, rather than refreshing in the plain mode.
fn settings() -> Result<Settings, String> {
    #[cfg(not(feature = "workflow"))]
    if workflow::state_machine_from_env().is_some() {
        return Err(format!(
            "{} is set, but this build has no Step Functions client (built without the `workflow` feature)",
            workflow::STATE_MACHINE_VARIABLE
        ));
    }
    Settings::from_env()
}
