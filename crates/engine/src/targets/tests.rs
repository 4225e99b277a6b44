use super::*;

fn error_of(raw: &str) -> String {
    Targets::parse(raw).expect_err(raw).to_string()
}

fn items(targets: &Targets) -> Vec<&Target> {
    targets
        .all()
        .iter()
        .filter_map(|e| match e {
            Entry::Item(t) => Some(t),
            Entry::Exposures { .. } => None,
        })
        .collect()
}

#[test]
fn parses_the_contract_example() {
    let targets = Targets::parse(
        r#"[{"workbook":"Sales Overview"},
            {"workbook":"Sales","project":"Finance","jobs":["123",456]},
            {"datasource":"Orders","jobs":["789"]}]"#,
    )
    .unwrap();
    let all = items(&targets);
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].kind, ItemKind::Workbook);
    assert_eq!(all[1].project(), Some("Finance"));
    assert_eq!(
        all[1].jobs,
        Some(vec![
            JobId::parse("123").unwrap(),
            JobId::parse("456").unwrap()
        ])
    );
    assert_eq!(all[2].kind, ItemKind::Datasource);
}

#[test]
fn ids_and_exposure_entries() {
    let targets = Targets::parse(
        r#"[{"workbook_id":"1b2c-luid"},{"datasource_id":" ds-luid "},{"exposures":true,"jobs":[7]}]"#,
    )
    .unwrap();
    let all = targets.all();
    assert_eq!(
        all[0],
        Entry::Item(Target::by_id(ItemKind::Workbook, "1b2c-luid"))
    );
    assert_eq!(
        all[1],
        Entry::Item(Target::by_id(ItemKind::Datasource, "ds-luid"))
    );
    assert_eq!(
        all[2],
        Entry::Exposures {
            jobs: Some(vec![JobId::parse("7").unwrap()])
        }
    );
    assert!(targets.has_exposures());
}

#[test]
fn routes_by_job_and_keeps_unrestricted_targets() {
    let targets = Targets::parse(
        r#"[{"workbook":"A"},{"workbook":"B","jobs":[456]},{"datasource":"C","jobs":["789"]}]"#,
    )
    .unwrap();
    let names = |job: Option<&str>| -> Vec<String> {
        let job = job.and_then(JobId::parse);
        targets
            .for_job(job.as_ref(), true)
            .items
            .iter()
            .map(|t| t.name().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(Some("456")), ["A", "B"]);
    assert_eq!(names(Some("789")), ["A", "C"]);
    assert_eq!(names(Some("1")), ["A"]);
    assert_eq!(names(None), ["A"]);
}

#[test]
fn item_entries_need_a_successful_run_and_exposure_entries_do_not() {
    let targets = Targets::parse(r#"[{"workbook":"A"},{"exposures":true,"jobs":["9"]}]"#).unwrap();
    let nine = JobId::parse("9");
    let failed_run = targets.for_job(nine.as_ref(), false);
    assert!(failed_run.items.is_empty());
    assert!(failed_run.exposures);
    let other_job = targets.for_job(JobId::parse("8").as_ref(), false);
    assert!(other_job.is_empty());
    let good_run = targets.for_job(nine.as_ref(), true);
    assert_eq!(good_run.items.len(), 1);
    assert!(good_run.exposures);
}

#[test]
fn errors_name_the_entry_and_the_field() {
    assert_eq!(
        error_of(r#"[{"workbook":"a"},{"workbook":"b"},{"workbook":"c","datasource":"d"}]"#),
        r#"REFRESH_TARGETS[2]: both "workbook" and "datasource" given"#
    );
    assert!(error_of(r#"[{"project":"p"}]"#).starts_with("REFRESH_TARGETS[0]: one of"));
    assert!(error_of(r#"[{"workbook":""}]"#).starts_with("REFRESH_TARGETS[0].workbook:"));
    assert!(error_of(r#"[{"datasource":7}]"#).starts_with("REFRESH_TARGETS[0].datasource:"));
    assert!(
        error_of(r#"[{"workbook":"a","project":1}]"#).starts_with("REFRESH_TARGETS[0].project:")
    );
    assert!(error_of(r#"[{"workbook":"a","jobs":"1"}]"#).starts_with("REFRESH_TARGETS[0].jobs:"));
    assert!(error_of(r#"[{"workbook":"a","jobs":[]}]"#).starts_with("REFRESH_TARGETS[0].jobs:"));
    assert!(
        error_of(r#"[{"workbook":"a","jobs":[1,1.5]}]"#).starts_with("REFRESH_TARGETS[0].jobs[1]:")
    );
    assert!(error_of(r#"[{"workbook":"a","job":[1]}]"#).contains(r#"unknown field "job""#));
    assert!(error_of(r#"["a"]"#).starts_with("REFRESH_TARGETS[0]: must be an object"));
    assert!(error_of(r#"{"workbook":"a"}"#).contains("must be a JSON array"));
    assert!(error_of("[]").contains("no targets"));
    assert!(error_of("[{").contains("not valid JSON"));
    assert!(
        error_of(r#"[{"workbook_id":"x","project":"p"}]"#)
            .starts_with("REFRESH_TARGETS[0].project: not allowed")
    );
    assert!(
        error_of(r#"[{"workbook":"a","workbook_id":"x"}]"#)
            .contains(r#"both "workbook" and "workbook_id""#)
    );
    assert!(
        error_of(r#"[{"exposures":false}]"#)
            .starts_with("REFRESH_TARGETS[0].exposures: must be true")
    );
    assert!(
        error_of(r#"[{"exposures":true,"workbook":"a"}]"#)
            .contains(r#""workbook" can't be combined with "exposures""#)
    );
}

#[test]
fn exposure_meta_uses_the_same_vocabulary_without_jobs() {
    let at = "exposure.p.x meta.tableau";
    assert_eq!(
        parse_item(
            &serde_json::json!({"workbook": "Sales", "project": "Finance"}),
            at
        ),
        Ok((
            ItemKind::Workbook,
            Locator::Name {
                name: "Sales".into(),
                project: Some("Finance".into())
            },
            false
        ))
    );
    let err = parse_item(&serde_json::json!({"workbook": "Sales", "jobs": [1]}), at).unwrap_err();
    assert!(err.contains(r#"unknown field "jobs""#), "{err}");
    assert!(
        parse_item(&serde_json::json!(7), at)
            .unwrap_err()
            .starts_with(at)
    );
}

#[test]
fn wire_form_round_trips_and_rejects_ambiguity() {
    let mut target = Target::named(ItemKind::Datasource, "Orders", Some("Data"));
    target.exposure = Some("exposure.shop.orders".into());
    let text = serde_json::to_string(&target).unwrap();
    assert_eq!(
        text,
        r#"{"kind":"datasource","name":"Orders","project":"Data","id":null,"exposure":"exposure.shop.orders"}"#
    );
    assert_eq!(serde_json::from_str::<Target>(&text).unwrap(), target);
    assert!(serde_json::from_str::<Target>(r#"{"kind":"workbook","name":"a","id":"b"}"#).is_err());
}

#[test]
fn flows_and_incremental_refreshes_are_items_too() {
    let targets = Targets::parse(
        r#"[{"flow": "Clean Orders", "project": "Prep", "jobs": [1]},
            {"flow_id": " f-luid "},
            {"workbook": "Sales", "incremental": true},
            {"datasource_id": "ds-1", "incremental": false}]"#,
    )
    .unwrap();
    let items: Vec<&Target> = targets
        .all()
        .iter()
        .map(|e| match e {
            Entry::Item(t) => t,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(items[0].kind, ItemKind::Flow);
    assert_eq!(items[0].name(), Some("Clean Orders"));
    assert_eq!(items[0].project(), Some("Prep"));
    assert_eq!(
        items[0].to_string(),
        "flow \"Clean Orders\" in project \"Prep\""
    );
    assert_eq!(*items[1], Target::by_id(ItemKind::Flow, "f-luid"));
    assert_eq!(
        *items[2],
        Target::named(ItemKind::Workbook, "Sales", None).incremental()
    );
    assert!(!items[3].incremental);
    // The wire form carries "incremental" only when asked.
    let text = serde_json::to_string(items[2]).unwrap();
    assert!(text.ends_with(r#""incremental":true}"#), "{text}");
    assert_eq!(serde_json::from_str::<Target>(&text).unwrap(), *items[2]);
    assert!(
        !serde_json::to_string(items[0])
            .unwrap()
            .contains("incremental")
    );
}

#[test]
fn a_bad_incremental_key_names_the_entry() {
    for (raw, says) in [
        (
            r#"[{"workbook": "Sales", "incremental": "yes"}]"#,
            "REFRESH_TARGETS[0].incremental: must be true or false",
        ),
        (
            r#"[{"flow": "Prep", "incremental": true}]"#,
            "REFRESH_TARGETS[0].incremental: a flow has no incremental refresh",
        ),
        (
            r#"[{"flow": "Prep", "flow_id": "x"}]"#,
            r#"both "flow" and "flow_id" given"#,
        ),
        (
            r#"[{"flow_id": "x", "project": "P"}]"#,
            "REFRESH_TARGETS[0].project: not allowed",
        ),
        (
            r#"[{"incremental": true}]"#,
            r#"one of "workbook", "datasource" or "flow" is required"#,
        ),
    ] {
        let err = Targets::parse(raw).unwrap_err().to_string();
        assert!(err.contains(says), "{raw}: {err}");
    }
    let err = parse_item(&serde_json::json!({"flow": "P", "incremental": 1}), "m").unwrap_err();
    assert_eq!(err, "m.incremental: must be true or false");
}
