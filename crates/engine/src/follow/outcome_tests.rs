//! The outcome mapping: finish codes, notes, errors by kind and by session.

use super::*;
use std::time::Duration;

const APP: ReadAs<'static> = ReadAs::ConnectedApp {
    client_id: "app-client-id",
    api_version: "3.24",
};

fn job(code: Option<FinishCode>, notes: Option<&str>) -> JobStatus {
    JobStatus {
        id: "job-1".into(),
        mode: Some("Asynchronous".into()),
        job_type: Some("RefreshExtract".into()),
        progress: Some(if code.is_some() { 100 } else { 40 }),
        created_at: Some("2026-01-31T19:29:36Z".into()),
        started_at: Some("2026-01-31T19:30:00Z".into()),
        completed_at: code.as_ref().map(|_| "2026-01-31T19:31:36Z".into()),
        finish_code: code,
        finish_code_read: None,
        notes: notes.map(Into::into),
        item: None,
    }
}

fn api(status: u16, code: &str, summary: &str, detail: &str) -> TableauError {
    TableauError::Api {
        status,
        code: code.into(),
        summary: summary.into(),
        detail: detail.into(),
    }
}

fn outcome_of(code: FinishCode, notes: Option<&str>) -> Outcome {
    match observe(Ok(job(Some(code), notes)), ReadAs::Pat) {
        JobObservation::Finished { outcome, .. } => outcome,
        other => panic!("{other:?}"),
    }
}

#[test]
fn finish_codes_map_to_outcomes() {
    assert_eq!(outcome_of(FinishCode::Success, None), Outcome::Succeeded);
    assert_eq!(outcome_of(FinishCode::Completed, None), Outcome::Succeeded);
    assert_eq!(outcome_of(FinishCode::Cancelled, None), Outcome::Cancelled);
    assert_eq!(
        outcome_of(FinishCode::Failed, Some("Login failed for user.")),
        Outcome::Failed {
            reason: "Login failed for user.".into()
        }
    );
    let Outcome::Failed { reason } = outcome_of(FinishCode::Failed, None) else {
        panic!()
    };
    assert!(reason.contains("without notes"), "{reason}");
}

#[test]
fn a_finished_job_keeps_its_times_and_notes() {
    let observed = observe(
        Ok(job(Some(FinishCode::Success), Some("fine"))),
        ReadAs::Pat,
    );
    assert_eq!(
        observed,
        JobObservation::Finished {
            outcome: Outcome::Succeeded,
            notes: Some("fine".into()),
            created_at: Some("2026-01-31T19:29:36Z".into()),
            started_at: Some("2026-01-31T19:30:00Z".into()),
            completed_at: Some("2026-01-31T19:31:36Z".into()),
        }
    );
    assert!(!observed.is_pending());
}

#[test]
fn no_finish_code_is_running() {
    let observed = observe(Ok(job(None, None)), ReadAs::Pat);
    assert_eq!(observed, JobObservation::Running { progress: Some(40) });
    assert!(observed.is_pending());
}

#[test]
fn an_undocumented_finish_code_is_unreadable_not_a_crash() {
    let observed = observe(
        Ok(job(Some(FinishCode::Other("7".into())), Some("odd"))),
        ReadAs::Pat,
    );
    let JobObservation::Unreadable { reason } = observed else {
        panic!("{observed:?}")
    };
    assert!(
        reason.contains("finishCode 7") && reason.contains("odd"),
        "{reason}"
    );
}

#[test]
fn a_job_tableau_will_not_show_is_unreadable_with_its_words() {
    let e = api(400, "400031", "Bad Request", "Job cannot be queried");
    for read_as in [ReadAs::Pat, APP] {
        let JobObservation::Unreadable { reason } = observe(Err(e.clone()), read_as) else {
            panic!()
        };
        assert!(
            reason.contains("400031 Bad Request: Job cannot be queried (HTTP 400)"),
            "{reason}"
        );
    }
    for (status, code) in [(403, "403000"), (404, "404031"), (400, "400000")] {
        let observed = observe(Err(api(status, code, "No", "no")), ReadAs::Pat);
        assert!(
            matches!(&observed, JobObservation::Unreadable { reason } if reason.contains(code)),
            "{observed:?}"
        );
    }
}

#[test]
fn a_connected_app_refused_a_job_is_told_about_the_scope_and_the_version() {
    let e = api(
        401,
        "401002",
        "Unauthorized Access",
        "Invalid authentication credentials were provided.",
    );
    let JobObservation::Unreadable { reason } = observe(Err(e.clone()), APP) else {
        panic!()
    };
    for words in [
        "401002 Unauthorized Access",
        "app-client-id",
        "tableau:jobs:read",
        "REST API 3.25",
        "this check used 3.24",
        "personal access token",
    ] {
        assert!(reason.contains(words), "{words}: {reason}");
    }
    // The same answer to a PAT session is a session another sign-in ended.
    assert!(matches!(
        observe(Err(e), ReadAs::Pat),
        JobObservation::Unanswered { .. }
    ));
}

#[test]
fn busy_and_unreachable_are_asked_again() {
    let busy = TableauError::RetryLater {
        status: 429,
        after: Some(Duration::from_secs(120)),
        at: None,
        detail: "429000 Too Many Requests".into(),
    };
    let observed = observe(Err(busy), APP);
    let JobObservation::Unanswered { reason } = &observed else {
        panic!("{observed:?}")
    };
    assert!(
        reason.contains("busy (HTTP 429)") && reason.contains("120 s"),
        "{reason}"
    );
    assert!(!reason.contains("webhook"), "{reason}");
    assert!(observed.is_pending());
    for e in [
        TableauError::Deadline,
        api(503, "", "", ""),
        TableauError::Http {
            status: 502,
            excerpt: "<html>".into(),
        },
        TableauError::Unreachable {
            url: "https://x".into(),
            detail: "refused".into(),
        },
        api(408, "", "", ""),
    ] {
        assert!(
            matches!(
                observe(Err(e.clone()), APP),
                JobObservation::Unanswered { .. }
            ),
            "{e}"
        );
    }
    // The one retry table: a 2xx that can't be read reads the same next time.
    let unreadable = TableauError::BadAnswer {
        what: "the job query",
        detail: "not JSON".into(),
    };
    assert!(matches!(
        observe(Err(unreadable), APP),
        JobObservation::Unreadable { .. }
    ));
}

#[test]
fn completed_without_a_readable_finish_code_is_unknown_at_once() {
    let mut status = job(None, Some("ended oddly"));
    status.completed_at = Some("2026-01-31T19:31:36Z".into());
    status.finish_code_read = Some("{\"x\":1}".into());
    let JobObservation::Unreadable { reason } = observe(Ok(status), APP) else {
        panic!("not unreadable")
    };
    assert!(reason.contains("2026-01-31T19:31:36Z"), "{reason}");
    assert!(reason.contains("{\"x\":1}"), "{reason}");
    assert!(reason.contains("ended oddly"), "{reason}");
}

#[test]
fn a_check_that_answered_about_no_job_is_unreachable() {
    let down = || Err(TableauError::Deadline);
    let outcome = summarise(
        vec![("a".into(), down()), ("b".into(), down())],
        ReadAs::Pat,
    );
    assert!(
        matches!(&outcome, CheckOutcome::Unreachable(r) if r.contains("did not answer in time")),
        "{outcome:?}"
    );
    // One answer is enough for a check: the others are asked again.
    let outcome = summarise(
        vec![("a".into(), down()), ("b".into(), Ok(job(None, None)))],
        ReadAs::Pat,
    );
    let CheckOutcome::Checked(observed) = outcome else {
        panic!()
    };
    assert_eq!(observed[0].job_id, "a");
    assert!(matches!(
        observed[0].observation,
        JobObservation::Unanswered { .. }
    ));
    assert_eq!(
        observed[1].observation,
        JobObservation::Running { progress: Some(40) }
    );
}

#[test]
fn no_session_is_unreachable_only_when_waiting_may_help() {
    let ids = vec!["a".to_owned(), "b".to_owned()];
    let down = TableauError::Unreachable {
        url: "https://x".into(),
        detail: "refused".into(),
    };
    assert_eq!(
        no_session(&ids, &down, "cannot reach".into()),
        CheckOutcome::Unreachable("cannot reach".into())
    );
    let refused = api(401, "401001", "Signin Error", "");
    let CheckOutcome::Checked(observed) = no_session(&ids, &refused, "sign-in failed".into())
    else {
        panic!()
    };
    assert_eq!(observed.len(), 2);
    for o in observed {
        assert_eq!(
            o.observation,
            JobObservation::Unreadable {
                reason: "sign-in failed".into()
            }
        );
    }
}
