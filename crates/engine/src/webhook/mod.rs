//! The dbt Cloud webhook: its signature and its event.

pub mod event;
pub mod signature;

pub use event::{Decision, EventParseError, JobId, RunSummary, WebhookEvent};
pub use signature::{Signature, SignatureError, verify_signature};
