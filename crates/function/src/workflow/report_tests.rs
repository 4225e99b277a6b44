use super::*;
use crate::workflow::state::CaughtError;
use dbt_tableau_engine::answer::TargetReport;
use dbt_tableau_engine::targets::{ItemKind, Target};
use dbt_tableau_engine::webhook::RunSummary;

fn settings(notify_all: bool) -> ReportSettings {
    ReportSettings {
        notify_all,
        dbt_cloud_url: "https://ab123.us1.dbt.com/".into(),
    }
}

fn followed(name: &str, result: RefreshResult, notes: Option<&str>) -> Followed {
    let target = Target::named(ItemKind::Workbook, name, Some("Finance"));
    let mut report =
        TargetReport::succeeded(&target, format!("id-{name}"), result, Some("job-9".into()));
    report.error = notes.map(str::to_owned);
    Followed {
        report,
        created_at: Some("2027-01-15T08:00:00Z".into()),
        started_at: None,
        completed_at: Some("2027-01-15T08:03:05Z".into()),
        notes: notes.map(str::to_owned),
        cancel: None,
    }
}

fn state(reports: Vec<Followed>) -> WorkflowState {
    WorkflowState {
        run: RunSummary {
            account_id: Some("1".into()),
            project_id: Some("167194".into()),
            job_id: Some("123".into()),
            run_id: Some("12345".into()),
            job_name: Some("Daily Job (dbt build)".into()),
            run_finished_at: Some("2027-01-15T07:59:00Z".into()),
            ..RunSummary::default()
        },
        reports,
        ..WorkflowState::default()
    }
}

#[test]
fn a_failed_refresh_is_reported_with_tableau_notes_and_the_run_page() {
    let notes = "java.lang.RuntimeException: Login failed for data source 'orders'";
    let s = state(vec![
        followed("Sales", RefreshResult::Failed, Some(notes)),
        followed("KPIs", RefreshResult::Succeeded, None),
    ]);
    let outcome = outcome(&s, &settings(false));
    assert!(outcome.failed && outcome.notify);
    assert_eq!(
        outcome.subject,
        "Tableau refresh: workbook \"Sales\" did not succeed (dbt job 123 run 12345)"
    );
    for needle in [
        notes,
        "https://ab123.us1.dbt.com/deploy/1/projects/167194/runs/12345",
        "FAILED",
        "SUCCEEDED",
        "refresh took 3 min 5 s",
        "project \"Finance\"",
        "Daily Job (dbt build)",
    ] {
        assert!(
            outcome.message.contains(needle),
            "{needle} missing from:\n{}",
            outcome.message
        );
    }
    assert!(outcome.summary.contains(notes), "{}", outcome.summary);
}

#[test]
fn all_succeeded_notifies_only_with_notify_on_all() {
    let s = state(vec![followed("KPIs", RefreshResult::Succeeded, None)]);
    let quiet = outcome(&s, &settings(false));
    assert!(!quiet.failed && !quiet.notify);
    let loud = outcome(&s, &settings(true));
    assert!(!loud.failed && loud.notify);
    assert!(
        loud.subject.contains("the Tableau refresh succeeded"),
        "{}",
        loud.subject
    );
    assert!(
        loud.message.starts_with("dbt job 123 run 12345: "),
        "{}",
        loud.message
    );
    let nothing = outcome(&state(vec![]), &settings(true));
    assert!(
        nothing.subject.contains("nothing to refresh"),
        "{}",
        nothing.subject
    );
}

#[test]
fn a_broken_workflow_and_dbt_cloud_problems_fail_the_run() {
    let mut s = state(vec![]);
    s.error = Some(CaughtError {
        error: "Lambda.Unknown".into(),
        cause: "The function timed out".into(),
    });
    let broken = outcome(&s, &settings(false));
    assert!(broken.failed && broken.notify);
    assert!(
        broken.subject.contains("workflow broke"),
        "{}",
        broken.subject
    );
    assert!(broken.message.contains("The function timed out"));
    let mut s = state(vec![]);
    s.problems
        .push("dbt Cloud answered 403 for run 12345".into());
    let problem = outcome(&s, &settings(false));
    assert!(problem.failed && problem.message.contains("403"));
}

#[test]
fn subjects_are_short_ascii_whatever_the_names() {
    let long = "Projeśt Übersicht ".repeat(20);
    let s = state(vec![followed(&long, RefreshResult::TimedOut, None)]);
    let subject = outcome(&s, &settings(false)).subject;
    assert!(subject.len() <= SUBJECT_LIMIT, "{subject}");
    assert!(
        subject
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control()),
        "{subject}"
    );
    assert!(subject.ends_with("..."), "{subject}");
    let many = state(vec![
        followed("A", RefreshResult::Cancelled, None),
        followed("B", RefreshResult::Unknown, None),
        followed("C", RefreshResult::Succeeded, None),
    ]);
    assert!(
        outcome(&many, &settings(false))
            .subject
            .contains("2 of 3 Tableau refreshes")
    );
}

#[test]
fn the_notification_gives_email_the_text_and_chat_a_custom_notification() {
    let s = state(vec![followed(
        "Sales",
        RefreshResult::Failed,
        Some("Login failed"),
    )]);
    let outcome = outcome(&s, &settings(false));
    let by_protocol: serde_json::Value = serde_json::from_str(&outcome.notification).unwrap();
    assert_eq!(by_protocol["default"], outcome.message.as_str());
    // Email takes "default": the text is not repeated.
    assert!(by_protocol.get("email").is_none());
    let chat: serde_json::Value =
        serde_json::from_str(by_protocol["https"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&chat["version"], &chat["source"]),
        (&"1.0".into(), &"custom".into())
    );
    assert_eq!(chat["content"]["title"], outcome.subject.as_str());
    assert!(
        chat["content"]["description"]
            .as_str()
            .unwrap()
            .contains("Login failed")
    );
}

#[test]
fn five_hundred_failures_make_a_report_that_fits_sns() {
    let notes = "the warehouse closed the connection; ".repeat(80);
    let reports = (0..500)
        .map(|i| followed(&format!("Report {i}"), RefreshResult::Failed, Some(&notes)))
        .collect();
    let outcome = outcome(&state(reports), &settings(false));
    assert!(
        outcome.message.len() <= MESSAGE_BUDGET,
        "{}",
        outcome.message.len()
    );
    assert!(outcome.notification.len() < 100 * 1024);
    assert!(
        outcome.subject.contains("500 of 500"),
        "{}",
        outcome.subject
    );
    assert!(outcome.message.contains("\"Report 0\""));
    let listed = outcome.message.matches("- FAILED").count();
    assert!(listed > 5 && listed < 500, "{listed} listed");
    let tail = format!(
        "...and {} more targets ({} did not succeed)",
        500 - listed,
        500 - listed
    );
    assert!(outcome.message.contains(&tail), "{tail}");
}
