//! The retry/deadline policy every dbt Cloud call goes through: 429, 5xx and
//! transport errors are retried with backoff (Retry-After honoured), nothing
//! waits past the caller's deadline, and a body is handed chunk by chunk to a
//! [`Sink`] so that a large artifact never has to sit in memory.

use super::DbtCloud;
use super::error::{DbtCloudError, Resource};
use crate::retry::Failure;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use tokio::time::{Instant, timeout};

const MAX_ATTEMPTS: u32 = 4;
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// An error answer is read only this far: enough for dbt Cloud's JSON status,
/// and a proxy's error page cannot fill the memory.
const ERROR_BODY_LIMIT: usize = 16 * 1024;
/// A timeout this close to the deadline is the deadline.
const DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// Where a 2xx body goes, chunk by chunk.
pub(super) trait Sink: Send {
    /// Forgets what was written: a body broken off mid-way is fetched again.
    fn restart(&mut self) -> Result<(), DbtCloudError>;
    /// Takes the next chunk. A future, so that a sink feeding a slower reader
    /// (a parser at a small CPU share) holds the download back instead of
    /// buffering the body in memory.
    fn write(&mut self, chunk: bytes::Bytes) -> crate::BoxFuture<'_, Result<(), DbtCloudError>>;
}

/// Why reading a body stopped: the connection (worth another attempt) or
/// anything else (the sink, the deadline: final).
enum BodyError {
    Transport(DbtCloudError),
    Final(DbtCloudError),
}

impl DbtCloud {
    /// GETs `url` (already built from checked IDs) with the token, retrying
    /// what time can fix, and writes the 2xx body to `sink`.
    pub(super) async fn get(
        &self,
        token: &SecretString,
        url: &str,
        resource: &Resource,
        sink: &mut (dyn Sink + Send),
        deadline: Instant,
    ) -> Result<(), DbtCloudError> {
        let secret = token.expose_secret().trim();
        crate::redact::keep(secret);
        let authorization = authorization(secret)?;
        let deadline_error = || DbtCloudError::Deadline {
            resource: resource.clone(),
        };
        let mut attempt = 1;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(deadline_error());
            }
            let request = self
                .http
                .get(url)
                .header(ACCEPT, "application/json")
                .header(AUTHORIZATION, authorization.clone());
            // The request timeout only covers the headers: the body is read
            // chunk by chunk below, each chunk with its own limit, so a large
            // manifest on a slow link is not cut off while it still flows.
            let sent = timeout((deadline - now).min(self.request_timeout), request.send()).await;
            let (error, retry_after) = match sent {
                Err(_) if near(deadline) => return Err(deadline_error()),
                Err(_) => (self.stalled(url), None),
                Ok(Err(e)) => (unreachable(url, &e), None),
                Ok(Ok(response)) if response.status().is_success() => {
                    match self
                        .read_body(response, url, resource, sink, deadline)
                        .await
                    {
                        Ok(()) => return Ok(()),
                        Err(BodyError::Final(error)) => return Err(error),
                        Err(BodyError::Transport(error)) => {
                            sink.restart()?;
                            (error, None)
                        }
                    }
                }
                Ok(Ok(response)) => {
                    let status = response.status();
                    let retry_after = crate::retry::retry_after(&response);
                    let body = read_capped(response, deadline).await;
                    // A proxy or a debugging endpoint may echo the request's
                    // headers: the one redaction (the token is registered
                    // with it) runs before the excerpt is cut.
                    let message = answer_message(&body);
                    let error = DbtCloudError::from_answer(
                        status.as_u16(),
                        &self.base_url,
                        resource,
                        message,
                    );
                    if !crate::retry::retryable(Failure::Status(status.as_u16())) {
                        return Err(error);
                    }
                    (error, retry_after)
                }
            };
            let wait = retry_after.unwrap_or_else(|| crate::retry::backoff(BACKOFF_BASE, attempt));
            if Instant::now() + wait >= deadline || attempt >= MAX_ATTEMPTS {
                return Err(give_up(error, retry_after));
            }
            tracing::warn!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "dbt Cloud call failed; retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn read_body(
        &self,
        mut response: reqwest::Response,
        url: &str,
        resource: &Resource,
        sink: &mut (dyn Sink + Send),
        deadline: Instant,
    ) -> Result<(), BodyError> {
        let deadline_error = || {
            BodyError::Final(DbtCloudError::Deadline {
                resource: resource.clone(),
            })
        };
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(deadline_error());
            }
            match timeout((deadline - now).min(self.request_timeout), response.chunk()).await {
                Err(_) if near(deadline) => return Err(deadline_error()),
                Err(_) => return Err(BodyError::Transport(self.stalled(url))),
                Ok(Err(e)) => return Err(BodyError::Transport(unreachable(url, &e))),
                Ok(Ok(None)) => return Ok(()),
                Ok(Ok(Some(chunk))) => sink.write(chunk).await.map_err(BodyError::Final)?,
            }
        }
    }

    fn stalled(&self, url: &str) -> DbtCloudError {
        DbtCloudError::Unreachable {
            url: without_query(url),
            detail: format!("no answer within {} s", self.request_timeout.as_secs_f64()),
        }
    }
}

/// `Token <token>`, marked sensitive so that no debug output of the request
/// shows it.
fn authorization(secret: &str) -> Result<HeaderValue, DbtCloudError> {
    if secret.is_empty() {
        return Err(DbtCloudError::InvalidToken { reason: "is empty" });
    }
    let mut value = HeaderValue::from_str(&format!("Token {secret}")).map_err(|_| {
        DbtCloudError::InvalidToken {
            reason: "is not a valid HTTP header value (a stray line break or control character?)",
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn near(deadline: Instant) -> bool {
    Instant::now() + DEADLINE_SLACK >= deadline
}

/// Out of attempts or time: a busy or failing dbt Cloud becomes "retry later";
/// a transport error stays what it was.
fn give_up(error: DbtCloudError, after: Option<Duration>) -> DbtCloudError {
    match error {
        DbtCloudError::Http {
            status,
            resource,
            message,
        } => DbtCloudError::RetryLater {
            status,
            after,
            resource,
            message,
        },
        error => error,
    }
}

/// The start of an error answer's body; a body that breaks off or stalls is
/// cut where it stopped (the status alone still says what happened).
async fn read_capped(mut response: reqwest::Response, deadline: Instant) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left.min(Duration::from_secs(1)), response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    body
}

/// dbt Cloud's `status.user_message` (and `developer_message` when it adds
/// something), or the start of a body that is not dbt Cloud's JSON (a proxy's
/// HTML page), whitespace collapsed.
fn answer_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        status: Status,
    }
    #[derive(serde::Deserialize)]
    struct Status {
        #[serde(default)]
        user_message: Option<String>,
        #[serde(default)]
        developer_message: Option<String>,
    }
    if let Ok(Envelope { status }) = serde_json::from_slice::<Envelope>(body) {
        let user = status.user_message.unwrap_or_default();
        let developer = status.developer_message.unwrap_or_default();
        let text = match (user.trim(), developer.trim()) {
            (u, d) if d.is_empty() || u.contains(d) => u.to_owned(),
            ("", d) => d.to_owned(),
            (u, d) => format!("{u} ({d})"),
        };
        return excerpt(text.as_bytes());
    }
    excerpt(body)
}

fn excerpt(body: &[u8]) -> String {
    crate::redact::excerpt(body, 200)
}

fn unreachable(url: &str, error: &reqwest::Error) -> DbtCloudError {
    // reqwest names the full URL in its message; the error names it once,
    // without the query.
    let mut detail = crate::error_chain(error);
    if let Some(full) = error.url() {
        detail = detail.replace(&format!(" for url ({full})"), "");
    }
    DbtCloudError::Unreachable {
        url: without_query(url),
        detail: crate::redact::redact(&detail),
    }
}

fn without_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbt_cloud_status_message_is_read() {
        let body = br#"{"status":{"code":404,"is_success":false,"user_message":"The requested resource was not found.","developer_message":""},"data":null}"#;
        assert_eq!(
            answer_message(body),
            "The requested resource was not found."
        );
        let both =
            br#"{"status":{"user_message":"Invalid token.","developer_message":"token expired"}}"#;
        assert_eq!(answer_message(both), "Invalid token. (token expired)");
        let html = format!(
            "<html>\n<title>502 Bad Gateway</title>{}</html>",
            "x".repeat(500)
        );
        let text = answer_message(html.as_bytes());
        assert!(text.starts_with("<html> <title>502"), "{text}");
        assert!(text.chars().count() <= 201, "{text}");
    }

    #[test]
    fn token_header_is_checked_and_sensitive() {
        let value = authorization("dbtc_abc").unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Token dbtc_abc");
        assert_eq!(
            authorization(""),
            Err(DbtCloudError::InvalidToken { reason: "is empty" })
        );
        let error = authorization("dbtc_\nabc").unwrap_err();
        assert!(!error.to_string().contains("dbtc_"), "{error}");
    }
}
