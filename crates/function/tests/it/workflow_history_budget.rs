//! The execution history's worst case, derived here from
//! statemachine/refresh.asl.json itself and compared with the figures the
//! function refuses settings by (src/workflow/history.rs); and the webhook's 500
//! for a REFRESH_TIMEOUT_MINUTES and POLL_MAX_SECONDS that could pass 25,000 events.

use crate::common::*;
use dbt_tableau_refresh::workflow::history::{self, FIXED_EVENTS, MAX_CHECKS, POLL_EVENTS};
use serde_json::Value;
use std::sync::Arc;

const ASL: &str = include_str!("../../../../statemachine/refresh.asl.json");

/// A state's events at worst: a Task writes entered, scheduled, started,
/// succeeded, exited (5), and scheduled, started, failed (3) per retry; any
/// other state entered and exited (a Fail: entered and ExecutionFailed).
fn worst(states: &Value, name: &str) -> u32 {
    let state = &states[name];
    assert!(state.is_object(), "the ASL has no state {name}");
    if state["Type"] != "Task" {
        return 2;
    }
    let retries: u64 = state["Retry"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r["MaxAttempts"].as_u64().unwrap_or(3))
                .sum()
        })
        .unwrap_or(0);
    5 + 3 * retries as u32
}

fn next(states: &Value, name: &str) -> Vec<String> {
    let state = &states[name];
    let mut found: Vec<String> = Vec::new();
    for key in ["Next", "Default"] {
        if let Some(n) = state[key].as_str() {
            found.push(n.into());
        }
    }
    for list in ["Choices", "Catch"] {
        for branch in state[list].as_array().into_iter().flatten() {
            found.push(branch["Next"].as_str().unwrap().into());
        }
    }
    found
}

/// The most events from `name` to the end, with the follow loop cut (the
/// loop is counted separately), found by walking every path.
fn longest_tail(states: &Value, name: &str, seen: &mut Vec<String>) -> u32 {
    let own = worst(states, name);
    seen.push(name.into());
    let rest = next(states, name)
        .iter()
        .filter(|n| !seen.contains(n))
        .map(|n| longest_tail(states, n, &mut seen.clone()))
        .max()
        .unwrap_or(0);
    own + rest
}

#[test]
fn the_formula_is_the_state_machines() {
    let asl: Value = serde_json::from_str(ASL).unwrap();
    let states = &asl["States"];
    // The loop: Following? -> Wait -> Check -> Following?.
    assert!(next(states, "Following?").contains(&"Wait".to_string()));
    assert_eq!(next(states, "Wait"), ["Check"]);
    assert!(next(states, "Check").contains(&"Following?".to_string()));
    let per_poll = worst(states, "Following?") + worst(states, "Wait") + worst(states, "Check");
    assert_eq!(POLL_EVENTS, per_poll);
    // Outside the loop: ExecutionStarted, then the longest path from the start
    // with Wait (the loop's way in) taken out, plus Following? once more.
    let mut without_loop = vec!["Wait".to_string()];
    let path = longest_tail(states, asl["StartAt"].as_str().unwrap(), &mut without_loop);
    assert_eq!(FIXED_EVENTS, 1 + path, "longest path {path}");
    assert_eq!(
        MAX_CHECKS,
        (history::EVENT_LIMIT - FIXED_EVENTS) / POLL_EVENTS
    );
}

#[tokio::test]
async fn the_webhook_refuses_settings_that_could_pass_25000_events() {
    let pairs = |minutes: &'static str| {
        [
            ("REFRESH_TARGETS", r#"[{"workbook":"Weekly KPIs"}]"#),
            (
                "STATE_MACHINE_ARN",
                "arn:aws:states:us-east-1:123456789012:stateMachine:x",
            ),
            ("REFRESH_TIMEOUT_MINUTES", minutes),
            ("POLL_MAX_SECONDS", "60"),
        ]
    };
    let refused = settings(&pairs("1440"));
    let tableau = Arc::new(RecordingRefresher::default());
    let handler = handler(
        refused,
        FixedSecrets::complete("http://127.0.0.1:9"),
        tableau.clone(),
    );
    let (status, body) = invoke(&handler, &sample_event("run-succeeded.json")).await;
    assert_eq!(status, 500, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("REFRESH_TIMEOUT_MINUTES") && text.contains("POLL_MAX_SECONDS"),
        "{text}"
    );
    assert!(tableau.calls.lock().unwrap().is_empty());
    // The longest accepted with these waits, and the plain mode, which starts
    // no execution, are not refused.
    assert!(settings(&pairs("920")).is_ok());
    let plain: Vec<_> = pairs("1440")
        .into_iter()
        .filter(|(k, _)| *k != "STATE_MACHINE_ARN")
        .collect();
    assert!(settings(&plain).is_ok());
}
