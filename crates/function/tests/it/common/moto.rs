//! moto_server plumbing: the real Secrets Manager SDK client pointed at the
//! emulator that ./scripts/test.sh starts (MOTO_ENDPOINT), a call counter, and
//! the source settings the Secrets Manager tests share.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_secretsmanager::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_secretsmanager::error::BoxError;
use dbt_tableau_refresh::secrets_manager::{self, Fallback};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A TTL no test outlives, so only what a test does makes the source fetch.
pub const LONG: Duration = Duration::from_secs(300);
pub const MINUTE: Duration = Duration::from_secs(60);

/// Keeps the test's environment out of the source: only the secret counts.
pub fn no_fallback() -> Fallback {
    Arc::new(|_| None)
}

pub fn moto_endpoint() -> String {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "MOTO_ENDPOINT is not set: these tests need moto_server. Run ./scripts/test.sh, \
             which starts moto_server on 127.0.0.1 and sets MOTO_ENDPOINT"
        ),
    }
}

/// Counts GetSecretValue operations (executions) and HTTP attempts (transmits).
#[derive(Debug, Clone, Default)]
pub struct Calls {
    operations: Arc<AtomicUsize>,
    attempts: Arc<AtomicUsize>,
}

impl Calls {
    pub fn operations(&self) -> usize {
        self.operations.load(Ordering::SeqCst)
    }
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.operations.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A client as production builds it (the function's timeouts and retries), but
/// with an explicit endpoint, region and static test credentials.
pub fn client(endpoint: &str, calls: Option<&Calls>) -> Client {
    let mut builder = secrets_manager::bounded(
        aws_sdk_secretsmanager::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .http_client(dbt_tableau_refresh::aws_http::http_client()),
    );
    if let Some(calls) = calls {
        builder = builder.interceptor(calls.clone());
    }
    Client::from_conf(builder.build())
}

pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "dbt-tableau-refresh/test/{name}-{}-{nanos}",
        std::process::id()
    )
}

pub async fn create_secret(name: &str, secret_string: &str) {
    client(&moto_endpoint(), None)
        .create_secret()
        .name(name)
        .secret_string(secret_string)
        .send()
        .await
        .expect("create the test secret in moto");
}

pub async fn put_secret(name: &str, secret_string: &str) {
    client(&moto_endpoint(), None)
        .put_secret_value()
        .secret_id(name)
        .secret_string(secret_string)
        .send()
        .await
        .expect("put a new version of the test secret in moto");
}
