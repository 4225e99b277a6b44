//! The Tableau client and refresh flow against a fake Tableau over real HTTP:
//! version detection, sign-in/out, lookups, refresh answers.

mod fake_tableau;

use dbt_tableau_refresh::answer::RefreshResult;
use dbt_tableau_refresh::tableau::TableauRefresher;
use fake_tableau::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wiremock::Mock;
use wiremock::matchers::{method, path};

const BUDGET: Duration = Duration::from_secs(5);

fn catalogue() -> Vec<Item> {
    vec![
        item("wb-sales-fin", "Sales", "Finance"),
        item("wb-sales-mkt", "Sales", "Marketing"),
        item("wb-q", "Q1, Q2 & Q3: Review", "Finance"),
        item("wb-q-decoy", "Q1; Q2 + Q3: Review", "Finance"),
        item("wb-pl", "Projeśt Übersicht", "Europa"),
        item("wb-kpi", "Weekly KPIs", "Ops"),
        item("wb-kpi-old", "Weekly KPIs (old)", "Ops"),
        item("wb-brackets", "[Draft] \"Revenue\" 100%*", "Ops"),
    ]
}

async fn fake() -> FakeTableau {
    FakeTableau::start(
        catalogue(),
        vec![
            item("ds-orders", "Orders", "Data"),
            item("ds-orders-old", "Orders", "Archive"),
            item("ds-customers", "Customers", "Data"),
        ],
    )
    .await
}

#[tokio::test]
async fn version_is_detected_once_per_container_and_the_session_is_closed() {
    let fake = fake().await;
    let refresher = fake.refresher();
    let mut requests_per_invocation = Vec::new();
    let mut warm_latency = Duration::ZERO;
    for _ in 0..2 {
        let before = fake.server.received_requests().await.unwrap().len();
        let started = Instant::now();
        let reports = fake
            .run(&refresher, &[workbook("Weekly KPIs", None)], BUDGET)
            .await;
        warm_latency = started.elapsed();
        assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
        assert_eq!(reports[0].id.as_deref(), Some("wb-kpi"));
        assert_eq!(reports[0].job_id.as_deref(), Some("job-wb-kpi"));
        assert_eq!(reports[0].error, None);
        requests_per_invocation.push(fake.server.received_requests().await.unwrap().len() - before);
    }
    assert_eq!(fake.count("GET", "/serverinfo").await, 1);
    assert_eq!(fake.count("POST", "/auth/signin").await, 2);
    assert_eq!(fake.count("POST", "/auth/signout").await, 2);
    assert_eq!(
        fake.state.lock().unwrap().live_token,
        None,
        "left signed in"
    );
    // serverinfo, sign-in, lookup, refresh, sign-out; then one fewer.
    assert_eq!(requests_per_invocation, [5, 4]);
    println!(
        "one-target invocation: {} Tableau requests cold, {} warm; warm latency {warm_latency:?}",
        requests_per_invocation[0], requests_per_invocation[1]
    );
}

#[tokio::test]
async fn serverinfo_is_asked_exactly_once_across_warm_invocations() {
    let fake = fake().await;
    Mock::given(method("GET"))
        .and(path("/api/2.4/serverinfo"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(
            json!({"serverInfo": {"productVersion": {"value": "x"}, "restApiVersion": VERSION}}),
        ))
        .with_priority(1)
        .expect(1)
        .named("serverinfo")
        .mount(&fake.server)
        .await;
    let refresher = fake.refresher();
    for _ in 0..3 {
        let reports = fake
            .run(&refresher, &[workbook("Sales", Some("Finance"))], BUDGET)
            .await;
        assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    }
    fake.server.verify().await;
}

#[tokio::test]
async fn fixed_api_version_skips_detection() {
    let fake = fake().await;
    let refresher = TableauRefresher::new(Some(VERSION.into())).unwrap();
    let reports = fake
        .run(&refresher, &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert_eq!(fake.count("GET", "/serverinfo").await, 0);
}

#[tokio::test]
async fn sign_in_sends_the_pat_and_site_content_url_as_json() {
    let fake = fake().await;
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    let sign_ins = fake.requests("POST", "/auth/signin").await;
    assert_eq!(sign_ins.len(), 1);
    assert_eq!(
        sign_ins[0].body_json::<Value>().unwrap(),
        json!({"credentials": {"personalAccessTokenName": PAT_NAME,
            "personalAccessTokenSecret": PAT_SECRET, "site": {"contentUrl": SITE}}})
    );
    // Later calls carry the session token, never the PAT.
    for request in fake.server.received_requests().await.unwrap() {
        if !request.url.path().ends_with("/auth/signin") {
            assert!(!String::from_utf8_lossy(&request.body).contains(PAT_SECRET));
        }
        if request.url.path().contains("/sites/") || request.url.path().ends_with("/signout") {
            assert_eq!(request.headers["x-tableau-auth"], "session-token-1");
            assert_eq!(request.headers["accept"], "application/json");
        }
    }
}

#[tokio::test]
async fn default_site_sends_an_empty_content_url() {
    let fake = fake().await;
    let mut access = fake.access();
    access.site = String::new();
    let refresher = fake.refresher();
    let target = workbook("Weekly KPIs", None);
    let reports = dbt_tableau_refresh::tableau::Refresher::refresh(
        &refresher,
        &access,
        &[&target],
        tokio::time::Instant::now() + BUDGET,
    )
    .await;
    let body = fake.requests("POST", "/auth/signin").await[0]
        .body_json::<Value>()
        .unwrap();
    assert_eq!(body["credentials"]["site"], json!({"contentUrl": ""}));
    // The fake only knows the "analytics" site, so this sign-in is refused.
    assert_eq!(reports[0].result, RefreshResult::Failed);
}

#[tokio::test]
async fn wrong_pat_fails_every_target_with_an_actionable_error_and_no_secret() {
    let fake = fake().await;
    let mut access = fake.access();
    access.credentials = dbt_tableau_refresh::secrets::TableauCredentials::PersonalAccessToken {
        name: PAT_NAME.into(),
        secret: "wrong-secret-value".to_owned().into(),
    };
    let (a, b) = (
        workbook("Sales", Some("Finance")),
        datasource("Orders", Some("Data")),
    );
    let reports = dbt_tableau_refresh::tableau::Refresher::refresh(
        &fake.refresher(),
        &access,
        &[&a, &b],
        tokio::time::Instant::now() + BUDGET,
    )
    .await;
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert_eq!(report.result, RefreshResult::Failed);
        let error = report.error.as_deref().unwrap();
        assert!(
            error.starts_with("Tableau sign-in failed: 401001 Signin Error"),
            "{error}"
        );
        assert!(error.contains("TABLEAU_API_TOKEN_NAME") && error.contains("TABLEAU_SITE_NAME"));
        assert!(!error.contains("wrong-secret-value"));
    }
    // Nothing to sign out of, and no item calls without a session.
    assert_eq!(fake.count("POST", "/auth/signout").await, 0);
    assert_eq!(fake.count("GET", "/workbooks").await, 0);
}

#[tokio::test]
async fn names_with_commas_ampersands_colons_and_non_ascii_match_exactly() {
    let fake = fake().await;
    let targets = [
        workbook("Q1, Q2 & Q3: Review", None),
        workbook("Projeśt Übersicht", None),
        workbook("Weekly KPIs", None),
        workbook("[Draft] \"Revenue\" 100%*", Some("Ops")),
    ];
    let reports = fake.run(&fake.refresher(), &targets, BUDGET).await;
    let ids: Vec<_> = reports.iter().map(|r| r.id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            Some("wb-q"),
            Some("wb-pl"),
            Some("wb-kpi"),
            Some("wb-brackets")
        ],
        "{reports:?}"
    );
    assert!(reports.iter().all(|r| r.result == RefreshResult::Queued));
    // The comma/ampersand name went out as wildcards, and the decoy that the
    // wildcard also matches was not refreshed.
    let lookups = fake.requests("GET", "/workbooks").await;
    let filters: Vec<String> = lookups
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "filter")
                .map(|(_, v)| v.into())
        })
        .collect();
    assert!(
        filters.contains(&"name:eq:Q1* Q2 * Q3: Review".to_string()),
        "{filters:?}"
    );
    assert!(
        filters.contains(&"name:eq:Projeśt Übersicht".to_string()),
        "{filters:?}"
    );
    let raw_queries: Vec<&str> = lookups.iter().filter_map(|r| r.url.query()).collect();
    assert!(
        raw_queries
            .iter()
            .any(|q| q.contains("Proje%C5%9Bt%20%C3%9Cbersicht")),
        "{raw_queries:?}"
    );
    let refreshed: Vec<String> = fake
        .requests("POST", "/refresh")
        .await
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(refreshed.len(), 4);
    assert!(
        !refreshed
            .iter()
            .any(|p| p.contains("wb-q-decoy") || p.contains("wb-kpi-old"))
    );
}

#[tokio::test]
async fn project_tells_apart_items_of_the_same_name() {
    let fake = fake().await;
    let reports = fake
        .run(
            &fake.refresher(),
            &[workbook("Sales", Some("Marketing"))],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert_eq!(reports[0].id.as_deref(), Some("wb-sales-mkt"));
    let lookup = &fake.requests("GET", "/workbooks").await[0];
    let filter: String = lookup
        .url
        .query_pairs()
        .find(|(k, _)| k == "filter")
        .unwrap()
        .1
        .into();
    assert_eq!(filter, "name:eq:Sales,projectName:eq:Marketing");
}

#[tokio::test]
async fn ambiguous_name_lists_the_projects() {
    let fake = fake().await;
    let reports = fake
        .run(&fake.refresher(), &[workbook("Sales", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Failed);
    assert_eq!(
        reports[0].error.as_deref(),
        Some(
            "workbook \"Sales\" is in several projects: Finance, Marketing; set \"project\" in REFRESH_TARGETS"
        )
    );
    assert_eq!(fake.count("POST", "/refresh").await, 0);
    assert_eq!(
        fake.count("POST", "/auth/signout").await,
        1,
        "sign-out on failure too"
    );
}

#[tokio::test]
async fn not_found_names_the_item_and_the_project() {
    let fake = fake().await;
    let reports = fake
        .run(
            &fake.refresher(),
            &[
                workbook("Sales", Some("Operations")),
                workbook("Weekly", None),
            ],
            BUDGET,
        )
        .await;
    assert_eq!(
        reports[0].error.as_deref(),
        Some(
            "workbook \"Sales\" not found in project \"Operations\" (or the PAT's user cannot see it)"
        )
    );
    assert_eq!(
        reports[1].error.as_deref(),
        Some("workbook \"Weekly\" not found on the site (or the PAT's user cannot see it)")
    );
    assert!(
        reports
            .iter()
            .all(|r| r.result == RefreshResult::Failed && r.id.is_none())
    );
    assert_eq!(fake.count("POST", "/auth/signout").await, 1);
    assert_eq!(fake.state.lock().unwrap().live_token, None);
}

#[tokio::test]
async fn lookup_follows_pagination() {
    let mut items: Vec<Item> = (0..5)
        .map(|i| {
            item(
                &format!("wb-other-{i}"),
                &format!("Weekly KPIs v{i}"),
                "Ops",
            )
        })
        .collect();
    items.push(item("wb-kpi", "Weekly KPIs", "Ops"));
    let fake = FakeTableau::start(items, vec![]).await;
    let refresher = fake.refresher().with_page_size(2);
    // `*` in the name makes the fake's wildcard match all six: three pages.
    let reports = fake
        .run(&refresher, &[workbook("Weekly KPIs*", None)], BUDGET)
        .await;
    assert_eq!(reports[0].result, RefreshResult::Failed);
    let pages: Vec<String> = fake
        .requests("GET", "/workbooks")
        .await
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "pageNumber")
                .unwrap()
                .1
                .into()
        })
        .collect();
    assert_eq!(pages, ["1", "2", "3"]);
    // The exact name is on the last page.
    let reports = fake
        .run(&refresher, &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(reports[0].id.as_deref(), Some("wb-kpi"), "{reports:?}");
}

#[tokio::test]
async fn exact_match_is_found_beyond_the_first_page() {
    let mut items: Vec<Item> = (0..3)
        .map(|i| item(&format!("wb-dup-{i}"), "Q1; Q2 + Q3: Review", "Finance"))
        .collect();
    items.push(item("wb-q", "Q1, Q2 & Q3: Review", "Finance"));
    let fake = FakeTableau::start(items, vec![]).await;
    let reports = fake
        .run(
            &fake.refresher().with_page_size(2),
            &[workbook("Q1, Q2 & Q3: Review", Some("Finance"))],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].id.as_deref(), Some("wb-q"), "{reports:?}");
    assert_eq!(fake.count("GET", "/workbooks").await, 2);
}

#[tokio::test]
async fn data_sources_are_looked_up_and_refreshed_on_their_own_path() {
    let fake = fake().await;
    let reports = fake
        .run(
            &fake.refresher(),
            &[
                datasource("Orders", Some("Data")),
                datasource("Orders", None),
            ],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Queued, "{reports:?}");
    assert_eq!(reports[0].job_id.as_deref(), Some("job-ds-orders"));
    assert_eq!(
        reports[1].error.as_deref(),
        Some(
            "data source \"Orders\" is in several projects: Archive, Data; set \"project\" in REFRESH_TARGETS"
        )
    );
    let refreshed = fake.requests("POST", "/refresh").await;
    assert_eq!(refreshed.len(), 1);
    assert_eq!(
        refreshed[0].url.path(),
        format!("/api/{VERSION}/sites/{SITE_ID}/datasources/ds-orders/refresh")
    );
    assert_eq!(fake.count("GET", "/workbooks").await, 0);
}

#[tokio::test]
async fn already_queued_is_a_success_without_a_job() {
    let fake = fake().await;
    fake.answer_refresh(
        "wb-kpi",
        409,
        json!({"error": {"summary": "Resource Conflict",
            "detail": "Job for 'wb-kpi' is already queued. Not queuing a duplicate.", "code": "409093"}}),
    );
    let reports = fake
        .run(&fake.refresher(), &[workbook("Weekly KPIs", None)], BUDGET)
        .await;
    assert_eq!(
        reports[0].result,
        RefreshResult::AlreadyQueued,
        "{reports:?}"
    );
    assert_eq!(reports[0].id.as_deref(), Some("wb-kpi"));
    assert_eq!(
        (reports[0].job_id.as_ref(), reports[0].error.as_ref()),
        (None, None)
    );
}

#[tokio::test]
async fn refused_refresh_fails_with_tableaus_words() {
    let fake = fake().await;
    fake.answer_refresh(
        "wb-kpi",
        409,
        json!({"error": {"summary": "Conflict",
            "detail": "Extract operation not allowed: the workbook has no extracts", "code": "409090"}}),
    );
    let reports = fake
        .run(
            &fake.refresher(),
            &[workbook("Weekly KPIs", Some("Ops"))],
            BUDGET,
        )
        .await;
    assert_eq!(reports[0].result, RefreshResult::Failed);
    assert_eq!(reports[0].id.as_deref(), Some("wb-kpi"));
    assert_eq!(
        reports[0].error.as_deref(),
        Some(
            "workbook \"Weekly KPIs\" in project \"Ops\": refresh failed: 409090 Conflict: \
             Extract operation not allowed: the workbook has no extracts (HTTP 409)"
        )
    );
    assert_eq!(
        fake.count("POST", "/refresh").await,
        1,
        "a 4xx is not retried"
    );
    assert_eq!(fake.count("POST", "/auth/signout").await, 1);
}

#[tokio::test]
async fn forbidden_and_html_answers_are_readable() {
    let fake = fake().await;
    fake.answer_refresh(
        "wb-kpi",
        403,
        json!({"error": {"summary": "Forbidden", "detail": "no Refresh permission", "code": "403004"}}),
    );
    Mock::given(method("GET"))
        .and(path(format!("/api/{VERSION}/sites/{SITE_ID}/datasources")))
        .respond_with(wiremock::ResponseTemplate::new(400).set_body_raw(
            "<html><body><h1>Request blocked</h1></body></html>",
            "text/html",
        ))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let reports = fake
        .run(
            &fake.refresher(),
            &[
                workbook("Weekly KPIs", None),
                datasource("Orders", Some("Data")),
            ],
            BUDGET,
        )
        .await;
    let wb = reports[0].error.as_deref().unwrap();
    assert!(
        wb.contains("403004 Forbidden: no Refresh permission (HTTP 403)"),
        "{wb}"
    );
    assert!(wb.contains("lacks permission"), "{wb}");
    let ds = reports[1].error.as_deref().unwrap();
    assert!(
        ds.starts_with(
            "data source \"Orders\" in project \"Data\": lookup failed: HTTP 400 Bad Request"
        ),
        "{ds}"
    );
    assert!(ds.contains("Request blocked"), "{ds}");
}
