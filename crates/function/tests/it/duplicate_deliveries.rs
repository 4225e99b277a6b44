//! dbt Cloud retries a delivery up to 5 times, so the same signed event can
//! arrive twice. The whole handler with the real Tableau client against the fake:
//! Tableau answers the second refresh of an item still queued with 409093, and
//! the second delivery reports `already_queued` with 200 `queued`.

use crate::common;
use dbt_tableau_testkit::fake_tableau;

use common::{FixedSecrets, invoke, sample_event, settings};
use dbt_tableau_refresh::handler::WebhookHandler;
use fake_tableau::{FakeTableau, SITE_ID, VERSION, item, tableau_error};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

/// Refresh as Tableau does it: the first request for an item queues a job, the
/// next ones meet it queued (the job never starts here). Checks the session
/// token like the fake's own refresh.
struct QueueOnce {
    fake: Arc<Mutex<fake_tableau::State>>,
    queued: Mutex<HashSet<String>>,
}

impl Respond for QueueOnce {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let live = self.fake.lock().unwrap().live_token.clone();
        let sent = request
            .headers
            .get("x-tableau-auth")
            .and_then(|v| v.to_str().ok());
        if sent.is_none() || sent != live.as_deref() {
            return tableau_error(401, "401002", "Unauthorized Access", "Invalid credentials");
        }
        let segments: Vec<&str> = request.url.path().split('/').collect();
        let id = segments[segments.len() - 2].to_owned();
        if !self.queued.lock().unwrap().insert(id.clone()) {
            return tableau_error(
                409,
                "409093",
                "Resource Conflict",
                &format!("Job for '{id}' is already queued. Not queuing a duplicate."),
            );
        }
        ResponseTemplate::new(202).set_body_json(json!({"job": {
            "id": format!("job-{id}"), "mode": "Asynchronous", "type": "RefreshExtract"}}))
    }
}

async fn queueing_fake() -> FakeTableau {
    let fake = FakeTableau::start(
        vec![
            item("wb-sales", "Sales", "Finance"),
            item("wb-kpi", "Weekly KPIs", "Ops"),
        ],
        vec![],
    )
    .await;
    Mock::given(method("POST"))
        .and(path_regex(format!(
            "^/api/{VERSION}/sites/{SITE_ID}/workbooks/[^/]+/refresh$"
        )))
        .respond_with(QueueOnce {
            fake: fake.state.clone(),
            queued: Mutex::default(),
        })
        .with_priority(1)
        .mount(&fake.server)
        .await;
    fake
}

/// A container: the handler with the real refresher, secrets aligned with the fake.
fn container(fake: &FakeTableau) -> WebhookHandler {
    let uri = fake.server.uri();
    common::handler(
        settings(&[(
            "REFRESH_TARGETS",
            r#"[{"workbook":"Sales","project":"Finance","jobs":["123"]},{"workbook":"Weekly KPIs","jobs":["123"]}]"#,
        )]),
        FixedSecrets::new(&[
            ("DBT_WEBHOOK_KEY", common::DEMO_KEY),
            ("TABLEAU_SITE_URL", &uri),
            ("TABLEAU_SITE_NAME", fake_tableau::SITE),
            ("TABLEAU_API_TOKEN_NAME", fake_tableau::PAT_NAME),
            ("TABLEAU_API_TOKEN_SECRET", fake_tableau::PAT_SECRET),
        ]),
        Arc::new(fake.refresher()),
    )
}

fn results(answer: &Value) -> Vec<(&str, &str)> {
    answer["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["result"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn the_same_event_delivered_twice_is_queued_then_already_queued() {
    let fake = queueing_fake().await;
    let handler = container(&fake);
    let event = sample_event("run-succeeded.json");

    let (status, first) = invoke(&handler, &event).await;
    assert_eq!(
        (status, first["status"].as_str()),
        (200, Some("queued")),
        "{first}"
    );
    assert_eq!(
        results(&first),
        [("Sales", "queued"), ("Weekly KPIs", "queued")]
    );
    assert_eq!(first["targets"][0]["job_id"], "job-wb-sales");

    // dbt's retry: same body, same signature, same container.
    let (status, second) = invoke(&handler, &event).await;
    assert_eq!(
        (status, second["status"].as_str()),
        (200, Some("queued")),
        "{second}"
    );
    assert_eq!(
        results(&second),
        [
            ("Sales", "already_queued"),
            ("Weekly KPIs", "already_queued")
        ]
    );
    for target in second["targets"].as_array().unwrap() {
        assert_eq!(target["error"], Value::Null, "{target}");
        assert_eq!(target["job_id"], Value::Null, "{target}");
        assert!(target["id"].is_string(), "{target}");
    }
    assert_eq!(fake.count("POST", "/refresh").await, 4);
    assert_eq!(fake.count("POST", "/auth/signout").await, 2);
}

/// The retry lands on another container while the first delivery still runs:
/// same PAT, so the two also end each other's sessions.
#[tokio::test]
async fn the_same_event_delivered_to_two_containers_at_once_both_answer_queued() {
    let fake = queueing_fake().await;
    let (a, b) = (container(&fake), container(&fake));
    let event = sample_event("run-succeeded.json");
    let ((status_a, answer_a), (status_b, answer_b)) =
        tokio::join!(invoke(&a, &event), invoke(&b, &event));
    assert_eq!(
        (status_a, answer_a["status"].as_str()),
        (200, Some("queued")),
        "{answer_a}"
    );
    assert_eq!(
        (status_b, answer_b["status"].as_str()),
        (200, Some("queued")),
        "{answer_b}"
    );
    // Each item is queued once, by one of the two; the other finds it queued.
    for name in ["Sales", "Weekly KPIs"] {
        let mut seen: Vec<&str> = results(&answer_a)
            .into_iter()
            .chain(results(&answer_b))
            .filter(|(n, _)| *n == name)
            .map(|(_, r)| r)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, ["already_queued", "queued"], "{name}");
    }
    assert_eq!(
        fake.state.lock().unwrap().live_token,
        None,
        "no session left"
    );
}
