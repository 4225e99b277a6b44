//! dbt Cloud webhook -> verify -> route -> Tableau extract refresh.
//!
//! Data flow: [`function_url`] (Lambda event in, response out) hands a
//! [`handler::Delivery`] to [`handler::WebhookHandler`], which uses [`webhook`]
//! (signature, event), [`targets`] (routing), [`secrets`] and [`tableau`].

pub mod answer;
pub mod aws_http;
// The `dbt-tableau` command; behind a feature so the Lambda binary doesn't carry it.
#[cfg(feature = "cli")]
pub mod cli;
pub mod dbt_cloud;
pub mod exposures;
pub mod follow;
pub mod function_url;
pub mod handler;
pub mod logging;
pub mod metrics;
pub mod resolve;
pub mod retry;
pub mod secrets;
pub mod settings;
pub mod step_event;
pub mod tableau;
pub mod targets;
pub mod tls;
pub mod webhook;
pub mod workflow;

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
