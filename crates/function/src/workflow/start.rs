//! Workflow mode's webhook side: what an execution is started with, and under
//! which name, so that dbt's redeliveries of one event never start a second one.

use dbt_tableau_engine::BoxFuture;
use dbt_tableau_engine::targets::Target;
use dbt_tableau_engine::webhook::RunSummary;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use tokio::time::Instant;

/// The execution's input: the run and the routed item entries. Never a secret:
/// Step Functions keeps inputs in the execution history for 90 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub run: RunSummary,
    pub targets: Vec<Target>,
    /// Whether an `{"exposures": true}` entry matched: resolved in the execution.
    pub exposures: bool,
}

/// Step Functions allows 1-80 characters of `A-Za-z0-9-_` in a name.
const NAME_LIMIT: usize = 80;

/// A name that is the same for every delivery of one event and differs between
/// events: the run id (so an operator finds the run in the console) and a hash
/// of the signed body (so two events of one run don't collide).
pub fn execution_name(run: &RunSummary, body: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(body));
    let run_id: String = run
        .run_id
        .as_deref()
        .unwrap_or("none")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(NAME_LIMIT - "run--".len() - 24)
        .collect();
    format!("run-{run_id}-{}", &digest[..24])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    New,
    /// An earlier delivery of the same event started it (running or closed).
    AlreadyStarted,
}

/// Why an execution did not start. `retryable` (the one retry table,
/// [`dbt_tableau_engine::retry`]): 502 so dbt delivers again; otherwise (access denied, no
/// such state machine) a configuration error, 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    pub message: String,
    pub retryable: bool,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Starts executions of the refresh workflow.
pub trait WorkflowStarter: Send + Sync {
    fn start<'a>(
        &'a self,
        name: &'a str,
        input: &'a ExecutionInput,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Started, StartError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: Option<&str>) -> RunSummary {
        RunSummary {
            run_id: id.map(str::to_owned),
            ..RunSummary::default()
        }
    }

    #[test]
    fn names_are_stable_per_body_and_valid_for_step_functions() {
        let a = execution_name(&run(Some("12345")), b"body one");
        assert_eq!(a, execution_name(&run(Some("12345")), b"body one"));
        assert_ne!(a, execution_name(&run(Some("12345")), b"body two"));
        assert!(a.starts_with("run-12345-"), "{a}");
        let odd = execution_name(&run(Some(&"x/ y:".repeat(40))), b"b");
        for name in [&a, &odd, &execution_name(&run(None), b"")] {
            assert!(name.len() <= NAME_LIMIT, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{name}"
            );
        }
    }
}
