//! No secret in anything `dbt-tableau` prints, at `RUST_LOG=trace`: not the PAT
//! secret, not the connected app's secret value or a JWT made with it, not a
//! session token the fake handed out, whether the refresh works or fails.

use crate::cli_support;
use dbt_tableau_testkit::fake_tableau;

use cli_support::{Run, against, against_as_app, quick_polls, run, run_on_terminal};
use fake_tableau::{APP_SECRET_VALUE, FakeTableau, JobScript, PAT_SECRET, small_fake};
use std::process::Command;

const WRONG_SECRET: &str = "wrong-pat-secret-3e9a";

fn traced(mut command: Command) -> Command {
    quick_polls(&mut command)
        .env("RUST_LOG", "trace")
        .env("GITHUB_ACTIONS", "true");
    command
}

/// Every secret the run could have seen.
fn assert_clean(out: &Run, fake: &FakeTableau) {
    let text = out.all_output();
    assert!(!text.contains("panicked"), "{text}");
    for secret in [PAT_SECRET, APP_SECRET_VALUE, WRONG_SECRET] {
        assert!(!text.contains(secret), "{secret} printed: {text}");
    }
    // The fake's tokens are `session-token-N` and `jwt-session-token-N`.
    let sign_ins = fake.state.lock().unwrap().sign_ins;
    for n in 1..=sign_ins {
        let token = format!("session-token-{n}");
        assert!(!text.contains(&token), "{token} printed: {text}");
    }
    // A JWT's header is base64 JSON, `eyJ...`.
    assert!(!text.contains("eyJ"), "a JWT printed: {text}");
}

fn wait_args() -> Vec<&'static str> {
    vec![
        "refresh",
        "--workbook",
        "Weekly KPIs",
        "--datasource",
        "Orders",
        "--workbook",
        "Nope",
        "--wait",
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pat_and_its_sessions_are_never_printed() {
    let fake = small_fake().await;
    fake.script_job(
        "job-ds-orders",
        JobScript::finishes(1)
            .notes("connection failed")
            .after_reads(1),
    );
    for json in [false, true] {
        let mut args = wait_args();
        if json {
            args.push("--json");
        }
        let out = run(traced(against(&fake)), &args).await;
        assert_eq!(out.code, 1, "{out:#?}");
        // The trace level is on: the run did log.
        assert!(
            out.stderr.contains("TRACE") || out.stderr.contains("DEBUG"),
            "{out:#?}"
        );
        assert_clean(&out, &fake);
    }
    let out = run_on_terminal(traced(against(&fake)), &wait_args()).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert_clean(&out, &fake);
    assert!(fake.state.lock().unwrap().sign_ins >= 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_pat_is_not_printed() {
    let fake = small_fake().await;
    let mut command = traced(against(&fake));
    command.env("TABLEAU_API_TOKEN_SECRET", WRONG_SECRET);
    let out = run(command, &wait_args()).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("sign-in failed"), "{out:#?}");
    assert_clean(&out, &fake);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connected_app_secret_and_its_jwts_are_never_printed() {
    let fake = small_fake().await;
    let mut args = wait_args();
    args.push("--json");
    let out = run(traced(against_as_app(&fake)), &args).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        fake.state.lock().unwrap().jwt_sign_ins >= 2,
        "refresh and a check"
    );
    assert_clean(&out, &fake);
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_name_keys_not_values() {
    let fake = small_fake().await;
    // Both credential sets given: a configuration error that lists keys.
    let mut command = traced(against_as_app(&fake));
    command
        .env("TABLEAU_API_TOKEN_NAME", "n")
        .env("TABLEAU_API_TOKEN_SECRET", PAT_SECRET);
    let out = run(command, &["refresh", "--workbook", "Sales"]).await;
    out.assert_usage_error("TABLEAU_API_TOKEN_SECRET");
    assert_clean(&out, &fake);
}
