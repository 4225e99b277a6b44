use super::*;
use crate::workflow::state::Outcome;
use dbt_tableau_engine::answer::{RefreshResult, TargetReport};
use dbt_tableau_engine::targets::{ItemKind, Target};

fn failed(i: usize, notes: &str) -> Followed {
    let target = Target::named(ItemKind::Workbook, &format!("Report {i}"), Some("Scale"));
    let mut report = TargetReport::accepted(&target);
    report.result = RefreshResult::Failed;
    report.job_id = Some(format!("job-{i}"));
    report.error = Some(notes.to_owned());
    Followed {
        report,
        created_at: None,
        started_at: None,
        completed_at: None,
        notes: Some(notes.to_owned()),
        cancel: None,
    }
}

fn state(targets: usize, notes_len: usize) -> WorkflowState {
    let notes = "x".repeat(notes_len);
    WorkflowState {
        reports: (0..targets).map(|i| failed(i, &notes)).collect(),
        ..WorkflowState::default()
    }
}

#[test]
fn a_small_state_is_left_whole() {
    let mut small = state(3, 3000);
    let before = small.clone();
    assert_eq!(fit(&mut small), Fitted::Unchanged);
    assert_eq!(small, before);
}

#[test]
fn five_hundred_long_notes_are_cut_as_little_as_fits() {
    let mut big = state(500, 3000);
    assert!(size(&big) > 2 * STATE_BUDGET, "the case needs cutting");
    let Fitted::TextsShortened(limit) = fit(&mut big) else {
        panic!("texts cut");
    };
    assert!(size(&big) <= STATE_BUDGET);
    // The next limit up would not have fitted.
    let up = TEXT_LIMITS[TEXT_LIMITS.iter().position(|&l| l == limit).unwrap() - 1];
    let mut tried = state(500, 3000);
    tried.reports.iter_mut().for_each(|t| {
        shorten(t, up, false);
    });
    assert!(size(&tried) > STATE_BUDGET, "{up} would have fitted");
    let notes = big.reports[0].notes.as_deref().unwrap();
    assert_eq!(notes.chars().count(), limit);
    assert!(notes.ends_with('…'));
    assert_eq!(big.reports.len(), 500, "every target kept");
}

#[test]
fn a_report_steps_state_drops_the_reports_when_texts_are_not_enough() {
    let mut reported = state(2000, 100);
    reported.outcome = Some(Outcome {
        message: "m".repeat(60_000),
        ..Outcome::default()
    });
    assert_eq!(fit(&mut reported), Fitted::ReportsDropped);
    assert!(reported.reports.is_empty() && reported.outcome.is_some());
    assert!(size(&reported) <= STATE_BUDGET);
    // Without an outcome, reports are never dropped.
    let mut following = state(2000, 100);
    assert!(matches!(fit(&mut following), Fitted::TooBig(_)));
    assert_eq!(following.reports.len(), 2000);
}
