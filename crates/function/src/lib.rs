//! The Lambda function around the engine (`dbt-tableau-engine`): the only crate
//! with Lambda and AWS SDK types.
//!
//! Data flow: [`function_url`] (Lambda event in, response out) hands a
//! [`handler::Delivery`] to [`handler::WebhookHandler`], which verifies, routes and
//! acts with the engine; [`step_event`] runs the workflow's steps ([`workflow`]).
//! [`secrets_manager`] is the production secret source, [`metrics`] the EMF
//! records, [`settings`] the webhook's configuration.

pub mod aws_failure;
pub mod aws_http;
pub mod function_url;
pub mod handler;
pub mod metrics;
pub mod secrets_manager;
pub mod settings;
pub mod step_event;
pub mod workflow;
