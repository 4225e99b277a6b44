//! The function's plain (non-secret) configuration, read once per container.

use crate::targets::Targets;
use std::time::Duration;

/// dbt Cloud gives up after 10 s; answering by 8 s leaves room for the network.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(8);

#[derive(Debug, Clone)]
pub struct Settings {
    pub targets: Targets,
    pub dry_run: bool,
    pub max_event_age: Option<Duration>,
}

impl Settings {
    pub fn from_env() -> Result<Settings, String> {
        Settings::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let targets = Targets::from_variable(lookup(crate::targets::VARIABLE).as_deref())
            .map_err(|e| e.to_string())?;
        let dry_run = match lookup("DRY_RUN").as_deref().map(str::trim) {
            None | Some("") => false,
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
            Some(_) => return Err("DRY_RUN must be true or false".into()),
        };
        let max_event_age = match lookup("MAX_EVENT_AGE_SECONDS").as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(Duration::from_secs(
                v.parse::<u64>().ok().filter(|&n| n > 0).ok_or(
                    "MAX_EVENT_AGE_SECONDS must be a whole number of seconds greater than 0",
                )?,
            )),
        };
        Ok(Settings {
            targets,
            dry_run,
            max_event_age,
        })
    }
}
