//! One redaction for every excerpt of a remote answer (Tableau, dbt Cloud, AWS).
//!
//! A proxy's or WAF's error page may echo the request it refused, headers and
//! body: the PAT secret of a sign-in, a connected app's JWT, the session token
//! in `X-Tableau-Auth`, the dbt Cloud token. Whatever the process holds of
//! those is registered here as it is loaded or made, and [`redact`] takes each
//! out of a text before that text reaches an answer, a log line, a report or an
//! execution's history. Redaction happens before an excerpt is cut short, so a
//! secret cut in half at the cut is still found whole.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};

/// What replaces a secret.
pub const MARK: &str = "[redacted]";
/// Shorter values are not secrets worth the name, and replacing them would
/// blank ordinary words (a test's "key", a site called "a").
const MIN_LEN: usize = 6;
/// Session tokens and JWTs are made anew in every invocation; a warm container
/// keeps the latest this many (long-lived keys are kept apart, for good).
const MAX_SHORT_LIVED: usize = 64;

#[derive(Default)]
struct Registry {
    /// Webhook key, PAT secret, connected-app secret, dbt Cloud token.
    kept: Vec<String>,
    /// Session tokens and JWTs, newest last.
    recent: VecDeque<String>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers a secret the process holds for its life (a key, a PAT secret, a token).
pub fn keep(secret: &str) {
    if secret.len() < MIN_LEN {
        return;
    }
    let mut registry = registry().lock().unwrap_or_else(|p| p.into_inner());
    if !registry.kept.iter().any(|s| s == secret) {
        registry.kept.push(secret.to_owned());
    }
}

/// Registers a secret made for one invocation (a session token, a JWT).
pub fn keep_for_now(secret: &str) {
    if secret.len() < MIN_LEN {
        return;
    }
    let mut registry = registry().lock().unwrap_or_else(|p| p.into_inner());
    if registry.recent.iter().any(|s| s == secret) {
        return;
    }
    if registry.recent.len() >= MAX_SHORT_LIVED {
        registry.recent.pop_front();
    }
    registry.recent.push_back(secret.to_owned());
}

/// `text` with every registered secret replaced by [`MARK`], in the forms an
/// echo carries it: as sent, JSON-escaped, and percent-encoded.
pub fn redact(text: &str) -> String {
    let registry = registry().lock().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_owned();
    for secret in registry.kept.iter().chain(registry.recent.iter()) {
        for form in forms(secret) {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MARK);
            }
        }
    }
    out
}

fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"');
    if json != secret {
        forms.push(json.to_owned());
    }
    let encoded = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    if encoded != secret {
        forms.push(encoded.clone());
        forms.push(encoded.to_ascii_lowercase());
    }
    forms
}

/// The start of an answer's body for a message: redacted, whitespace
/// collapsed, at most `max` characters (with "…" when cut).
pub fn excerpt(body: &[u8], max: usize) -> String {
    let text = redact(&String::from_utf8_lossy(body));
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = collapsed.chars().take(max).collect();
    if short.len() < collapsed.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_registered_secret_is_taken_out() {
        keep("pat+secret/==:xyz-unit");
        keep_for_now("session-token-unit-1");
        keep("abc"); // too short to register
        let echo = "POST /signin {\"personalAccessTokenSecret\":\"pat+secret/==:xyz-unit\"} \
                    X-Tableau-Auth: session-token-unit-1 q=pat%2Bsecret%2F%3D%3D%3Axyz%2Dunit abc";
        let out = redact(echo);
        assert!(
            !out.contains("xyz-unit") && !out.contains("xyz%2Dunit"),
            "{out}"
        );
        assert!(!out.contains("session-token-unit-1"), "{out}");
        assert!(out.ends_with(" abc"), "{out}");
        assert_eq!(out.matches(MARK).count(), 3, "{out}");
    }

    #[test]
    fn a_secret_at_the_cut_is_not_left_in_half() {
        keep("cut-secret-0123456789");
        let body = format!("{}cut-secret-0123456789", "x".repeat(150));
        let short = excerpt(body.as_bytes(), 160);
        assert!(!short.contains("cut-secret"), "{short}");
    }

    #[test]
    fn short_lived_secrets_are_bounded() {
        for i in 0..(MAX_SHORT_LIVED + 10) {
            keep_for_now(&format!("bounded-token-{i:04}"));
        }
        let registry = registry().lock().unwrap();
        assert!(registry.recent.len() <= MAX_SHORT_LIVED);
    }
}
