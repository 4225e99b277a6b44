//! The decision on hand-built graphs: no files, no I/O.

use super::*;
use crate::targets::{ItemKind, Target};
use serde_json::json;

/// A view over `parent_map` with exposures named by `(unique_id, depends_on)`, each
/// naming the workbook of its own name.
pub(super) fn view(parent_map: &[(&str, &[&str])], exposures: &[(&str, &[&str])]) -> ManifestView {
    let mut graph = Graph::from_parent_map(parent_map.iter().copied());
    let mut exposures: Vec<Exposure> = exposures
        .iter()
        .map(|(id, deps)| Exposure {
            unique_id: (*id).to_owned(),
            name: id.rsplit('.').next().unwrap_or(id).to_owned(),
            tableau: json!({"workbook": id}),
            tableau_at: "meta.tableau",
            depends_on: deps.iter().map(|d| graph.intern(d)).collect(),
        })
        .collect();
    exposures.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    ManifestView {
        schema_version: "https://schemas.getdbt.com/dbt/manifest/v12.json".into(),
        dbt_version: Some("1.11.0".into()),
        graph,
        exposures,
        exposures_without_tableau: 0,
    }
}

fn step(which: &str, results: &[(&str, &str)]) -> RunResults {
    RunResults {
        which: Some(which.into()),
        results: results
            .iter()
            .map(|(id, s)| NodeResult {
                unique_id: (*id).into(),
                status: Status::from(*s),
            })
            .collect(),
    }
}

fn run(results: &[(&str, &str)]) -> RunOutcome {
    RunOutcome::from_steps(&[step("build", results)])
}

fn decisions(view: &ManifestView, outcome: &RunOutcome) -> Vec<(String, Decision)> {
    decide(view, outcome)
        .into_iter()
        .map(|v| (v.exposure, v.decision))
        .collect()
}

fn blocked(node: &str, status: &str) -> Decision {
    Decision::Blocked {
        node: node.into(),
        status: Status::from(status),
    }
}

/// seed.s -> model.a -> model.b -> model.c -> exposure.dash; test.a_unique tests
/// model.a; source.raw.x feeds model.a; model.other is unrelated.
fn chain() -> ManifestView {
    view(
        &[
            ("seed.p.s", &[]),
            ("source.p.raw.x", &[]),
            ("model.p.a", &["seed.p.s", "source.p.raw.x"]),
            ("model.p.b", &["model.p.a"]),
            ("model.p.c", &["model.p.b"]),
            ("model.p.other", &[]),
            ("test.p.a_unique", &["model.p.a"]),
            ("test.p.other_unique", &["model.p.other"]),
            ("exposure.p.dash", &["model.p.c"]),
        ],
        &[("exposure.p.dash", &["model.p.c"])],
    )
}

fn only(view: &ManifestView, outcome: &RunOutcome) -> Decision {
    let mut all = decisions(view, outcome);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0).1
}

#[test]
fn a_success_several_levels_up_makes_the_exposure_fresh() {
    let outcome = run(&[("seed.p.s", "success")]);
    assert_eq!(only(&chain(), &outcome), Decision::Fresh);
}

#[test]
fn a_direct_dependency_counts_as_upstream() {
    let outcome = run(&[("model.p.c", "success")]);
    assert_eq!(only(&chain(), &outcome), Decision::Fresh);
}

#[test]
fn an_error_several_levels_up_blocks_even_when_others_succeeded() {
    let outcome = run(&[
        ("seed.p.s", "success"),
        ("model.p.a", "error"),
        ("model.p.b", "skipped"),
        ("model.p.c", "skipped"),
    ]);
    // Three blockers; the first by unique_id is reported.
    assert_eq!(only(&chain(), &outcome), blocked("model.p.a", "error"));
}

#[test]
fn a_skipped_upstream_node_blocks() {
    let outcome = run(&[("model.p.a", "success"), ("model.p.c", "skipped")]);
    assert_eq!(only(&chain(), &outcome), blocked("model.p.c", "skipped"));
}

#[test]
fn failing_or_erroring_tests_on_upstream_nodes_block() {
    for status in ["fail", "error"] {
        let outcome = run(&[("model.p.a", "success"), ("test.p.a_unique", status)]);
        assert_eq!(only(&chain(), &outcome), blocked("test.p.a_unique", status));
    }
}

#[test]
fn warn_pass_and_skipped_tests_do_not_block() {
    for status in ["warn", "pass", "skipped"] {
        let outcome = run(&[("model.p.b", "success"), ("test.p.a_unique", status)]);
        assert_eq!(only(&chain(), &outcome), Decision::Fresh, "{status}");
    }
}

#[test]
fn failures_off_the_exposures_lineage_do_not_block() {
    let outcome = run(&[
        ("model.p.b", "success"),
        ("model.p.other", "error"),
        ("test.p.other_unique", "fail"),
    ]);
    assert_eq!(only(&chain(), &outcome), Decision::Fresh);
}

#[test]
fn nothing_upstream_in_the_run_leaves_the_exposure_untouched() {
    let outcome = run(&[
        ("model.p.other", "success"),
        ("test.p.other_unique", "pass"),
    ]);
    assert_eq!(only(&chain(), &outcome), Decision::Untouched);
    assert_eq!(only(&chain(), &RunOutcome::default()), Decision::Untouched);
}

#[test]
fn only_models_seeds_and_snapshots_make_fresh() {
    // A source's freshness pass and a passing test rebuild nothing.
    let outcome = run(&[("source.p.raw.x", "pass"), ("test.p.a_unique", "pass")]);
    assert_eq!(only(&chain(), &outcome), Decision::Untouched);
    for status in ["partial success", "no-op", "reused"] {
        let outcome = run(&[("model.p.a", status)]);
        assert_eq!(only(&chain(), &outcome), Decision::Untouched, "{status}");
    }
}

#[test]
fn a_failing_test_blocks_even_when_nothing_was_rebuilt() {
    // `dbt test` alone: the dashboard is listed as skipped, naming the test.
    let outcome = run(&[("test.p.a_unique", "fail")]);
    assert_eq!(only(&chain(), &outcome), blocked("test.p.a_unique", "fail"));
}

#[test]
fn a_later_step_wins_over_an_earlier_one() {
    let failed = step("run", &[("seed.p.s", "success"), ("model.p.a", "error")]);
    let retried = step("retry", &[("model.p.a", "success")]);
    let outcome = RunOutcome::from_steps([&failed, &retried]);
    assert_eq!(only(&chain(), &outcome), Decision::Fresh);
    let outcome = RunOutcome::from_steps([&retried, &failed]);
    assert_eq!(only(&chain(), &outcome), blocked("model.p.a", "error"));
}

#[test]
fn results_spread_over_seed_run_and_test_steps_combine() {
    let seed = step("seed", &[("seed.p.s", "success")]);
    let run_ = step("run", &[("model.p.a", "success"), ("model.p.b", "success")]);
    let test = step("test", &[("test.p.a_unique", "fail")]);
    let outcome = RunOutcome::from_steps([&seed, &run_]);
    assert_eq!(only(&chain(), &outcome), Decision::Fresh);
    let outcome = RunOutcome::from_steps([&seed, &run_, &test]);
    assert_eq!(only(&chain(), &outcome), blocked("test.p.a_unique", "fail"));
}

#[test]
fn a_docs_generate_step_never_counts() {
    let build = step("build", &[("model.p.a", "error"), ("model.p.c", "skipped")]);
    let everything = [
        ("seed.p.s", "success"),
        ("model.p.a", "success"),
        ("model.p.c", "success"),
    ];
    for which in ["generate", "compile", "ls", "list", "parse", "docs"] {
        let docs = step(which, &everything);
        // It neither overwrites the real results ...
        let outcome = RunOutcome::from_steps([&build, &docs]);
        assert_eq!(
            only(&chain(), &outcome),
            blocked("model.p.a", "error"),
            "{which}"
        );
        // ... nor makes anything fresh on its own.
        let outcome = RunOutcome::from_steps([&docs]);
        assert_eq!(only(&chain(), &outcome), Decision::Untouched, "{which}");
    }
}

#[test]
fn a_step_without_which_counts() {
    let mut old = step("build", &[("model.p.b", "success")]);
    old.which = None;
    assert_eq!(
        only(&chain(), &RunOutcome::from_steps([&old])),
        Decision::Fresh
    );
}

#[test]
fn a_test_on_two_nodes_blocks_exposures_downstream_of_either() {
    // A relationships test has both models as parents.
    let view = view(
        &[
            ("model.p.customers", &[]),
            ("model.p.orders", &[]),
            ("test.p.rel", &["model.p.orders", "model.p.customers"]),
        ],
        &[
            ("exposure.p.by_customer", &["model.p.customers"]),
            ("exposure.p.by_order", &["model.p.orders"]),
        ],
    );
    let outcome = run(&[
        ("model.p.customers", "success"),
        ("model.p.orders", "success"),
        ("test.p.rel", "fail"),
    ]);
    let all = decisions(&view, &outcome);
    assert!(
        all.iter().all(|(_, d)| *d == blocked("test.p.rel", "fail")),
        "{all:?}"
    );
}

#[test]
fn each_exposure_is_judged_on_its_own_lineage() {
    let view = view(
        &[
            ("model.p.good", &[]),
            ("model.p.bad", &[]),
            ("model.p.idle", &[]),
        ],
        &[
            ("exposure.p.z_good", &["model.p.good"]),
            ("exposure.p.bad", &["model.p.bad", "model.p.good"]),
            ("exposure.p.idle", &["model.p.idle"]),
        ],
    );
    let outcome = run(&[("model.p.good", "success"), ("model.p.bad", "error")]);
    assert_eq!(
        decisions(&view, &outcome),
        vec![
            ("exposure.p.bad".into(), blocked("model.p.bad", "error")),
            ("exposure.p.idle".into(), Decision::Untouched),
            ("exposure.p.z_good".into(), Decision::Fresh),
        ]
    );
}

#[test]
fn a_cycle_in_a_malformed_parent_map_ends() {
    let view = view(
        &[("model.p.a", &["model.p.b"]), ("model.p.b", &["model.p.a"])],
        &[("exposure.p.e", &["model.p.a", "model.p.unknown"])],
    );
    let outcome = run(&[("model.p.b", "success")]);
    assert_eq!(only(&view, &outcome), Decision::Fresh);
}

#[test]
fn a_malformed_meta_fails_its_exposure_only_and_is_still_judged() {
    let mut view = view(
        &[("model.p.a", &[])],
        &[
            ("exposure.p.bad", &["model.p.a"]),
            ("exposure.p.good", &["model.p.a"]),
        ],
    );
    view.exposures[0].tableau = json!("Sales Overview");
    let verdicts = decide(&view, &run(&[("model.p.a", "success")]));
    assert!(
        verdicts[0]
            .items
            .as_ref()
            .unwrap_err()
            .contains("not a string")
    );
    assert_eq!(verdicts[0].decision, Decision::Fresh);
    let mut good = Target::named(ItemKind::Workbook, "exposure.p.good", None);
    good.exposure = Some("exposure.p.good".into());
    assert_eq!(verdicts[1].items, Ok(vec![good]));
}

#[test]
fn why_blocked_names_the_node_and_its_status() {
    assert_eq!(
        blocked("model.p.a", "error").why_blocked().unwrap(),
        "not refreshed: upstream model.p.a ended error in this run"
    );
    assert_eq!(
        blocked("test.p.a_unique", "fail").why_blocked().unwrap(),
        "not refreshed: test.p.a_unique, a test on an upstream node, ended fail in this run"
    );
    assert_eq!(Decision::Fresh.why_blocked(), None);
}
