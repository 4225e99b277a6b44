//! Wires the function together: configuration and clients once per container,
//! then one `function_url::handle` per event.

use dbt_tableau_refresh::function_url::{self, FunctionUrlRequest};
use dbt_tableau_refresh::handler::WebhookHandler;
use dbt_tableau_refresh::settings::{Settings, answer_deadline};
use dbt_tableau_refresh::workflow::sfn::StepFunctionsStarter;
use dbt_tableau_refresh::{secrets, tableau, workflow};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    dbt_tableau_refresh::logging::init();
    let mut handler = WebhookHandler::new(
        Settings::from_env(),
        secrets::from_env().await,
        tableau::from_env(),
    );
    if let Some(arn) = workflow::state_machine_from_env() {
        handler = handler.with_workflow(Arc::new(StepFunctionsStarter::from_env(&arn).await));
    }
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<FunctionUrlRequest>| {
        let handler = Arc::clone(&handler);
        async move {
            let lambda_deadline =
                SystemTime::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
            let deadline = answer_deadline(Instant::now(), SystemTime::now(), lambda_deadline);
            tracing::debug!(
                budget_ms = deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis(),
                lambda_deadline_ms = event.context.deadline,
                "invocation received"
            );
            Ok::<_, Error>(function_url::handle(&handler, &event.payload, deadline).await)
        }
    }))
    .await
}
