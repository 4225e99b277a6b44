//! Where the webhook key and the Tableau credentials come from.
//!
//! One seam, [`SecretSource`], with two implementations: the environment (local
//! development, `SECRET_ID` unset) and AWS Secrets Manager (production). Values are
//! held as [`SecretString`] so that `Debug` never prints them.

pub mod aws;
pub mod env;

use crate::BoxFuture;
use secrecy::SecretString;
use std::fmt;
use std::sync::Arc;

pub use secrecy::ExposeSecret;

pub const DBT_WEBHOOK_KEY: &str = "DBT_WEBHOOK_KEY";
pub const TABLEAU_SITE_URL: &str = "TABLEAU_SITE_URL";
pub const TABLEAU_SITE_NAME: &str = "TABLEAU_SITE_NAME";
pub const TABLEAU_API_TOKEN_NAME: &str = "TABLEAU_API_TOKEN_NAME";
pub const TABLEAU_API_TOKEN_SECRET: &str = "TABLEAU_API_TOKEN_SECRET";

/// Where a value was looked up, for error messages ("the secret my-secret", "the
/// environment"). Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(pub String);

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsError {
    MissingKey {
        origin: Origin,
        key: &'static str,
    },
    InvalidValue {
        origin: Origin,
        key: &'static str,
        why: &'static str,
    },
    NotJsonObject {
        origin: Origin,
    },
    /// Secrets Manager answered with an error (access denied, not found, ...).
    Aws {
        origin: Origin,
        code: String,
        message: String,
    },
    /// Secrets Manager could not be reached or did not answer in time.
    Unreachable {
        origin: Origin,
        detail: String,
    },
    NotConfigured(String),
}

impl fmt::Display for SecretsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretsError::MissingKey { origin, key } => write!(
                f,
                "{key} is missing from {origin} (and not set in the environment)"
            ),
            SecretsError::InvalidValue { origin, key, why } => {
                write!(f, "{key} in {origin} {why}")
            }
            SecretsError::NotJsonObject { origin } => write!(
                f,
                "{origin} is not a JSON object with the keys {DBT_WEBHOOK_KEY}, {TABLEAU_SITE_URL}, \
                 {TABLEAU_SITE_NAME}, {TABLEAU_API_TOKEN_NAME}, {TABLEAU_API_TOKEN_SECRET}"
            ),
            SecretsError::Aws {
                origin,
                code,
                message,
            } => {
                write!(f, "cannot read {origin}: {code}: {message}")
            }
            SecretsError::Unreachable { origin, detail } => {
                write!(f, "cannot reach Secrets Manager for {origin}: {detail}")
            }
            SecretsError::NotConfigured(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for SecretsError {}

/// How the function signs in to Tableau.
#[derive(Debug, Clone)]
pub enum TableauCredentials {
    PersonalAccessToken { name: String, secret: SecretString },
}

/// Everything needed to talk to one Tableau site.
#[derive(Debug, Clone)]
pub struct TableauAccess {
    /// Base URL without a trailing slash, e.g. `https://10ay.online.tableau.com`.
    pub server: String,
    /// The site's content URL; empty for the Default site.
    pub site: String,
    pub credentials: TableauCredentials,
}

/// The secrets of one fetch. The Tableau half is kept as a result so that a
/// dry run, which never contacts Tableau, works with only the webhook key.
#[derive(Debug)]
pub struct Secrets {
    pub webhook_key: SecretString,
    pub tableau: Result<TableauAccess, SecretsError>,
}

impl Secrets {
    /// Builds the typed secrets from a key lookup. `lookup` answers `None` for a
    /// key it doesn't have; `origin` names the place for errors.
    pub fn from_lookup(
        origin: &Origin,
        lookup: impl Fn(&'static str) -> Option<String>,
    ) -> Result<Secrets, SecretsError> {
        let require = |key: &'static str| {
            lookup(key).ok_or_else(|| SecretsError::MissingKey {
                origin: origin.clone(),
                key,
            })
        };
        let webhook_key = require(DBT_WEBHOOK_KEY)?;
        if webhook_key.is_empty() {
            return Err(SecretsError::InvalidValue {
                origin: origin.clone(),
                key: DBT_WEBHOOK_KEY,
                why: "is empty",
            });
        }
        let tableau = (|| {
            let server = require(TABLEAU_SITE_URL)?;
            let server = server.trim().trim_end_matches('/').to_owned();
            if !(server.starts_with("https://") || server.starts_with("http://")) {
                return Err(SecretsError::InvalidValue {
                    origin: origin.clone(),
                    key: TABLEAU_SITE_URL,
                    why: "must start with https:// (or http:// for a local server)",
                });
            }
            Ok(TableauAccess {
                server,
                site: require(TABLEAU_SITE_NAME)?.trim().to_owned(),
                credentials: TableauCredentials::PersonalAccessToken {
                    name: require(TABLEAU_API_TOKEN_NAME)?,
                    secret: require(TABLEAU_API_TOKEN_SECRET)?.into(),
                },
            })
        })();
        Ok(Secrets {
            webhook_key: webhook_key.into(),
            tableau,
        })
    }
}

/// "Give me the keys." Implementations may cache; `refetch` is asked for after a
/// signature fails, so that a rotated webhook key works at once.
pub trait SecretSource: Send + Sync {
    fn current(&self) -> BoxFuture<'_, Result<Arc<Secrets>, SecretsError>>;

    /// A fresher copy than `current` gave, or `None` when there is none to have
    /// (the source never changes, or a refetch was made too recently).
    fn refetch(&self) -> BoxFuture<'_, Result<Option<Arc<Secrets>>, SecretsError>> {
        Box::pin(async { Ok(None) })
    }
}

/// The source this container uses: Secrets Manager when `SECRET_ID` is set,
/// otherwise the environment.
pub async fn from_env() -> Arc<dyn SecretSource> {
    match std::env::var("SECRET_ID") {
        Ok(id) if !id.trim().is_empty() => {
            match aws::SecretsManagerSource::from_env(id.trim()).await {
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
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn build(pairs: &[(&'static str, &str)]) -> Result<Secrets, SecretsError> {
        let map: HashMap<_, _> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Secrets::from_lookup(&Origin("the test".into()), |k| map.get(k).cloned())
    }

    const ALL: [(&str, &str); 5] = [
        (DBT_WEBHOOK_KEY, "hook-key-value"),
        (TABLEAU_SITE_URL, "https://tableau.example.com/"),
        (TABLEAU_SITE_NAME, ""),
        (TABLEAU_API_TOKEN_NAME, "dbt"),
        (TABLEAU_API_TOKEN_SECRET, "pat-secret-value"),
    ];

    #[test]
    fn all_five_keys_give_tableau_access() {
        let secrets = build(&ALL).unwrap();
        let access = secrets.tableau.unwrap();
        assert_eq!(access.server, "https://tableau.example.com");
        assert_eq!(access.site, "");
    }

    #[test]
    fn debug_never_prints_values() {
        let printed = format!("{:?}", build(&ALL).unwrap());
        assert!(
            !printed.contains("hook-key-value") && !printed.contains("pat-secret-value"),
            "{printed}"
        );
    }

    #[test]
    fn webhook_key_alone_is_enough_for_a_dry_run() {
        let secrets = build(&ALL[..1]).unwrap();
        let err = secrets.tableau.unwrap_err();
        assert_eq!(
            err,
            SecretsError::MissingKey {
                origin: Origin("the test".into()),
                key: TABLEAU_SITE_URL
            }
        );
        assert!(
            err.to_string()
                .contains("TABLEAU_SITE_URL is missing from the test")
        );
    }

    #[test]
    fn missing_webhook_key_is_an_error() {
        let err = build(&ALL[1..]).unwrap_err();
        assert!(
            err.to_string().starts_with("DBT_WEBHOOK_KEY is missing"),
            "{err}"
        );
    }

    #[test]
    fn site_url_needs_a_scheme() {
        let mut pairs = ALL;
        pairs[1].1 = "tableau.example.com";
        let err = build(&pairs).unwrap().tableau.unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
    }
}
