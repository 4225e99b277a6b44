//! What can go wrong getting the secrets, in words that name the place and the
//! key but never a value.

use super::{
    CONNECTED_APP_KEYS, DBT_WEBHOOK_KEY, Origin, PAT_KEYS, TABLEAU_API_TOKEN_NAME,
    TABLEAU_API_TOKEN_SECRET, TABLEAU_SITE_NAME, TABLEAU_SITE_URL,
};
use std::fmt;

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

pub(super) fn list(keys: &[&str]) -> String {
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
    /// Whether a later attempt (a redelivery) could go differently, by the one
    /// retry table: Secrets Manager unreachable, slow, throttled or failing.
    /// A missing secret or key, or a refused access, stays as it is.
    pub fn is_retryable(&self) -> bool {
        let failure = match self {
            SecretsError::Unreachable { .. } => crate::retry::Failure::NoAnswer,
            SecretsError::Aws { code, .. } => crate::retry::aws_service_failure(code),
            _ => crate::retry::Failure::Refused,
        };
        crate::retry::retryable(failure)
    }

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
