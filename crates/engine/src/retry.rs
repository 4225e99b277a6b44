//! What every remote call shares about retrying: which failures are worth
//! another attempt ([`retryable`], the one table), which may have done the work
//! of a request that does work ([`may_have_acted`]), the wait a server asks
//! for, and our own backoff when it asks for none.

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

/// What one failed attempt at a remote call was, in the terms that decide
/// whether another attempt could go differently. Every client (Tableau's
/// refresh and job paths, dbt Cloud, Secrets Manager, Step Functions) maps its
/// errors to this and asks [`retryable`]: one table, one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection was made: the request never left.
    NotSent,
    /// The request went (or may have gone) and no answer came back: a timeout
    /// after connecting, a connection dropped, a body cut off.
    NoAnswer,
    /// The invocation's own deadline passed.
    Deadline,
    /// An HTTP answer with this status (not 2xx).
    Status(u16),
    /// The service said to slow down in its own words (AWS `ThrottlingException`,
    /// Tableau's 429000 after our waits ran out).
    Throttled,
    /// A 2xx answer we cannot read: asking again gets the same answer.
    Unreadable,
    /// The request itself is wrong, or what it names does not exist, or access
    /// is refused: only a person can fix it.
    Refused,
}

/// The table: time (or a redelivery) can cure an answer that never came, a
/// throttle, a timeout (408), an overloaded or failing server (429, 5xx).
/// Everything else (4xx, an unreadable 2xx, a refusal) stays as it is.
pub fn retryable(failure: Failure) -> bool {
    match failure {
        Failure::NotSent | Failure::NoAnswer | Failure::Deadline | Failure::Throttled => true,
        Failure::Status(status) => status == 408 || status == 429 || status >= 500,
        Failure::Unreadable | Failure::Refused => false,
    }
}

/// Whether a request that does work (a refresh) may have done it although its
/// answer says otherwise or never came. Only a request that never left, or an
/// answer that says the work was refused before it started (429 too many
/// requests, 503 unavailable, any 4xx), rules that out.
pub fn may_have_acted(failure: Failure) -> bool {
    match failure {
        Failure::NotSent | Failure::Throttled | Failure::Refused | Failure::Unreadable => false,
        Failure::Status(status) => {
            !(status == 429 || status == 503 || (400..500).contains(&status))
        }
        Failure::NoAnswer | Failure::Deadline => true,
    }
}

/// A reqwest error as a [`Failure`]: a failed connect never sent anything;
/// anything later (a timeout, a reset, a body cut off) may have reached the server.
pub fn transport_failure(error: &reqwest::Error) -> Failure {
    if error.is_connect() {
        Failure::NotSent
    } else {
        Failure::NoAnswer
    }
}

/// An AWS service's error code (Secrets Manager, Step Functions) as a
/// [`Failure`]: throttling, AWS's own internal errors and timeouts are worth
/// another attempt; access denied, not found, a bad request are not.
pub fn aws_service_failure(code: &str) -> Failure {
    match code {
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ProvisionedThroughputExceededException"
        | "SlowDown" => Failure::Throttled,
        "InternalServiceError"
        | "InternalServiceErrorException"
        | "InternalFailure"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => Failure::Status(500),
        "RequestTimeout" | "RequestTimeoutException" => Failure::Status(408),
        _ => Failure::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_codes_are_read_by_the_same_table() {
        assert!(retryable(aws_service_failure("ThrottlingException")));
        assert!(retryable(aws_service_failure("InternalServiceError")));
        assert!(!retryable(aws_service_failure("ResourceNotFoundException")));
        assert!(!retryable(aws_service_failure("AccessDeniedException")));
    }

    #[test]
    fn one_table_for_every_client() {
        for f in [
            Failure::NotSent,
            Failure::NoAnswer,
            Failure::Deadline,
            Failure::Throttled,
            Failure::Status(408),
            Failure::Status(429),
            Failure::Status(500),
            Failure::Status(502),
            Failure::Status(503),
            Failure::Status(504),
        ] {
            assert!(retryable(f), "{f:?}");
        }
        for f in [
            Failure::Status(400),
            Failure::Status(401),
            Failure::Status(403),
            Failure::Status(404),
            Failure::Status(409),
            Failure::Unreadable,
            Failure::Refused,
        ] {
            assert!(!retryable(f), "{f:?}");
        }
    }

    #[test]
    fn only_a_request_that_never_left_or_was_turned_away_did_nothing() {
        for f in [
            Failure::NotSent,
            Failure::Status(429),
            Failure::Status(503),
            Failure::Status(409),
        ] {
            assert!(!may_have_acted(f), "{f:?}");
        }
        for f in [
            Failure::NoAnswer,
            Failure::Deadline,
            Failure::Status(500),
            Failure::Status(502),
            Failure::Status(504),
        ] {
            assert!(may_have_acted(f), "{f:?}");
        }
    }

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
