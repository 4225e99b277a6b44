//! The refresh engine: dbt webhook -> targets -> Tableau, with no Lambda or AWS
//! types, shared by the Lambda function (crate `dbt-tableau-refresh`) and the
//! `dbt-tableau` command.
//!
//! Data flow: [`webhook`] (signature, event) -> [`targets`] (routing) ->
//! [`resolve`] (exposures from a run's artifacts: [`dbt_cloud`], [`exposures`]) ->
//! [`tableau`] (refresh) -> [`follow`] (jobs to their end) -> [`answer`].
//! [`secrets`] is the credentials' vocabulary and the environment source.

pub mod answer;
pub mod dbt_cloud;
pub mod exposures;
pub mod follow;
pub mod logging;
pub mod redact;
pub mod resolve;
pub mod retry;
pub mod secrets;
pub mod tableau;
pub mod targets;
pub mod tls;
pub mod webhook;

/// A boxed future, so the seams ([`secrets::SecretSource`], [`tableau::Refresher`])
/// can be trait objects.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// An error and its sources, "a: b: c". reqwest's Display hides the cause
/// ("error sending request") and the SDK's `DisplayErrorContext` appends a
/// `Debug` dump too long for an answer; the chain says what actually happened
/// (connection refused, DNS, certificate), each cause once.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
