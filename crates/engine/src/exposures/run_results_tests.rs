//! The run_results reader.

use super::reader_tests::sample_manifest;
use super::*;

const RUN_RESULTS: &str = r#"{
  "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json", "dbt_version": "1.11.2"},
  "results": [
    {"status": "success", "timing": [], "thread_id": "Thread-1", "execution_time": 0.1,
     "adapter_response": {}, "message": "OK", "failures": null,
     "unique_id": "model.shop.orders", "compiled": true, "compiled_code": "select 1", "relation_name": "x"},
    {"status": "fail", "unique_id": "test.shop.unique_orders_id.1a", "failures": 3, "message": "Got 3 results"},
    {"status": "partial success", "unique_id": "model.shop.batched"}
  ],
  "elapsed_time": 1.5,
  "args": {"which": "build", "select": [], "vars": {}}
}"#;

#[test]
fn run_results_keep_which_and_each_status() {
    let read = read_run_results(RUN_RESULTS.as_bytes()).unwrap();
    assert_eq!(read.which.as_deref(), Some("build"));
    assert!(read.counts());
    let statuses: Vec<(&str, &Status)> = read
        .results
        .iter()
        .map(|r| (r.unique_id.as_str(), &r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("model.shop.orders", &Status::Success),
            ("test.shop.unique_orders_id.1a", &Status::Fail),
            (
                "model.shop.batched",
                &Status::Other("partial success".into())
            ),
        ]
    );
    let docs =
        read_run_results(RUN_RESULTS.replace("\"build\"", "\"generate\"").as_bytes()).unwrap();
    assert!(!docs.counts());
}

#[test]
fn bad_run_results_are_errors() {
    let manifest = sample_manifest();
    for (bad, why) in [
        (manifest.as_str(), "not a run_results.json"),
        ("{\"args\": {}}", "no \"results\""),
        (
            "{\"results\": [{\"status\": \"success\"}]}",
            "missing field `unique_id`",
        ),
        ("{\"results\": {}}", "invalid type"),
        (&RUN_RESULTS[..100], "EOF"),
        ("", "EOF"),
    ] {
        let error = read_run_results(bad.as_bytes()).unwrap_err();
        assert_eq!(error.artifact(), Artifact::RunResults);
        assert!(error.to_string().contains(why), "{error} lacks {why}");
    }
}

#[test]
fn adding_steps_one_by_one_is_combining_them() {
    let step = |which: &str, results: &[(&str, Status)]| RunResults {
        which: Some(which.into()),
        results: results
            .iter()
            .map(|(id, s)| NodeResult {
                unique_id: (*id).into(),
                status: s.clone(),
            })
            .collect(),
    };
    let steps = [
        step(
            "run",
            &[("model.p.a", Status::Error), ("model.p.b", Status::Success)],
        ),
        step("retry", &[("model.p.a", Status::Success)]),
        step(
            "generate",
            &[
                ("model.p.b", Status::Success),
                ("model.p.c", Status::Success),
            ],
        ),
    ];
    let mut one_by_one = RunOutcome::default();
    for s in steps.clone() {
        one_by_one.add(s);
    }
    assert_eq!(one_by_one, RunOutcome::from_steps(&steps));
    assert_eq!(one_by_one.len(), 2);
    assert_eq!(one_by_one.status("model.p.a"), Some(&Status::Success));
    assert_eq!(one_by_one.status("model.p.c"), None);
}
