//! Secrets from the process environment: local development and `cargo lambda watch`.

use super::{Origin, SecretSource, Secrets, SecretsError};
use crate::BoxFuture;
use std::sync::Arc;

/// Reads the five keys once; the environment of a running process doesn't change.
pub struct EnvSecrets {
    secrets: Result<Arc<Secrets>, SecretsError>,
}

impl EnvSecrets {
    pub fn from_env() -> EnvSecrets {
        let origin = Origin("the environment".into());
        EnvSecrets {
            secrets: Secrets::from_lookup(&origin, |key| std::env::var(key).ok()).map(Arc::new),
        }
    }
}

impl SecretSource for EnvSecrets {
    fn current(&self) -> BoxFuture<'_, Result<Arc<Secrets>, SecretsError>> {
        let secrets = self.secrets.clone();
        Box::pin(async move { secrets })
    }
}
