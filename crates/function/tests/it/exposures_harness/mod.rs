//! What the exposure whole-path tests share: the real dbt artifacts of
//! tests/artifacts/ served by the fake dbt Cloud the way a job's steps write
//! them, a fake Tableau holding every item the artifacts' exposures name,
//! signed `job.run.completed` events for that run, and a check of an answer
//! against the set's expected_decision.json (the rule written plainly in
//! Python), so that no test carries a hand-copied list of items.
#![allow(dead_code)]

use crate::common::{self, DEMO_KEY, FixedSecrets};
use dbt_tableau_engine::dbt_cloud::DbtCloud;
use dbt_tableau_engine::resolve::ExposureResolver;
use dbt_tableau_engine::resolve::cloud::DbtCloudResolver;
use dbt_tableau_refresh::function_url::FunctionUrlRequest;
use dbt_tableau_refresh::handler::WebhookHandler;
use dbt_tableau_testkit::fake_dbt_cloud::{ACCOUNT, FakeDbtCloud, RUN, step};
use dbt_tableau_testkit::fake_tableau::{self, FakeTableau, Item, item};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

pub fn set(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/artifacts")
        .join(name)
}

pub fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(set(name).join("expected_decision.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A signed `job.run.completed` for run [`RUN`] of account [`ACCOUNT`] (the
/// fake's), from the errored sample body (`status` 20) or the succeeded one (10).
pub fn completed_event(status: u32) -> FunctionUrlRequest {
    completed_event_for(status, RUN)
}

pub fn completed_event_for(status: u32, run_id: &str) -> FunctionUrlRequest {
    let sample = if status == 10 {
        "run-succeeded.json"
    } else {
        "run-errored.json"
    };
    let mut body: Value = serde_json::from_str(&common::sample_body(sample)).unwrap();
    assert_eq!(body["data"]["runStatusCode"], status, "{sample}");
    // dbt Cloud sends job.run.completed for every finished run, errored too.
    body["eventType"] = "job.run.completed".into();
    body["accountId"] = ACCOUNT.parse::<u64>().unwrap().into();
    body["data"]["runId"] = run_id.into();
    common::event_with_body(&serde_json::to_vec(&body).unwrap(), DEMO_KEY)
}

/// A job of one `dbt build` (set `build` or `success`) after dbt Cloud's clone
/// and profile steps; the build step wrote both artifacts.
pub async fn cloud_one_build(name: &str, run_status: u32) -> FakeDbtCloud {
    let fake = FakeDbtCloud::start(
        run_status,
        vec![
            step("Clone git repository", 10),
            step("Create profile from connection Warehouse", 10),
            step("Invoke dbt with `dbt build`", run_status),
        ],
    )
    .await;
    fake.serve_file("manifest.json", 3, &set(name).join("manifest.json"));
    fake.serve_file("run_results.json", 3, &set(name).join("run_results.json"));
    fake
}

/// The `steps` set as a job of separate commands: seed, run (errors), test
/// (fails), then docs generate, whose results list every node as success and
/// whose manifest is the run's last.
pub async fn cloud_steps() -> FakeDbtCloud {
    let fake = FakeDbtCloud::start(
        20,
        vec![
            step("Clone git repository", 10),
            step("Create profile from connection Warehouse", 10),
            step("Invoke dbt with `dbt seed`", 10),
            step("Invoke dbt with `dbt run`", 20),
            step("Invoke dbt with `dbt test`", 20),
            step("Invoke dbt with `dbt docs generate`", 10),
        ],
    )
    .await;
    let dir = set("steps");
    for (n, file) in [
        (3, "step1_seed.json"),
        (4, "step2_run.json"),
        (5, "step3_test.json"),
        (6, "step4_docs.json"),
    ] {
        fake.serve_file("run_results.json", n, &dir.join(file));
    }
    fake.serve_file("manifest.json", 6, &dir.join("manifest.json"));
    fake
}

/// Every Tableau item named by a well-formed exposure of the sets' manifests
/// (the untouched ones' too, so that refreshing one by mistake shows as a
/// request), by name with an id made from it, or by LUID. Refreshing an id
/// the fake doesn't hold answers Tableau's 404.
pub async fn tableau() -> FakeTableau {
    let (workbooks, datasources) = catalogue();
    let fake = FakeTableau::with_flows(workbooks, datasources, catalogue_of("flow")).await;
    fake.state.lock().unwrap().known_ids_only = true;
    fake
}

pub fn catalogue() -> (Vec<Item>, Vec<Item>) {
    (catalogue_of("workbook"), catalogue_of("datasource"))
}

/// The catalogue's items of one kind: "workbook", "datasource" or "flow".
pub fn catalogue_of(kind: &str) -> Vec<Item> {
    let mut items: BTreeMap<(String, String), Item> = BTreeMap::new();
    for name in ["build", "steps", "success"] {
        let text = std::fs::read_to_string(set(name).join("manifest.json")).unwrap();
        let manifest: Value = serde_json::from_str(&text).unwrap();
        for exposure in manifest["exposures"].as_object().unwrap().values() {
            let meta = match &exposure["config"]["meta"]["tableau"] {
                Value::Null => &exposure["meta"]["tableau"],
                meta => meta,
            };
            let list = match meta {
                Value::Array(list) => list.clone(),
                one => vec![one.clone()],
            };
            // A malformed exposure's valid items stay out: "Sales" in
            // "Finance" would make the sales_overview's "Sales" ambiguous.
            let parsed: Option<Vec<(String, Item)>> = list.iter().map(catalogue_item).collect();
            for (kind, it) in parsed.unwrap_or_default() {
                items.insert((kind, it.id.clone()), it);
            }
        }
    }
    items
        .iter()
        .filter(|((k, _), _)| k == kind)
        .map(|(_, it)| it.clone())
        .collect()
}

/// One `meta.tableau` object as the fake's item: `None` unless it names
/// exactly one item.
fn catalogue_item(entry: &Value) -> Option<(String, Item)> {
    let entry = entry.as_object()?;
    let keys = [
        "workbook",
        "datasource",
        "flow",
        "workbook_id",
        "datasource_id",
        "flow_id",
    ];
    let named: Vec<&str> = keys
        .into_iter()
        .filter(|k| entry.contains_key(*k))
        .collect();
    let [key] = named[..] else { return None };
    let value = entry[key].as_str()?;
    let kind = key.trim_end_matches("_id").to_owned();
    let project = entry.get("project").and_then(Value::as_str);
    let it = if key.ends_with("_id") {
        item(value, &format!("Item {value}"), "Anywhere")
    } else {
        let id = fake_id(&kind, value, project);
        item(&id, value, project.unwrap_or("Default"))
    };
    Some((kind, it))
}

/// The fake's LUID for an item named `name` in `project`.
pub fn fake_id(kind: &str, name: &str, project: Option<&str>) -> String {
    let slug: String = format!("{name} {}", project.unwrap_or(""))
        .trim()
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '-',
        })
        .collect();
    let prefix = match kind {
        "workbook" => "wb",
        "flow" => "flow",
        _ => "ds",
    };
    format!("{prefix}-{slug}")
}

/// The resolver the function builds, pointed at the fake dbt Cloud.
pub fn resolver(cloud: &FakeDbtCloud) -> Arc<dyn ExposureResolver> {
    let client = DbtCloud::new(DbtCloud::default_http().unwrap(), &cloud.uri()).unwrap();
    Arc::new(DbtCloudResolver::new(client))
}

/// The secret's keys pointing at the fakes; `token` is DBT_CLOUD_API_TOKEN.
pub fn secrets(tableau: &FakeTableau, token: Option<&str>) -> Arc<FixedSecrets> {
    let uri = tableau.uri();
    let mut pairs = vec![
        ("DBT_WEBHOOK_KEY", DEMO_KEY),
        ("TABLEAU_SITE_URL", uri.as_str()),
        ("TABLEAU_SITE_NAME", fake_tableau::SITE),
        ("TABLEAU_API_TOKEN_NAME", fake_tableau::PAT_NAME),
        ("TABLEAU_API_TOKEN_SECRET", fake_tableau::PAT_SECRET),
    ];
    if let Some(token) = token {
        pairs.push(("DBT_CLOUD_API_TOKEN", token));
    }
    FixedSecrets::new(&pairs)
}

/// The function's handler as main.rs builds it, with `settings` and the fakes.
pub fn container(
    tableau: &FakeTableau,
    cloud: &FakeDbtCloud,
    settings: &[(&str, &str)],
    token: Option<&str>,
) -> WebhookHandler {
    common::handler(
        common::settings(settings),
        secrets(tableau, token),
        Arc::new(tableau.refresher()),
    )
    .with_resolver(Ok(resolver(cloud)))
}

/// How an item reads in an answer element or in expected_decision.json: kind
/// and name and project, or kind and LUID for an item named by its id.
pub fn key(v: &Value) -> String {
    let kind = v["kind"].as_str().unwrap_or("?");
    match v["name"].as_str() {
        Some(name) => format!("{kind} {name:?} in {}", v["project"]),
        None => format!("{kind} id {}", v["id"]),
    }
}

/// The Tableau id a refresh of an expected item POSTs to.
pub fn refresh_path(v: &Value) -> String {
    let kind = v["kind"].as_str().unwrap();
    let id = match v["name"].as_str() {
        Some(name) => fake_id(kind, name, v["project"].as_str()),
        None => v["id"].as_str().unwrap().to_owned(),
    };
    format!("{kind}s/{id}")
}

/// `workbooks/<id>` for every refresh POST the fake Tableau received, sorted.
pub async fn refresh_posts(tableau: &FakeTableau) -> Vec<String> {
    // A flow's is Run Flow Now: `flows/<id>/run`.
    let mut requests = tableau.requests("POST", "/refresh").await;
    requests.extend(tableau.requests("POST", "/run").await);
    let mut posts: Vec<String> = requests
        .iter()
        .map(|r| {
            let segments: Vec<&str> = r.url.path().rsplit('/').skip(1).take(2).collect();
            format!("{}/{}", segments[1], segments[0])
        })
        .collect();
    posts.sort();
    posts
}

/// The POSTs a run deciding as `expected` makes: one per refreshed item.
pub fn expected_posts(expected: &Value) -> Vec<String> {
    let mut posts: Vec<String> = refreshes(expected).iter().map(refresh_path).collect();
    posts.sort();
    posts
}

pub fn refreshes(expected: &Value) -> Vec<Value> {
    expected["refresh"].as_array().unwrap().clone()
}

/// Holds the answer's `targets` that name an exposure to the expected
/// decision: exactly the fresh items with `result` (each once, named by its
/// first exposure), each item of a blocked exposure `skipped` naming a
/// blocking node, each malformed exposure `failed` with kind null. Returns the
/// other elements (direct entries) for the caller to check.
pub fn assert_decision(answer: &Value, expected: &Value, result: &str) -> Vec<Value> {
    let all = answer["targets"].as_array().expect("targets");
    let (elements, direct): (Vec<Value>, Vec<Value>) =
        all.iter().cloned().partition(|e| e["exposure"].is_string());
    let with = |r: &str| -> Vec<&Value> { elements.iter().filter(|e| e["result"] == r).collect() };

    let refreshed = with(result);
    let mut seen = BTreeSet::new();
    for element in &refreshed {
        assert!(seen.insert(key(element)), "twice: {element}\n{answer}");
    }
    let want: BTreeMap<String, &Value> = expected["refresh"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (key(item), item))
        .collect();
    let got_keys: BTreeSet<String> = refreshed.iter().map(|e| key(e)).collect();
    let want_keys: BTreeSet<String> = want.keys().cloned().collect();
    assert_eq!(got_keys, want_keys, "{result} items\n{answer}");
    for element in &refreshed {
        let item = want[&key(element)];
        assert_eq!(element["exposure"], item["exposures"][0], "{element}");
        // "incremental": true where the exposure asked for it, absent elsewhere.
        assert_eq!(element["incremental"], item["incremental"], "{element}");
        assert!(element["error"].is_null(), "{element}");
        if result == "queued" {
            assert!(element["job_id"].is_string(), "{element}");
            let path = refresh_path(item);
            assert_eq!(element["id"].as_str(), path.split('/').nth(1), "{element}");
        }
    }

    let skipped = with("skipped");
    let mut want_skipped = BTreeMap::new();
    for skip in expected["skipped"].as_array().unwrap() {
        for item in skip["items"].as_array().unwrap() {
            want_skipped.entry(key(item)).or_insert(skip);
        }
    }
    let got: BTreeSet<String> = skipped.iter().map(|e| key(e)).collect();
    let want_keys: BTreeSet<String> = want_skipped.keys().cloned().collect();
    assert_eq!(got, want_keys, "skipped items\n{answer}");
    for element in &skipped {
        let skip = want_skipped[&key(element)];
        assert_eq!(element["exposure"], skip["exposure"], "{element}");
        assert!(element["job_id"].is_null(), "{element}");
        let error = element["error"].as_str().unwrap_or_default();
        let names_a_blocker = skip["blocked_by"].as_array().unwrap().iter().any(|b| {
            error.contains(b["node"].as_str().unwrap())
                && error.contains(b["status"].as_str().unwrap())
        });
        assert!(names_a_blocker, "{element} against {skip}");
    }

    let malformed: Vec<&Value> = elements.iter().filter(|e| e["kind"].is_null()).collect();
    let got: BTreeSet<&str> = malformed
        .iter()
        .map(|e| e["exposure"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = expected["malformed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["exposure"].as_str().unwrap())
        .collect();
    assert_eq!(got, want, "malformed exposures\n{answer}");
    for element in &malformed {
        assert_eq!(element["result"], "failed", "{element}");
        let error = element["error"].as_str().unwrap_or_default();
        assert!(error.contains("meta.tableau"), "{element}");
    }
    assert_eq!(
        elements.len(),
        refreshed.len() + skipped.len() + malformed.len(),
        "{answer}"
    );
    direct
}
