//! dbt Cloud webhook -> verify -> route -> Tableau extract refresh.
//!
//! Data flow: [`function_url`] (Lambda event in, response out) hands a
//! [`handler::Delivery`] to [`handler::WebhookHandler`], which uses [`webhook`]
//! (signature, event), [`targets`] (routing), [`secrets`] and [`tableau`].

pub mod answer;
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
pub mod secrets;
pub mod settings;
pub mod step_event;
pub mod tableau;
pub mod targets;
pub mod webhook;
pub mod workflow;

/// A boxed future, so the seams ([`secrets::SecretSource`], [`tableau::Refresher`])
/// can be trait objects.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
