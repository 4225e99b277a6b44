//! The execution's data, passed from step to step through Step Functions. It
//! holds the run, the targets and what Tableau said, and never a secret or a
//! token: Step Functions keeps every state's input and output in the history.

use dbt_tableau_engine::follow::tracker::{Followed, Progress};
use dbt_tableau_engine::targets::Target;
use dbt_tableau_engine::webhook::RunSummary;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowState {
    pub run: RunSummary,
    /// Items still to refresh: the routed entries, then the exposures' items.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// An `{"exposures": true}` entry matched: the resolve step reads the run.
    #[serde(default)]
    pub exposures: bool,
    /// Every target's report: skipped exposures from the resolve step, then
    /// the refreshed items as their jobs are followed.
    #[serde(default)]
    pub reports: Vec<Followed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<Progress>,
    /// Problems that are no one target's (dbt Cloud could not be read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Set by the state machine's Catch: a step that broke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CaughtError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// What a Catch puts at `$.error`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// The report step's verdict; the state machine publishes and ends on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub notify: bool,
    pub failed: bool,
    /// At most 100 characters (SNS's limit).
    pub subject: String,
    pub message: String,
    /// One line, the `Fail` state's cause.
    pub summary: String,
    /// What the state machine publishes (`MessageStructure: json`): `message`
    /// for email, SQS and the rest, and for HTTPS subscribers (AWS Chatbot, in
    /// Slack or Teams) a custom notification, since Chatbot drops plain text.
    #[serde(default)]
    pub notification: String,
}
