//! What can go wrong reading a run from dbt Cloud, in words an operator can act
//! on. No message ever carries the token: the client redacts it from anything
//! dbt Cloud (or a proxy) echoes back before it becomes an error.

use std::fmt;
use std::time::Duration;

/// What a call was reading, so that an error says which run and which file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub account_id: u64,
    pub run_id: u64,
    /// `(path, step)` for an artifact; `None` for the run itself.
    pub artifact: Option<(String, Option<u32>)>,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.artifact {
            None => {}
            Some((path, None)) => write!(f, "{path} of ")?,
            Some((path, Some(step))) => write!(f, "{path} (step {step}) of ")?,
        }
        write!(f, "run {} (account {})", self.run_id, self.account_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbtCloudError {
    /// An account or run ID that is not a positive number, or an artifact path
    /// that is not a relative file path; never sent, because it would become
    /// part of the URL's path.
    InvalidInput { what: &'static str, value: String },
    /// The token cannot be sent at all (empty, or not a header value).
    InvalidToken { reason: &'static str },
    /// 401 or 403: this token may not read this run on this host.
    Denied {
        status: u16,
        base_url: String,
        resource: Resource,
        message: String,
    },
    /// 404: no such run in the account, or the run has no such artifact.
    NotFound {
        base_url: String,
        resource: Resource,
        message: String,
    },
    /// Any other non-2xx answer (a 400, a 405, or a 429/5xx between retries).
    Http {
        status: u16,
        resource: Resource,
        message: String,
    },
    /// No HTTP answer at all (DNS, connection refused, TLS, reset, no answer
    /// within the per-request timeout) after retries.
    Unreachable { url: String, detail: String },
    /// dbt Cloud kept answering 429 or 5xx, or asked for a wait (`after`,
    /// from Retry-After) that would end after the deadline.
    RetryLater {
        status: u16,
        after: Option<Duration>,
        resource: Resource,
        message: String,
    },
    /// The caller's deadline passed before dbt Cloud finished answering.
    Deadline { resource: Resource },
    /// A 2xx answer that is not the shape the Administrative API documents.
    BadAnswer { resource: Resource, detail: String },
    /// An artifact read into memory grew past the limit that keeps the
    /// function inside its memory.
    TooLarge { resource: Resource, limit: usize },
}

impl DbtCloudError {
    /// Whether a later attempt (a redelivery, the workflow's retry) could
    /// succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            DbtCloudError::RetryLater { .. }
            | DbtCloudError::Unreachable { .. }
            | DbtCloudError::Deadline { .. } => true,
            DbtCloudError::Http { status, .. } => {
                crate::retry::retryable(crate::retry::Failure::Status(*status))
            }
            DbtCloudError::InvalidInput { .. }
            | DbtCloudError::InvalidToken { .. }
            | DbtCloudError::Denied { .. }
            | DbtCloudError::NotFound { .. }
            | DbtCloudError::BadAnswer { .. }
            | DbtCloudError::TooLarge { .. } => false,
        }
    }

    /// The HTTP status dbt Cloud answered with, when the error is an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            DbtCloudError::Denied { status, .. }
            | DbtCloudError::Http { status, .. }
            | DbtCloudError::RetryLater { status, .. } => Some(*status),
            DbtCloudError::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// The error for a non-2xx answer. `message` is what dbt Cloud said, already
    /// redacted.
    pub(crate) fn from_answer(
        status: u16,
        base_url: &str,
        resource: &Resource,
        message: String,
    ) -> DbtCloudError {
        let resource = resource.clone();
        let base_url = base_url.to_owned();
        match status {
            401 | 403 => DbtCloudError::Denied {
                status,
                base_url,
                resource,
                message,
            },
            404 => DbtCloudError::NotFound {
                base_url,
                resource,
                message,
            },
            _ => DbtCloudError::Http {
                status,
                resource,
                message,
            },
        }
    }
}

/// ` (HTTP 404: Not found.)`, or ` (HTTP 404)` when dbt Cloud said nothing.
struct Answer<'a>(u16, &'a str);

impl fmt::Display for Answer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            "" => write!(f, " (HTTP {})", self.0),
            message => write!(f, " (HTTP {}: {message})", self.0),
        }
    }
}

const PERMISSION: &str = "a service token with the Job Viewer (Enterprise) or Read-only (Team) \
                          permission on account";

impl fmt::Display for DbtCloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbtCloudError::InvalidInput { what, value } => {
                let value: String = value.chars().take(40).collect();
                write!(f, "the dbt Cloud {what} {value:?} is not valid")?;
                if what.ends_with("ID") {
                    f.write_str(" (dbt Cloud IDs are positive numbers)")?;
                }
                Ok(())
            }
            DbtCloudError::InvalidToken { reason } => write!(
                f,
                "DBT_CLOUD_API_TOKEN {reason}: set it to a dbt Cloud service token"
            ),
            DbtCloudError::Denied {
                status,
                base_url,
                resource,
                message,
            } => {
                let refused = if *status == 401 {
                    "refused the token for"
                } else {
                    "does not let the token read"
                };
                write!(
                    f,
                    "dbt Cloud at {base_url} {refused} {resource}{}: DBT_CLOUD_API_TOKEN must be \
                     {PERMISSION} {} (a Metadata-only token cannot read runs), and DBT_CLOUD_API_URL \
                     the account's access URL",
                    Answer(*status, message),
                    resource.account_id
                )
            }
            DbtCloudError::NotFound {
                base_url,
                resource,
                message,
            } if resource.artifact.is_none() => write!(
                f,
                "dbt Cloud at {base_url} has no {resource}{}: check the account and run IDs, and that \
                 DBT_CLOUD_API_URL is the account's access URL (like https://ab123.us1.dbt.com)",
                Answer(404, message)
            ),
            DbtCloudError::NotFound {
                base_url,
                resource,
                message,
            } => write!(
                f,
                "dbt Cloud at {base_url} has no {resource}{}: did the run save artifacts? A run \
                 cancelled or failed before dbt started, or a job with no dbt command that writes \
                 them, has none",
                Answer(404, message)
            ),
            DbtCloudError::Http {
                status,
                resource,
                message,
            } => write!(
                f,
                "dbt Cloud answered {resource} with an error{}",
                Answer(*status, message)
            ),
            DbtCloudError::Unreachable { url, detail } => write!(
                f,
                "cannot reach dbt Cloud at {url}: {detail} (check DBT_CLOUD_API_URL and the \
                 function's network access)"
            ),
            DbtCloudError::RetryLater {
                status,
                after: Some(after),
                resource,
                message,
            } => write!(
                f,
                "dbt Cloud is busy{} and asked to retry in {} s, after this invocation's deadline, \
                 while reading {resource}; retry later",
                Answer(*status, message),
                after.as_secs().max(1)
            ),
            DbtCloudError::RetryLater {
                status,
                after: None,
                resource,
                message,
            } => write!(
                f,
                "dbt Cloud kept failing{} while reading {resource}; retry in a few minutes",
                Answer(*status, message)
            ),
            DbtCloudError::Deadline { resource } => write!(
                f,
                "dbt Cloud did not answer in time while reading {resource}"
            ),
            DbtCloudError::BadAnswer { resource, detail } => {
                write!(
                    f,
                    "unexpected answer from dbt Cloud for {resource}: {detail}"
                )
            }
            DbtCloudError::TooLarge { resource, limit } => write!(
                f,
                "{resource} from dbt Cloud is larger than {} MiB, more than this function holds in memory",
                limit >> 20
            ),
        }
    }
}

impl std::error::Error for DbtCloudError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Resource {
        Resource {
            account_id: 1,
            run_id: 12345,
            artifact: None,
        }
    }

    #[test]
    fn messages_name_dbt_cloud_and_the_fix() {
        let denied = DbtCloudError::from_answer(403, "https://emea.dbt.com", &run(), "".into());
        let text = denied.to_string();
        assert!(
            text.starts_with("dbt Cloud at https://emea.dbt.com"),
            "{text}"
        );
        assert!(text.contains("run 12345 (account 1) (HTTP 403)"), "{text}");
        assert!(
            text.contains("Job Viewer") && text.contains("DBT_CLOUD_API_TOKEN"),
            "{text}"
        );
        assert!(!denied.is_retryable());

        let artifact = Resource {
            artifact: Some(("run_results.json".into(), Some(2))),
            ..run()
        };
        let missing = DbtCloudError::from_answer(404, "https://x", &artifact, "gone".into());
        let text = missing.to_string();
        assert!(
            text.contains(
                "has no run_results.json (step 2) of run 12345 (account 1) (HTTP 404: gone)"
            ),
            "{text}"
        );
        assert!(text.contains("save artifacts"), "{text}");
        let text = DbtCloudError::from_answer(404, "https://x", &run(), "".into()).to_string();
        assert!(text.contains("DBT_CLOUD_API_URL"), "{text}");
    }

    #[test]
    fn retryable_is_what_time_can_fix() {
        let busy = DbtCloudError::RetryLater {
            status: 429,
            after: Some(Duration::from_secs(30)),
            resource: run(),
            message: String::new(),
        };
        assert!(busy.is_retryable());
        assert!(busy.to_string().contains("retry in 30 s"), "{busy}");
        assert!(DbtCloudError::Deadline { resource: run() }.is_retryable());
        assert!(DbtCloudError::from_answer(502, "h", &run(), "".into()).is_retryable());
        assert!(!DbtCloudError::from_answer(400, "h", &run(), "".into()).is_retryable());
        assert!(!DbtCloudError::from_answer(401, "h", &run(), "".into()).is_retryable());
        assert!(
            !DbtCloudError::BadAnswer {
                resource: run(),
                detail: "x".into()
            }
            .is_retryable()
        );
    }
}
