//! Where the webhook key and the Tableau credentials come from.
//!
//! One seam, [`SecretSource`], with two implementations: the environment (local
//! development, `SECRET_ID` unset) and AWS Secrets Manager (production). Values are
//! held as [`SecretString`] so that `Debug` never prints them.

pub mod aws;
pub mod env;
mod error;

pub use error::SecretsError;
use error::list;

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
pub const TABLEAU_CONNECTED_APP_CLIENT_ID: &str = "TABLEAU_CONNECTED_APP_CLIENT_ID";
pub const TABLEAU_CONNECTED_APP_SECRET_ID: &str = "TABLEAU_CONNECTED_APP_SECRET_ID";
pub const TABLEAU_CONNECTED_APP_SECRET_VALUE: &str = "TABLEAU_CONNECTED_APP_SECRET_VALUE";
pub const TABLEAU_USERNAME: &str = "TABLEAU_USERNAME";
/// A dbt Cloud service token that can read runs; only exposure targets need it.
pub const DBT_CLOUD_API_TOKEN: &str = "DBT_CLOUD_API_TOKEN";

/// The keys of a personal access token.
pub const PAT_KEYS: [&str; 2] = [TABLEAU_API_TOKEN_NAME, TABLEAU_API_TOKEN_SECRET];
/// The keys of a connected app (direct trust).
pub const CONNECTED_APP_KEYS: [&str; 4] = [
    TABLEAU_CONNECTED_APP_CLIENT_ID,
    TABLEAU_CONNECTED_APP_SECRET_ID,
    TABLEAU_CONNECTED_APP_SECRET_VALUE,
    TABLEAU_USERNAME,
];

/// Where a value was looked up, for error messages ("the secret my-secret", "the
/// environment"). Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(pub String);

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the function signs in to Tableau. `Debug` shows no secret value.
#[derive(Debug, Clone)]
pub enum TableauCredentials {
    PersonalAccessToken {
        name: String,
        secret: SecretString,
    },
    /// A connected app (direct trust): each sign-in sends a JWT signed with the
    /// secret value, on behalf of `username`.
    ConnectedApp {
        client_id: String,
        secret_id: String,
        secret_value: SecretString,
        username: String,
    },
}

impl TableauCredentials {
    /// Picks the credentials from a key lookup: the personal access token when its
    /// keys are all given, the connected app when its keys are all given; both or
    /// neither is a configuration error that names the keys.
    fn from_lookup(
        origin: &Origin,
        lookup: &impl Fn(&'static str) -> Option<String>,
    ) -> Result<TableauCredentials, SecretsError> {
        let pat: Vec<Option<String>> = PAT_KEYS.iter().map(|k| lookup(k)).collect();
        let app: Vec<Option<String>> = CONNECTED_APP_KEYS.iter().map(|k| lookup(k)).collect();
        let missing = |keys: &[&'static str], values: &[Option<String>]| -> Vec<&'static str> {
            keys.iter()
                .zip(values)
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| *k)
                .collect()
        };
        let pat_missing = missing(&PAT_KEYS, &pat);
        let app_missing = missing(&CONNECTED_APP_KEYS, &app);
        match (pat_missing.is_empty(), app_missing.is_empty()) {
            (true, true) => Err(SecretsError::BothTableauCredentials {
                origin: origin.clone(),
            }),
            (true, false) => {
                if app_missing.len() < CONNECTED_APP_KEYS.len() {
                    tracing::warn!(
                        origin = %origin,
                        missing = %list(&app_missing),
                        "incomplete connected-app keys ignored: signing in with the personal access token"
                    );
                }
                let mut pat = pat.into_iter().flatten();
                let (Some(name), Some(secret)) = (pat.next(), pat.next()) else {
                    unreachable!("both PAT keys were given")
                };
                Ok(TableauCredentials::PersonalAccessToken {
                    name,
                    secret: secret.into(),
                })
            }
            (false, true) => {
                if pat_missing.len() < PAT_KEYS.len() {
                    tracing::warn!(
                        origin = %origin,
                        missing = %list(&pat_missing),
                        "incomplete personal-access-token keys ignored: signing in with the connected app"
                    );
                }
                for (key, value) in CONNECTED_APP_KEYS.iter().zip(&app) {
                    if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                        return Err(SecretsError::InvalidValue {
                            origin: origin.clone(),
                            key,
                            why: "is empty",
                        });
                    }
                }
                let mut app = app.into_iter().flatten().map(|v| v.trim().to_owned());
                let (Some(client_id), Some(secret_id), Some(secret_value), Some(username)) =
                    (app.next(), app.next(), app.next(), app.next())
                else {
                    unreachable!("all connected-app keys were given")
                };
                Ok(TableauCredentials::ConnectedApp {
                    client_id,
                    secret_id,
                    secret_value: secret_value.into(),
                    username,
                })
            }
            (false, false) => Err(SecretsError::NoTableauCredentials {
                origin: origin.clone(),
                pat_missing,
                app_missing,
            }),
        }
    }

    /// What the credentials are, for messages: never a secret value.
    pub fn describe(&self) -> String {
        match self {
            TableauCredentials::PersonalAccessToken { name, .. } => {
                format!("the personal access token \"{name}\"")
            }
            TableauCredentials::ConnectedApp {
                client_id,
                username,
                ..
            } => format!("the connected app {client_id} (as user \"{username}\")"),
        }
    }
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
    /// `None` when the key is absent or empty: only exposure targets need it.
    pub dbt_cloud_token: Option<SecretString>,
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
                credentials: TableauCredentials::from_lookup(origin, &lookup)?,
            })
        })();
        let dbt_cloud_token = lookup(DBT_CLOUD_API_TOKEN)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map(SecretString::from);
        Ok(Secrets {
            webhook_key: webhook_key.into(),
            tableau,
            dbt_cloud_token,
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
            match aws::SecretsManagerSource::from_sdk_config(id.trim(), &sdk().await) {
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
mod tests;
