//! JSON Web Tokens for a Tableau connected app (direct trust).
//!
//! HS256 over the connected app's secret value, built from `hmac`, `sha2`,
//! `base64` and `serde_json`, which the crate already uses, rather than a JWT
//! crate: `jsonwebtoken` 10 needs one of two crypto backends, `aws_lc_rs` (AWS-LC's
//! C build) or `rust_crypto` (hmac 0.12 and sha2 0.10, second copies next to ours,
//! plus rsa, p256, p384 and ed25519-dalek), to produce one fixed-shape token that
//! takes thirty lines here. A fresh token is minted for every sign-in (first or
//! again after a 401): `jti` must be unique per token (a replay is refused; unverified against a real Tableau), and an `exp` more than
//! ten minutes ahead.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The scopes a refresh session needs: item lookups (`GET` workbooks and data
/// sources) and extract refreshes.
pub const SCOPES: [&str; 2] = ["tableau:content:read", "tableau:tasks:run"];
/// The scopes a session that follows jobs needs: Query Job alone (REST API 3.25+;
/// older servers answer 401002 whatever the token says).
///
/// A set of its own rather than a third default scope, although the docs don't
/// say that Tableau refuses a scope it doesn't know (tableauserverclient #1581
/// signed in with `tableau:jobs:read` and met 401002 only on the job read):
/// a connected app that lists the scopes it grants refuses, at sign-in, a JWT
/// asking for more (tableau/tableau-mcp #344, unverified here), so asking for
/// `tableau:jobs:read` in every session would break the refreshes of a
/// deployment whose app grants only the two scopes above. Refresh and check run
/// in different invocations, each with its own session, so nothing is shared
/// that one set would save; and a check session that cannot start a refresh
/// is least privilege.
pub const JOB_SCOPES: [&str; 1] = ["tableau:jobs:read"];
/// The scope a session that cancels timed-out jobs (Cancel Job) asks for: Tableau
/// names scopes `tableau:<resource>:<action>` and lists `update` among the
/// actions; that Cancel Job is `tableau:jobs:update` is unverified. A set of its
/// own for the reason [`JOB_SCOPES`] is: a check that only reads never asks for it.
pub const CANCEL_SCOPES: [&str; 1] = ["tableau:jobs:update"];
/// How far ahead a token expires. Tableau accepts at most ten minutes; five leave
/// room for a server clock a few minutes ahead of ours.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Tableau's limit on `exp - now`.
pub const MAX_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The wall clock, injectable so that a test can mint an expired token.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The connected app's side of a sign-in; borrowed from the secrets.
pub struct ConnectedApp<'a> {
    pub client_id: &'a str,
    pub secret_id: &'a str,
    pub secret_value: &'a SecretString,
    pub username: &'a str,
}

/// What a session is for, which decides the scopes its JWT asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// Look items up and refresh them: [`SCOPES`].
    #[default]
    Refresh,
    /// Read jobs (following refreshes to their end): [`JOB_SCOPES`].
    ReadJobs,
    /// Cancel jobs still running at the timeout: [`CANCEL_SCOPES`].
    CancelJobs,
}

/// Mints connected-app JWTs. The defaults are production's; tests change the
/// lifetime, scopes or clock.
#[derive(Clone)]
pub struct Minter {
    lifetime: Duration,
    scopes: Vec<String>,
    job_scopes: Vec<String>,
    clock: Clock,
}

impl Default for Minter {
    fn default() -> Minter {
        Minter {
            lifetime: DEFAULT_LIFETIME,
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            job_scopes: JOB_SCOPES.iter().map(|s| s.to_string()).collect(),
            clock: Arc::new(SystemTime::now),
        }
    }
}

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minter")
            .field("lifetime", &self.lifetime)
            .field("scopes", &self.scopes)
            .field("job_scopes", &self.job_scopes)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
    iss: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'static str,
    jti: &'a str,
    exp: u64,
    scp: &'a [String],
}

impl Minter {
    pub fn new() -> Minter {
        Minter::default()
    }

    /// `exp` = now + `lifetime` (Tableau refuses more than [`MAX_LIFETIME`]).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Minter {
        self.lifetime = lifetime;
        self
    }

    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Minter {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Minter {
        self.clock = clock;
        self
    }

    /// The scopes of [`Purpose::ReadJobs`] sessions (tests: a token without
    /// `tableau:jobs:read`).
    pub fn with_job_scopes<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Minter {
        self.job_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    pub fn job_scopes(&self) -> &[String] {
        &self.job_scopes
    }

    /// A new token for a refresh session; see [`Minter::mint_for`].
    pub fn mint(&self, app: &ConnectedApp<'_>) -> SecretString {
        self.mint_for(app, Purpose::Refresh)
    }

    /// A new token with the scopes of `purpose`: a fresh random `jti` and `exp`
    /// from the clock. The result is a secret (a bearer credential for its
    /// lifetime).
    pub fn mint_for(&self, app: &ConnectedApp<'_>, purpose: Purpose) -> SecretString {
        let now = (self.clock)()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // 128 random bits: `jti` only has to be unique, not unguessable (the
        // signature is what protects the token).
        let jti = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let cancel: Vec<String>;
        let scopes = match purpose {
            Purpose::Refresh => &self.scopes,
            Purpose::ReadJobs => &self.job_scopes,
            Purpose::CancelJobs => {
                cancel = CANCEL_SCOPES.iter().map(|s| s.to_string()).collect();
                &cancel
            }
        };
        self.token(app, now, &jti, scopes).into()
    }

    fn token(&self, app: &ConnectedApp<'_>, now: u64, jti: &str, scopes: &[String]) -> String {
        let header = Header {
            alg: "HS256",
            typ: "JWT",
            kid: app.secret_id,
            iss: app.client_id,
        };
        let claims = Claims {
            iss: app.client_id,
            sub: app.username,
            aud: "tableau",
            jti,
            exp: now + self.lifetime.as_secs(),
            scp: scopes,
        };
        let signing_input = format!("{}.{}", encode(&header), encode(&claims));
        let mut mac = Hmac::<Sha256>::new_from_slice(app.secret_value.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }
}

/// Base64url (no padding) of the compact JSON of one of the two fixed structs;
/// they hold only strings, numbers and string arrays, so serialisation cannot fail.
fn encode(value: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("plain struct serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const CLIENT_ID: &str = "6f1c3a52-client";
    const SECRET_ID: &str = "2d4b9e11-secret-id";
    const SECRET_VALUE: &str = "c2VjcmV0LXZhbHVlLW5vdC1yZWFs";
    const USERNAME: &str = "refresh-bot@example.com";

    /// Computed independently with Python's hmac, hashlib, base64 and json
    /// (`json.dumps(..., separators=(",", ":"))`, fields in the order below) for
    /// now = 1767225600 (2026-01-01T00:00:00Z), jti = "00112233445566778899aabbccddeeff",
    /// a 300 s lifetime and the default scopes.
    const KNOWN_TOKEN: &str = concat!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjJkNGI5ZTExLXNlY3JldC1pZCIsImlzcyI6IjZmMWMzYTUyLWNsaWVudCJ9.",
        "eyJpc3MiOiI2ZjFjM2E1Mi1jbGllbnQiLCJzdWIiOiJyZWZyZXNoLWJvdEBleGFtcGxlLmNvbSIsImF1ZCI6InRhYmxlYXUiLCJqdGkiOiIwMDExMjIzMzQ0NTU2Njc3ODg5OWFhYmJjY2RkZWVmZiIsImV4cCI6MTc2NzIyNTkwMCwic2NwIjpbInRhYmxlYXU6Y29udGVudDpyZWFkIiwidGFibGVhdTp0YXNrczpydW4iXX0.",
        "dI7bVsjl9sO-EdV1dppJq9KkVV6g0vZujHqCig-rNo8"
    );

    fn secret() -> SecretString {
        SECRET_VALUE.to_owned().into()
    }

    fn app(secret: &SecretString) -> ConnectedApp<'_> {
        ConnectedApp {
            client_id: CLIENT_ID,
            secret_id: SECRET_ID,
            secret_value: secret,
            username: USERNAME,
        }
    }

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn header_and_claims_are_tableau_s() {
        let secret = secret();
        let fixed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let minter = Minter::new().with_clock(Arc::new(move || fixed));
        let token = minter.mint(&app(&secret));
        let parts: Vec<&str> = token.expose_secret().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode(parts[0]),
            json!({"alg": "HS256", "typ": "JWT", "kid": SECRET_ID, "iss": CLIENT_ID})
        );
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], CLIENT_ID);
        assert_eq!(claims["sub"], USERNAME);
        assert_eq!(claims["aud"], "tableau");
        assert_eq!(claims["exp"], 1_767_225_600u64 + 300);
        assert_eq!(
            claims["scp"],
            json!(["tableau:content:read", "tableau:tasks:run"])
        );
        let jti = claims["jti"].as_str().unwrap();
        assert_eq!(jti.len(), 32);
        assert!(jti.chars().all(|c| c.is_ascii_hexdigit()));

        // The signature is HMAC-SHA256 of "header.claims" under the secret value.
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET_VALUE.as_bytes()).unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
            .unwrap();
    }

    #[test]
    fn every_token_has_its_own_jti() {
        let secret = secret();
        let minter = Minter::new();
        let jtis: std::collections::HashSet<String> = (0..100)
            .map(|_| {
                let token = minter.mint(&app(&secret));
                let claims = decode(token.expose_secret().split('.').nth(1).unwrap());
                claims["jti"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(jtis.len(), 100);
    }

    #[test]
    fn expiry_follows_the_clock_and_lifetime() {
        let secret = secret();
        let past = SystemTime::now() - Duration::from_secs(3600);
        let minter = Minter::new()
            .with_clock(Arc::new(move || past))
            .with_lifetime(Duration::from_secs(60));
        let token = minter.mint(&app(&secret));
        let claims = decode(token.expose_secret().split('.').nth(1).unwrap());
        let expected = past.duration_since(UNIX_EPOCH).unwrap().as_secs() + 60;
        assert_eq!(claims["exp"], expected);
    }

    #[test]
    fn matches_an_independently_computed_token() {
        let secret = secret();
        let minter = Minter::new();
        let token = minter.token(
            &app(&secret),
            1_767_225_600,
            "00112233445566778899aabbccddeeff",
            minter.scopes(),
        );
        assert_eq!(token, KNOWN_TOKEN);
    }

    #[test]
    fn a_job_reading_token_asks_for_the_jobs_scope_only() {
        let secret = secret();
        let minter = Minter::new();
        let scopes = |token: SecretString| {
            decode(token.expose_secret().split('.').nth(1).unwrap())["scp"].clone()
        };
        assert_eq!(
            scopes(minter.mint_for(&app(&secret), Purpose::ReadJobs)),
            json!(["tableau:jobs:read"])
        );
        assert_eq!(
            scopes(minter.mint(&app(&secret))),
            json!(["tableau:content:read", "tableau:tasks:run"])
        );
        let narrowed = minter.with_job_scopes(["tableau:content:read"]);
        assert_eq!(
            scopes(narrowed.mint_for(&app(&secret), Purpose::ReadJobs)),
            json!(["tableau:content:read"])
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let printed = format!("{:?}", Minter::new().with_scopes(["a:b:c"]));
        assert!(printed.contains("a:b:c"), "{printed}");
    }
}
