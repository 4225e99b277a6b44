//! [`WorkflowStarter`] on AWS Step Functions: one `StartExecution`, with the
//! function's HTTP client and tight timeouts so that it answers dbt in time.

use super::start::{ExecutionInput, StartError, Started, WorkflowStarter};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::StalledStreamProtectionConfig;
use aws_sdk_sfn::config::retry::RetryConfig;
use aws_sdk_sfn::config::timeout::TimeoutConfig;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use dbt_tableau_engine::BoxFuture;
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// Three attempts (throttling is retried with the SDK's backoff), each short:
/// the whole start must leave time for the answer inside dbt's 10 s.
const MAX_ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

pub struct StepFunctionsStarter {
    client: Client,
    state_machine_arn: String,
}

/// Applies the function's timeouts and retries to a Step Functions client
/// configuration; the HTTP client is the one of the `SdkConfig` the builder
/// comes from, shared with every other AWS client.
pub fn bounded(builder: aws_sdk_sfn::config::Builder) -> aws_sdk_sfn::config::Builder {
    builder
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        // StartExecution's answer is a few bytes, bounded by the timeouts above:
        // watching its throughput costs a timer and a body wrapper per call.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}

impl StepFunctionsStarter {
    /// On the container's one SDK configuration (region, credentials,
    /// `AWS_ENDPOINT_URL_SFN`); no network call until the first start.
    pub fn from_sdk_config(
        sdk_config: &aws_config::SdkConfig,
        state_machine_arn: &str,
    ) -> StepFunctionsStarter {
        let client =
            Client::from_conf(bounded(aws_sdk_sfn::config::Builder::from(sdk_config)).build());
        StepFunctionsStarter::new(client, state_machine_arn)
    }

    pub fn new(client: Client, state_machine_arn: &str) -> StepFunctionsStarter {
        StepFunctionsStarter {
            client,
            state_machine_arn: state_machine_arn.to_owned(),
        }
    }

    async fn start_now(
        &self,
        name: &str,
        input: &ExecutionInput,
        deadline: Instant,
    ) -> Result<Started, StartError> {
        let input = serde_json::to_string(input).map_err(|e| StartError {
            message: format!("cannot write the execution input: {e}"),
            retryable: false,
        })?;
        let call = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send();
        match timeout_at(deadline, call).await {
            Ok(Ok(_)) => Ok(Started::New),
            // Standard workflows are idempotent by name: the same name and input
            // while running answers the running execution, a closed one this error.
            Ok(Err(SdkError::ServiceError(e)))
                if matches!(e.err(), StartExecutionError::ExecutionAlreadyExists(_)) =>
            {
                Ok(Started::AlreadyStarted)
            }
            Ok(Err(e)) => Err(StartError {
                message: describe(&self.state_machine_arn, &e),
                retryable: dbt_tableau_engine::retry::retryable(crate::aws_failure::aws_failure(
                    &e,
                )),
            }),
            // Idempotent by name: a redelivery after a start that may have
            // happened finds the execution instead of starting a second one.
            Err(_) => Err(StartError {
                message: format!(
                    "Step Functions did not start an execution of {} before the deadline",
                    self.state_machine_arn
                ),
                retryable: true,
            }),
        }
    }
}

fn describe(arn: &str, e: &SdkError<StartExecutionError>) -> String {
    let what = match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("error"),
                dbt_tableau_engine::redact::redact(err.message().unwrap_or("no message"))
            )
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(_) => "unreachable (connection failed)".to_owned(),
        other => format!("{other}"),
    };
    let hint = match e.code() {
        Some("AccessDeniedException") => {
            "; the function's role needs states:StartExecution on the state machine"
        }
        Some("StateMachineDoesNotExist") | Some("InvalidArn") => "; check STATE_MACHINE_ARN",
        _ => "",
    };
    format!("cannot start the workflow {arn}: {what}{hint}")
}

impl WorkflowStarter for StepFunctionsStarter {
    fn start<'a>(
        &'a self,
        name: &'a str,
        input: &'a ExecutionInput,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Started, StartError>> {
        Box::pin(self.start_now(name, input, deadline))
    }
}
