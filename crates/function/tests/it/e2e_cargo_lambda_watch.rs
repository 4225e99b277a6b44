//! End to end: the real binary under `cargo lambda watch` (the local Lambda
//! emulator), its Function URL path over HTTP, the secret in moto_server and the
//! fake Tableau. ./scripts/test.sh puts cargo-lambda on PATH and starts moto.

use crate::common;
use dbt_tableau_testkit::fake_tableau;

use common::moto::{create_secret, moto_endpoint, unique};
use common::{DEMO_KEY, sample_body};
use dbt_tableau_engine::webhook::signature::sign;
use fake_tableau::*;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the whole process group (cargo lambda, cargo, the function) on drop.
struct Watch {
    child: Child,
    url: String,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_watch(env: &[(&str, String)]) -> Watch {
    let has_cargo_lambda = Command::new("cargo")
        .args(["lambda", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_cargo_lambda,
        "cargo-lambda is not on PATH: run ./scripts/test.sh, which installs it into .venv"
    );
    let port = free_port();
    let mut command = Command::new("cargo");
    command
        .args([
            "lambda",
            "watch",
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DRY_RUN")
        .env_remove("TABLEAU_API_VERSION")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint())
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdin(Stdio::null())
        .process_group(0);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().expect("start cargo lambda watch");
    Watch {
        child,
        url: format!("http://127.0.0.1:{port}/lambda-url/dbt-tableau-refresh/"),
    }
}

/// Posts until the emulator answers: the first request builds and starts the function.
async fn post(
    http: &reqwest::Client,
    watch: &Watch,
    body: &[u8],
    content_type: &str,
    signature: &str,
) -> (u16, Value) {
    let give_up = Instant::now() + Duration::from_secs(300);
    loop {
        let sent = http
            .post(&watch.url)
            .header("content-type", content_type)
            .header("authorization", signature)
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                let json = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
                return (status, json);
            }
            Err(e) if Instant::now() < give_up => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("cargo lambda watch never answered: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_binary_answers_webhooks_under_cargo_lambda_watch() {
    let fake = kpi_fake().await;
    let secret = unique("e2e-watch");
    create_secret(&secret, &fake.secret_json(DEMO_KEY)).await;
    let watch = start_watch(&[
        ("SECRET_ID", secret),
        (
            "REFRESH_TARGETS",
            r#"[{"workbook":"Weekly KPIs","jobs":["123"]},{"datasource":"Orders"}]"#.into(),
        ),
    ]);
    // reqwest is built without a crypto provider of its own (Cargo.toml).
    dbt_tableau_engine::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let body = sample_body("run-succeeded.json");
    let signature = sign(DEMO_KEY.as_bytes(), body.as_bytes());

    // The first request builds and starts the function, which can take longer than
    // the deadline the emulator counts from the request's arrival: warm up with a
    // request that needs no dependency (no signature: 401).
    let (status, _) = post(&http, &watch, body.as_bytes(), "application/json", "").await;
    assert_eq!(status, 401);

    // JSON bodies arrive as text.
    let (status, answer) = post(
        &http,
        &watch,
        body.as_bytes(),
        "application/json",
        &signature,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "queued");
    let results: Vec<(&str, &str)> = answer["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["result"].as_str().unwrap()))
        .collect();
    assert_eq!(results, [("wb-kpi", "queued"), ("ds-orders", "queued")]);

    // Other content types arrive base64-encoded: the signature covers the decoded bytes.
    let (status, answer) = post(
        &http,
        &watch,
        body.as_bytes(),
        "application/octet-stream",
        &signature,
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("queued")),
        "{answer}"
    );

    // A forged delivery: 401 and no Tableau request.
    let before = fake.server.received_requests().await.unwrap().len();
    let (status, answer) = post(
        &http,
        &watch,
        body.as_bytes(),
        "application/json",
        &"0".repeat(64),
    )
    .await;
    assert_eq!((status, answer), (401, json!({"status":"unauthorized"})));
    assert_eq!(fake.server.received_requests().await.unwrap().len(), before);

    // What Tableau received: two sign-ins with the PAT from the secret, a refresh per
    // target per delivery, every session signed out.
    assert_eq!(fake.count("POST", "/auth/signin").await, 2);
    assert_eq!(fake.count("POST", "/refresh").await, 4);
    assert_eq!(fake.count("POST", "/auth/signout").await, 2);
    let sign_in: Value =
        serde_json::from_slice(&fake.requests("POST", "/auth/signin").await[0].body).unwrap();
    assert_eq!(sign_in["credentials"]["personalAccessTokenName"], PAT_NAME);
}

/// The README's local run, `scripts/run-local.sh`, with `.env.example` as its
/// `.env`: the file's values survive bash's `source` (REFRESH_TARGETS stays JSON)
/// and leave DRY_RUN to the script, so the sample event is a dry run of the file's
/// one target with no Tableau call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_run_starts_with_env_example_as_its_env_file() {
    let port = free_port();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut command = Command::new("bash");
    command
        .arg("scripts/run-local.sh")
        .current_dir(root)
        .env("ENV_FILE", ".env.example")
        .env("PORT", port.to_string())
        .env_remove("DRY_RUN")
        .env_remove("REFRESH_TARGETS")
        .env_remove("DBT_WEBHOOK_KEY")
        .env_remove("SECRET_ID")
        .stdin(Stdio::null())
        .process_group(0);
    let watch = Watch {
        child: command.spawn().expect("start scripts/run-local.sh"),
        url: format!("http://127.0.0.1:{port}/lambda-url/dbt-tableau-refresh/"),
    };
    dbt_tableau_engine::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let body = sample_body("run-succeeded.json");
    let (status, _) = post(&http, &watch, body.as_bytes(), "application/json", "").await;
    assert_eq!(status, 401, "an unsigned request is refused");

    let signature = sign(DEMO_KEY.as_bytes(), body.as_bytes());
    let (status, answer) = post(
        &http,
        &watch,
        body.as_bytes(),
        "application/json",
        &signature,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "dry_run", "{answer}");
    let targets = answer["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 1, "{answer}");
    assert_eq!(targets[0]["name"], "Sales Overview", "{answer}");
    assert_eq!(targets[0]["project"], "Finance", "{answer}");
}
