//! What the two HTTP clients (Tableau, dbt Cloud) share about retrying: the
//! wait a server asks for, and our own backoff when it asks for none.

use reqwest::header::RETRY_AFTER;
use std::time::Duration;

/// Retry-After in seconds; the rare HTTP-date form falls back to our backoff.
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Exponential from `base` with "equal jitter" (between half and all of the
/// doubled wait), so that calls failing together don't retry in lockstep.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base * 2u32.pow(attempt.saturating_sub(1).min(6));
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_jittered() {
        for base in [Duration::from_millis(200), Duration::from_millis(250)] {
            for attempt in 1..=4 {
                let full = base * 2u32.pow(attempt - 1);
                let wait = backoff(base, attempt);
                assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
            }
        }
    }
}
