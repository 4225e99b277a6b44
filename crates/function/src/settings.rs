//! The function's plain (non-secret) configuration, read once per container.

use dbt_tableau_engine::follow::FollowSettings;
use dbt_tableau_engine::targets::Targets;
use std::time::Duration;

/// dbt Cloud gives up after 10 s; answering by 8 s leaves room for the network.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(8);

#[derive(Debug, Clone)]
pub struct Settings {
    pub targets: Targets,
    pub dry_run: bool,
    pub max_event_age: Option<Duration>,
    /// The workflow's schedule; read here too so that a bad value answers 500
    /// at the webhook instead of starting an execution that can only break.
    pub follow: FollowSettings,
    pub notify_all: bool,
}

impl Settings {
    pub fn from_env() -> Result<Settings, String> {
        Settings::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let targets =
            Targets::from_variable(lookup(dbt_tableau_engine::targets::VARIABLE).as_deref())
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
        let follow = FollowSettings::from_lookup(&lookup)?;
        // Only an execution has a history to fill: the plain mode follows nothing.
        let workflow = lookup(crate::workflow::STATE_MACHINE_VARIABLE)
            .is_some_and(|arn| !arn.trim().is_empty());
        if workflow {
            crate::workflow::history::check(&follow)?;
        }
        let notify_all = crate::workflow::report::notify_all(
            lookup(crate::workflow::report::NOTIFY_ON).as_deref(),
        )?;
        Ok(Settings {
            targets,
            dry_run,
            max_event_age,
            follow,
            notify_all,
        })
    }
}

/// When the answer must leave: [`DEFAULT_DEADLINE`] after arrival, or earlier
/// when Lambda's own deadline (`lambda_deadline`, from the invocation context)
/// comes first, keeping a margin to send the answer.
///
/// A Lambda deadline already past on arrival is not a real one (cargo lambda
/// watch sends the timeout, 600000 ms, where Lambda sends an epoch time) and is
/// ignored rather than failing every invocation at once.
pub fn answer_deadline(
    arrived: tokio::time::Instant,
    now: std::time::SystemTime,
    lambda_deadline: std::time::SystemTime,
) -> tokio::time::Instant {
    const MARGIN: Duration = Duration::from_millis(300);
    match lambda_deadline.duration_since(now) {
        Ok(left) => arrived + DEFAULT_DEADLINE.min(left.saturating_sub(MARGIN)),
        Err(_) => arrived + DEFAULT_DEADLINE,
    }
}

/// When a workflow step must be done: a margin before Lambda's own deadline
/// (the task's timeout, minutes rather than dbt's 10 s), so that the step
/// answers with what it has instead of being killed. Without a real Lambda
/// deadline (`cargo lambda invoke`), [`STEP_FALLBACK`].
pub fn step_deadline(
    arrived: tokio::time::Instant,
    now: std::time::SystemTime,
    lambda_deadline: std::time::SystemTime,
) -> tokio::time::Instant {
    const MARGIN: Duration = Duration::from_secs(3);
    match lambda_deadline.duration_since(now) {
        Ok(left) => arrived + left.saturating_sub(MARGIN),
        Err(_) => arrived + STEP_FALLBACK,
    }
}

/// A step's time when the runtime gives no deadline.
pub const STEP_FALLBACK: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    const TARGETS: (&str, &str) = ("REFRESH_TARGETS", r#"[{"workbook":"Sales"}]"#);

    #[test]
    fn defaults_and_values() {
        let s = settings(&[TARGETS]).unwrap();
        assert!(!s.dry_run);
        assert_eq!(s.max_event_age, None);
        let s = settings(&[
            TARGETS,
            ("DRY_RUN", "TRUE"),
            ("MAX_EVENT_AGE_SECONDS", "300"),
        ])
        .unwrap();
        assert!(s.dry_run);
        assert_eq!(s.max_event_age, Some(Duration::from_secs(300)));
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert!(
            settings(&[])
                .unwrap_err()
                .contains("REFRESH_TARGETS is not set")
        );
        assert!(
            settings(&[TARGETS, ("DRY_RUN", "yes please")])
                .unwrap_err()
                .contains("DRY_RUN")
        );
        for (key, bad) in [
            ("NOTIFY_ON", "errors"),
            ("POLL_INITIAL_SECONDS", "soon"),
            ("REFRESH_TIMEOUT_MINUTES", "-3"),
        ] {
            let err = settings(&[TARGETS, (key, bad)]).unwrap_err();
            assert!(err.contains(key), "{key}={bad}: {err}");
        }
        let s = settings(&[TARGETS, ("NOTIFY_ON", "ALL"), ("POLL_INITIAL_SECONDS", "5")]).unwrap();
        assert!(s.notify_all);
        assert_eq!(s.follow.poll_initial, Duration::from_secs(5));
        for bad in ["-1", "0", "5m", "1.5"] {
            let err = settings(&[TARGETS, ("MAX_EVENT_AGE_SECONDS", bad)]).unwrap_err();
            assert!(err.contains("MAX_EVENT_AGE_SECONDS"), "{bad}: {err}");
        }
    }

    #[test]
    fn deadline_is_eight_seconds_unless_lambda_ends_sooner() {
        let arrived = tokio::time::Instant::now();
        let now = SystemTime::now();
        let roomy = answer_deadline(arrived, now, now + Duration::from_secs(15));
        assert_eq!(roomy - arrived, DEFAULT_DEADLINE);
        let tight = answer_deadline(arrived, now, now + Duration::from_secs(3));
        assert_eq!(tight - arrived, Duration::from_millis(2700));
        let almost_over = answer_deadline(arrived, now, now + Duration::from_millis(100));
        assert_eq!(almost_over, arrived);
        let bogus = answer_deadline(
            arrived,
            now,
            SystemTime::UNIX_EPOCH + Duration::from_millis(600_000),
        );
        assert_eq!(bogus - arrived, DEFAULT_DEADLINE);
    }
}
