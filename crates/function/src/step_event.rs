//! The second adapter: direct invokes by the state machine's tasks, one step
//! each. Told apart from a Function URL event by shape: a step event is
//! `{"step": "<name>", "state": {...}}` and has no `requestContext`, which every
//! Function URL event has; a Function URL request's body is only ever a string
//! inside its event, so no request can run a step.

use crate::workflow::{StepError, StepName, Steps, WorkflowState};
use serde_json::Value;
use tokio::time::Instant;

pub fn is_step_event(event: &Value) -> bool {
    event.get("step").is_some_and(Value::is_string) && event.get("requestContext").is_none()
}

/// Runs the step the event names over its state; the answer is the new state.
pub async fn handle(steps: &Steps, event: Value, deadline: Instant) -> Result<Value, StepError> {
    let invalid = |message: String| StepError {
        kind: "InvalidStepEvent",
        message,
    };
    let Value::Object(mut event) = event else {
        return Err(invalid("a step event is a JSON object".into()));
    };
    let step: StepName = event
        .get("step")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .parse()
        .map_err(invalid)?;
    let state: WorkflowState = match event.remove("state") {
        Some(state) => serde_json::from_value(state).map_err(|e| {
            invalid(format!(
                "the step's \"state\" is not the workflow's data: {e}"
            ))
        })?,
        None => return Err(invalid("a step event needs \"state\"".into())),
    };
    tracing::info!(step = ?step, run_id = state.run.run_id.as_deref(), "workflow step");
    // Step Functions' `$$.State.RetryCount` (the refresh task passes it): 0 on
    // the first attempt, more when Lambda lost an earlier attempt's answer.
    let retry_count = event
        .get("retry_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let state = steps
        .run_attempt(step, state, retry_count, deadline)
        .await?;
    serde_json::to_value(&state).map_err(|e| StepError {
        kind: "InternalError",
        message: format!("cannot write the workflow's data: {e}"),
    })
}
