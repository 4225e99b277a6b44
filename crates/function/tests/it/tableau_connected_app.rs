//! Connected-app (direct trust) JWT sign-in against the fake Tableau, which
//! verifies each JWT independently (signature, header, claims, expiry, scopes),
//! and the choice between a PAT and a connected app through the handler.

use crate::common;
use dbt_tableau_testkit::fake_tableau;

use common::{DEMO_KEY, FixedSecrets, LogCapture, RecordingRefresher, invoke, sample_event};
use dbt_tableau_engine::answer::RefreshResult;
use dbt_tableau_engine::tableau::TableauRefresher;
use dbt_tableau_engine::tableau::jwt::Minter;
use fake_tableau::*;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn sign_in_bodies_hold_no_secret(bodies: &[String]) {
    for body in bodies {
        assert!(!body.contains(APP_SECRET_VALUE), "{body}");
    }
}

#[tokio::test]
async fn a_good_jwt_signs_in_refreshes_and_signs_out() {
    let fake = small_fake().await;
    let logs = LogCapture::default();
    let _guard = logs.install();
    let reports = fake
        .run_as(
            &fake.refresher(),
            &fake.app_access(),
            &[
                workbook("Weekly KPIs", None),
                datasource("Orders", Some("Data")),
            ],
            BUDGET,
        )
        .await;
    for report in &reports {
        assert_eq!(report.result, RefreshResult::Queued, "{reports:?}");
    }
    {
        let state = fake.state.lock().unwrap();
        assert_eq!(state.jwt_sign_ins, 1, "{:?}", state.jwt_rejections);
        assert!(state.jwt_sessions.is_empty(), "left signed in");
    }

    let sign_ins = fake.requests("POST", "/auth/signin").await;
    let body: serde_json::Value = sign_ins[0].body_json().unwrap();
    let credentials = body["credentials"].as_object().unwrap();
    let mut keys: Vec<&str> = credentials.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["jwt", "site"], "{body}");
    assert_eq!(body["credentials"]["site"]["contentUrl"], SITE);
    sign_in_bodies_hold_no_secret(&[String::from_utf8_lossy(&sign_ins[0].body).into_owned()]);

    // Neither the JWT nor the secret value reaches the log.
    let jwt = body["credentials"]["jwt"].as_str().unwrap();
    let text = logs.text();
    assert!(
        !text.contains(jwt) && !text.contains(APP_SECRET_VALUE),
        "{text}"
    );
}

#[tokio::test]
async fn a_wrong_secret_value_fails_naming_the_connected_app() {
    let fake = small_fake().await;
    let wrong = "wrong-secret-value-do-not-print";
    let reports = fake
        .run_as(
            &fake.refresher(),
            &fake.app_access_with_secret(wrong),
            &[workbook("Weekly KPIs", None)],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Failed);
    let error = reports[0].error.as_deref().unwrap();
    assert!(error.contains("401001"), "{error}");
    assert!(error.contains(APP_CLIENT_ID), "{error}");
    assert!(
        error.contains("connected app") && error.contains("TABLEAU_CONNECTED_APP_SECRET_VALUE"),
        "{error}"
    );
    assert!(
        !error.contains(wrong) && !error.contains(APP_SECRET_VALUE),
        "{error}"
    );
    {
        let state = fake.state.lock().unwrap();
        assert_eq!(state.jwt_sign_ins, 0);
        assert!(
            state.jwt_rejections[0].contains("signature"),
            "{:?}",
            state.jwt_rejections
        );
    }
    // Nothing but the sign-in after a refused sign-in.
    assert_eq!(fake.count("GET", "/workbooks").await, 0);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let fake = small_fake().await;
    // A clock 20 minutes slow: the minted token expired 15 minutes ago.
    let slow = Arc::new(|| SystemTime::now() - Duration::from_secs(20 * 60));
    let refresher = fake
        .refresher()
        .with_jwt_minter(Minter::new().with_clock(slow));
    let reports = fake
        .run_as(
            &refresher,
            &fake.app_access(),
            &[workbook("Weekly KPIs", None)],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Failed);
    let error = reports[0].error.as_deref().unwrap();
    assert!(error.contains("401001"), "{error}");
    assert!(error.contains("clock"), "{error}");
    let rejections = fake.state.lock().unwrap().jwt_rejections.clone();
    assert!(rejections[0].contains("expired"), "{rejections:?}");
}

#[tokio::test]
async fn a_token_valid_for_more_than_ten_minutes_is_refused() {
    let fake = small_fake().await;
    let refresher = fake
        .refresher()
        .with_jwt_minter(Minter::new().with_lifetime(Duration::from_secs(11 * 60)));
    let reports = fake
        .run_as(
            &refresher,
            &fake.app_access(),
            &[workbook("Weekly KPIs", None)],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Failed, "{reports:?}");
    let rejections = fake.state.lock().unwrap().jwt_rejections.clone();
    assert!(rejections[0].contains("10 minutes"), "{rejections:?}");
}

#[tokio::test]
async fn a_missing_scope_fails_the_call_it_is_needed_for() {
    let fake = small_fake().await;
    // Lookups are allowed, refreshes are not.
    let refresher = fake
        .refresher()
        .with_jwt_minter(Minter::new().with_scopes([SCOPE_READ]));
    let reports = fake
        .run_as(
            &refresher,
            &fake.app_access(),
            &[workbook("Weekly KPIs", None)],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Failed);
    assert_eq!(
        reports[0].id.as_deref(),
        Some("wb-kpi"),
        "the lookup worked"
    );
    let error = reports[0].error.as_deref().unwrap();
    // Tableau's words (401002 Unauthorized Access), then the hint.
    assert!(error.contains("401002 Unauthorized Access"), "{error}");
    assert!(
        error.contains("scopes") && error.contains("tableau:tasks:run"),
        "{error}"
    );
    let state = fake.state.lock().unwrap();
    // The 401 made the session sign in once more, with a freshly minted token.
    assert_eq!(state.jwt_sign_ins, 2, "{:?}", state.jwt_rejections);
    assert_eq!(state.seen_jtis.len(), 2);
    assert!(state.jwt_sessions.is_empty(), "left signed in");
}

#[tokio::test]
async fn a_second_sign_in_mints_a_new_token() {
    let fake = small_fake().await;
    // The fake ends every session on the first lookup; the re-sign-in must not
    // reuse the first token's jti (the fake refuses a seen jti, as Tableau is expected to).
    fake.state.lock().unwrap().end_session_on_next_queries = 1;
    let reports = fake
        .run_as(
            &fake.refresher(),
            &fake.app_access(),
            &[workbook("Weekly KPIs", None)],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    let state = fake.state.lock().unwrap();
    assert_eq!(state.jwt_sign_ins, 2, "{:?}", state.jwt_rejections);
    assert!(
        state.jwt_rejections.is_empty(),
        "{:?}",
        state.jwt_rejections
    );
}

#[tokio::test]
async fn two_concurrent_invocations_both_succeed_with_both_sessions_alive() {
    let fake = small_fake().await;
    fake.state.lock().unwrap().refresh_delay = Duration::from_millis(400);
    // Two containers, each with its own client, like two overlapping webhooks.
    let (first, second) = (fake.refresher(), fake.refresher());
    let access = fake.app_access();
    let (kpis, sales) = (
        [workbook("Weekly KPIs", None)],
        [workbook("Sales", Some("Finance"))],
    );
    let (a, b) = tokio::join!(
        fake.run_as(&first, &access, &kpis, BUDGET),
        fake.run_as(&second, &access, &sales, BUDGET),
    );
    assert_eq!(a[0].result, RefreshResult::Queued, "{a:?}");
    assert_eq!(b[0].result, RefreshResult::Queued, "{b:?}");
    let state = fake.state.lock().unwrap();
    assert_eq!(state.jwt_sign_ins, 2, "no re-sign-in was needed");
    assert_eq!(
        state.max_jwt_sessions, 2,
        "both sessions were alive together"
    );
    assert!(state.jwt_sessions.is_empty(), "both signed out");
}

#[tokio::test]
async fn an_api_version_before_3_17_is_refused_before_signing_in() {
    let fake = small_fake().await;
    let refresher = TableauRefresher::new(Some("3.16".into())).unwrap();
    let reports = fake
        .run_as(
            &refresher,
            &fake.app_access(),
            &[workbook("Weekly KPIs", None)],
            BUDGET,
        )
        .await;
    let error = reports[0].error.as_deref().unwrap();
    assert!(
        error.contains("3.16") && error.contains("3.17") && error.contains("connected-app"),
        "{error}"
    );
    assert_eq!(fake.count("POST", "/auth/signin").await, 0);
}

const TARGETS: &str = r#"[{"workbook":"Weekly KPIs"}]"#;

fn app_keys(server: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DBT_WEBHOOK_KEY", DEMO_KEY.into()),
        ("TABLEAU_SITE_URL", server.into()),
        ("TABLEAU_SITE_NAME", SITE.into()),
        ("TABLEAU_CONNECTED_APP_CLIENT_ID", APP_CLIENT_ID.into()),
        ("TABLEAU_CONNECTED_APP_SECRET_ID", APP_SECRET_ID.into()),
        (
            "TABLEAU_CONNECTED_APP_SECRET_VALUE",
            APP_SECRET_VALUE.into(),
        ),
        ("TABLEAU_USERNAME", APP_USERNAME.into()),
    ]
}

fn secrets(pairs: &[(&'static str, String)]) -> Arc<FixedSecrets> {
    let pairs: Vec<(&'static str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    FixedSecrets::new(&pairs)
}

#[tokio::test]
async fn the_handler_refreshes_with_connected_app_keys() {
    let fake = small_fake().await;
    let handler = common::handler(
        common::settings(&[("REFRESH_TARGETS", TARGETS)]),
        secrets(&app_keys(&fake.server.uri())),
        Arc::new(fake.refresher()),
    );
    let (status, body) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("queued")),
        "{body}"
    );
    assert_eq!(fake.state.lock().unwrap().jwt_sign_ins, 1);
}

#[tokio::test]
async fn both_a_pat_and_a_connected_app_answer_500_saying_to_remove_one() {
    let mut pairs = app_keys("http://127.0.0.1:9");
    pairs.push(("TABLEAU_API_TOKEN_NAME", PAT_NAME.into()));
    pairs.push(("TABLEAU_API_TOKEN_SECRET", PAT_SECRET.into()));
    let tableau = Arc::new(RecordingRefresher::default());
    let handler = common::handler(
        common::settings(&[("REFRESH_TARGETS", TARGETS)]),
        secrets(&pairs),
        tableau.clone(),
    );
    let (status, body) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 500, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("connected app")
            && error.contains("personal access token")
            && error.contains("remove one"),
        "{error}"
    );
    assert!(
        !error.contains(APP_SECRET_VALUE) && !error.contains(PAT_SECRET),
        "{error}"
    );
    assert!(tableau.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn neither_a_pat_nor_a_connected_app_answers_500_naming_both() {
    let tableau = Arc::new(RecordingRefresher::default());
    let handler = common::handler(
        common::settings(&[("REFRESH_TARGETS", TARGETS)]),
        secrets(&app_keys("http://127.0.0.1:9")[..3]),
        tableau.clone(),
    );
    let (status, body) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 500, "{body}");
    let error = body["error"].as_str().unwrap();
    for key in [
        "TABLEAU_API_TOKEN_NAME",
        "TABLEAU_API_TOKEN_SECRET",
        "TABLEAU_CONNECTED_APP_CLIENT_ID",
        "TABLEAU_CONNECTED_APP_SECRET_ID",
        "TABLEAU_CONNECTED_APP_SECRET_VALUE",
        "TABLEAU_USERNAME",
    ] {
        assert!(error.contains(key), "{key}: {error}");
    }
    assert!(
        error.contains("connected app") && error.contains("personal access token"),
        "{error}"
    );
    assert!(tableau.calls.lock().unwrap().is_empty());

    // A dry run still works with the webhook key alone.
    let handler = common::handler(
        common::settings(&[("REFRESH_TARGETS", TARGETS), ("DRY_RUN", "true")]),
        secrets(&app_keys("http://127.0.0.1:9")[..1]),
        tableau,
    );
    let (status, body) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("dry_run")));
}
