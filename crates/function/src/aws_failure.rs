//! An AWS SDK error (Secrets Manager, Step Functions) as the engine's
//! [`Failure`], so that AWS calls are judged by the same retry table as every
//! other remote call. Here rather than in the engine, which has no AWS types.

use dbt_tableau_engine::retry::{Failure, aws_service_failure};

/// An AWS SDK error as a [`Failure`].
pub fn aws_failure<E, R>(error: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> Failure
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata,
{
    use aws_sdk_secretsmanager::error::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            aws_service_failure(service.err().code().unwrap_or_default())
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Failure::NoAnswer,
        SdkError::DispatchFailure(_) => Failure::NotSent,
        // Not built: no region, no credentials, a bad endpoint.
        _ => Failure::Refused,
    }
}
