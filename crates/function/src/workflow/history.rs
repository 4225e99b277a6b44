//! The execution history's size: Step Functions ends a Standard execution that
//! reaches 25,000 history events, before its report. The events an execution of
//! statemachine/refresh.asl.json writes, at worst (every Lambda task retried to
//! its last attempt, both publishes failing):
//!
//! ```text
//! events <= FIXED_EVENTS + POLL_EVENTS x checks
//! POLL_EVENTS  = Following? (2) + Wait (2) + Check (task: 5, + 3 per retry x 6 retries)  = 27
//! FIXED_EVENTS = ExecutionStarted (1) + Resolve (23) + Refresh (23)
//!              + the last Following? (2) + FollowMalformed (2)
//!              + Report (23) + Notify? (2) + Notify (5 + 3 x 4) + Fallback (2)
//!              + NotifyFallback (5 + 3 x 4) + WorkflowBroken (2)                      = 114
//! ```
//!
//! A task writes TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded
//! and TaskStateExited; each retry adds TaskScheduled, TaskStarted and
//! TaskFailed (or TaskTimedOut). A Choice, Wait or Pass writes entered and
//! exited; a Fail, entered and ExecutionFailed. tests/workflow_history_budget.rs
//! derives the same figures from the ASL, so a change there fails it.
//!
//! `checks` is at most the first n with w(0) + ... + w(n-1) >= the timeout, where
//! w(k) is the k-th wait in whole seconds ([`next_wait`], rounded up, at least
//! 1 s): every check but the last is preceded by a full wait, and the timeout
//! counts from the refresh. So a combination is accepted when the timeout is at
//! most the sum of the first [`MAX_CHECKS`] waits.

use dbt_tableau_engine::follow::FollowSettings;
use dbt_tableau_engine::follow::schedule::{next_wait, whole_seconds};
use dbt_tableau_engine::follow::settings::{POLL_MAX_VARIABLE, TIMEOUT_VARIABLE};
use std::time::Duration;

/// Step Functions' quota on a Standard execution's history.
pub const EVENT_LIMIT: u32 = 25_000;
/// A task's events when it succeeds at once.
pub const TASK_EVENTS: u32 = 5;
/// The events each retry of a task adds.
pub const RETRY_EVENTS: u32 = 3;
/// `MaxAttempts` of the Lambda tasks' retrier, and of the publishes'.
pub const LAMBDA_RETRIES: u32 = 6;
pub const PUBLISH_RETRIES: u32 = 4;
/// A Choice, Wait or Pass state: entered, exited. A Fail: entered, ExecutionFailed.
pub const STATE_EVENTS: u32 = 2;

const LAMBDA_TASK: u32 = TASK_EVENTS + RETRY_EVENTS * LAMBDA_RETRIES;
const PUBLISH_TASK: u32 = TASK_EVENTS + RETRY_EVENTS * PUBLISH_RETRIES;
/// One round of the follow loop: Following?, Wait, Check.
pub const POLL_EVENTS: u32 = STATE_EVENTS + STATE_EVENTS + LAMBDA_TASK;
/// Everything outside the loop, on the longest path.
pub const FIXED_EVENTS: u32 = 1
    + LAMBDA_TASK * 2
    + STATE_EVENTS * 2
    + LAMBDA_TASK
    + STATE_EVENTS
    + PUBLISH_TASK
    + STATE_EVENTS
    + PUBLISH_TASK
    + STATE_EVENTS;
/// The most checks an execution may make and stay under [`EVENT_LIMIT`].
pub const MAX_CHECKS: u32 = (EVENT_LIMIT - FIXED_EVENTS) / POLL_EVENTS;

/// The worst-case events of an execution that checks `checks` times.
pub fn worst_case_events(checks: u32) -> u64 {
    u64::from(FIXED_EVENTS) + u64::from(POLL_EVENTS) * u64::from(checks)
}

/// The most checks `settings` can lead to: waits are added up until they reach
/// the timeout. Counting stops past [`MAX_CHECKS`] (`MAX_CHECKS + 1` then).
pub fn max_checks(settings: &FollowSettings) -> u32 {
    let timeout = settings.timeout.as_secs_f64();
    let mut waited = 0.0;
    for checks in 1..=MAX_CHECKS + 1 {
        waited += whole_seconds(next_wait(settings, checks - 1)) as f64;
        if waited >= timeout {
            return checks;
        }
    }
    MAX_CHECKS + 1
}

/// The longest timeout whose worst case stays under the limit with these waits.
pub fn longest_timeout(settings: &FollowSettings) -> Duration {
    let seconds: u64 = (0..MAX_CHECKS)
        .map(|k| whole_seconds(next_wait(settings, k)))
        .sum();
    Duration::from_secs(seconds)
}

/// `Err` naming both settings when the combination could pass the limit.
pub fn check(settings: &FollowSettings) -> Result<(), String> {
    let checks = max_checks(settings);
    if checks <= MAX_CHECKS {
        return Ok(());
    }
    let longest = longest_timeout(settings).as_secs() / 60;
    Err(format!(
        "{TIMEOUT_VARIABLE} ({} minutes) and {POLL_MAX_VARIABLE} ({} s) could make more than \
         {MAX_CHECKS} checks of the Tableau jobs, and the workflow's execution history pass \
         Step Functions' {EVENT_LIMIT} events (at worst {FIXED_EVENTS} + {POLL_EVENTS} per \
         check), ending it before its report: raise {POLL_MAX_VARIABLE} or lower \
         {TIMEOUT_VARIABLE} (at most {longest} minutes with these waits)",
        settings.timeout.as_secs_f64() / 60.0,
        settings.poll_max.as_secs_f64(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(timeout_minutes: f64, poll_max: f64) -> FollowSettings {
        FollowSettings {
            timeout: Duration::from_secs_f64(timeout_minutes * 60.0),
            poll_max: Duration::from_secs_f64(poll_max),
            poll_initial: Duration::from_secs_f64(poll_max.min(30.0)),
            cancel_on_timeout: true,
        }
    }

    #[test]
    fn the_formula() {
        assert_eq!((POLL_EVENTS, FIXED_EVENTS, MAX_CHECKS), (27, 114, 921));
        assert!(worst_case_events(MAX_CHECKS) < u64::from(EVENT_LIMIT));
        assert!(worst_case_events(MAX_CHECKS + 1) > u64::from(EVENT_LIMIT));
    }

    #[test]
    fn the_defaults_are_far_inside() {
        let defaults = FollowSettings::default();
        // 30, 45, 68, 102, 152, 228 s, then 300 s: 52 checks in 240 minutes.
        assert_eq!(max_checks(&defaults), 52);
        assert_eq!(check(&defaults), Ok(()));
    }

    #[test]
    fn combinations_that_could_pass_the_limit_are_refused_naming_both() {
        // Every minute for a day: 1,440 checks. 30 s, 45 s, then 919 x 60 s: 920 minutes.
        let err = check(&follow(1440.0, 60.0)).unwrap_err();
        assert!(
            err.contains(TIMEOUT_VARIABLE) && err.contains(POLL_MAX_VARIABLE),
            "{err}"
        );
        assert!(err.contains("at most 920 minutes"), "{err}");
        assert_eq!(check(&follow(920.0, 60.0)), Ok(()));
        assert!(check(&follow(921.0, 60.0)).is_err());
        // A year's timeout with a day's waits is fine; with 1 s waits it is not.
        assert_eq!(check(&follow(525_600.0, 86_400.0)), Ok(()));
        assert!(check(&follow(525_600.0, 1.0)).is_err());
        // Sub-second waits are whole seconds in the Wait state.
        assert_eq!(max_checks(&follow(1.0, 0.1)), 60);
    }

    #[test]
    fn every_accepted_combination_stays_under_the_limit() {
        for poll_max in [1.0, 7.5, 30.0, 60.0, 300.0, 3600.0, 86_400.0] {
            for minutes in [0.05, 1.0, 60.0, 240.0, 1440.0, 10_080.0, 525_600.0] {
                let s = follow(minutes, poll_max);
                let checks = max_checks(&s);
                if check(&s).is_ok() {
                    assert!(
                        worst_case_events(checks) < u64::from(EVENT_LIMIT),
                        "{minutes} min, {poll_max} s: {checks} checks"
                    );
                } else {
                    assert!(checks > MAX_CHECKS);
                }
            }
        }
    }
}
