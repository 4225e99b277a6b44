//! Signing in and out, and the one session an invocation's targets share.
//!
//! Tableau keeps one session per personal access token: another invocation
//! signing in with the same PAT ends ours, and our next call answers 401. The
//! session then waits a jittered, growing backoff (so that the invocation now
//! holding the session can finish its few calls and sign out) and signs in
//! again, a few times at most and only while the deadline leaves room.
//! Concurrent targets that met the same 401 wait for that one sign-in instead of
//! each starting their own (which would end each other's sessions in turn).

use super::client::{Call, Client, MIN_JWT_VERSION, parse_version};
use super::error::TableauError;
use super::jwt::{ConnectedApp, Purpose};
use crate::secrets::{TableauAccess, TableauCredentials};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How many times one invocation may sign in again after a 401. Two
/// invocations with the same PAT end each other's sessions in turn; the backoff
/// before each renewal lets one of them finish, so a few renewals are enough.
const RENEWALS: u32 = 5;
/// A connected app's sessions don't end each other, so a 401 mid-invocation is
/// rarely cured by signing in again (more often a missing scope): try once.
const CONNECTED_APP_RENEWALS: u32 = 1;
/// The wait before the first renewal; doubled for each further one, with
/// "equal jitter" (half fixed, half random) so two colliding invocations don't
/// sign in again in lockstep. About the time another invocation needs for its
/// lookups, refreshes and sign-out.
const RENEWAL_BACKOFF: Duration = Duration::from_millis(300);
/// A renewal is not started unless this much time is left after its backoff:
/// a sign-in and the call it retries need it.
const RENEWAL_MIN_LEFT: Duration = Duration::from_secs(1);

struct Credentials {
    token: SecretString,
    site_id: String,
}

struct State {
    credentials: Credentials,
    /// Bumped on every sign-in, so that a caller holding an older token knows
    /// someone already renewed it.
    generation: u64,
    renewals_left: u32,
    renewals_done: u32,
    /// Connected-app sessions replaced by a renewal: unlike a PAT's, a JWT
    /// sign-in ends no earlier session, so these are signed out at the end too.
    superseded: Vec<SecretString>,
}

pub struct Session<'a> {
    client: &'a Client,
    access: &'a TableauAccess,
    /// `{server}/api/{version}`.
    base: String,
    /// Decides a connected app's scopes, at the first sign-in and at renewals.
    purpose: Purpose,
    state: Mutex<State>,
}

impl<'a> Session<'a> {
    /// A session for looking items up and refreshing them.
    pub async fn sign_in(
        client: &'a Client,
        access: &'a TableauAccess,
        version: &str,
        deadline: Instant,
    ) -> Result<Session<'a>, TableauError> {
        Session::sign_in_for(client, access, version, Purpose::Refresh, deadline).await
    }

    /// A session for `purpose`, which decides the scopes a connected app's JWT
    /// asks for (a PAT session can do everything its user can).
    pub async fn sign_in_for(
        client: &'a Client,
        access: &'a TableauAccess,
        version: &str,
        purpose: Purpose,
        deadline: Instant,
    ) -> Result<Session<'a>, TableauError> {
        if matches!(access.credentials, TableauCredentials::ConnectedApp { .. })
            && parse_version(version).is_none_or(|v| v < MIN_JWT_VERSION)
        {
            return Err(TableauError::JwtUnsupportedVersion(version.to_owned()));
        }
        let base = format!("{}/api/{version}", access.server.trim_end_matches('/'));
        let credentials = sign_in(client, &base, access, purpose, deadline).await?;
        Ok(Session {
            client,
            access,
            base,
            purpose,
            state: Mutex::new(State {
                credentials,
                generation: 0,
                renewals_left: match access.credentials {
                    TableauCredentials::ConnectedApp { .. } => CONNECTED_APP_RENEWALS,
                    _ => RENEWALS,
                },
                renewals_done: 0,
                superseded: Vec::new(),
            }),
        })
    }

    /// Sends a call to `{base}/sites/{site-id}/{path}` with the session's token,
    /// signing in again (after a backoff) while Tableau says the session has
    /// ended, as long as renewals and time are left.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<Vec<u8>, TableauError> {
        self.call_as(false, method, path, (body, None), deadline)
            .await
    }

    /// [`Session::call`] for a request that does work (a refresh, a flow run):
    /// never sent again once it may have reached Tableau ([`Client::send_work`]).
    /// A 401 is Tableau refusing it, so it is sent again after a new sign-in.
    pub async fn call_work(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<Vec<u8>, TableauError> {
        self.call_as(true, method, path, (body, None), deadline)
            .await
    }

    /// [`Session::call_work`] with an XML body (an incremental refresh).
    pub async fn call_work_xml(
        &self,
        method: Method,
        path: &str,
        xml: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, TableauError> {
        self.call_as(true, method, path, (None, Some(xml)), deadline)
            .await
    }

    /// The REST API version the session speaks (`3.25`).
    pub fn api_version(&self) -> &str {
        self.base.rsplit('/').next().unwrap_or_default()
    }

    async fn call_as(
        &self,
        work: bool,
        method: Method,
        path: &str,
        body: (Option<&serde_json::Value>, Option<&str>),
        deadline: Instant,
    ) -> Result<Vec<u8>, TableauError> {
        let (mut token, mut site_id, mut generation) = self.current().await;
        loop {
            match self
                .send(work, method.clone(), &token, &site_id, path, body, deadline)
                .await
            {
                Err(e) if e.is_session_expired() => {
                    (token, site_id, generation) = self.renew(generation, e, deadline).await?;
                }
                other => return other,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        work: bool,
        method: Method,
        token: &SecretString,
        site_id: &str,
        path: &str,
        (body, xml): (Option<&serde_json::Value>, Option<&str>),
        deadline: Instant,
    ) -> Result<Vec<u8>, TableauError> {
        let call = Call {
            method,
            url: format!("{}/sites/{site_id}/{path}", self.base),
            token: Some(token),
            body,
            xml,
        };
        if work {
            self.client.send_work(&call, deadline).await
        } else {
            self.client.send(&call, deadline).await
        }
    }

    async fn current(&self) -> (SecretString, String, u64) {
        let state = self.state.lock().await;
        (
            state.credentials.token.clone(),
            state.credentials.site_id.clone(),
            state.generation,
        )
    }

    /// New credentials after a 401 met by a caller that used `seen_generation`.
    /// The lock is held across the backoff and the sign-in so concurrent
    /// callers share them; a caller that finds a newer generation uses it.
    async fn renew(
        &self,
        seen_generation: u64,
        expired: TableauError,
        deadline: Instant,
    ) -> Result<(SecretString, String, u64), TableauError> {
        let mut state = self.state.lock().await;
        if state.generation == seen_generation {
            let renewal = state.renewals_done + 1;
            if state.renewals_left == 0 {
                tracing::warn!(
                    renewals = state.renewals_done,
                    error = %expired,
                    "Tableau ended the session again; no renewal left"
                );
                return Err(expired);
            }
            let wait = renewal_backoff(renewal);
            if Instant::now() + wait + RENEWAL_MIN_LEFT > deadline {
                tracing::warn!(
                    renewal,
                    error = %expired,
                    "Tableau ended the session; too close to the deadline to sign in again"
                );
                return Err(expired);
            }
            tracing::warn!(
                renewal,
                wait_ms = wait.as_millis() as u64,
                error = %expired,
                "Tableau ended the session (another sign-in with the same PAT?); signing in again after a backoff"
            );
            state.renewals_left -= 1;
            state.renewals_done += 1;
            tokio::time::sleep(wait).await;
            let fresh =
                sign_in(self.client, &self.base, self.access, self.purpose, deadline).await?;
            let old = std::mem::replace(&mut state.credentials, fresh);
            // A JWT sign-in ends no earlier session: keep the old token to sign
            // it out too, so no session outlives the invocation.
            if matches!(
                self.access.credentials,
                TableauCredentials::ConnectedApp { .. }
            ) {
                state.superseded.push(old.token);
            }
            state.generation += 1;
        }
        Ok((
            state.credentials.token.clone(),
            state.credentials.site_id.clone(),
            state.generation,
        ))
    }

    /// Ends the session. Best effort: the caller logs a failure and moves on.
    pub async fn sign_out(&self, deadline: Instant) -> Result<(), TableauError> {
        let (token, superseded) = {
            let mut state = self.state.lock().await;
            (
                state.credentials.token.clone(),
                std::mem::take(&mut state.superseded),
            )
        };
        for old in &superseded {
            if let Err(e) = self.sign_out_token(old, deadline).await {
                tracing::warn!(error = %e, "signing out a replaced Tableau session failed");
            }
        }
        self.sign_out_token(&token, deadline).await
    }

    async fn sign_out_token(
        &self,
        token: &SecretString,
        deadline: Instant,
    ) -> Result<(), TableauError> {
        let call = Call {
            method: Method::POST,
            url: format!("{}/auth/signout", self.base),
            token: Some(token),
            body: None,
            xml: None,
        };
        self.client.send(&call, deadline).await.map(drop)
    }
}

/// The wait before renewal number `renewal` (1-based): doubling from
/// [`RENEWAL_BACKOFF`], half fixed and half random.
fn renewal_backoff(renewal: u32) -> Duration {
    let full = RENEWAL_BACKOFF * 2u32.pow(renewal.saturating_sub(1).min(4));
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

async fn sign_in(
    client: &Client,
    base: &str,
    access: &TableauAccess,
    purpose: Purpose,
    deadline: Instant,
) -> Result<Credentials, TableauError> {
    #[derive(Deserialize)]
    struct Answer {
        credentials: AnswerCredentials,
    }
    #[derive(Deserialize)]
    struct AnswerCredentials {
        token: String,
        site: Site,
    }
    #[derive(Deserialize)]
    struct Site {
        id: String,
    }
    access.credentials.keep_for_redaction();
    // Made anew for every attempt: a resent JWT would carry a `jti` Tableau
    // has seen (and refuses) and an `exp` counted from the first attempt.
    let body = || match &access.credentials {
        TableauCredentials::PersonalAccessToken { name, secret } => json!({
            "credentials": {
                "personalAccessTokenName": name,
                "personalAccessTokenSecret": secret.expose_secret(),
                "site": {"contentUrl": access.site},
            }
        }),
        TableauCredentials::ConnectedApp {
            client_id,
            secret_id,
            secret_value,
            username,
        } => {
            let jwt = client.minter.mint_for(
                &ConnectedApp {
                    client_id,
                    secret_id,
                    secret_value,
                    username,
                },
                purpose,
            );
            crate::redact::keep_for_now(jwt.expose_secret());
            json!({
                "credentials": {
                    "jwt": jwt.expose_secret(),
                    "site": {"contentUrl": access.site},
                }
            })
        }
    };
    let call = Call {
        method: Method::POST,
        url: format!("{base}/auth/signin"),
        token: None,
        body: None,
        xml: None,
    };
    let answer = client.send_fresh(&call, &body, deadline).await?;
    // The parse error text could quote the answer, which holds the token: keep
    // only serde's position information.
    let answer: Answer = serde_json::from_slice(&answer).map_err(|e| TableauError::BadAnswer {
        what: "sign-in",
        detail: format!(
            "expected credentials.token and credentials.site.id (line {} column {})",
            e.line(),
            e.column()
        ),
    })?;
    crate::redact::keep_for_now(&answer.credentials.token);
    tracing::info!(site = %access.site, "signed in to Tableau");
    Ok(Credentials {
        token: answer.credentials.token.into(),
        site_id: answer.credentials.site.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_backoff_doubles_and_stays_jittered() {
        for renewal in 1..=RENEWALS {
            let full = RENEWAL_BACKOFF * 2u32.pow(renewal - 1);
            let wait = renewal_backoff(renewal);
            assert!(wait >= full / 2 && wait <= full, "{renewal}: {wait:?}");
        }
    }
}
