//! A run and its steps: `GET /api/v2/accounts/{a}/runs/{r}/?include_related=["run_steps"]`.

use super::DbtCloud;
use super::error::{DbtCloudError, Resource};
use super::http::Sink;
use secrecy::SecretString;
use serde::Deserialize;
use tokio::time::Instant;

/// `["run_steps"]`, percent-encoded: dbt Cloud takes a JSON list here.
const INCLUDE_STEPS: &str = "include_related=%5B%22run_steps%22%5D";
/// A run's JSON (with its steps' logs, up to 1,000 lines each) is read into
/// memory; past this it is not the answer we asked for.
const RUN_LIMIT: usize = 16 << 20;

/// What the decision needs from a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: String,
    /// 1 Queued, 2 Starting, 3 Running, 10 Success, 20 Error, 30 Cancelled.
    pub status: u32,
    pub artifacts_saved: bool,
    /// Ordered by `index`.
    pub steps: Vec<RunStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    pub index: u32,
    /// Like "Invoke dbt with `dbt build`".
    pub name: String,
    pub status: u32,
}

impl Run {
    /// dbt Cloud's word for the status code.
    pub fn status_name(&self) -> &'static str {
        match self.status {
            1 => "queued",
            2 => "starting",
            3 => "running",
            10 => "success",
            20 => "error",
            30 => "cancelled",
            _ => "unknown",
        }
    }

    /// Success, error or cancelled: nothing more will be written.
    pub fn is_finished(&self) -> bool {
        matches!(self.status, 10 | 20 | 30)
    }
}

impl DbtCloud {
    /// Reads run `run_id` of account `account_id` with its steps. IDs are the
    /// decimal numbers dbt Cloud uses (the webhook sends them as strings).
    pub async fn run(
        &self,
        token: &SecretString,
        account_id: &str,
        run_id: &str,
        deadline: Instant,
    ) -> Result<Run, DbtCloudError> {
        let resource = resource(account_id, run_id, None)?;
        let url = format!("{}?{INCLUDE_STEPS}", self.run_url(&resource));
        let mut body = Memory::new(RUN_LIMIT, resource.clone());
        self.get(token, &url, &resource, &mut body, deadline)
            .await?;
        parse_run(&body.bytes).map_err(|detail| DbtCloudError::BadAnswer { resource, detail })
    }

    /// `{base}/api/v2/accounts/{a}/runs/{r}/`, with the trailing slash the
    /// API's paths carry.
    pub(super) fn run_url(&self, resource: &Resource) -> String {
        format!(
            "{}/api/v2/accounts/{}/runs/{}/",
            self.base_url, resource.account_id, resource.run_id
        )
    }
}

/// Checks the IDs before they become part of a URL's path.
pub(super) fn resource(
    account_id: &str,
    run_id: &str,
    artifact: Option<(String, Option<u32>)>,
) -> Result<Resource, DbtCloudError> {
    let id = |what: &'static str, value: &str| {
        let value = value.trim();
        match value.parse::<u64>() {
            Ok(n) if n > 0 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(DbtCloudError::InvalidInput {
                what,
                value: value.to_owned(),
            }),
        }
    };
    Ok(Resource {
        account_id: id("account ID", account_id)?,
        run_id: id("run ID", run_id)?,
        artifact,
    })
}

/// A body held in memory, up to `limit` bytes.
pub(super) struct Memory {
    pub bytes: Vec<u8>,
    limit: usize,
    resource: Resource,
}

impl Memory {
    pub fn new(limit: usize, resource: Resource) -> Memory {
        Memory {
            bytes: Vec::new(),
            limit,
            resource,
        }
    }
}

impl Sink for Memory {
    fn restart(&mut self) -> Result<(), DbtCloudError> {
        self.bytes.clear();
        Ok(())
    }

    fn write(&mut self, chunk: bytes::Bytes) -> crate::BoxFuture<'_, Result<(), DbtCloudError>> {
        let written = if self.bytes.len() + chunk.len() > self.limit {
            Err(DbtCloudError::TooLarge {
                resource: self.resource.clone(),
                limit: self.limit,
            })
        } else {
            self.bytes.extend_from_slice(&chunk);
            Ok(())
        };
        Box::pin(std::future::ready(written))
    }
}

/// The Administrative API's envelope around the run: `{"status":{..},"data":{..}}`.
/// IDs and codes are numbers in the API, but strings are accepted too; absent
/// or null `run_steps` (not included) is no steps.
fn parse_run(body: &[u8]) -> Result<Run, String> {
    #[derive(Deserialize)]
    struct Envelope {
        data: Option<Data>,
    }
    #[derive(Deserialize)]
    struct Data {
        #[serde(deserialize_with = "number")]
        id: u64,
        #[serde(deserialize_with = "number")]
        status: u64,
        #[serde(default)]
        artifacts_saved: Option<bool>,
        #[serde(default)]
        run_steps: Option<Vec<Step>>,
    }
    #[derive(Deserialize)]
    struct Step {
        #[serde(deserialize_with = "number")]
        index: u64,
        #[serde(default)]
        name: Option<String>,
        #[serde(deserialize_with = "number")]
        status: u64,
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let data = envelope
        .data
        .ok_or("the answer's \"data\" is null or missing")?;
    let small =
        |n: u64, what: &str| u32::try_from(n).map_err(|_| format!("{what} {n} is out of range"));
    let mut steps = data
        .run_steps
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            Ok(RunStep {
                index: small(s.index, "step index")?,
                name: s.name.unwrap_or_default(),
                status: small(s.status, "step status")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    steps.sort_by_key(|s| s.index);
    Ok(Run {
        id: data.id.to_string(),
        status: small(data.status, "run status")?,
        artifacts_saved: data.artifacts_saved.unwrap_or(false),
        steps,
    })
}

/// A non-negative integer given as a JSON number or a decimal string.
fn number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_with_steps_is_read_from_the_envelope() {
        let body = br#"{"status":{"code":200,"is_success":true,"user_message":"Success!","developer_message":""},
            "data":{"id":12345,"account_id":1,"status":20,"status_humanized":"Error","artifacts_saved":true,
            "run_steps":[
              {"run_id":12345,"account_id":1,"index":2,"status":20,"name":"Invoke dbt with `dbt build`","logs":"..."},
              {"run_id":12345,"account_id":1,"index":1,"status":10,"name":"Clone git repository"}]}}"#;
        let run = parse_run(body).unwrap();
        assert_eq!(run.id, "12345");
        assert_eq!(
            (run.status, run.status_name(), run.is_finished()),
            (20, "error", true)
        );
        assert!(run.artifacts_saved);
        assert_eq!(
            run.steps.iter().map(|s| s.index).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(run.steps[1].name, "Invoke dbt with `dbt build`");
    }

    #[test]
    fn string_ids_and_missing_steps_are_accepted() {
        let body = br#"{"status":{},"data":{"id":"77","status":"10","run_steps":null}}"#;
        let run = parse_run(body).unwrap();
        assert_eq!((run.id.as_str(), run.status), ("77", 10));
        assert!(run.steps.is_empty() && !run.artifacts_saved);
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        for body in [
            &br#"{"status":{},"data":null}"#[..],
            br#"{"data":{"id":1}}"#,
            br#"{"data":{"id":-1,"status":10}}"#,
            br#"{"data":{"id":1,"status":10,"run_steps":[{"index":"x","status":1}]}}"#,
            br#"[1,2]"#,
            b"<html>",
        ] {
            assert!(
                parse_run(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn ids_must_be_positive_numbers() {
        assert_eq!(resource(" 1 ", "0042", None).unwrap().run_id, 42);
        for (account, run) in [
            ("1", "../2"),
            ("1", "0"),
            ("a", "2"),
            ("1", "+2"),
            ("", "2"),
        ] {
            let error = resource(account, run, None).unwrap_err();
            assert!(
                matches!(error, DbtCloudError::InvalidInput { .. }),
                "{error}"
            );
            assert!(!error.is_retryable());
        }
    }
}
