//! `dbt-tableau refresh` with item flags, the built binary against the fake
//! Tableau: what it queues, its output forms, and every exit status.

use crate::cli_support;
use dbt_tableau_testkit::fake_tableau;

use cli_support::{against, against_as_app, bare, run};
use fake_tableau::small_fake;
use serde_json::json;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(r, n)| (r.to_string(), n.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn named_items_are_queued_and_the_json_has_the_functions_elements() {
    let fake = small_fake().await;
    let out = run(
        against(&fake),
        &[
            "refresh",
            "--json",
            "--workbook",
            "Weekly KPIs",
            "--datasource",
            "Orders",
            "--workbook-id",
            "wb-sales",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    let doc = out.json();
    assert_eq!(doc["status"], "queued");
    assert_eq!(
        doc["targets"][0],
        json!({"kind": "workbook", "name": "Weekly KPIs", "project": null, "id": "wb-kpi",
               "result": "queued", "job_id": "job-wb-kpi", "error": null})
    );
    assert_eq!(
        out.results(),
        pairs(&[
            ("queued", "Weekly KPIs"),
            ("queued", "Orders"),
            ("queued", "wb-sales")
        ])
    );
    assert_eq!(fake.count("POST", "/refresh").await, 3);
    // Signed out: no session left behind.
    assert_eq!(fake.count("POST", "/auth/signout").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn human_lines_on_stdout_progress_on_stderr() {
    let fake = small_fake().await;
    let out = run(
        against(&fake),
        &[
            "refresh",
            "--workbook",
            "Sales",
            "--project",
            "Finance",
            "--workbook",
            "Nope",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stdout.starts_with(
            "queued  workbook \"Sales\" [Finance]  job job-wb-sales\n\
             failed  workbook \"Nope\" [Finance]\n        workbook \"Nope\" not found in project \"Finance\""
        ),
        "{out:#?}"
    );
    assert!(
        out.stdout.ends_with("2 targets: 1 queued, 1 failed\n"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("asking Tableau to refresh 2 items"),
        "{out:#?}"
    );
    assert!(!out.stdout.contains("::error"), "not under GitHub Actions");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_target_exits_1_with_a_github_annotation() {
    let fake = small_fake().await;
    let mut command = against(&fake);
    command.env("GITHUB_ACTIONS", "true");
    let out = run(command, &["refresh", "--workbook", "Nope"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    let annotation = out
        .stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert!(
        annotation.starts_with("::error title=Tableau refresh failed::workbook \"Nope\": workbook \"Nope\" not found on the site"),
        "{annotation}"
    );

    // With --json the annotation goes to stderr: stdout stays one document.
    let mut command = against(&fake);
    command.env("GITHUB_ACTIONS", "true");
    let out = run(command, &["refresh", "--json", "--workbook", "Nope"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(out.json()["status"], "failed");
    assert!(
        out.stderr
            .contains("::error title=Tableau refresh failed::"),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn already_queued_counts_as_success() {
    let fake = small_fake().await;
    fake.answer_refresh(
        "wb-kpi",
        409,
        json!({"error": {"code": "409093", "summary": "Resource Conflict",
                         "detail": "A refresh job for this item is already queued"}}),
    );
    let out = run(
        against(&fake),
        &["refresh", "--json", "--workbook", "Weekly KPIs"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["status"], "queued");
    assert_eq!(out.results(), pairs(&[("already_queued", "Weekly KPIs")]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_contacts_nothing_and_needs_no_credentials() {
    let fake = small_fake().await;
    let out = run(
        bare(),
        &[
            "refresh",
            "--dry-run",
            "--json",
            "--workbook",
            "Sales",
            "--datasource-id",
            "ds-1",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["status"], "dry_run");
    assert_eq!(
        out.results(),
        pairs(&[("dry_run", "Sales"), ("dry_run", "ds-1")])
    );
    let out = run(
        against(&fake),
        &["refresh", "--dry-run", "--workbook", "Sales"],
    )
    .await;
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.starts_with("dry_run  workbook \"Sales\"\n"),
        "{out:#?}"
    );
    assert!(fake.server.received_requests().await.unwrap().is_empty());
}

/// Variables set, extra flags, and what stderr must say.
type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_exit_2_before_any_tableau_call() {
    let fake = small_fake().await;
    let uri = fake.server.uri();
    let cases: Vec<Case> = vec![
        (
            vec![("TABLEAU_SITE_URL", "")],
            vec![],
            "TABLEAU_SITE_URL is not set",
        ),
        (
            vec![("TABLEAU_SITE_URL", "ftp://tableau")],
            vec![],
            "TABLEAU_SITE_URL",
        ),
        (
            vec![("TABLEAU_API_TOKEN_SECRET", "")],
            vec![],
            "TABLEAU_API_TOKEN_SECRET",
        ),
        (
            vec![
                ("TABLEAU_CONNECTED_APP_CLIENT_ID", "a"),
                ("TABLEAU_CONNECTED_APP_SECRET_ID", "b"),
                ("TABLEAU_CONNECTED_APP_SECRET_VALUE", "c"),
                ("TABLEAU_USERNAME", "d"),
            ],
            vec![],
            "the environment holds two sets of Tableau credentials",
        ),
        (
            vec![("TABLEAU_API_VERSION", "latest")],
            vec![],
            "TABLEAU_API_VERSION",
        ),
        (
            vec![("TABLEAU_MAX_CONCURRENCY", "0")],
            vec![],
            "TABLEAU_MAX_CONCURRENCY",
        ),
        (
            vec![("POLL_INITIAL_SECONDS", "-1")],
            vec!["--wait"],
            "POLL_INITIAL_SECONDS",
        ),
        (
            vec![("POLL_MAX_SECONDS", "1"), ("POLL_INITIAL_SECONDS", "5")],
            vec!["--wait"],
            "POLL_MAX_SECONDS",
        ),
        (
            vec![],
            vec!["--wait", "--timeout", "soon"],
            "--timeout must be a number",
        ),
        (vec![], vec!["--wait", "--timeout", "0"], "--timeout"),
        (
            vec![("REFRESH_TIMEOUT_MINUTES", "forever")],
            vec!["--wait"],
            "REFRESH_TIMEOUT_MINUTES",
        ),
    ];
    for (env, flags, needle) in cases {
        let mut command = against(&fake);
        command.env("TABLEAU_SITE_URL", &uri);
        for (key, value) in &env {
            command.env(key, value);
        }
        let mut args = vec!["refresh", "--workbook", "Sales"];
        args.extend(flags);
        let out = run(command, &args).await;
        out.assert_usage_error(needle);
    }
    // A bare environment: the first thing missing is the site.
    run(bare(), &["refresh", "--workbook", "Sales"])
        .await
        .assert_usage_error("TABLEAU_SITE_URL is not set");
    assert!(fake.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2_with_the_reason() {
    for (args, needle) in [
        (&["refresh", "--frobnicate"][..], "--frobnicate"),
        (&["frobnicate"], "frobnicate"),
        (&["refresh", "--workbook"], "--workbook"),
        (&["refresh", "--workbook", ""], "--workbook"),
        (&["refresh", "--project", "Finance"], "--workbook"),
        (&["refresh", "--timeout", "5"], "--wait"),
        (&["refresh", "--wait", "--dry-run"], "--dry-run"),
        (
            &["refresh", "--target-dir", "target", "--workbook", "Sales"],
            "--target-dir",
        ),
        (&["check", "--wait"], "--wait"),
        (&[], "Usage"),
    ] {
        let out = run(bare(), args).await;
        out.assert_usage_error(needle);
    }
    let help = run(bare(), &["refresh", "--help"]).await;
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--workbook-id <LUID>"), "{help:#?}");
    let version = run(bare(), &["--version"]).await;
    assert_eq!(version.code, 0);
    assert!(version.stdout.starts_with("dbt-tableau "), "{version:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_tableau_is_a_failed_target_not_a_usage_error() {
    // A port nothing listens on (wiremock keeps its servers in a pool, so not
    // a dropped fake's).
    let uri = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mut command = bare();
    command
        .env("TABLEAU_SITE_URL", &uri)
        .env("TABLEAU_SITE_NAME", "analytics")
        .env("TABLEAU_API_TOKEN_NAME", "n")
        .env("TABLEAU_API_TOKEN_SECRET", "s");
    let out = run(command, &["refresh", "--json", "--workbook", "Sales"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.json()["status"], "failed");
    let error = out.json()["targets"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains(&uri), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connected_app_signs_in_and_empty_pat_variables_are_unset() {
    let fake = small_fake().await;
    let out = run(
        against_as_app(&fake),
        &["refresh", "--json", "--datasource", "Orders"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.results(), pairs(&[("queued", "Orders")]));
    assert_eq!(fake.state.lock().unwrap().jwt_sign_ins, 1);
}
