//! Secrets from one AWS Secrets Manager secret (production: `SECRET_ID` is set).
//!
//! The secret's SecretString is a JSON object of string values with the keys the
//! old Zapier step used. The parsed [`Secrets`] are cached in the warm container for
//! a TTL, so a warm invocation makes no Secrets Manager call; `refetch` bypasses the
//! cache (a rotated webhook key works at once) but at most once per refetch interval,
//! so a flood of forged requests cannot run up Secrets Manager calls. Errors are never
//! cached: the next invocation tries again.
//!
//! A cache of our own rather than AWS's `aws_secretsmanager_caching` crate: that crate
//! depends on aws-config / aws-sdk-secretsmanager with their default features (the
//! legacy hyper 0.14 / rustls 0.21 stack), on tokio's multi-threaded runtime, and on
//! serde_with, linked-hash-map and log; it caches the raw GetSecretValue output (we
//! would still parse on every invocation), revalidates an expired entry with a
//! DescribeSecret call before a GetSecretValue, has no rate limit on a forced refresh,
//! and returns a non-`Send` `Box<dyn Error>` from which the AWS error code is hard to
//! recover. One secret, one TTL and one rate limit fit in the code below.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use dbt_tableau_engine::BoxFuture;
use dbt_tableau_engine::secrets::{Origin, SecretSource, Secrets, SecretsError, env};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Environment variable with the cache TTL in whole seconds.
pub const SECRET_TTL_VARIABLE: &str = "SECRET_TTL_SECONDS";
/// How long a fetched secret is reused when `SECRET_TTL_SECONDS` is unset.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// At most one refetch (after a signature mismatch) per this interval.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// One TCP/TLS connect; Secrets Manager is in the same region.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// One attempt (request and answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// The whole GetSecretValue, retries included: well inside the 8 s answer deadline,
/// even with a refetch after it.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);
/// The first attempt and one retry.
pub const MAX_ATTEMPTS: u32 = 2;

/// Where a key missing from the secret is looked up next (the environment in
/// production; injectable so tests don't mutate the process environment).
pub type Fallback = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Applies this function's timeouts and retries to a Secrets Manager client
/// configuration, so that the SDK can never outlast the invocation's deadline.
/// The HTTP client is the one of the `SdkConfig` the builder comes from
/// ([`crate::aws_http`]), shared with every other AWS client.
pub fn bounded(
    builder: aws_sdk_secretsmanager::config::Builder,
) -> aws_sdk_secretsmanager::config::Builder {
    builder
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
}

/// Reads `SECRET_TTL_SECONDS` (unset or empty: the default; `0`: no caching).
pub fn ttl_from(raw: Option<&str>) -> Result<Duration, SecretsError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(DEFAULT_TTL),
        Some(value) => value.parse::<u64>().map(Duration::from_secs).map_err(|_| {
            SecretsError::NotConfigured(format!(
                "{SECRET_TTL_VARIABLE} must be a whole number of seconds (0 or more), got {value:?}"
            ))
        }),
    }
}

pub struct SecretsManagerSource {
    client: Client,
    secret_id: String,
    origin: Origin,
    ttl: Duration,
    refetch_interval: Duration,
    fallback: Fallback,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    last_refetch: Option<Instant>,
}

struct Cached {
    secrets: Arc<Secrets>,
    fetched_at: Instant,
}

impl fmt::Debug for SecretsManagerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsManagerSource")
            .field("secret_id", &self.secret_id)
            .field("ttl", &self.ttl)
            .field("refetch_interval", &self.refetch_interval)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerSource {
    /// The source of this container, on its one SDK configuration (region,
    /// credentials, `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL`) with
    /// [`bounded`] timeouts, the TTL from `SECRET_TTL_SECONDS`, and the environment
    /// as the fallback for keys missing from the secret. Makes no network call:
    /// credentials are resolved on the first request.
    pub fn from_sdk_config(
        secret_id: &str,
        sdk_config: &aws_config::SdkConfig,
    ) -> Result<SecretsManagerSource, SecretsError> {
        let ttl = ttl_from(std::env::var(SECRET_TTL_VARIABLE).ok().as_deref())?;
        let client = Client::from_conf(
            bounded(aws_sdk_secretsmanager::config::Builder::from(sdk_config)).build(),
        );
        Ok(SecretsManagerSource::new(
            client,
            secret_id,
            ttl,
            DEFAULT_REFETCH_INTERVAL,
        ))
    }

    /// A source over an explicit client (tests), with the environment as the fallback.
    pub fn new(
        client: Client,
        secret_id: impl Into<String>,
        ttl: Duration,
        refetch_interval: Duration,
    ) -> SecretsManagerSource {
        let secret_id = secret_id.into();
        SecretsManagerSource {
            client,
            origin: Origin(format!("the secret {secret_id}")),
            secret_id,
            ttl,
            refetch_interval,
            fallback: Arc::new(|key| std::env::var(key).ok()),
            state: Mutex::new(State::default()),
        }
    }

    /// Replaces the fallback for keys missing from the secret.
    pub fn with_fallback(mut self, fallback: Fallback) -> SecretsManagerSource {
        self.fallback = fallback;
        self
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The cached secrets while fresh, otherwise fetched (and cached) now. The lock
    /// is held across the fetch so that concurrent cache misses make one call.
    async fn cached_or_fetch(&self) -> Result<Arc<Secrets>, SecretsError> {
        let mut state = self.state.lock().await;
        if let Some(cached) = &state.cached
            && cached.fetched_at.elapsed() < self.ttl
        {
            return Ok(Arc::clone(&cached.secrets));
        }
        let secrets = self.fetch().await?;
        state.cached = Some(Cached {
            secrets: Arc::clone(&secrets),
            fetched_at: Instant::now(),
        });
        Ok(secrets)
    }

    async fn refetch_now(&self) -> Result<Option<Arc<Secrets>>, SecretsError> {
        let asked_at = Instant::now();
        let mut state = self.state.lock().await;
        // Someone else fetched while this call waited for the lock: that copy is
        // as fresh as a new one would be.
        if let Some(cached) = &state.cached
            && cached.fetched_at >= asked_at
        {
            return Ok(Some(Arc::clone(&cached.secrets)));
        }
        if let Some(last) = state.last_refetch
            && last.elapsed() < self.refetch_interval
        {
            tracing::info!(
                secret = %self.secret_id,
                "not refetching the secret: the last refetch was less than {} s ago",
                self.refetch_interval.as_secs()
            );
            return Ok(None);
        }
        // Counted before the call: a failing refetch is rate-limited too.
        state.last_refetch = Some(Instant::now());
        let secrets = self.fetch().await?;
        state.cached = Some(Cached {
            secrets: Arc::clone(&secrets),
            fetched_at: Instant::now(),
        });
        Ok(Some(secrets))
    }

    /// One GetSecretValue, parsed.
    async fn fetch(&self) -> Result<Arc<Secrets>, SecretsError> {
        let started = Instant::now();
        let result = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                let error = self.sdk_error(error);
                tracing::warn!(secret = %self.secret_id, error = %error, "GetSecretValue failed");
                return Err(error);
            }
        };
        let Some(text) = output.secret_string() else {
            let why = if output.secret_binary().is_some() {
                "holds only a SecretBinary"
            } else {
                "has no SecretString"
            };
            return Err(SecretsError::NotConfigured(format!(
                "{} {why}: store the keys as a JSON object in its SecretString",
                self.origin
            )));
        };
        let secrets = parse(&self.origin, text, &*self.fallback)?;
        tracing::info!(
            secret = %self.secret_id,
            version = output.version_id().unwrap_or("-"),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "fetched the secret"
        );
        Ok(Arc::new(secrets))
    }

    fn sdk_error<E, R>(&self, error: SdkError<E, R>) -> SecretsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let origin = self.origin.clone();
        match &error {
            SdkError::ServiceError(service) => {
                let err = service.err();
                SecretsError::Aws {
                    origin,
                    code: err.code().unwrap_or("unknown error code").to_owned(),
                    message: dbt_tableau_engine::redact::redact(
                        err.message().unwrap_or("no message"),
                    ),
                }
            }
            SdkError::TimeoutError(_) => SecretsError::Unreachable {
                origin,
                detail: format!("no answer within {} s", OPERATION_TIMEOUT.as_secs()),
            },
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                SecretsError::Unreachable {
                    origin,
                    detail: dbt_tableau_engine::redact::redact(&dbt_tableau_engine::error_chain(
                        &error,
                    )),
                }
            }
            // Request not built: no region, no credentials, bad endpoint, ...
            _ => SecretsError::NotConfigured(format!(
                "cannot call Secrets Manager for {origin}: {}",
                dbt_tableau_engine::error_chain(&error)
            )),
        }
    }
}

impl SecretSource for SecretsManagerSource {
    fn current(&self) -> BoxFuture<'_, Result<Arc<Secrets>, SecretsError>> {
        Box::pin(self.cached_or_fetch())
    }

    fn refetch(&self) -> BoxFuture<'_, Result<Option<Arc<Secrets>>, SecretsError>> {
        Box::pin(self.refetch_now())
    }
}

/// Parses a SecretString: a JSON object of string values; keys missing from it are
/// looked up in `fallback`. Errors name `origin` and the key, never a value: a
/// serde_json message can quote the input, so only its position is logged.
pub fn parse(
    origin: &Origin,
    text: &str,
    fallback: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Result<Secrets, SecretsError> {
    let object: Map<String, Value> = match serde_json::from_str(text) {
        Ok(object) => object,
        Err(e) => {
            tracing::warn!(
                secret = %origin,
                category = ?e.classify(),
                line = e.line(),
                column = e.column(),
                "the SecretString is not a JSON object"
            );
            return Err(SecretsError::NotJsonObject {
                origin: origin.clone(),
            });
        }
    };
    // A key present with a value that is not a string: reported as such rather
    // than looked up in the fallback.
    let not_a_string: Cell<Option<&'static str>> = Cell::new(None);
    let secrets = Secrets::from_lookup(origin, |key| match object.get(key) {
        Some(Value::String(value)) => Some(value.clone()),
        Some(_) => {
            not_a_string.set(Some(key));
            None
        }
        None => fallback(key),
    });
    let Some(bad) = not_a_string.get() else {
        return secrets;
    };
    let retype = |error: SecretsError| match error {
        SecretsError::MissingKey { origin, key } if key == bad => SecretsError::InvalidValue {
            origin,
            key,
            why: "must be a JSON string",
        },
        SecretsError::NoTableauCredentials {
            origin,
            pat_missing,
            app_missing,
        } if pat_missing.contains(&bad) || app_missing.contains(&bad) => {
            SecretsError::InvalidValue {
                origin,
                key: bad,
                why: "must be a JSON string",
            }
        }
        other => other,
    };
    match secrets {
        Ok(mut secrets) => {
            secrets.tableau = secrets.tableau.map_err(retype);
            Ok(secrets)
        }
        Err(error) => Err(retype(error)),
    }
}

/// The source this container uses: Secrets Manager when `SECRET_ID` is set,
/// otherwise the environment.
pub async fn from_env() -> Arc<dyn SecretSource> {
    from_env_with(|| crate::aws_http::sdk_config(crate::aws_http::http_client())).await
}

/// Like [`from_env`], with the container's one SDK configuration, which `sdk`
/// gives (loaded only when `SECRET_ID` is set).
pub async fn from_env_with<F>(sdk: impl FnOnce() -> F) -> Arc<dyn SecretSource>
where
    F: std::future::Future<Output = aws_config::SdkConfig>,
{
    match std::env::var("SECRET_ID") {
        Ok(id) if !id.trim().is_empty() => {
            match SecretsManagerSource::from_sdk_config(id.trim(), &sdk().await) {
                Ok(source) => Arc::new(source),
                Err(problem) => {
                    tracing::error!(error = %problem, "configuration error: every invocation will answer 500");
                    Arc::new(Unavailable(problem))
                }
            }
        }
        _ => Arc::new(env::EnvSecrets::from_env()),
    }
}

/// A source that can only report why it has nothing.
struct Unavailable(SecretsError);

impl SecretSource for Unavailable {
    fn current(&self) -> BoxFuture<'_, Result<Arc<Secrets>, SecretsError>> {
        let error = self.0.clone();
        Box::pin(async move { Err(error) })
    }
}

#[cfg(test)]
#[path = "secrets_manager_tests.rs"]
mod tests;
