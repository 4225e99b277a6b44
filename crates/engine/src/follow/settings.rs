//! How often and how long to follow: `POLL_INITIAL_SECONDS`,
//! `POLL_MAX_SECONDS`, `REFRESH_TIMEOUT_MINUTES`; and `CANCEL_ON_TIMEOUT`, what
//! to do with a job still running at the timeout.

use std::time::Duration;

pub const POLL_INITIAL_VARIABLE: &str = "POLL_INITIAL_SECONDS";
pub const POLL_MAX_VARIABLE: &str = "POLL_MAX_SECONDS";
pub const TIMEOUT_VARIABLE: &str = "REFRESH_TIMEOUT_MINUTES";
pub const CANCEL_VARIABLE: &str = "CANCEL_ON_TIMEOUT";

/// A poll interval longer than a day is a typo, not a plan.
const MAX_POLL_SECONDS: f64 = 86_400.0;
/// A Step Functions Standard execution lives at most a year.
const MAX_TIMEOUT_MINUTES: f64 = 525_600.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowSettings {
    /// The first wait, after the refresh.
    pub poll_initial: Duration,
    /// Waits grow by half each time up to this.
    pub poll_max: Duration,
    /// From the refresh; jobs still running after it are `timed_out`.
    pub timeout: Duration,
    /// Cancel (Cancel Job) the jobs still running at the timeout, so they stop
    /// holding one of the site's few concurrent backgrounder slots.
    pub cancel_on_timeout: bool,
}

impl Default for FollowSettings {
    /// CONTRACT.md's defaults: 30 s, 300 s, 240 minutes. 30 s first because most
    /// extract refreshes take minutes, and Tableau Cloud has answered 429 to
    /// clients polling every 30 s (tableauserverclient #952): hence the growth.
    fn default() -> FollowSettings {
        FollowSettings {
            poll_initial: Duration::from_secs(30),
            poll_max: Duration::from_secs(300),
            timeout: Duration::from_secs(240 * 60),
            cancel_on_timeout: true,
        }
    }
}

impl FollowSettings {
    pub fn from_env() -> Result<FollowSettings, String> {
        FollowSettings::from_lookup(|key| std::env::var(key).ok())
    }

    /// Unset or empty variables take the defaults. Decimals are accepted
    /// everywhere (`REFRESH_TIMEOUT_MINUTES=0.05` is 3 s), so that tests can
    /// follow in seconds; errors name the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<FollowSettings, String> {
        let defaults = FollowSettings::default();
        let poll_initial = number(&lookup, POLL_INITIAL_VARIABLE, "seconds", MAX_POLL_SECONDS)?
            .map_or(defaults.poll_initial, Duration::from_secs_f64);
        let poll_max = number(&lookup, POLL_MAX_VARIABLE, "seconds", MAX_POLL_SECONDS)?
            .map_or(defaults.poll_max, Duration::from_secs_f64);
        let timeout = number(&lookup, TIMEOUT_VARIABLE, "minutes", MAX_TIMEOUT_MINUTES)?
            .map_or(defaults.timeout, |m| Duration::from_secs_f64(m * 60.0));
        if poll_max < poll_initial {
            return Err(format!(
                "{POLL_MAX_VARIABLE} ({} s) must be at least {POLL_INITIAL_VARIABLE} ({} s)",
                poll_max.as_secs_f64(),
                poll_initial.as_secs_f64()
            ));
        }
        let cancel_on_timeout = match lookup(CANCEL_VARIABLE).as_deref().map(str::trim) {
            None | Some("") => defaults.cancel_on_timeout,
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => false,
            Some(v) => {
                return Err(format!(
                    "{CANCEL_VARIABLE} must be true or false (or 1 / 0), not \"{v}\""
                ));
            }
        };
        Ok(FollowSettings {
            poll_initial,
            poll_max,
            timeout,
            cancel_on_timeout,
        })
    }
}

/// A number greater than 0 and at most `max`, or `None` when unset. The bounds
/// keep `Duration::from_secs_f64` (which panics on negative, NaN and huge
/// values) safe.
fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    unit: &str,
    max: f64,
) -> Result<Option<f64>, String> {
    let Some(value) = lookup(name) else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n <= max => Ok(Some(n)),
        _ => Err(format!(
            "{name} must be a number of {unit} greater than 0 and at most {max}, not \"{value}\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<FollowSettings, String> {
        FollowSettings::from_lookup(|key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_are_30_s_300_s_and_240_minutes() {
        let defaults = settings(&[]).unwrap();
        assert_eq!(defaults, FollowSettings::default());
        assert_eq!(defaults.poll_initial, Duration::from_secs(30));
        assert_eq!(defaults.poll_max, Duration::from_secs(300));
        assert_eq!(defaults.timeout, Duration::from_secs(14_400));
        assert_eq!(
            settings(&[(POLL_INITIAL_VARIABLE, " "), (TIMEOUT_VARIABLE, "")]).unwrap(),
            defaults
        );
    }

    #[test]
    fn values_and_decimals() {
        let s = settings(&[
            (POLL_INITIAL_VARIABLE, "0.5"),
            (POLL_MAX_VARIABLE, "2"),
            (TIMEOUT_VARIABLE, "0.05"),
        ])
        .unwrap();
        assert_eq!(s.poll_initial, Duration::from_millis(500));
        assert_eq!(s.poll_max, Duration::from_secs(2));
        assert_eq!(s.timeout, Duration::from_secs(3));
        let s = settings(&[(TIMEOUT_VARIABLE, "60")]).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(3600));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for name in [POLL_INITIAL_VARIABLE, POLL_MAX_VARIABLE, TIMEOUT_VARIABLE] {
            for bad in ["0", "-1", "abc", "NaN", "inf", "1e300", "5m", "1,5"] {
                let err = settings(&[(name, bad)]).unwrap_err();
                assert!(
                    err.starts_with(name) && err.contains(bad),
                    "{name}={bad}: {err}"
                );
            }
        }
        assert!(
            settings(&[(POLL_INITIAL_VARIABLE, "90000")])
                .unwrap_err()
                .contains("at most 86400")
        );
    }

    #[test]
    fn cancel_on_timeout_is_on_unless_turned_off() {
        assert!(settings(&[]).unwrap().cancel_on_timeout);
        for (value, want) in [
            ("false", false),
            ("FALSE", false),
            ("0", false),
            ("True", true),
            ("1", true),
            (" ", true),
        ] {
            assert_eq!(
                settings(&[(CANCEL_VARIABLE, value)])
                    .unwrap()
                    .cancel_on_timeout,
                want,
                "{value}"
            );
        }
        let err = settings(&[(CANCEL_VARIABLE, "never")]).unwrap_err();
        assert!(
            err.starts_with(CANCEL_VARIABLE) && err.contains("never"),
            "{err}"
        );
    }

    #[test]
    fn the_longest_wait_cannot_be_shorter_than_the_first() {
        let err =
            settings(&[(POLL_INITIAL_VARIABLE, "60"), (POLL_MAX_VARIABLE, "30")]).unwrap_err();
        assert!(
            err.contains(POLL_MAX_VARIABLE) && err.contains(POLL_INITIAL_VARIABLE),
            "{err}"
        );
        // Equal is a fixed interval.
        let s = settings(&[(POLL_INITIAL_VARIABLE, "60"), (POLL_MAX_VARIABLE, "60")]).unwrap();
        assert_eq!(s.poll_initial, s.poll_max);
    }
}
