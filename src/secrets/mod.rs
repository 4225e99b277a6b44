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
pub const TABLEAU_CONNECTED_APP_CLIENT_ID: &str = "TABLEAU_CONNECTED_APP_CLIENT_ID";
pub const TABLEAU_CONNECTED_APP_SECRET_ID: &str = "TABLEAU_CONNECTED_APP_SECRET_ID";
pub const TABLEAU_CONNECTED_APP_SECRET_VALUE: &str = "TABLEAU_CONNECTED_APP_SECRET_VALUE";
pub const TABLEAU_USERNAME: &str = "TABLEAU_USERNAME";

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
    /// Neither a complete personal access token nor a complete connected app:
    /// the keys each option lacks.
    NoTableauCredentials {
        origin: Origin,
        pat_missing: Vec<&'static str>,
        app_missing: Vec<&'static str>,
    },
    /// Both a complete personal access token and a complete connected app.
    BothTableauCredentials {
        origin: Origin,
    },
}

fn list(keys: &[&str]) -> String {
    match keys {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn verb(keys: &[&str]) -> &'static str {
    if keys.len() == 1 { "is" } else { "are" }
}

impl SecretsError {
    /// What may be told to a caller whose signature could not be checked (there
    /// was no key to check it with): the kind of problem and the key or AWS error
    /// code, without the secret's name or ARN and without AWS's message, which
    /// names the account and the role.
    pub fn unverified_summary(&self) -> String {
        let summary = match self {
            SecretsError::MissingKey { key, .. } => {
                format!("{key} is missing from the function's secret")
            }
            SecretsError::InvalidValue { key, why, .. } => {
                format!("{key} in the function's secret {why}")
            }
            SecretsError::NotJsonObject { .. } => {
                "the function's secret is not a JSON object".into()
            }
            SecretsError::Aws { code, .. } => format!("cannot read the function's secret: {code}"),
            SecretsError::Unreachable { .. } => "cannot reach Secrets Manager".into(),
            // Our own wording about the function's settings (SECRET_TTL_SECONDS, ...).
            SecretsError::NotConfigured(why) => why.clone(),
            SecretsError::NoTableauCredentials { .. }
            | SecretsError::BothTableauCredentials { .. } => {
                "the function's secret is not usable".into()
            }
        };
        format!("{summary} (details in the function's log)")
    }
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
                 {TABLEAU_SITE_NAME}, {TABLEAU_API_TOKEN_NAME}, {TABLEAU_API_TOKEN_SECRET} \
                 (or, instead of the last two, a connected app's {})",
                list(&CONNECTED_APP_KEYS)
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
            SecretsError::NoTableauCredentials {
                origin,
                pat_missing,
                app_missing,
            } => write!(
                f,
                "no complete Tableau credentials in {origin} (or the environment): give either a \
                 connected app ({}: {} {} missing) or a personal access token ({}: {} {} missing)",
                list(&CONNECTED_APP_KEYS),
                list(app_missing),
                verb(app_missing),
                list(&PAT_KEYS),
                list(pat_missing),
                verb(pat_missing),
            ),
            SecretsError::BothTableauCredentials { origin } => write!(
                f,
                "{origin} (with the environment) holds two sets of Tableau credentials: a connected app \
                 ({}) and a personal access token ({}); remove one of the two sets \
                 (the connected app is recommended)",
                list(&CONNECTED_APP_KEYS),
                list(&PAT_KEYS),
            ),
        }
    }
}

impl std::error::Error for SecretsError {}

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

    const APP: [(&str, &str); 4] = [
        (TABLEAU_CONNECTED_APP_CLIENT_ID, "client-id-1"),
        (TABLEAU_CONNECTED_APP_SECRET_ID, "secret-id-1"),
        (TABLEAU_CONNECTED_APP_SECRET_VALUE, "app-secret-value"),
        (TABLEAU_USERNAME, "bot@example.com"),
    ];

    fn with_app(
        pat: &[(&'static str, &'static str)],
        app: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        let mut pairs = ALL[..3].to_vec();
        pairs.extend_from_slice(pat);
        pairs.extend_from_slice(app);
        pairs
    }

    #[test]
    fn connected_app_keys_give_a_connected_app() {
        let secrets = build(&with_app(&[], &APP)).unwrap();
        let access = secrets.tableau.unwrap();
        let TableauCredentials::ConnectedApp {
            client_id,
            secret_id,
            secret_value,
            username,
        } = &access.credentials
        else {
            panic!("{access:?}")
        };
        assert_eq!(
            (client_id.as_str(), secret_id.as_str(), username.as_str()),
            ("client-id-1", "secret-id-1", "bot@example.com")
        );
        assert_eq!(secret_value.expose_secret(), "app-secret-value");
        let printed = format!("{access:?} {}", access.credentials.describe());
        assert!(!printed.contains("app-secret-value"), "{printed}");
        assert!(printed.contains("client-id-1"), "{printed}");
    }

    #[test]
    fn both_sets_are_a_configuration_error() {
        let err = build(&with_app(&ALL[3..], &APP))
            .unwrap()
            .tableau
            .unwrap_err();
        assert_eq!(
            err,
            SecretsError::BothTableauCredentials {
                origin: Origin("the test".into())
            }
        );
        let text = err.to_string();
        for key in PAT_KEYS.iter().chain(&CONNECTED_APP_KEYS) {
            assert!(text.contains(key), "{text}");
        }
        assert!(text.contains("remove one"), "{text}");
    }

    #[test]
    fn neither_set_names_both_options() {
        let err = build(&ALL[..3]).unwrap().tableau.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("connected app") && text.contains("personal access token"),
            "{text}"
        );
        assert!(
            text.contains("TABLEAU_API_TOKEN_NAME and TABLEAU_API_TOKEN_SECRET are missing"),
            "{text}"
        );
        assert!(text.contains("TABLEAU_USERNAME are missing"), "{text}");
    }

    #[test]
    fn a_partial_set_names_its_missing_keys() {
        let err = build(&with_app(&[], &APP[..3]))
            .unwrap()
            .tableau
            .unwrap_err();
        assert_eq!(
            err,
            SecretsError::NoTableauCredentials {
                origin: Origin("the test".into()),
                pat_missing: PAT_KEYS.to_vec(),
                app_missing: vec![TABLEAU_USERNAME],
            }
        );
        assert!(
            err.to_string().contains("TABLEAU_USERNAME is missing"),
            "{err}"
        );

        let err = build(&with_app(&ALL[3..4], &[]))
            .unwrap()
            .tableau
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("TABLEAU_API_TOKEN_SECRET is missing"),
            "{err}"
        );
    }

    #[test]
    fn a_complete_set_wins_over_a_partial_other_set() {
        let secrets = build(&with_app(&ALL[3..], &APP[3..])).unwrap();
        assert!(matches!(
            secrets.tableau.unwrap().credentials,
            TableauCredentials::PersonalAccessToken { .. }
        ));
    }

    #[test]
    fn an_empty_connected_app_value_is_named() {
        let mut app = APP;
        app[3].1 = " ";
        let err = build(&with_app(&[], &app)).unwrap().tableau.unwrap_err();
        assert_eq!(err.to_string(), "TABLEAU_USERNAME in the test is empty");
    }
}
