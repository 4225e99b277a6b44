//! The dbt Cloud webhook body. Only the fields the function acts on are typed; the
//! rest is ignored so that new dbt fields never break delivery.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime};

/// The run status code dbt Cloud gives a successful run.
const RUN_SUCCESS: i64 = 10;
const RUN_COMPLETED: &str = "job.run.completed";

/// A dbt Cloud ID (job, run, ...). dbt sends them as strings; older payloads and
/// hand-written configuration use numbers, so both compare equal here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    /// A non-empty ID made of the characters dbt uses, or `None`.
    pub fn parse(raw: &str) -> Option<JobId> {
        let trimmed = raw.trim();
        (!trimmed.is_empty()).then(|| JobId(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Accepts `"123"` or `123` and yields the text form.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i64),
        Uint(u64),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        None => None,
        Some(Raw::Text(s)) => Some(s),
        Some(Raw::Int(n)) => Some(n.to_string()),
        Some(Raw::Uint(n)) => Some(n.to_string()),
    })
}

fn number_or_numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        None => None,
        Some(Raw::Int(n)) => Some(n),
        Some(Raw::Text(s)) => s.trim().parse().ok(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    #[serde(default, deserialize_with = "string_or_number")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub event_id: Option<String>,
    pub event_type: String,
    /// Kept loose: only the age check reads it, and a timestamp of an unexpected
    /// type must not fail an event when that check is off.
    #[serde(default)]
    pub timestamp: Option<serde_json::Value>,
    pub data: RunData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunData {
    #[serde(default, deserialize_with = "string_or_number")]
    pub job_id: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub run_id: Option<String>,
    #[serde(default)]
    pub job_name: Option<String>,
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub project_id: Option<String>,
    #[serde(default)]
    pub run_status: Option<String>,
    #[serde(default, deserialize_with = "number_or_numeric_string")]
    pub run_status_code: Option<i64>,
    #[serde(default)]
    pub run_finished_at: Option<String>,
    #[serde(default)]
    pub run_errored_at: Option<String>,
}

/// What the rest of the product needs to know about the run an event reports:
/// the workflow's input carries it, reports and the resolver read it. No secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub account_id: Option<String>,
    pub job_id: Option<String>,
    pub run_id: Option<String>,
    pub event_id: Option<String>,
    pub job_name: Option<String>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub run_status: Option<String>,
    pub run_status_code: Option<i64>,
    /// `runFinishedAt`, or `runErroredAt` for a run that errored (RFC 3339).
    pub run_finished_at: Option<String>,
}

#[derive(Debug)]
pub struct EventParseError(String);

impl fmt::Display for EventParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a verified event asks of the function.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// A completed run: refresh the targets of this job (`None` when the event
    /// names no job, which only targets without a `jobs` list match). Entries
    /// naming items act only when `succeeded`; exposure entries on any run.
    Refresh { job: Option<JobId>, succeeded: bool },
    /// Anything else, with the reason an operator reads in the answer.
    Ignore(String),
}

impl WebhookEvent {
    pub fn parse(body: &[u8]) -> Result<WebhookEvent, EventParseError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| EventParseError(format!("body is not JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| EventParseError("body is not a JSON object".into()))?;
        for field in ["eventType", "data"] {
            if object.get(field).is_none_or(serde_json::Value::is_null) {
                return Err(EventParseError(format!("body lacks \"{field}\"")));
            }
        }
        if !object["data"].is_object() {
            return Err(EventParseError("\"data\" is not an object".into()));
        }
        serde_json::from_value(value)
            .map_err(|e| EventParseError(format!("body is not a dbt Cloud webhook event: {e}")))
    }

    pub fn job_id(&self) -> Option<JobId> {
        self.data.job_id.as_deref().and_then(JobId::parse)
    }

    pub fn decision(&self) -> Decision {
        if self.event_type != RUN_COMPLETED {
            return Decision::Ignore(format!(
                "event type \"{}\" is not {RUN_COMPLETED}",
                self.event_type
            ));
        }
        Decision::Refresh {
            job: self.job_id(),
            succeeded: self.succeeded(),
        }
    }

    /// `runStatusCode` 10; dbt's older payload gives no code, only
    /// `runStatus` "Success". A code, when given, decides.
    pub fn succeeded(&self) -> bool {
        match self.data.run_status_code {
            Some(code) => code == RUN_SUCCESS,
            None => self
                .data
                .run_status
                .as_deref()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case("success")),
        }
    }

    /// Why a run that did not succeed refreshes nothing.
    pub fn unsuccessful_reason(&self) -> String {
        let status = self.data.run_status.as_deref().unwrap_or("unknown");
        let code = self
            .data
            .run_status_code
            .map_or_else(|| "missing".to_owned(), |c| c.to_string());
        format!(
            "run {} of job {} did not succeed (runStatus \"{status}\", runStatusCode {code})",
            self.data.run_id.as_deref().unwrap_or("?"),
            self.data.job_id.as_deref().unwrap_or("?"),
        )
    }

    pub fn summary(&self) -> RunSummary {
        let data = &self.data;
        RunSummary {
            account_id: self.account_id.clone(),
            job_id: data.job_id.clone(),
            run_id: data.run_id.clone(),
            event_id: self.event_id.clone(),
            job_name: data.job_name.clone(),
            project_name: data.project_name.clone(),
            project_id: data.project_id.clone(),
            run_status: data.run_status.clone(),
            run_status_code: data.run_status_code,
            run_finished_at: data
                .run_finished_at
                .clone()
                .or_else(|| data.run_errored_at.clone()),
        }
    }

    /// How old the signed `timestamp` is at `now`; `None` when it is missing or is
    /// not RFC 3339. A timestamp from the future counts as age zero.
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        let raw = self.timestamp.as_ref()?.as_str()?;
        let sent = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
            .ok()?;
        let sent = SystemTime::from(sent);
        Some(now.duration_since(sent).unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> WebhookEvent {
        WebhookEvent::parse(json.as_bytes()).expect("valid event")
    }

    #[test]
    fn successful_completed_run_refreshes_its_job() {
        let e = event(
            r#"{"eventType":"job.run.completed","data":{"jobId":"123","runId":"9","runStatusCode":10,"extra":[1]}}"#,
        );
        assert_eq!(
            e.decision(),
            Decision::Refresh {
                job: JobId::parse("123"),
                succeeded: true
            }
        );
    }

    #[test]
    fn numeric_ids_equal_their_text() {
        let e =
            event(r#"{"eventType":"job.run.completed","data":{"jobId":123,"runStatusCode":10}}"#);
        assert_eq!(e.job_id(), JobId::parse("123"));
    }

    #[test]
    fn ignore_reasons_name_what_was_seen() {
        // dbt's older payload: runStatus alone.
        let older = event(
            r#"{"eventType":"job.run.completed","data":{"jobId":"5","runStatus":"Success"}}"#,
        );
        assert!(matches!(
            older.decision(),
            Decision::Refresh {
                succeeded: true,
                ..
            }
        ));
        let older = event(
            r#"{"eventType":"job.run.completed","data":{"jobId":"5","runStatus":"Errored"}}"#,
        );
        assert!(matches!(
            older.decision(),
            Decision::Refresh {
                succeeded: false,
                ..
            }
        ));
        let coded = event(
            r#"{"eventType":"job.run.completed","data":{"jobId":"5","runStatus":"Success","runStatusCode":20}}"#,
        );
        assert!(matches!(
            coded.decision(),
            Decision::Refresh {
                succeeded: false,
                ..
            }
        ));
        let started = event(r#"{"eventType":"job.run.started","data":{"runStatusCode":3}}"#);
        let Decision::Ignore(reason) = started.decision() else {
            panic!("not ignored")
        };
        assert!(reason.contains("job.run.started"), "{reason}");

        let errored = event(
            r#"{"eventType":"job.run.completed","data":{"jobId":"7","runId":"8","runStatus":"Errored","runStatusCode":20}}"#,
        );
        assert_eq!(
            errored.decision(),
            Decision::Refresh {
                job: JobId::parse("7"),
                succeeded: false
            }
        );
        let reason = errored.unsuccessful_reason();
        assert!(
            reason.contains("Errored") && reason.contains("20") && reason.contains('7'),
            "{reason}"
        );
    }

    #[test]
    fn missing_envelope_fields_are_errors() {
        for body in [
            "not json",
            "[]",
            r#"{"data":{}}"#,
            r#"{"eventType":"job.run.completed"}"#,
            r#"{"eventType":"job.run.completed","data":"x"}"#,
            r#"{"eventType":5,"data":{}}"#,
        ] {
            assert!(WebhookEvent::parse(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn age_from_rfc3339_with_nanoseconds() {
        let e =
            event(r#"{"eventType":"x","timestamp":"2023-01-31T19:29:35.789265936Z","data":{}}"#);
        let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_675_193_375);
        let age = e.age(sent + Duration::from_secs(60)).unwrap();
        assert!(
            age > Duration::from_secs(59) && age < Duration::from_secs(60),
            "{age:?}"
        );
        assert_eq!(e.age(sent - Duration::from_secs(60)), Some(Duration::ZERO));
        let bad = event(r#"{"eventType":"x","timestamp":"yesterday","data":{}}"#);
        assert_eq!(bad.age(SystemTime::now()), None);
    }
}
