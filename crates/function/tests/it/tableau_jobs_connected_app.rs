//! Following jobs with a connected app: the check's JWT asks for
//! `tableau:jobs:read` alone; without that scope, or on a server before REST
//! API 3.25, Tableau answers Query Job 401002 and the reason says what to fix.
//! The refresh's JWT does not ask for the jobs scope, so an app that doesn't
//! grant it still refreshes.

use crate::common;
use dbt_tableau_testkit::fake_tableau;

use common::LogCapture;
use dbt_tableau_engine::answer::RefreshResult;
use dbt_tableau_engine::follow::{CheckOutcome, JobChecker, JobObservation, Outcome};
use dbt_tableau_engine::tableau::TableauRefresher;
use dbt_tableau_engine::tableau::jwt::Minter;
use fake_tableau::*;
use tokio::time::Instant;

async fn check(
    fake: &FakeTableau,
    refresher: &TableauRefresher,
    ids: &[String],
) -> Vec<JobObservation> {
    match refresher
        .check_jobs(&fake.app_access(), ids, Instant::now() + BUDGET)
        .await
    {
        CheckOutcome::Checked(observed) => observed.into_iter().map(|o| o.observation).collect(),
        CheckOutcome::Unreachable(reason) => panic!("unreachable: {reason}"),
    }
}

/// The `scp` of every JWT the fake received, in order.
async fn scopes_asked(fake: &FakeTableau) -> Vec<serde_json::Value> {
    use base64::Engine;
    let decode = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    fake.requests("POST", "/auth/signin")
        .await
        .iter()
        .map(|r| {
            let body: serde_json::Value = r.body_json().unwrap();
            let jwt = body["credentials"]["jwt"].as_str().unwrap().to_owned();
            let claims = decode.decode(jwt.split('.').nth(1).unwrap()).unwrap();
            serde_json::from_slice::<serde_json::Value>(&claims).unwrap()["scp"].clone()
        })
        .collect()
}

fn assert_told_about_scope_and_version(observation: &JobObservation) {
    let JobObservation::Unreadable { reason } = observation else {
        panic!("{observation:?}")
    };
    for words in [
        "401002",
        APP_CLIENT_ID,
        "tableau:jobs:read",
        "REST API 3.25",
        "this check used 3.25",
    ] {
        assert!(reason.contains(words), "{words}: {reason}");
    }
}

#[tokio::test]
async fn a_connected_app_reads_jobs_with_the_jobs_scope_alone() {
    let fake = small_fake().await;
    let logs = LogCapture::default();
    let _guard = logs.install();
    let ids = vec![
        fake.add_job("workbook", "wb-kpi", JobScript::finishes(0)),
        fake.add_job(
            "datasource",
            "ds-orders",
            JobScript::finishes(1).notes("timeout"),
        ),
    ];
    let seen = check(&fake, &fake.refresher(), &ids).await;
    assert!(
        matches!(
            &seen[0],
            JobObservation::Finished {
                outcome: Outcome::Succeeded,
                ..
            }
        ),
        "{seen:?}"
    );
    assert!(
        matches!(&seen[1], JobObservation::Finished { outcome: Outcome::Failed { reason }, .. } if reason == "timeout"),
        "{seen:?}"
    );
    assert_eq!(
        scopes_asked(&fake).await,
        [serde_json::json!(["tableau:jobs:read"])]
    );
    let state = fake.state.lock().unwrap();
    assert_eq!(state.jwt_sign_ins, 1, "{:?}", state.jwt_rejections);
    assert!(state.jwt_sessions.is_empty(), "left signed in");
    assert!(!logs.text().contains(APP_SECRET_VALUE));
}

#[tokio::test]
async fn without_the_jobs_scope_the_reason_names_it_and_every_session_ends() {
    let fake = small_fake().await;
    let refresher = fake
        .refresher()
        .with_jwt_minter(Minter::new().with_job_scopes([SCOPE_READ]));
    let ids = vec![
        fake.add_job("workbook", "wb-kpi", JobScript::finishes(0)),
        fake.add_job("workbook", "wb-sales", JobScript::finishes(0)),
    ];
    let seen = check(&fake, &refresher, &ids).await;
    assert_eq!(seen.len(), 2);
    seen.iter().for_each(assert_told_about_scope_and_version);
    let state = fake.state.lock().unwrap();
    // The session's one renewal after a 401 (a connected app's policy), shared
    // by both reads: two sign-ins, both signed out.
    assert_eq!(state.jwt_sign_ins, 2, "{:?}", state.jwt_rejections);
    assert!(state.jwt_sessions.is_empty(), "left signed in");
}

#[tokio::test]
async fn a_server_before_3_25_refuses_even_with_the_scope() {
    let fake = small_fake().await;
    fake.state.lock().unwrap().jobs.before_3_25 = true;
    let ids = vec![fake.add_job("workbook", "wb-kpi", JobScript::finishes(0))];
    let seen = check(&fake, &fake.refresher(), &ids).await;
    assert_told_about_scope_and_version(&seen[0]);
    // A PAT session reads the same job on the same server.
    let pat = fake
        .refresher()
        .check_jobs(&fake.access(), &ids, Instant::now() + BUDGET)
        .await;
    let CheckOutcome::Checked(observed) = pat else {
        panic!("{pat:?}")
    };
    assert!(
        matches!(observed[0].observation, JobObservation::Finished { .. }),
        "{observed:?}"
    );
}

#[tokio::test]
async fn an_app_that_does_not_grant_the_jobs_scope_still_refreshes() {
    let fake = small_fake().await;
    fake.state.lock().unwrap().app_granted_scopes =
        Some(vec![SCOPE_READ.into(), SCOPE_REFRESH.into()]);
    let refresher = fake.refresher();
    let reports = fake
        .run_as(
            &refresher,
            &fake.app_access(),
            &[workbook("Weekly KPIs", None)],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    let ids = vec![reports[0].job_id.clone().unwrap()];
    let seen = check(&fake, &refresher, &ids).await;
    let JobObservation::Unreadable { reason } = &seen[0] else {
        panic!("{seen:?}")
    };
    assert!(
        reason.contains("401001")
            && reason.contains("must grant that one")
            && reason.contains("tableau:jobs:read"),
        "{reason}"
    );
    let state = fake.state.lock().unwrap();
    assert!(
        state.jwt_rejections[0].contains("tableau:jobs:read"),
        "{:?}",
        state.jwt_rejections
    );
    assert!(state.jwt_sessions.is_empty(), "left signed in");
}
