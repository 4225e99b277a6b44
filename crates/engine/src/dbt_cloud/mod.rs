//! dbt Cloud: reads a run and its artifacts from the Administrative API v2.
//!
//! [`DbtCloud`] holds the account's access URL and an HTTP client; [`run`] reads
//! a run with its steps, [`artifacts`] its `run_results.json` files (in memory)
//! and its `manifest.json` (streamed to a temporary file, never held: a big
//! project's manifest is larger than the function's memory), [`stream`] every
//! artifact straight into a parser as it downloads, without any size cap (the
//! exposure resolver's path). [`http`] is the
//! retry/deadline policy every call goes through, [`error`] what can go wrong.
//! No Lambda types and no knowledge of exposures here.

pub mod artifacts;
pub mod error;
mod http;
pub mod run;
pub mod stream;

pub use error::{DbtCloudError, Resource};
pub use run::{Run, RunStep};
pub use stream::{ArtifactReader, RunStream};

use std::time::Duration;

/// Names the account's access URL (REFERENCE.md: cell-based, regional and
/// single-tenant hosts differ).
pub const API_URL_VARIABLE: &str = "DBT_CLOUD_API_URL";
/// The legacy multi-tenant US host, dbt Cloud's own default.
pub const DEFAULT_API_URL: &str = "https://cloud.getdbt.com";
/// Caps the wait for an answer's headers, and for each chunk of a body, so a
/// stalled attempt leaves time for another inside the caller's deadline. A
/// large manifest may take longer than this in total; only a stall ends it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for one dbt Cloud host; cheap to keep for the container's life.
#[derive(Clone)]
pub struct DbtCloud {
    http: reqwest::Client,
    /// Scheme and host (and port), no trailing slash.
    base_url: String,
    request_timeout: Duration,
}

impl DbtCloud {
    /// `base_url`: the account's access URL, like `https://ab123.us1.dbt.com`.
    /// Plain `http` is refused except for loopback hosts (tests, a local
    /// proxy): the token would otherwise cross the network in clear text.
    pub fn new(http: reqwest::Client, base_url: &str) -> Result<DbtCloud, String> {
        Ok(DbtCloud {
            http,
            base_url: validate_base_url(base_url)?,
            request_timeout: REQUEST_TIMEOUT,
        })
    }

    /// Reads `DBT_CLOUD_API_URL` (unset or blank: [`DEFAULT_API_URL`]) and
    /// builds its own HTTP client.
    pub fn from_env() -> Result<DbtCloud, String> {
        DbtCloud::from_env_with(DbtCloud::default_http()?)
    }

    /// Like [`DbtCloud::from_env`], sharing a client built elsewhere (one TLS
    /// configuration and root store per container).
    pub fn from_env_with(http: reqwest::Client) -> Result<DbtCloud, String> {
        DbtCloud::from_lookup(http, |key| std::env::var(key).ok())
    }

    /// Like [`DbtCloud::from_env_with`], with the environment given as a lookup.
    pub fn from_lookup(
        http: reqwest::Client,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<DbtCloud, String> {
        let url = lookup(API_URL_VARIABLE).filter(|v| !v.trim().is_empty());
        DbtCloud::new(http, url.as_deref().unwrap_or(DEFAULT_API_URL))
    }

    /// The same reqwest stack as the Tableau client: rustls with the ring
    /// provider, a connect timeout, our user agent.
    pub fn default_http() -> Result<reqwest::Client, String> {
        crate::tls::http().map_err(|e| format!("{e} for dbt Cloud"))
    }

    /// Overrides [`REQUEST_TIMEOUT`] (tests, or a slow link).
    pub fn with_request_timeout(mut self, timeout: Duration) -> DbtCloud {
        self.request_timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

fn validate_base_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let wrong = |why: &str| {
        format!(
            "{API_URL_VARIABLE} must be the dbt Cloud account's access URL, like \
             https://ab123.us1.dbt.com or {DEFAULT_API_URL}, not {raw:?}: {why}"
        )
    };
    if !raw.contains("://") {
        return Err(wrong("it needs https://"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| wrong(&e.to_string()))?;
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err(wrong("it has no host"));
    }
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(wrong(
                "it must use https, or the token travels in clear text",
            ));
        }
        _ => return Err(wrong("it must start with https://")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(wrong("it must not carry credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(wrong("give the host only, without a path such as /api/v2"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_urls_are_validated() {
        for good in [
            "https://cloud.getdbt.com",
            "https://ab123.us1.dbt.com/",
            " https://emea.dbt.com ",
            "http://127.0.0.1:8080",
            "http://localhost:9",
        ] {
            let url = validate_base_url(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert!(!url.ends_with('/'), "{url}");
        }
        assert_eq!(
            validate_base_url("https://EMEA.dbt.com/").unwrap(),
            "https://emea.dbt.com"
        );
        for (bad, why) in [
            ("cloud.getdbt.com", "needs https://"),
            ("http://cloud.getdbt.com", "clear text"),
            ("ftp://cloud.getdbt.com", "https://"),
            ("https://cloud.getdbt.com/api/v2", "without a path"),
            ("https://cloud.getdbt.com/?x=1", "without a path"),
            ("https://user:pw@cloud.getdbt.com", "credentials"),
            ("", "needs https://"),
        ] {
            let error = validate_base_url(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
            assert!(error.starts_with("DBT_CLOUD_API_URL"), "{error}");
        }
    }

    #[test]
    fn unset_or_blank_variable_means_the_default_host() {
        let http = DbtCloud::default_http().unwrap();
        let cloud = DbtCloud::from_lookup(http.clone(), |_| None).unwrap();
        assert_eq!(cloud.base_url(), DEFAULT_API_URL);
        let cloud = DbtCloud::from_lookup(http.clone(), |_| Some("  ".into())).unwrap();
        assert_eq!(cloud.base_url(), DEFAULT_API_URL);
        let cloud = DbtCloud::from_lookup(http, |_| Some("https://au.dbt.com".into())).unwrap();
        assert_eq!(cloud.base_url(), "https://au.dbt.com");
    }
}
