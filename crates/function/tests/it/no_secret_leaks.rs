//! No secret in any log line or answer: the main scenarios through the whole
//! handler with the real Tableau client against the fake, every log line at
//! TRACE captured, our crate's and the libraries' (reqwest and hyper-util log at
//! TRACE/DEBUG; `log` records are bridged into tracing), then searched for the
//! webhook key, the PAT secrets, the fake's session tokens, every signature and
//! the dbt Cloud token (exposure entries, dbt Cloud's refusals echoing it).
//!
//! The subscriber is global (this test binary holds this one test) so that
//! records from any thread and from the `log` crate are caught. Lines from
//! `wiremock` are the fake Tableau's own (it prints unexpected requests with
//! their headers) and are left out: they are not the function's.

use crate::common;
use crate::exposures_harness;
use dbt_tableau_testkit::fake_dbt_cloud;
use dbt_tableau_testkit::fake_tableau;

use common::{DEMO_KEY, FixedSecrets, LogCapture, invoke, sample_event, settings};
use dbt_tableau_refresh::function_url::FunctionUrlRequest;
use dbt_tableau_refresh::handler::WebhookHandler;
use fake_tableau::{FakeTableau, item};
use serde_json::json;
use std::sync::Arc;
use tracing_subscriber::util::SubscriberInitExt;

const WRONG_PAT_SECRET: &str = "wrong-pat-secret-7c1d";
const TARGETS: &str = r#"[{"workbook":"Sales","project":"Finance","jobs":["123"]}]"#;

fn container(fake: &FakeTableau, pairs: &[(&str, &str)], pat_secret: &str) -> WebhookHandler {
    let uri = fake.server.uri();
    common::handler(
        settings(pairs),
        FixedSecrets::new(&[
            ("DBT_WEBHOOK_KEY", DEMO_KEY),
            ("TABLEAU_SITE_URL", &uri),
            ("TABLEAU_SITE_NAME", fake_tableau::SITE),
            ("TABLEAU_API_TOKEN_NAME", fake_tableau::PAT_NAME),
            ("TABLEAU_API_TOKEN_SECRET", pat_secret),
        ]),
        Arc::new(fake.refresher()),
    )
}

#[tokio::test]
async fn no_secret_in_any_log_line_or_answer_at_trace_level() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
        .try_init()
        .expect("the only subscriber of this test binary");

    let fake = FakeTableau::start(vec![item("wb-sales", "Sales", "Finance")], vec![]).await;
    let normal = container(
        &fake,
        &[("REFRESH_TARGETS", TARGETS)],
        fake_tableau::PAT_SECRET,
    );
    let missing = container(
        &fake,
        &[(
            "REFRESH_TARGETS",
            r#"[{"workbook":"No Such Workbook","jobs":["123"]}]"#,
        )],
        fake_tableau::PAT_SECRET,
    );
    let bad_pat = container(&fake, &[("REFRESH_TARGETS", TARGETS)], WRONG_PAT_SECRET);
    let dry = container(
        &fake,
        &[("REFRESH_TARGETS", TARGETS), ("DRY_RUN", "true")],
        fake_tableau::PAT_SECRET,
    );

    let mut signatures = Vec::new();
    let mut answers = String::new();
    let mut run = async |name: &str,
                         handler: &WebhookHandler,
                         event: FunctionUrlRequest,
                         want: (i64, &str, Option<&str>)| {
        if let Some(sig) = event.headers.get("authorization") {
            signatures.push(sig.to_str().unwrap().to_owned());
        }
        let (status, answer) = invoke(handler, &event).await;
        let result = answer["targets"][0]["result"].as_str();
        assert_eq!(
            (status, answer["status"].as_str().unwrap(), result),
            want,
            "{name}: {answer}"
        );
        answers.push_str(&answer.to_string());
        answers.push('\n');
    };

    let succeeded = || sample_event("run-succeeded.json");
    run(
        "success",
        &normal,
        succeeded(),
        (200, "queued", Some("queued")),
    )
    .await;
    run(
        "success, base64 body",
        &normal,
        sample_event("run-succeeded-base64.json"),
        (200, "queued", Some("queued")),
    )
    .await;
    fake.answer_refresh(
        "wb-sales",
        409,
        json!({"error": {"summary": "Resource Conflict", "code": "409093",
                         "detail": "Job for 'wb-sales' is already queued. Not queuing a duplicate."}}),
    );
    run(
        "already queued",
        &normal,
        succeeded(),
        (200, "queued", Some("already_queued")),
    )
    .await;
    fake.state.lock().unwrap().refresh_answers.clear();
    fake.state.lock().unwrap().end_session_on_next_queries = 1;
    run(
        "401 mid-flight, signed in again",
        &normal,
        succeeded(),
        (200, "queued", Some("queued")),
    )
    .await;
    fake.state.lock().unwrap().end_session_on_next_queries = 100;
    run(
        "session ended on every call",
        &normal,
        succeeded(),
        (502, "failed", Some("failed")),
    )
    .await;
    fake.state.lock().unwrap().end_session_on_next_queries = 0;
    run(
        "lookup finds nothing",
        &missing,
        succeeded(),
        (200, "failed", Some("failed")),
    )
    .await;
    run(
        "sign-in refused",
        &bad_pat,
        succeeded(),
        (200, "failed", Some("failed")),
    )
    .await;
    run(
        "bad signature",
        &normal,
        sample_event("bad-signature.json"),
        (401, "unauthorized", None),
    )
    .await;
    run(
        "run errored",
        &normal,
        sample_event("run-errored.json"),
        (200, "ignored", None),
    )
    .await;
    run(
        "dry run",
        &dry,
        succeeded(),
        (200, "dry_run", Some("dry_run")),
    )
    .await;

    // Exposure entries: the dbt Cloud token goes to dbt Cloud and nowhere else,
    // also when dbt Cloud (or a proxy) echoes it back in a refusal.
    let exposures = &[("REFRESH_TARGETS", r#"[{"exposures": true}]"#)];
    let tableau = exposures_harness::tableau().await;
    let cloud = exposures_harness::cloud_one_build("build", 20).await;
    let token = Some(fake_dbt_cloud::TOKEN);
    let errored = || exposures_harness::completed_event(20);
    let with_cloud = |cloud: &fake_dbt_cloud::FakeDbtCloud, settings, token| {
        exposures_harness::container(&tableau, cloud, settings, token)
    };
    let resolving = with_cloud(&cloud, exposures, token);
    run(
        "exposures",
        &resolving,
        errored(),
        (200, "failed", Some("queued")),
    )
    .await;
    let dry_settings = &[exposures[0], ("DRY_RUN", "true")];
    let dry_exposures = with_cloud(&cloud, dry_settings, token);
    let want = (200, "dry_run", Some("dry_run"));
    run("exposures, dry run", &dry_exposures, errored(), want).await;
    let unknown_run = exposures_harness::completed_event_for(20, "271828");
    run(
        "unknown run",
        &resolving,
        unknown_run,
        (200, "failed", None),
    )
    .await;
    let no_token = with_cloud(&cloud, exposures, None);
    run(
        "no dbt Cloud token",
        &no_token,
        errored(),
        (200, "failed", None),
    )
    .await;
    for (status, http) in [(401, 200), (403, 200), (503, 502)] {
        let echoing = exposures_harness::cloud_one_build("build", 20).await;
        echoing.refuse_echoing_the_token(status).await;
        let handler = with_cloud(&echoing, exposures, token);
        let name = format!("dbt Cloud {status} echoing the token");
        run(&name, &handler, errored(), (http, "failed", None)).await;
    }

    let logs = capture.text();
    let ours: Vec<&str> = logs
        .lines()
        .filter(|line| !line.contains(" wiremock::") && !line.contains(" wiremock:"))
        .collect();
    // The capture did catch the libraries' chatter, or this test proves nothing.
    for library in ["reqwest", "hyper_util", "dbt_tableau_engine"] {
        assert!(
            ours.iter().any(|l| l.contains(&format!(" {library}::"))),
            "no {library} line captured:\n{logs}"
        );
    }
    assert!(
        ours.iter().any(|l| l.contains("TRACE")),
        "no TRACE line:\n{logs}"
    );
    assert!(
        ours.iter().any(|l| l.contains("dbt Cloud call failed")),
        "no dbt Cloud retry logged:\n{logs}"
    );
    let tokens_issued = fake.state.lock().unwrap().sign_ins;
    assert!(tokens_issued >= 5, "{tokens_issued} sessions");
    let mut secrets = vec![
        DEMO_KEY.to_owned(),
        fake_tableau::PAT_SECRET.to_owned(),
        common::PAT_SECRET.to_owned(),
        WRONG_PAT_SECRET.to_owned(),
        // Every token the fake issued is "session-token-<n>".
        "session-token".to_owned(),
        fake_dbt_cloud::TOKEN.to_owned(),
        // The token's distinctive part, in case an echo is cut or re-encoded.
        "fake-service-token".to_owned(),
    ];
    signatures.sort();
    signatures.dedup();
    assert!(signatures.len() >= 3, "{signatures:?}");
    secrets.extend(signatures);
    for secret in &secrets {
        for line in &ours {
            assert!(!line.contains(secret.as_str()), "{secret:?} logged: {line}");
        }
        assert!(
            !answers.contains(secret.as_str()),
            "{secret:?} in an answer: {answers}"
        );
    }
    println!(
        "no-leak check: {} log lines ({} from the fake left out), {} answers, {} secrets searched",
        ours.len(),
        logs.lines().count() - ours.len(),
        answers.lines().count(),
        secrets.len()
    );
}
