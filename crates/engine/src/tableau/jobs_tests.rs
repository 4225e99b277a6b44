//! Query Job parsing: the shapes REFERENCE.md describes, with numbers as strings
//! or numbers, and what must not pass for an answer.

use super::*;
use serde_json::json;

const ID: &str = "bb1aab79-db54-4e96-9dd3-461d8f081d08";

fn parse(value: Value) -> Result<JobStatus, TableauError> {
    parse_job(ID, value.to_string().as_bytes())
}

/// tableauserverclient's `job_get_by_id_failed_workbook.xml`, as JSON with
/// Tableau's usual string-typed numbers.
#[test]
fn a_failed_workbook_refresh_carries_its_notes_and_item() {
    let job = parse(json!({"job": {
        "id": ID, "mode": "Asynchronous", "type": "RefreshExtract", "progress": "100",
        "createdAt": "2021-10-05T18:53:34Z", "startedAt": "2021-10-05T18:53:34Z",
        "completedAt": "2021-10-05T18:53:35Z", "finishCode": "1",
        "extractRefreshJob": {
            "workbook": {"id": "5998aaaf-1abe-4d38-b4d9-bc53e85bdd13", "name": "Superstore"},
            "notes": "java.lang.RuntimeException: [Microsoft][ODBC Driver 17 for SQL Server]Login failed for user."}}}))
    .unwrap();
    assert_eq!(
        job,
        JobStatus {
            id: ID.into(),
            mode: Some("Asynchronous".into()),
            job_type: Some("RefreshExtract".into()),
            progress: Some(100),
            created_at: Some("2021-10-05T18:53:34Z".into()),
            started_at: Some("2021-10-05T18:53:34Z".into()),
            completed_at: Some("2021-10-05T18:53:35Z".into()),
            finish_code: Some(FinishCode::Failed),
            finish_code_read: None,
            notes: Some(
                "java.lang.RuntimeException: [Microsoft][ODBC Driver 17 for SQL Server]Login failed for user."
                    .into()
            ),
            item: Some(JobItem {
                kind: ItemKind::Workbook,
                id: "5998aaaf-1abe-4d38-b4d9-bc53e85bdd13".into(),
                name: Some("Superstore".into()),
            }),
        }
    );
}

#[test]
fn numbers_may_come_as_numbers() {
    let job = parse(json!({"job": {"id": ID, "progress": 100, "finishCode": 3,
        "extractRefreshJob": {"datasource": {"id": "ds-1", "name": "Orders"}}}}))
    .unwrap();
    assert_eq!(job.progress, Some(100));
    assert_eq!(job.finish_code, Some(FinishCode::Completed));
    assert_eq!(job.item.unwrap().kind, ItemKind::Datasource);
}

#[test]
fn a_running_job_has_no_finish_code_and_no_notes() {
    let job = parse(
        json!({"job": {"id": ID, "mode": "Asynchronous", "type": "RefreshExtract",
        "progress": "0", "createdAt": "2026-01-31T19:29:36Z",
        "extractRefreshJob": {"workbook": {"id": "wb-1"}}}}),
    )
    .unwrap();
    assert_eq!(job.finish_code, None);
    assert_eq!(job.completed_at, None);
    assert_eq!(job.started_at, None);
    assert_eq!(job.notes, None);
    assert_eq!(job.item.unwrap().name, None);
    // Empty and null values are absent too.
    let job = parse(json!({"job": {"id": ID, "finishCode": "", "completedAt": null}})).unwrap();
    assert_eq!((job.finish_code, job.completed_at), (None, None));
}

#[test]
fn every_finish_code_and_an_unknown_one() {
    for (code, expected) in [
        (json!("0"), FinishCode::Success),
        (json!(1), FinishCode::Failed),
        (json!("2"), FinishCode::Cancelled),
        (json!("3"), FinishCode::Completed),
        (json!("7"), FinishCode::Other("7".into())),
        (json!(" 0 "), FinishCode::Success),
    ] {
        let job = parse(json!({"job": {"id": ID, "finishCode": code}})).unwrap();
        assert_eq!(job.finish_code, Some(expected), "{code}");
    }
}

#[test]
fn several_notes_are_joined_and_notes_may_sit_on_the_job() {
    let job = parse(json!({"job": {"id": ID, "finishCode": "1",
        "extractRefreshJob": {"notes": ["first", " ", "second"]}}}))
    .unwrap();
    assert_eq!(job.notes.as_deref(), Some("first\nsecond"));
    let job = parse(json!({"job": {"id": ID, "notes": {"text": "on the job"}}})).unwrap();
    assert_eq!(job.notes.as_deref(), Some("on the job"));
}

#[test]
fn a_missing_id_is_the_one_asked_for_and_another_id_is_refused() {
    assert_eq!(parse(json!({"job": {"progress": "5"}})).unwrap().id, ID);
    assert_eq!(
        parse(json!({"job": {"id": ID.to_uppercase()}})).unwrap().id,
        ID.to_uppercase()
    );
    let e = parse(json!({"job": {"id": "another-job"}})).unwrap_err();
    assert!(e.to_string().contains("answered job another-job"), "{e}");
}

#[test]
fn what_is_not_a_job_answer_is_a_bad_answer() {
    for (body, words) in [
        ("<html>502</html>", "not JSON"),
        (r#"{"job":{"id""#, "ends early"),
        (r#"{"jobs":{}}"#, "no \"job\" object"),
        (r#"{"job":"x"}"#, "no \"job\" object"),
    ] {
        let e = parse_job(ID, body.as_bytes()).unwrap_err();
        assert!(
            matches!(e, TableauError::BadAnswer { .. }) && e.to_string().contains(words),
            "{body}: {e}"
        );
    }
}

#[test]
fn notes_as_a_note_list_and_an_unreadable_finish_code_are_read() {
    let job = parse(
        json!({"job": {"id": ID, "completedAt": "2026-01-31T19:31:36Z",
        "finishCode": {"code": "1"},
        "extractRefreshJob": {"notes": {"note": ["ORA-01017: invalid username", "retry 2"]}}}}),
    )
    .unwrap();
    assert_eq!(
        job.notes.as_deref(),
        Some("ORA-01017: invalid username\nretry 2")
    );
    assert_eq!(job.finish_code, None);
    assert_eq!(job.finish_code_read.as_deref(), Some(r#"{"code":"1"}"#));
}

#[test]
fn a_flow_run_names_its_flow_and_its_notes_may_sit_anywhere() {
    // tableauserverclient's flow_refresh.xml, as JSON, finished with notes deeper down.
    let job = parse(json!({"job": {"id": ID, "mode": "Asynchronous", "type": "RunFlow",
        "createdAt": "2018-05-22T13:00:29Z", "completedAt": "2018-05-22T13:02:00Z", "finishCode": "1",
        "runFlowJobType": {"flowRunId": "e0c3067f-2333-4eee-8028-e0a56ca496f6",
            "flow": {"id": "92967d2d-c7e2-46d0-8847-4802df58f484", "name": "FlowOne"},
            "details": {"notes": "Output step failed: table locked"}}}}))
    .unwrap();
    assert_eq!(job.job_type.as_deref(), Some("RunFlow"));
    assert_eq!(
        job.item,
        Some(JobItem {
            kind: ItemKind::Flow,
            id: "92967d2d-c7e2-46d0-8847-4802df58f484".into(),
            name: Some("FlowOne".into()),
        })
    );
    assert_eq!(
        job.notes.as_deref(),
        Some("Output step failed: table locked")
    );
    assert_eq!(job.finish_code, Some(FinishCode::Failed));
}
