//! Jobs: each refresh the fake accepts starts one (`job-{item id}`), whose state
//! moves by a script, and Query Job (`GET /api/{v}/sites/{site}/jobs/{id}`)
//! answers it.
//!
//! Honest to REFERENCE.md: the fields of tableauserverclient's XML samples
//! (`id mode type progress createdAt startedAt completedAt finishCode`,
//! `extractRefreshJob` holding `workbook`/`datasource {id name}` and `notes`),
//! `completedAt` and `finishCode` absent while running, 400031 for some jobs,
//! 429000 with "Please retry after N minutes" in the detail, and 401002 for a
//! connected-app session without `tableau:jobs:read` or on a server before
//! REST API 3.25. Guessed: the JSON layout itself (attributes and child
//! elements as keys, `notes` a string), numbers written as strings like the
//! pagination's (`numbers_as_numbers` writes them as numbers), the Retry-After
//! header, and the 404 for an unknown job id (code and words made up).

use super::{FakeTableau, State, respond::authorized, respond::out_of_scope, tableau_error};
use super::{SCOPE_JOBS, respond::unauthorized};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use wiremock::{Request, Respond, ResponseTemplate};

/// How a job ends, and when.
#[derive(Clone, Debug)]
pub struct JobScript {
    /// The `finishCode` the job ends with; `None`: it runs forever.
    pub finish_code: Option<u32>,
    /// Written with the end.
    pub notes: Option<String>,
    /// Reads answered "running" before the end shows.
    pub running_reads: u32,
    /// Time after the job's creation before the end shows. Both must pass.
    pub runs_for: Duration,
}

impl JobScript {
    /// Ends with `code` at the first read.
    pub fn finishes(code: u32) -> JobScript {
        JobScript {
            finish_code: Some(code),
            notes: None,
            running_reads: 0,
            runs_for: Duration::ZERO,
        }
    }

    /// Never ends.
    pub fn runs_forever() -> JobScript {
        JobScript {
            finish_code: None,
            ..JobScript::finishes(0)
        }
    }

    pub fn notes(mut self, notes: &str) -> JobScript {
        self.notes = Some(notes.into());
        self
    }

    pub fn after_reads(mut self, reads: u32) -> JobScript {
        self.running_reads = reads;
        self
    }

    pub fn after(mut self, time: Duration) -> JobScript {
        self.runs_for = time;
        self
    }
}

impl Default for JobScript {
    /// A refresh that succeeds at once, unless a test says otherwise.
    fn default() -> JobScript {
        JobScript::finishes(0)
    }
}

#[derive(Debug)]
pub struct FakeJob {
    /// "workbook", "datasource" or "flow".
    pub kind: &'static str,
    pub item_id: String,
    pub created: SystemTime,
    pub reads: u32,
    /// Cancel Job accepted: the job ends with finishCode 2 at the next read.
    pub cancelled: bool,
}

#[derive(Default)]
pub struct Jobs {
    pub jobs: HashMap<String, FakeJob>,
    /// By job id; jobs without one follow [`JobScript::default`].
    pub scripts: HashMap<String, JobScript>,
    /// By job id: a fixed error answer (status, Tableau's error document).
    pub errors: HashMap<String, (u16, Value)>,
    /// The next this-many job reads answer 429000.
    pub throttled_reads: u32,
    /// With the 429s: a Retry-After header (unverified that Tableau sends one).
    pub retry_after_header: Option<u64>,
    /// With the 429s: "Please retry after N minutes" in the detail.
    pub retry_after_minutes: Option<u32>,
    /// A server before REST API 3.25 (Tableau Server 2024.2 and older): a
    /// connected-app session can't read jobs whatever its scopes.
    pub before_3_25: bool,
    pub numbers_as_numbers: bool,
    /// Every Query Job request, answered or refused.
    pub reads: u32,
    /// Item names by id, for `extractRefreshJob`.
    pub names: HashMap<String, String>,
}

impl Jobs {
    /// The job a refresh of `item_id` (`kind`: "workbook" or "datasource")
    /// starts; a second refresh of the item starts it again.
    pub fn start(&mut self, kind: &'static str, item_id: &str) -> String {
        let id = format!("job-{item_id}");
        let job = FakeJob {
            kind,
            item_id: item_id.into(),
            created: SystemTime::now(),
            reads: 0,
            cancelled: false,
        };
        self.jobs.insert(id.clone(), job);
        id
    }

    fn number(&self, n: u64) -> Value {
        if self.numbers_as_numbers {
            json!(n)
        } else {
            json!(n.to_string())
        }
    }

    fn answer(&mut self, id: &str) -> ResponseTemplate {
        let script = self.scripts.get(id).cloned().unwrap_or_default();
        let Some(job) = self.jobs.get_mut(id) else {
            return tableau_error(
                404,
                "404031",
                "Not Found",
                &format!("Job '{id}' could not be found."),
            );
        };
        job.reads += 1;
        let (reads, created) = (job.reads, job.created);
        let (kind, item_id, cancelled) = (job.kind, job.item_id.clone(), job.cancelled);
        let ended = script.finish_code.filter(|_| {
            reads > script.running_reads && created.elapsed().unwrap_or_default() >= script.runs_for
        });
        let ended = if cancelled { Some(2) } else { ended };
        let flow = kind == "flow";
        let mut body = json!({
            "id": id, "mode": "Asynchronous",
            "type": if flow { "RunFlow" } else { "RefreshExtract" },
            "createdAt": utc(created),
        });
        // tableauserverclient's flow_refresh.xml: `runFlowJobType flowRunId` holding
        // `flow id name`; where a flow run's notes sit is not in any sample, so
        // they go there too (the crate reads notes wherever they are).
        let mut refresh = json!({kind: {"id": item_id, "name": self.names.get(&item_id)}});
        if flow {
            refresh["flowRunId"] = json!(format!("run-{item_id}"));
        }
        match ended {
            Some(code) => {
                body["progress"] = self.number(100);
                body["startedAt"] = json!(utc(created));
                body["completedAt"] = json!(utc(SystemTime::now()));
                body["finishCode"] = self.number(code.into());
                if let Some(notes) = script.notes.as_ref().filter(|_| !cancelled) {
                    refresh["notes"] = json!(notes);
                }
            }
            // Queued at the first read, running after.
            None if reads == 1 => body["progress"] = self.number(0),
            None => {
                body["progress"] = self.number(50);
                body["startedAt"] = json!(utc(created));
            }
        }
        body[if flow {
            "runFlowJobType"
        } else {
            "extractRefreshJob"
        }] = refresh;
        ResponseTemplate::new(200).set_body_json(json!({"job": body}))
    }

    fn throttled(&mut self) -> Option<ResponseTemplate> {
        if self.throttled_reads == 0 {
            return None;
        }
        self.throttled_reads -= 1;
        let detail = match self.retry_after_minutes {
            Some(n) => format!("Please retry after {n} minutes"),
            None => "Too many requests".into(),
        };
        let mut answer = tableau_error(429, "429000", "Too Many Requests", &detail);
        if let Some(seconds) = self.retry_after_header {
            answer = answer.insert_header("Retry-After", seconds.to_string().as_str());
        }
        Some(answer)
    }
}

fn utc(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at)
        .replace_nanosecond(0)
        .unwrap();
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub(super) struct QueryJob(pub(super) Arc<Mutex<State>>);

impl Respond for QueryJob {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        state.jobs.reads += 1;
        if !authorized(&state, request) {
            return unauthorized();
        }
        let jwt_session = request
            .headers
            .get("x-tableau-auth")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|token| state.jwt_sessions.contains_key(token));
        if jwt_session && state.jobs.before_3_25 {
            return unauthorized();
        }
        if let Some(refusal) = out_of_scope(&state, request, SCOPE_JOBS) {
            return refusal;
        }
        if let Some(busy) = state.jobs.throttled() {
            return busy;
        }
        let id = request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        if let Some((status, body)) = state.jobs.errors.get(&id) {
            return ResponseTemplate::new(*status).set_body_json(body);
        }
        state.jobs.answer(&id)
    }
}

impl FakeTableau {
    pub fn script_job(&self, job_id: &str, script: JobScript) {
        let mut state = self.state.lock().unwrap();
        state.jobs.scripts.insert(job_id.into(), script);
    }

    /// A job as if a refresh of `item_id` had started it (no refresh request).
    pub fn add_job(&self, kind: &'static str, item_id: &str, script: JobScript) -> String {
        let mut state = self.state.lock().unwrap();
        let id = state.jobs.start(kind, item_id);
        state.jobs.scripts.insert(id.clone(), script);
        id
    }

    pub fn job_error(&self, job_id: &str, status: u16, code: &str, summary: &str, detail: &str) {
        let body = json!({"error": {"summary": summary, "detail": detail, "code": code}});
        let mut state = self.state.lock().unwrap();
        state.jobs.errors.insert(job_id.into(), (status, body));
    }

    pub fn job_reads(&self) -> u32 {
        self.state.lock().unwrap().jobs.reads
    }
}
