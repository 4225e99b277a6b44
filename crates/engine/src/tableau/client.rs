//! The HTTP layer: one reqwest client per container, the REST API version, and
//! the retry/timeout policy every Tableau call goes through.

use super::error::TableauError;
use super::jwt::Minter;
use crate::retry::Failure;
use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::OnceCell;
use tokio::time::Instant;

type Bytes = Vec<u8>;

/// Caps one request so that a slow first attempt leaves time for a second one
/// inside the webhook's deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ATTEMPTS: u32 = 4;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The version every Tableau since 10.1 answers serverinfo on.
const PROBE_VERSION: &str = "2.4";
/// Personal access token sign-in arrived in 3.6.
const MIN_VERSION: (u32, u32) = (3, 6);
/// Connected-app (JWT) sign-in arrived in 3.17 (Tableau Server 2022.3).
pub const MIN_JWT_VERSION: (u32, u32) = (3, 17);
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Talks to any number of Tableau servers; built once per container so that
/// connections and the detected API version survive between invocations.
pub struct Client {
    http: reqwest::Client,
    fixed_version: Option<String>,
    /// Keyed by server URL, because the secret (and so the server) may rotate
    /// while the container lives.
    detected: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
    pub(crate) page_size: u32,
    /// Mints the JWTs of connected-app sign-ins.
    pub(crate) minter: Minter,
}

/// What one call sends; rebuilt for each attempt.
pub struct Call<'a> {
    pub method: Method,
    pub url: String,
    pub token: Option<&'a SecretString>,
    pub body: Option<&'a serde_json::Value>,
    /// An XML body instead of JSON: the incremental refresh request, which
    /// tableauserverclient sends as XML (answers stay JSON by `Accept`).
    pub xml: Option<&'a str>,
}

impl Client {
    /// `api_version`: `TABLEAU_API_VERSION` when set; `None` detects it.
    pub fn new(http: reqwest::Client, api_version: Option<String>) -> Result<Client, String> {
        let fixed_version = match api_version.map(|v| v.trim().to_owned()) {
            Some(v) if v.is_empty() => None,
            Some(v) => match parse_version(&v) {
                Some(_) => Some(v),
                None => {
                    return Err(format!(
                        "TABLEAU_API_VERSION must look like 3.22, not \"{v}\""
                    ));
                }
            },
            None => None,
        };
        Ok(Client {
            http,
            fixed_version,
            detected: Mutex::new(HashMap::new()),
            page_size: DEFAULT_PAGE_SIZE,
            minter: Minter::default(),
        })
    }

    pub fn default_http() -> Result<reqwest::Client, String> {
        crate::tls::http().map_err(|e| format!("{e} for Tableau"))
    }

    /// The REST API version to use with `server`, detecting it on first use.
    pub async fn api_version(
        &self,
        server: &str,
        deadline: Instant,
    ) -> Result<String, TableauError> {
        if let Some(v) = &self.fixed_version {
            return Ok(v.clone());
        }
        let cell = {
            let mut map = self.detected.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(map.entry(server.to_owned()).or_default())
        };
        // A failed or timed-out detection leaves the cell empty, so the next
        // invocation tries again instead of caching the failure.
        cell.get_or_try_init(|| self.detect_version(server, deadline))
            .await
            .cloned()
    }

    async fn detect_version(
        &self,
        server: &str,
        deadline: Instant,
    ) -> Result<String, TableauError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            server_info: Info,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Info {
            rest_api_version: String,
        }
        let url = format!("{server}/api/{PROBE_VERSION}/serverinfo");
        let body = self
            .send(
                &Call {
                    method: Method::GET,
                    url,
                    token: None,
                    body: None,
                    xml: None,
                },
                deadline,
            )
            .await?;
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| TableauError::BadAnswer {
                what: "serverinfo",
                detail: e.to_string(),
            })?;
        let version = answer.server_info.rest_api_version.trim().to_owned();
        match parse_version(&version) {
            Some(v) if v >= MIN_VERSION => {
                tracing::info!(server, version = %version, "detected Tableau REST API version");
                Ok(version)
            }
            _ => Err(TableauError::UnsupportedVersion(version)),
        }
    }

    /// Sends `call`, retrying what the one retry table ([`crate::retry`]) calls
    /// retryable, with backoff, and returns the body of a 2xx answer. Every
    /// attempt is bounded by `deadline`.
    pub async fn send(&self, call: &Call<'_>, deadline: Instant) -> Result<Bytes, TableauError> {
        self.send_with(call, Resend::Always, &|| call.body.cloned(), deadline)
            .await
    }

    /// [`Client::send`] for a request that does work (a refresh): sent again
    /// only while no earlier attempt may have done it ([`crate::retry::may_have_acted`]);
    /// otherwise the outcome is [`TableauError::AnswerLost`].
    pub async fn send_work(
        &self,
        call: &Call<'_>,
        deadline: Instant,
    ) -> Result<Bytes, TableauError> {
        self.send_with(
            call,
            Resend::UnlessItMayHaveActed,
            &|| call.body.cloned(),
            deadline,
        )
        .await
    }

    /// [`Client::send`] with the body made anew for every attempt (a sign-in's
    /// JWT: Tableau refuses a `jti` it has seen, and `exp` counts from now).
    pub async fn send_fresh(
        &self,
        call: &Call<'_>,
        body: &(dyn Fn() -> serde_json::Value + Sync),
        deadline: Instant,
    ) -> Result<Bytes, TableauError> {
        self.send_with(call, Resend::Always, &|| Some(body()), deadline)
            .await
    }

    async fn send_with(
        &self,
        call: &Call<'_>,
        resend: Resend,
        body: &(dyn Fn() -> Option<serde_json::Value> + Sync),
        deadline: Instant,
    ) -> Result<Bytes, TableauError> {
        let mut attempt = 1;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(TableauError::Deadline);
            }
            let mut request = self
                .http
                .request(call.method.clone(), &call.url)
                .timeout((deadline - now).min(REQUEST_TIMEOUT))
                .header(ACCEPT, "application/json");
            if let Some(token) = call.token {
                let mut value = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                    TableauError::BadAnswer {
                        what: "sign-in",
                        detail: "the session token is not a valid header value".into(),
                    }
                })?;
                value.set_sensitive(true);
                request = request.header("X-Tableau-Auth", value);
            }
            if let Some(body) = body() {
                request = request.json(&body);
            } else if let Some(xml) = call.xml {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/xml")
                    .body(xml.to_owned());
            }
            let (error, failure, retry_after) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = crate::retry::retry_after(&response);
                    match response.bytes().await {
                        Ok(body) if status.is_success() => return Ok(body.to_vec()),
                        Ok(body) => {
                            let error = TableauError::from_answer(status.as_u16(), &body);
                            // Tableau's 429000 says "Please retry after N minutes"
                            // in its detail, with or without a Retry-After header.
                            let hint = retry_after.or_else(|| match status {
                                StatusCode::TOO_MANY_REQUESTS => retry_hint(&error),
                                _ => None,
                            });
                            (error, Failure::Status(status.as_u16()), hint)
                        }
                        Err(e) => (transport(&call.url, &e, deadline), Failure::NoAnswer, None),
                    }
                }
                Err(e) => (
                    transport(&call.url, &e, deadline),
                    crate::retry::transport_failure(&e),
                    None,
                ),
            };
            let failure = match error {
                TableauError::Deadline => Failure::Deadline,
                _ => failure,
            };
            if resend == Resend::UnlessItMayHaveActed && crate::retry::may_have_acted(failure) {
                tracing::warn!(
                    attempt,
                    error = %error,
                    "Tableau's answer to a refresh request was lost; not sending it again"
                );
                return Err(TableauError::AnswerLost {
                    detail: error.to_string(),
                });
            }
            if error == TableauError::Deadline || !crate::retry::retryable(failure) {
                return Err(error);
            }
            let wait = retry_after.unwrap_or_else(|| crate::retry::backoff(BACKOFF_BASE, attempt));
            let too_late = Instant::now() + wait >= deadline;
            if too_late || attempt >= MAX_ATTEMPTS {
                return Err(match error.status() {
                    Some(status) if status == 429 || retry_after.is_some() => {
                        TableauError::RetryLater {
                            status,
                            after: retry_after,
                            at: retry_after.map(|after| SystemTime::now() + after),
                            detail: error.to_string(),
                        }
                    }
                    _ => error,
                });
            }
            tracing::warn!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "Tableau call failed; retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// Whether a call may be sent again after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Reads, sign-in, sign-out: sending again does no harm.
    Always,
    /// A refresh: a second request that arrives could start a second job.
    UnlessItMayHaveActed,
}

/// The wait a 429's text asks for: "Please retry after 2 minutes" (Tableau's
/// 429000 detail), also "seconds" and "hours"; `None` when it names none.
fn retry_hint(error: &TableauError) -> Option<Duration> {
    let TableauError::Api {
        summary, detail, ..
    } = error
    else {
        return None;
    };
    [detail, summary]
        .into_iter()
        .find_map(|text| parse_retry_after(text))
}

fn parse_retry_after(text: &str) -> Option<Duration> {
    let text = text.to_ascii_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '.')
        .filter(|w| !w.is_empty())
        .collect();
    (0..words.len())
        .filter(|&i| words[i] == "after" || words[i] == "in")
        .find_map(|i| {
            let number: f64 = words.get(i + 1)?.trim_end_matches('.').parse().ok()?;
            if !number.is_finite() || !(0.0..=86_400.0).contains(&number) {
                return None;
            }
            let seconds = match words.get(i + 2)?.trim_end_matches('.') {
                u if u.starts_with("min") => number * 60.0,
                u if u.starts_with("hour") || u == "h" || u == "hr" || u == "hrs" => {
                    number * 3600.0
                }
                u if u.starts_with("sec") || u == "s" => number,
                _ => return None,
            };
            Some(Duration::from_secs_f64(seconds))
        })
}

fn transport(url: &str, error: &reqwest::Error, deadline: Instant) -> TableauError {
    // The per-request timeout is clipped to the deadline; a timeout at (or a
    // hair before) the deadline is the deadline.
    if error.is_timeout() && Instant::now() + Duration::from_millis(50) >= deadline {
        return TableauError::Deadline;
    }
    TableauError::Unreachable {
        url: url.split('?').next().unwrap_or(url).to_owned(),
        detail: crate::redact::redact(&crate::error_chain(error)),
    }
}

pub(crate) fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("3.22").unwrap() > parse_version("3.6").unwrap());
        assert_eq!(parse_version("3"), None);
        assert_eq!(parse_version("latest"), None);
    }

    #[test]
    fn retry_hints_are_read_from_the_429_text() {
        let minutes = Some(Duration::from_secs(120));
        assert_eq!(parse_retry_after("Please retry after 2 minutes"), minutes);
        assert_eq!(parse_retry_after("Please retry after 2 minutes."), minutes);
        assert_eq!(
            parse_retry_after("retry after 1 minute"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Retry after 30 seconds"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Please retry after 1 hour"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_retry_after("try again in 45 s"),
            Some(Duration::from_secs(45))
        );
        assert_eq!(parse_retry_after("Too many requests"), None);
        assert_eq!(parse_retry_after("retry after a while"), None);
        assert_eq!(parse_retry_after("retry after 3 fortnights"), None);
        assert_eq!(
            parse_retry_after("down in maintenance; retry after 10 minutes"),
            Some(Duration::from_secs(600))
        );
        let error = TableauError::from_answer(
            429,
            br#"{"error":{"summary":"Too Many Requests","detail":"Please retry after 5 minutes","code":"429000"}}"#,
        );
        assert_eq!(retry_hint(&error), Some(Duration::from_secs(300)));
    }

    #[test]
    fn bad_fixed_version_is_a_configuration_error() {
        let http = Client::default_http().unwrap();
        assert!(Client::new(http.clone(), Some("three".into())).is_err());
        assert!(
            Client::new(http.clone(), Some(" ".into()))
                .unwrap()
                .fixed_version
                .is_none()
        );
        assert_eq!(
            Client::new(http, Some("3.22".into()))
                .unwrap()
                .fixed_version
                .as_deref(),
            Some("3.22")
        );
    }
}
