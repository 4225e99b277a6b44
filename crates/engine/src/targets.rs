//! `REFRESH_TARGETS`: which Tableau items to refresh for which dbt jobs.
//!
//! Parsed once per container into typed targets. Unknown fields are errors, because
//! a typo such as `"job"` would otherwise silently widen a target to every job.
//! The item vocabulary ([`parse_item`]) is shared with exposures' `meta.tableau`.

use crate::webhook::JobId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

pub const VARIABLE: &str = "REFRESH_TARGETS";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Workbook,
    Datasource,
    /// A Tableau Prep flow: run with "Run Flow Now" rather than refreshed.
    Flow,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Workbook => "workbook",
            ItemKind::Datasource => "datasource",
            ItemKind::Flow => "flow",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ItemKind::Workbook => "workbook",
            ItemKind::Datasource => "data source",
            ItemKind::Flow => "flow",
        })
    }
}

/// How a target finds its Tableau item: by name (a lookup), or by LUID (none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Locator {
    Name {
        name: String,
        project: Option<String>,
    },
    Id(String),
}

/// One Tableau item to refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "WireTarget", try_from = "WireTarget")]
pub struct Target {
    pub kind: ItemKind,
    pub locator: Locator,
    /// `None`: every job that reaches the function.
    pub jobs: Option<Vec<JobId>>,
    /// The `unique_id` of the dbt exposure that named this item, if one did.
    pub exposure: Option<String>,
    /// `"incremental": true`: an incremental extract refresh (REST API 3.25+);
    /// never set on a flow.
    pub incremental: bool,
}

impl Target {
    pub fn named(kind: ItemKind, name: &str, project: Option<&str>) -> Target {
        Target {
            kind,
            locator: Locator::Name {
                name: name.to_owned(),
                project: project.map(str::to_owned),
            },
            jobs: None,
            exposure: None,
            incremental: false,
        }
    }

    pub fn by_id(kind: ItemKind, id: &str) -> Target {
        Target {
            kind,
            locator: Locator::Id(id.to_owned()),
            jobs: None,
            exposure: None,
            incremental: false,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match &self.locator {
            Locator::Name { name, .. } => Some(name),
            Locator::Id(_) => None,
        }
    }

    pub fn project(&self) -> Option<&str> {
        match &self.locator {
            Locator::Name { project, .. } => project.as_deref(),
            Locator::Id(_) => None,
        }
    }

    pub fn id(&self) -> Option<&str> {
        match &self.locator {
            Locator::Id(id) => Some(id),
            Locator::Name { .. } => None,
        }
    }

    /// The same target, asking for an incremental refresh.
    pub fn incremental(mut self) -> Target {
        self.incremental = true;
        self
    }

    /// Whether two targets name the same item (so it is refreshed once).
    pub fn same_item(&self, other: &Target) -> bool {
        self.kind == other.kind && self.locator == other.locator
    }
}

fn matches(jobs: &Option<Vec<JobId>>, job: Option<&JobId>) -> bool {
    match (jobs, job) {
        (None, _) => true,
        (Some(jobs), Some(job)) => jobs.contains(job),
        (Some(_), None) => false,
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.locator {
            Locator::Name { name, project } => {
                write!(f, "{} \"{name}\"", self.kind)?;
                if let Some(project) = project {
                    write!(f, " in project \"{project}\"")?;
                }
            }
            Locator::Id(id) => write!(f, "{} with id {id}", self.kind)?,
        }
        Ok(())
    }
}

/// The target as the workflow's state carries it (no `jobs`: routing is done).
#[derive(Serialize, Deserialize)]
struct WireTarget {
    kind: ItemKind,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    exposure: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    incremental: bool,
}

impl From<Target> for WireTarget {
    fn from(target: Target) -> WireTarget {
        let (name, project, id) = match target.locator {
            Locator::Name { name, project } => (Some(name), project, None),
            Locator::Id(id) => (None, None, Some(id)),
        };
        WireTarget {
            kind: target.kind,
            name,
            project,
            id,
            exposure: target.exposure,
            incremental: target.incremental,
        }
    }
}

impl TryFrom<WireTarget> for Target {
    type Error = String;
    fn try_from(wire: WireTarget) -> Result<Target, String> {
        let locator = match (wire.name, wire.id) {
            (Some(name), None) => Locator::Name {
                name,
                project: wire.project,
            },
            (None, Some(id)) => Locator::Id(id),
            _ => return Err("a target has exactly one of \"name\" or \"id\"".into()),
        };
        Ok(Target {
            kind: wire.kind,
            locator,
            jobs: None,
            exposure: wire.exposure,
            incremental: wire.incremental,
        })
    }
}

/// One entry of `REFRESH_TARGETS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Item(Target),
    /// `{"exposures": true}`: the items the run's dbt exposures name.
    Exposures {
        jobs: Option<Vec<JobId>>,
    },
}

/// What a run of one job is routed to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Routed<'a> {
    /// Entries naming items, in configuration order.
    pub items: Vec<&'a Target>,
    /// Whether an `{"exposures": true}` entry matched.
    pub exposures: bool,
}

impl Routed<'_> {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && !self.exposures
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetsError(String);

impl fmt::Display for TargetsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetsError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets(Vec<Entry>);

impl Targets {
    /// The variable's value as the environment gives it; unset is an error like a
    /// malformed value.
    pub fn from_variable(raw: Option<&str>) -> Result<Targets, TargetsError> {
        raw.map_or_else(
            || Err(TargetsError(format!("{VARIABLE} is not set"))),
            Targets::parse,
        )
    }

    pub fn parse(raw: &str) -> Result<Targets, TargetsError> {
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| TargetsError(format!("{VARIABLE} is not valid JSON: {e}")))?;
        let Value::Array(entries) = value else {
            return Err(TargetsError(format!(
                "{VARIABLE} must be a JSON array of targets"
            )));
        };
        if entries.is_empty() {
            return Err(TargetsError(format!("{VARIABLE} holds no targets")));
        }
        entries
            .iter()
            .enumerate()
            .map(|(index, entry)| parse_entry(index, entry))
            .collect::<Result<Vec<_>, _>>()
            .map(Targets)
    }

    pub fn all(&self) -> &[Entry] {
        &self.0
    }

    /// Whether any entry resolves exposures (which need dbt Cloud).
    pub fn has_exposures(&self) -> bool {
        self.0.iter().any(|e| matches!(e, Entry::Exposures { .. }))
    }

    /// What a run of `job` refreshes. `run_succeeded`: entries naming items act
    /// only on successful runs; exposure entries judge each exposure on its own,
    /// so they act on every completed run.
    pub fn for_job(&self, job: Option<&JobId>, run_succeeded: bool) -> Routed<'_> {
        let mut routed = Routed::default();
        for entry in &self.0 {
            match entry {
                Entry::Item(target) if run_succeeded && matches(&target.jobs, job) => {
                    routed.items.push(target)
                }
                Entry::Exposures { jobs } if matches(jobs, job) => routed.exposures = true,
                _ => {}
            }
        }
        routed
    }
}

mod parse;

use parse::parse_entry;
pub use parse::parse_item;

#[cfg(test)]
mod tests;
