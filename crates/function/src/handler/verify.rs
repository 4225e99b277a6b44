//! Verify: nothing is read from a delivery's body, and no setting is used,
//! before its signature matches the webhook key.

use super::{Delivery, Seen, WebhookHandler, unauthorized};
use crate::settings::Settings;
use dbt_tableau_engine::answer::Answer;
use dbt_tableau_engine::secrets::{ExposeSecret, Secrets};
use dbt_tableau_engine::webhook::{Signature, SignatureError, WebhookEvent};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::time::Instant;

/// A delivery whose signature matched, with what it carries and what the
/// container is configured to do with it.
pub(super) struct Verified<'a> {
    pub settings: &'a Settings,
    pub secrets: Arc<Secrets>,
    pub event: WebhookEvent,
}

impl WebhookHandler {
    pub(super) async fn verify<'a>(
        &'a self,
        delivery: &Delivery<'_>,
        deadline: Instant,
        seen: &mut Seen,
    ) -> Result<Verified<'a>, Answer> {
        // HTTP methods are case-sensitive: "post" is not POST.
        if delivery.method != "POST" {
            return Err(Answer::MethodNotAllowed(format!(
                "method {} not allowed: dbt Cloud webhooks are POST",
                delivery.method
            )));
        }
        let signature =
            Signature::parse(delivery.authorization).map_err(|why| unauthorized(why, seen))?;
        let secrets = self
            .verified_secrets(&signature, delivery.body, deadline, seen)
            .await?;
        let settings = self
            .settings
            .as_ref()
            .map_err(|problem| Answer::ConfigError(problem.clone()))?;
        let event = WebhookEvent::parse(delivery.body)
            .map_err(|why| Answer::BadRequest(why.to_string()))?;
        seen.event_id = event.event_id.clone();
        seen.run_id = event.data.run_id.clone();
        seen.job_id = event.data.job_id.clone();
        if let Some(rejection) = too_old(settings, &event) {
            seen.rejection = Some(rejection);
            return Err(Answer::Unauthorized);
        }
        Ok(Verified {
            settings,
            secrets,
            event,
        })
    }

    /// The secrets whose webhook key verifies `signature`, refetching once when a
    /// cached key fails (the key may have been rotated).
    async fn verified_secrets(
        &self,
        signature: &Signature,
        body: &[u8],
        deadline: Instant,
        seen: &mut Seen,
    ) -> Result<Arc<Secrets>, Answer> {
        // A slow, throttled or failing Secrets Manager is worth a redelivery
        // (502); a missing secret or key is a configuration error (500).
        let in_time = |what: &'static str| {
            move |_| Answer::Failed {
                error: format!("{what} did not answer before the deadline"),
                retryable: true,
            }
        };
        let secrets = tokio::time::timeout_at(deadline, self.secrets.current())
            .await
            .map_err(in_time("the secret source"))?
            .map_err(|e| {
                // Nothing is verified yet: the answer holds no names, the log all.
                tracing::error!(error = %e, "cannot get the webhook key");
                if e.is_retryable() {
                    Answer::Failed {
                        error: e.unverified_summary(),
                        retryable: true,
                    }
                } else {
                    Answer::ConfigError(e.unverified_summary())
                }
            })?;
        match signature.verify(secrets.webhook_key.expose_secret().as_bytes(), body) {
            Ok(()) => return Ok(secrets),
            Err(SignatureError::Mismatch) => {}
            Err(other) => return Err(unauthorized(other, seen)),
        }
        match tokio::time::timeout_at(deadline, self.secrets.refetch()).await {
            Ok(Ok(Some(fresher))) => {
                match signature.verify(fresher.webhook_key.expose_secret().as_bytes(), body) {
                    Ok(()) => Ok(fresher),
                    Err(why) => Err(unauthorized(why, seen)),
                }
            }
            Ok(Ok(None)) => Err(unauthorized(SignatureError::Mismatch, seen)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not refetch the secret after a signature mismatch");
                Err(unauthorized(SignatureError::Mismatch, seen))
            }
            Err(_) => Err(unauthorized(SignatureError::Mismatch, seen)),
        }
    }
}

/// Why an event is refused as a replay under `MAX_EVENT_AGE_SECONDS`, if it is.
fn too_old(settings: &Settings, event: &WebhookEvent) -> Option<String> {
    let limit = settings.max_event_age?;
    match event.age(SystemTime::now()) {
        Some(age) if age <= limit => None,
        Some(age) => Some(format!(
            "event is {}s old, more than MAX_EVENT_AGE_SECONDS={}",
            age.as_secs(),
            limit.as_secs()
        )),
        None => Some("timestamp missing or not RFC 3339 while MAX_EVENT_AGE_SECONDS is set".into()),
    }
}
