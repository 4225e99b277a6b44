//! What can go wrong talking to Tableau, in words an operator can act on.

use std::fmt;
use std::time::{Duration, SystemTime};

/// The error code Tableau uses for "a refresh of this item is already queued".
pub const ALREADY_QUEUED: &str = "409093";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableauError {
    /// Tableau answered with its JSON error document
    /// (`{"error":{"summary":..,"detail":..,"code":".."}}`).
    Api {
        status: u16,
        code: String,
        summary: String,
        detail: String,
    },
    /// A non-2xx answer that is not Tableau's error document, e.g. a proxy's HTML
    /// page; `excerpt` is the start of the body with whitespace collapsed.
    Http { status: u16, excerpt: String },
    /// No HTTP answer at all (DNS, connection refused, TLS, reset) after retries.
    Unreachable { url: String, detail: String },
    /// Tableau keeps asking us to wait, and the wait would pass the deadline.
    /// `after`: the wait it asked for (Retry-After, or "retry after N minutes"
    /// in its detail), when it named one; `at`: when that wait ends.
    RetryLater {
        status: u16,
        after: Option<Duration>,
        at: Option<SystemTime>,
        detail: String,
    },
    /// The invocation's deadline passed before Tableau answered.
    Deadline,
    /// A 2xx answer whose JSON is not the shape REFERENCE.md documents.
    BadAnswer { what: &'static str, detail: String },
    /// A request that does work (a refresh) went, and what came back (nothing,
    /// or an answer that does not rule out the work being done) leaves its
    /// outcome unknown. It is not sent again: a second request could start a
    /// second job. `detail`: what came back instead of the answer.
    AnswerLost { detail: String },
    /// A version we cannot use (PAT sign-in needs 3.6 or later).
    UnsupportedVersion(String),
    /// A version older than connected-app (JWT) sign-in, which needs 3.17.
    JwtUnsupportedVersion(String),
}

impl TableauError {
    /// Tableau's error code, when it gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            TableauError::Api { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            TableauError::Api { status, .. }
            | TableauError::Http { status, .. }
            | TableauError::RetryLater { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// This error in the terms of the one retry table ([`crate::retry`]).
    pub fn failure(&self) -> crate::retry::Failure {
        use crate::retry::Failure;
        match self {
            TableauError::Api { status, .. } | TableauError::Http { status, .. } => {
                Failure::Status(*status)
            }
            TableauError::Unreachable { .. } | TableauError::AnswerLost { .. } => Failure::NoAnswer,
            TableauError::RetryLater { .. } => Failure::Throttled,
            TableauError::Deadline => Failure::Deadline,
            TableauError::BadAnswer { .. } => Failure::Unreadable,
            TableauError::UnsupportedVersion(_) | TableauError::JwtUnsupportedVersion(_) => {
                Failure::Refused
            }
        }
    }

    /// Builds the error for a non-2xx answer from its status and body. Every
    /// text taken from the body is redacted ([`crate::redact`]): a proxy's page
    /// may echo the request, PAT secret, JWT or session token included.
    pub fn from_answer(status: u16, body: &[u8]) -> TableauError {
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: Body,
        }
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            summary: String,
            #[serde(default)]
            detail: String,
            #[serde(default, deserialize_with = "super::json::string_or_number")]
            code: String,
        }
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => TableauError::Api {
                status,
                code: crate::redact::redact(&error.code),
                summary: crate::redact::excerpt(error.summary.as_bytes(), 300),
                detail: crate::redact::excerpt(error.detail.as_bytes(), 600),
            },
            Err(_) => TableauError::Http {
                status,
                excerpt: crate::redact::excerpt(body, 160),
            },
        }
    }

    /// True for the session-ended family (401000, 401002, or a bare 401), which a
    /// fresh sign-in cures.
    pub fn is_session_expired(&self) -> bool {
        self.status() == Some(401)
    }
}

/// `2026-01-31T19:31:36Z`, to the second.
fn utc(at: SystemTime) -> Option<String> {
    let at = time::OffsetDateTime::from(at).replace_nanosecond(0).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

impl fmt::Display for TableauError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableauError::Api {
                status,
                code,
                summary,
                detail,
            } => {
                if !code.is_empty() {
                    write!(f, "{code} ")?;
                }
                let summary = if summary.is_empty() {
                    reason(*status)
                } else {
                    summary
                };
                write!(f, "{summary}")?;
                if !detail.is_empty() {
                    write!(f, ": {detail}")?;
                }
                write!(f, " (HTTP {status})")
            }
            TableauError::Http { status, excerpt } if excerpt.is_empty() => {
                write!(f, "HTTP {status} {} with an empty body", reason(*status))
            }
            TableauError::Http { status, excerpt } => write!(
                f,
                "HTTP {status} {} with a body that is not Tableau's JSON (a proxy or load balancer?): {excerpt}",
                reason(*status)
            ),
            TableauError::Unreachable { url, detail } => {
                write!(f, "cannot reach Tableau at {url}: {detail}")
            }
            TableauError::RetryLater {
                status,
                after,
                at,
                detail,
            } => {
                match after {
                    Some(after) => {
                        write!(
                            f,
                            "Tableau is busy (HTTP {status}) and asked to retry in {} s, after this webhook's deadline; retry",
                            after.as_secs().max(1)
                        )?;
                        match at.and_then(utc) {
                            Some(at) => write!(f, " after {at}")?,
                            None => f.write_str(" later")?,
                        }
                    }
                    None => write!(
                        f,
                        "Tableau is busy (HTTP {status}) and kept refusing, without saying for how long; retry in a few minutes"
                    )?,
                }
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            TableauError::Deadline => f.write_str("Tableau did not answer in time"),
            TableauError::AnswerLost { detail } => write!(
                f,
                "the refresh request reached Tableau (or may have) but its answer was lost ({detail}); \
                 it was not sent again, so that no second job starts: Tableau may have queued a refresh \
                 whose outcome is not known (see the item's jobs in Tableau)"
            ),
            TableauError::BadAnswer { what, detail } => {
                write!(f, "unexpected answer from Tableau to {what}: {detail}")
            }
            TableauError::UnsupportedVersion(version) => write!(
                f,
                "Tableau REST API version {version} is too old: personal access token sign-in needs 3.6 or later \
                 (set TABLEAU_API_VERSION to override detection)"
            ),
            TableauError::JwtUnsupportedVersion(version) => write!(
                f,
                "Tableau REST API version {version} is too old for connected-app (JWT) sign-in, which needs \
                 3.17 (Tableau Server 2022.3) or later: upgrade Tableau Server, sign in with a personal \
                 access token instead, or set TABLEAU_API_VERSION if {version} is not what the server supports"
            ),
        }
    }
}

impl std::error::Error for TableauError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_carries_code_summary_detail_and_status() {
        let e = TableauError::from_answer(
            409,
            br#"{"error":{"summary":"Bad Request","detail":"nothing to refresh","code":"409090"}}"#,
        );
        assert_eq!(e.code(), Some("409090"));
        assert_eq!(
            e.to_string(),
            "409090 Bad Request: nothing to refresh (HTTP 409)"
        );
    }

    #[test]
    fn html_body_is_readable_and_short() {
        let page = format!(
            "<html>\n<head><title>502 Bad Gateway</title></head>{}</html>",
            "x".repeat(500)
        );
        let e = TableauError::from_answer(502, page.as_bytes());
        let text = e.to_string();
        assert!(
            text.starts_with("HTTP 502 Bad Gateway with a body"),
            "{text}"
        );
        assert!(text.contains("<title>502 Bad Gateway</title>"), "{text}");
        assert!(text.len() < 300, "{text}");
        assert_eq!(
            TableauError::from_answer(503, b"").to_string(),
            "HTTP 503 Service Unavailable with an empty body"
        );
    }

    #[test]
    fn numeric_code_is_accepted() {
        let e = TableauError::from_answer(
            401,
            br#"{"error":{"summary":"Signin Error","code":401001}}"#,
        );
        assert_eq!(e.code(), Some("401001"));
        assert!(e.is_session_expired());
    }
}
