//! When to check again: waits that start at `POLL_INITIAL_SECONDS` and grow by
//! half each time up to `POLL_MAX_SECONDS`, never past the timeout.

use super::FollowSettings;
use std::time::Duration;

/// Each wait is this much longer than the one before: quick news for a short
/// refresh, few calls (and no 429) for a long one. tableauserverclient grows its
/// polls by 1.4, from 0.5 s.
const GROWTH: f64 = 1.5;
/// 1.5^40 is 11 million times the first wait: past any cap, and far from f64's
/// limits.
const MAX_EXPONENT: u32 = 40;

/// The wait before the next check, after `waits_done` waits: `poll_initial`
/// x 1.5^`waits_done`, at most `poll_max`.
pub fn next_wait(settings: &FollowSettings, waits_done: u32) -> Duration {
    let grown =
        settings.poll_initial.as_secs_f64() * GROWTH.powi(waits_done.min(MAX_EXPONENT) as i32);
    // `try_`: a hand-built `poll_max` near `Duration::MAX` must not panic.
    Duration::try_from_secs_f64(grown)
        .unwrap_or(settings.poll_max)
        .min(settings.poll_max)
}

/// The wait before the next check when `elapsed` has passed since the refresh,
/// cut short so that the last check falls on the timeout; `None` when the
/// timeout has passed: the jobs still running are `timed_out`.
pub fn next_wait_within(
    settings: &FollowSettings,
    waits_done: u32,
    elapsed: Duration,
) -> Option<Duration> {
    let left = settings
        .timeout
        .checked_sub(elapsed)
        .filter(|l| !l.is_zero())?;
    Some(next_wait(settings, waits_done).min(left))
}

/// A wait in whole seconds, rounded up (a Step Functions Wait state's
/// `SecondsPath` takes an integer), at least 1.
pub fn whole_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(waits: impl IntoIterator<Item = Duration>) -> Vec<f64> {
        waits.into_iter().map(|w| w.as_secs_f64()).collect()
    }

    #[test]
    fn waits_grow_by_half_up_to_the_cap() {
        let defaults = FollowSettings::default();
        assert_eq!(
            seconds((0..9).map(|n| next_wait(&defaults, n))),
            [
                30.0, 45.0, 67.5, 101.25, 151.875, 227.8125, 300.0, 300.0, 300.0
            ]
        );
        assert_eq!(next_wait(&defaults, u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn a_fixed_interval_and_sub_second_waits() {
        let fixed = FollowSettings {
            poll_initial: Duration::from_secs(60),
            poll_max: Duration::from_secs(60),
            ..FollowSettings::default()
        };
        assert_eq!(next_wait(&fixed, 0), next_wait(&fixed, 5));
        let quick = FollowSettings {
            poll_initial: Duration::from_millis(100),
            poll_max: Duration::from_millis(200),
            ..FollowSettings::default()
        };
        assert_eq!(
            seconds((0..4).map(|n| next_wait(&quick, n))),
            [0.1, 0.15, 0.2, 0.2]
        );
    }

    #[test]
    fn extreme_settings_do_not_panic() {
        let huge = FollowSettings {
            poll_initial: Duration::MAX,
            poll_max: Duration::MAX,
            timeout: Duration::MAX,
            cancel_on_timeout: true,
        };
        assert_eq!(next_wait(&huge, 3), Duration::MAX);
        let zero = FollowSettings {
            poll_initial: Duration::ZERO,
            ..FollowSettings::default()
        };
        assert_eq!(next_wait(&zero, 7), Duration::ZERO);
    }

    #[test]
    fn the_last_wait_ends_at_the_timeout() {
        let s = FollowSettings {
            timeout: Duration::from_secs(100),
            ..FollowSettings::default()
        };
        let at = |waits, elapsed| next_wait_within(&s, waits, Duration::from_secs(elapsed));
        assert_eq!(at(0, 0), Some(Duration::from_secs(30)));
        assert_eq!(at(1, 30), Some(Duration::from_secs(45)));
        // 75 s in, 67.5 s would pass the timeout: 25 s, so one last check at 100 s.
        assert_eq!(at(2, 75), Some(Duration::from_secs(25)));
        assert_eq!(at(3, 100), None);
        assert_eq!(at(3, 250), None);
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(whole_seconds(Duration::from_secs_f64(67.5)), 68);
        assert_eq!(whole_seconds(Duration::from_secs(30)), 30);
        assert_eq!(whole_seconds(Duration::from_millis(100)), 1);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }
}
