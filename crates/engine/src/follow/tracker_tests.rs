use super::*;
use crate::follow::Observed;
use crate::targets::{ItemKind, Target};

fn settings(initial: u64, max: u64, timeout: u64) -> FollowSettings {
    FollowSettings {
        poll_initial: Duration::from_secs(initial),
        poll_max: Duration::from_secs(max),
        timeout: Duration::from_secs(timeout),
        cancel_on_timeout: true,
    }
}

fn queued(name: &str, job: Option<&str>) -> TargetReport {
    let target = Target::named(ItemKind::Workbook, name, None);
    TargetReport::succeeded(
        &target,
        format!("id-{name}"),
        RefreshResult::Queued,
        job.map(str::to_owned),
    )
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
}

fn finished(job: &str, outcome: Outcome, notes: Option<&str>) -> Observed {
    Observed {
        job_id: job.into(),
        observation: JobObservation::Finished {
            outcome,
            notes: notes.map(str::to_owned),
            created_at: Some("2027-01-15T08:00:00Z".into()),
            started_at: Some("2027-01-15T08:00:05Z".into()),
            completed_at: Some("2027-01-15T08:03:00Z".into()),
        },
    }
}

fn running(job: &str) -> Observed {
    Observed {
        job_id: job.into(),
        observation: JobObservation::Running { progress: Some(40) },
    }
}

fn results(followed: &[Followed]) -> Vec<&'static str> {
    followed.iter().map(|t| t.report.result.as_str()).collect()
}

#[test]
fn queued_jobs_are_followed_and_the_rest_are_not() {
    let target = Target::named(ItemKind::Datasource, "Orders", None);
    let already = TargetReport::succeeded(&target, "ds".into(), RefreshResult::AlreadyQueued, None);
    let failed = TargetReport::failed(&target, "not found");
    let (followed, progress) = begin(
        vec![queued("A", Some("j1")), queued("B", None), already, failed],
        &settings(30, 300, 3600),
        at(0),
    );
    assert_eq!(
        results(&followed),
        ["queued", "unknown", "already_queued", "failed"]
    );
    assert_eq!(pending_jobs(&followed), ["j1"]);
    assert_eq!((progress.wait_seconds, progress.done), (30, false));
    let (_, nothing) = begin(vec![], &settings(30, 300, 3600), at(0));
    assert!(nothing.done);
}

#[test]
fn finish_codes_end_targets_with_tableau_notes_and_times() {
    let s = settings(30, 300, 3600);
    let (mut followed, mut progress) = begin(
        vec![
            queued("A", Some("j1")),
            queued("B", Some("j2")),
            queued("C", Some("j3")),
        ],
        &s,
        at(0),
    );
    let check = CheckOutcome::Checked(vec![
        finished("j1", Outcome::Succeeded, None),
        finished(
            "j2",
            Outcome::Failed {
                reason: "Login failed for data source".into(),
            },
            Some("Login failed for data source"),
        ),
        running("j3"),
    ]);
    advance(&mut followed, &mut progress, check, &s, at(30));
    assert_eq!(results(&followed), ["succeeded", "failed", "queued"]);
    assert_eq!(
        followed[1].report.error.as_deref(),
        Some("Login failed for data source")
    );
    assert_eq!(
        followed[0].completed_at.as_deref(),
        Some("2027-01-15T08:03:00Z")
    );
    assert_eq!(
        (progress.waits, progress.wait_seconds, progress.done),
        (1, 45, false)
    );
    let check = CheckOutcome::Checked(vec![finished("j3", Outcome::Cancelled, None)]);
    advance(&mut followed, &mut progress, check, &s, at(75));
    assert_eq!(results(&followed), ["succeeded", "failed", "cancelled"]);
    assert!(progress.done);
}

#[test]
fn three_unreachable_checks_in_a_row_make_the_jobs_unknown() {
    let s = settings(1, 1, 3600);
    let (mut followed, mut progress) = begin(vec![queued("A", Some("j1"))], &s, at(0));
    let away = || CheckOutcome::Unreachable("connection refused".into());
    advance(&mut followed, &mut progress, away(), &s, at(1));
    advance(&mut followed, &mut progress, away(), &s, at(2));
    // A check that reaches Tableau starts the count again.
    advance(
        &mut followed,
        &mut progress,
        CheckOutcome::Checked(vec![running("j1")]),
        &s,
        at(3),
    );
    advance(&mut followed, &mut progress, away(), &s, at(4));
    advance(&mut followed, &mut progress, away(), &s, at(5));
    assert_eq!(results(&followed), ["queued"]);
    advance(&mut followed, &mut progress, away(), &s, at(6));
    assert_eq!(results(&followed), ["unknown"]);
    let error = followed[0].report.error.as_deref().unwrap();
    assert!(
        error.contains("3 checks in a row") && error.contains("connection refused"),
        "{error}"
    );
    assert!(progress.done);
}

#[test]
fn jobs_still_running_at_the_timeout_are_timed_out() {
    let s = settings(30, 300, 60);
    let (mut followed, mut progress) = begin(vec![queued("A", Some("j1"))], &s, at(0));
    advance(
        &mut followed,
        &mut progress,
        CheckOutcome::Checked(vec![running("j1")]),
        &s,
        at(30),
    );
    // The second wait (45 s) is cut to land on the timeout.
    assert_eq!(progress.wait_seconds, 30);
    advance(
        &mut followed,
        &mut progress,
        CheckOutcome::Checked(vec![running("j1")]),
        &s,
        at(60),
    );
    assert_eq!(results(&followed), ["timed_out"]);
    assert!(
        followed[0]
            .report
            .error
            .as_deref()
            .unwrap()
            .contains("1 minutes")
    );
    assert!(progress.done);
}

#[test]
fn unreadable_jobs_are_unknown_with_the_reason() {
    let s = settings(30, 300, 3600);
    let (mut followed, mut progress) = begin(vec![queued("A", Some("j1"))], &s, at(0));
    let check = CheckOutcome::Checked(vec![Observed {
        job_id: "j1".into(),
        observation: JobObservation::Unreadable {
            reason: "400031: job can't be queried".into(),
        },
    }]);
    advance(&mut followed, &mut progress, check, &s, at(30));
    assert_eq!(results(&followed), ["unknown"]);
    assert_eq!(
        followed[0].report.error.as_deref(),
        Some("400031: job can't be queried")
    );
}

#[test]
fn the_state_round_trips_through_json() {
    let s = settings(30, 300, 3600);
    let (followed, progress) = begin(vec![queued("A", Some("j1"))], &s, at(0));
    let text = serde_json::to_string(&(&followed, &progress)).unwrap();
    assert!(text.contains(r#""kind":"workbook","name":"A""#), "{text}");
    let back: (Vec<Followed>, Progress) = serde_json::from_str(&text).unwrap();
    assert_eq!(back, (followed, progress));
}

#[test]
fn seconds_between_timestamps() {
    assert_eq!(
        seconds_between(Some("2027-01-15T08:00:00Z"), Some("2027-01-15T08:03:00.5Z")),
        Some(180.5)
    );
    assert_eq!(seconds_between(None, Some("2027-01-15T08:03:00Z")), None);
    assert_eq!(
        seconds_between(Some("yesterday"), Some("2027-01-15T08:03:00Z")),
        None
    );
}
