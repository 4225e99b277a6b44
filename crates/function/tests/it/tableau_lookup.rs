//! Finding workbooks and data sources by name against a fake Tableau that
//! filters like Tableau: exact names, wildcards, projects, pagination.

use dbt_tableau_testkit::fake_tableau;

use dbt_tableau_engine::answer::RefreshResult;
use fake_tableau::*;

#[tokio::test]
async fn names_with_commas_ampersands_colons_and_non_ascii_match_exactly() {
    let fake = catalogue_fake().await;
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
    let fake = catalogue_fake().await;
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
    let fake = catalogue_fake().await;
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
    let fake = catalogue_fake().await;
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
    let fake = catalogue_fake().await;
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
