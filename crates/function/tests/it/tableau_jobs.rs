//! Following jobs with a PAT session against the fake Tableau: Query Job's
//! answers mapped to outcomes, one sign-in and one sign-out per check, and what
//! happens when Tableau refuses, throttles or can't be reached.

use dbt_tableau_testkit::fake_tableau;

use dbt_tableau_engine::follow::{CheckOutcome, JobChecker, JobObservation, Outcome};
use dbt_tableau_engine::secrets::TableauAccess;
use dbt_tableau_engine::tableau::TableauRefresher;
use fake_tableau::*;
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

async fn check(
    refresher: &TableauRefresher,
    access: &TableauAccess,
    ids: &[String],
) -> CheckOutcome {
    refresher
        .check_jobs(access, ids, Instant::now() + BUDGET)
        .await
}

/// The observations of a check that reached Tableau, in the order asked.
fn observations(outcome: CheckOutcome) -> Vec<JobObservation> {
    match outcome {
        CheckOutcome::Checked(observed) => observed.into_iter().map(|o| o.observation).collect(),
        CheckOutcome::Unreachable(reason) => panic!("unreachable: {reason}"),
    }
}

fn outcome(observation: &JobObservation) -> &Outcome {
    match observation {
        JobObservation::Finished { outcome, .. } => outcome,
        other => panic!("not finished: {other:?}"),
    }
}

#[tokio::test]
async fn every_finish_code_maps_to_its_outcome_with_tableau_s_notes() {
    let fake = small_fake().await;
    let notes = "java.lang.RuntimeException: Login failed for user 'etl'.";
    let ids = vec![
        fake.add_job("workbook", "wb-kpi", JobScript::finishes(0)),
        fake.add_job("workbook", "wb-sales", JobScript::finishes(1).notes(notes)),
        fake.add_job("datasource", "ds-orders", JobScript::finishes(2)),
        fake.add_job("datasource", "ds-bridge", JobScript::finishes(3)),
        fake.add_job("workbook", "wb-new", JobScript::finishes(1)),
    ];
    let seen = observations(check(&fake.refresher(), &fake.access(), &ids).await);
    assert_eq!(outcome(&seen[0]), &Outcome::Succeeded);
    assert_eq!(
        outcome(&seen[1]),
        &Outcome::Failed {
            reason: notes.into()
        }
    );
    assert_eq!(outcome(&seen[2]), &Outcome::Cancelled);
    assert_eq!(
        outcome(&seen[3]),
        &Outcome::Succeeded,
        "3 = completed (bridge)"
    );
    let Outcome::Failed { reason } = outcome(&seen[4]) else {
        panic!()
    };
    assert!(reason.contains("without notes"), "{reason}");
    let JobObservation::Finished {
        notes: carried,
        created_at,
        started_at,
        completed_at,
        ..
    } = &seen[1]
    else {
        panic!()
    };
    assert_eq!(carried.as_deref(), Some(notes));
    for at in [created_at, started_at, completed_at] {
        assert!(
            at.as_deref()
                .is_some_and(|t| t.ends_with('Z') && t.len() == 20),
            "{at:?}"
        );
    }
}

#[tokio::test]
async fn numbers_written_as_numbers_read_the_same() {
    let fake = small_fake().await;
    fake.state.lock().unwrap().jobs.numbers_as_numbers = true;
    let ids = vec![
        fake.add_job("workbook", "wb-kpi", JobScript::finishes(1).notes("no")),
        fake.add_job("workbook", "wb-sales", JobScript::finishes(3)),
    ];
    let seen = observations(check(&fake.refresher(), &fake.access(), &ids).await);
    assert_eq!(
        outcome(&seen[0]),
        &Outcome::Failed {
            reason: "no".into()
        }
    );
    assert_eq!(outcome(&seen[1]), &Outcome::Succeeded);
}

#[tokio::test]
async fn a_job_runs_for_some_checks_then_finishes() {
    let fake = small_fake().await;
    let refresher = fake.refresher();
    let ids = vec![
        fake.add_job("workbook", "wb-kpi", JobScript::finishes(0).after_reads(2)),
        fake.add_job(
            "workbook",
            "wb-sales",
            JobScript::finishes(1)
                .notes("late")
                .after(Duration::from_millis(600)),
        ),
        fake.add_job("datasource", "ds-orders", JobScript::runs_forever()),
    ];
    let first = observations(check(&refresher, &fake.access(), &ids).await);
    assert_eq!(
        first[0],
        JobObservation::Running { progress: Some(0) },
        "queued at first"
    );
    assert!(first.iter().all(JobObservation::is_pending), "{first:?}");
    let second = observations(check(&refresher, &fake.access(), &ids).await);
    assert_eq!(second[0], JobObservation::Running { progress: Some(50) });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let third = observations(check(&refresher, &fake.access(), &ids).await);
    assert_eq!(outcome(&third[0]), &Outcome::Succeeded);
    assert_eq!(
        outcome(&third[1]),
        &Outcome::Failed {
            reason: "late".into()
        }
    );
    assert_eq!(third[2], JobObservation::Running { progress: Some(50) });
    // Each check signed in once and out once.
    assert_eq!(fake.state.lock().unwrap().sign_ins, 3);
    assert_eq!(fake.count("POST", "/auth/signout").await, 3);
}

#[tokio::test]
async fn the_job_a_refresh_started_is_followed_by_its_id() {
    let fake = small_fake().await;
    let refresher = fake.refresher();
    fake.script_job(
        "job-wb-kpi",
        JobScript::finishes(1).notes("Data source credentials expired"),
    );
    let reports = fake
        .run(&refresher, &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    let job_id = reports[0].job_id.clone().expect("a job id");
    let seen = observations(check(&refresher, &fake.access(), &[job_id]).await);
    assert_eq!(
        outcome(&seen[0]),
        &Outcome::Failed {
            reason: "Data source credentials expired".into()
        }
    );
}

#[tokio::test]
async fn one_sign_in_for_many_jobs_and_a_sign_out() {
    let fake = small_fake().await;
    let ids: Vec<String> = (0..20)
        .map(|n| fake.add_job("workbook", &format!("wb-{n}"), JobScript::finishes(0)))
        .collect();
    let seen = observations(check(&fake.refresher(), &fake.access(), &ids).await);
    assert_eq!(seen.len(), 20);
    assert!(seen.iter().all(|o| outcome(o) == &Outcome::Succeeded));
    {
        let state = fake.state.lock().unwrap();
        assert_eq!(state.sign_ins, 1);
        assert_eq!(state.jobs.reads, 20, "one Query Job per job");
        assert_eq!(state.live_token, None, "left signed in");
    }
    assert_eq!(fake.count("GET", "/serverinfo").await, 1);
    let reads = fake.requests("GET", "").await;
    assert!(
        reads
            .iter()
            .all(|r| r.headers.get("accept").unwrap() == "application/json")
    );
}

#[tokio::test]
async fn no_jobs_contacts_nothing() {
    let fake = small_fake().await;
    assert_eq!(
        check(&fake.refresher(), &fake.access(), &[]).await,
        CheckOutcome::Checked(vec![])
    );
    assert!(fake.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_job_tableau_will_not_show_is_unreadable_with_tableau_s_words() {
    let fake = small_fake().await;
    let ids = vec![
        fake.add_job("workbook", "wb-kpi", JobScript::finishes(0)),
        fake.add_job("workbook", "wb-sales", JobScript::finishes(0)),
        "job-never-started".to_owned(),
    ];
    fake.job_error(
        &ids[1],
        400,
        "400031",
        "Bad Request",
        "The job cannot be queried.",
    );
    let seen = observations(check(&fake.refresher(), &fake.access(), &ids).await);
    assert_eq!(outcome(&seen[0]), &Outcome::Succeeded);
    let JobObservation::Unreadable { reason } = &seen[1] else {
        panic!("{seen:?}")
    };
    assert!(
        reason.contains("400031 Bad Request: The job cannot be queried. (HTTP 400)"),
        "{reason}"
    );
    let JobObservation::Unreadable { reason } = &seen[2] else {
        panic!("{seen:?}")
    };
    assert!(reason.contains("404"), "{reason}");
    assert_eq!(
        fake.state.lock().unwrap().live_token,
        None,
        "left signed in"
    );
}

#[tokio::test]
async fn throttled_reads_are_asked_again_next_time() {
    let fake = small_fake().await;
    let ids = vec![
        fake.add_job("workbook", "wb-kpi", JobScript::finishes(0)),
        fake.add_job("workbook", "wb-sales", JobScript::finishes(2)),
    ];
    // "Please retry after 2 minutes" is past this check's deadline: no waiting.
    {
        let mut state = fake.state.lock().unwrap();
        state.jobs.throttled_reads = 2;
        state.jobs.retry_after_minutes = Some(2);
    }
    let started = Instant::now();
    let outcome_ = check(&fake.refresher(), &fake.access(), &ids).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let CheckOutcome::Unreachable(reason) = outcome_ else {
        panic!("{outcome_:?}")
    };
    assert!(
        reason.contains("busy (HTTP 429)") && reason.contains("120 s"),
        "{reason}"
    );
    assert_eq!(
        fake.state.lock().unwrap().live_token,
        None,
        "left signed in"
    );

    // One 429 with a short Retry-After: the client waits it out within the check.
    {
        let mut state = fake.state.lock().unwrap();
        state.jobs.throttled_reads = 1;
        state.jobs.retry_after_minutes = None;
        state.jobs.retry_after_header = Some(1);
    }
    let seen = observations(check(&fake.refresher(), &fake.access(), &ids).await);
    assert_eq!(outcome(&seen[0]), &Outcome::Succeeded);
    assert_eq!(outcome(&seen[1]), &Outcome::Cancelled);

    // One job throttled again and again, with no hint: after the client's
    // retries it is asked again next time; the other one answered.
    fake.state.lock().unwrap().jobs.retry_after_header = None;
    fake.job_error(
        &ids[1],
        429,
        "429000",
        "Too Many Requests",
        "Too many requests",
    );
    let seen = observations(check(&fake.refresher(), &fake.access(), &ids).await);
    assert_eq!(outcome(&seen[0]), &Outcome::Succeeded);
    let JobObservation::Unanswered { reason } = &seen[1] else {
        panic!("{seen:?}")
    };
    assert!(reason.contains("busy (HTTP 429)"), "{reason}");
    assert!(seen[1].is_pending());
}

#[tokio::test]
async fn unreachable_tableau_is_unreachable_not_unknown() {
    let fake = small_fake().await;
    let ids = vec![fake.add_job("workbook", "wb-kpi", JobScript::finishes(0))];
    let mut nowhere = fake.access();
    nowhere.server = "http://127.0.0.1:9".into();
    let outcome_ = check(&fake.refresher(), &nowhere, &ids).await;
    let CheckOutcome::Unreachable(reason) = outcome_ else {
        panic!("{outcome_:?}")
    };
    assert!(
        reason.contains("cannot read Tableau's REST API version"),
        "{reason}"
    );

    // Reached, but signing in answers 503 every time.
    Mock::given(method("POST"))
        .and(path(format!("/api/{VERSION}/auth/signin")))
        .respond_with(tableau_error(503, "", "Service Unavailable", "maintenance"))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let outcome_ = check(&fake.refresher(), &fake.access(), &ids).await;
    let CheckOutcome::Unreachable(reason) = outcome_ else {
        panic!("{outcome_:?}")
    };
    assert!(
        reason.contains("sign-in failed") && reason.contains("503"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_refused_sign_in_makes_every_job_unreadable() {
    let fake = small_fake().await;
    let ids = vec![
        fake.add_job("workbook", "wb-kpi", JobScript::finishes(0)),
        fake.add_job("workbook", "wb-sales", JobScript::finishes(0)),
    ];
    let mut wrong = fake.access();
    wrong.site = "another-site".into();
    let seen = observations(check(&fake.refresher(), &wrong, &ids).await);
    for o in &seen {
        let JobObservation::Unreadable { reason } = o else {
            panic!("{seen:?}")
        };
        assert!(
            reason.contains("401001") && reason.contains("TABLEAU_SITE_NAME"),
            "{reason}"
        );
    }
    assert_eq!(fake.state.lock().unwrap().jobs.reads, 0);
}

#[tokio::test]
async fn the_deadline_bounds_a_check_and_it_still_signs_out() {
    let fake = small_fake().await;
    let ids = vec![fake.add_job("workbook", "wb-kpi", JobScript::finishes(0))];
    Mock::given(method("GET"))
        .and(path_regex("/jobs/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let started = Instant::now();
    let outcome_ = fake
        .refresher()
        .check_jobs(
            &fake.access(),
            &ids,
            Instant::now() + Duration::from_secs(1),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    let CheckOutcome::Unreachable(reason) = outcome_ else {
        panic!("{outcome_:?}")
    };
    assert!(reason.contains("did not answer in time"), "{reason}");
    assert_eq!(fake.count("POST", "/auth/signout").await, 1);
}
