//! Connected-app (JWT) sign-in as Tableau checks it, written apart from the
//! crate's minter so that a bug in one is not mirrored in the other.

use super::State;
use serde_json::Value;

pub const APP_CLIENT_ID: &str = "c0ffee00-app-client-id";
pub const APP_SECRET_ID: &str = "5ec2e7d1-app-secret-id";
pub const APP_SECRET_VALUE: &str = "app-secret-value-do-not-print";
pub const APP_USERNAME: &str = "refresh-bot@example.com";
pub const SCOPE_READ: &str = "tableau:content:read";
pub const SCOPE_REFRESH: &str = "tableau:tasks:run";
pub const SCOPE_JOBS: &str = "tableau:jobs:read";
/// Cancel Job's scope: the crate's guess (unverified), checked here alike.
pub const SCOPE_CANCEL: &str = "tableau:jobs:update";

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Checks a connected-app JWT the way Tableau does; the scopes on success, else
/// Tableau's reason code and the fake's own explanation.
pub(super) fn verify_jwt(
    state: &State,
    jwt: &str,
) -> Result<(String, Vec<String>), (&'static str, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, KeyInit, Mac};
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(("10084", "not three dot-separated parts".into()));
    };
    let json = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(h), Some(c)) = (json(header), json(claims)) else {
        return Err(("10084", "header or claims not base64url JSON".into()));
    };
    if h["alg"] != "HS256" {
        return Err(("10083", format!("alg {}", h["alg"])));
    }
    if h["iss"] != APP_CLIENT_ID || c["iss"] != APP_CLIENT_ID {
        return Err(("126", "unknown client id in header or claims iss".into()));
    }
    if h["kid"] != APP_SECRET_ID {
        return Err(("127", "unknown secret id (kid)".into()));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET_VALUE.as_bytes()).unwrap();
    mac.update(format!("{header}.{claims}").as_bytes());
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    if mac.verify_slice(&signature).is_err() {
        return Err((
            "16",
            "signature does not verify with the secret value".into(),
        ));
    }
    if c["aud"] != "tableau" {
        return Err(("16", format!("aud {}", c["aud"])));
    }
    if c["sub"] != APP_USERNAME {
        return Err(("5", format!("unknown user {}", c["sub"])));
    }
    let Some(exp) = c["exp"].as_u64() else {
        return Err(("16", "exp missing or not a number".into()));
    };
    let now = now_secs();
    if exp <= now {
        return Err(("16", format!("expired {} s ago", now - exp)));
    }
    if exp > now + 600 {
        return Err(("16", "exp more than 10 minutes ahead".into()));
    }
    let jti = c["jti"].as_str().unwrap_or_default().to_owned();
    if jti.is_empty() || state.seen_jtis.contains(&jti) {
        return Err(("16", format!("jti {jti:?} missing or already used")));
    }
    let Some(scopes) = c["scp"].as_array().and_then(|a| {
        a.iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
    }) else {
        return Err(("16", "scp is not an array of strings".into()));
    };
    // A connected app that lists the scopes it grants refuses a JWT asking for
    // more (tableau/tableau-mcp #344; reason code guessed).
    if let Some(granted) = &state.app_granted_scopes
        && let Some(extra) = scopes.iter().find(|s| !granted.contains(s))
    {
        return Err((
            "16",
            format!("scope {extra} not granted to the connected app"),
        ));
    }
    Ok((jti, scopes))
}
