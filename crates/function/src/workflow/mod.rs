//! Workflow mode: the webhook starts a Step Functions execution ([`start`],
//! [`sfn`]); the execution's tasks invoke the function for one step each
//! ([`steps`]: resolve, refresh, check, report) over the execution's data
//! ([`state`]), ending in a [`report`] and CloudWatch metrics ([`crate::metrics`]).

pub mod fit;
pub mod history;
pub mod report;
#[cfg(feature = "workflow")]
pub mod sfn;
pub mod start;
pub mod state;
pub mod steps;

pub use start::{ExecutionInput, StartError, Started, WorkflowStarter, execution_name};
pub use state::WorkflowState;
pub use steps::{StepError, StepName, Steps};

pub const STATE_MACHINE_VARIABLE: &str = "STATE_MACHINE_ARN";

/// `STATE_MACHINE_ARN` when set and not empty: workflow mode.
pub fn state_machine_from_env() -> Option<String> {
    std::env::var(STATE_MACHINE_VARIABLE)
        .ok()
        .map(|arn| arn.trim().to_owned())
        .filter(|arn| !arn.is_empty())
}
