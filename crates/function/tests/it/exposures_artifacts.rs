//! The exposure decision on real dbt 1.11 artifacts (tests/artifacts/, made by
//! scripts/make-dbt-artifacts.sh), held against each set's expected_decision.json
//! (the rule written plainly in Python, bench/exposures_reference.py).

use dbt_tableau_engine::exposures::{
    Decision, RunOutcome, RunResults, Verdict, decide, plan, read_manifest, read_run_results,
};
use dbt_tableau_engine::targets::Target;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

fn set(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("tests/artifacts")
        .join(name)
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(set(name).join("expected_decision.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Reads a set's manifest (streamed from the file) and steps in the order the
/// expected decision lists them, and decides.
fn decided(name: &str) -> (Vec<Verdict>, usize, Vec<RunResults>) {
    let manifest = read_manifest(File::open(set(name).join("manifest.json")).unwrap()).unwrap();
    let steps: Vec<RunResults> = expected(name)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            read_run_results(File::open(set(name).join(s["file"].as_str().unwrap())).unwrap())
                .unwrap()
        })
        .collect();
    let verdicts = decide(&manifest, &RunOutcome::from_steps(&steps));
    (verdicts, manifest.exposures_without_tableau, steps)
}

fn check(name: &str) {
    let expected = expected(name);
    let (verdicts, without_tableau, steps) = decided(name);
    let by_id: BTreeMap<&str, &Verdict> =
        verdicts.iter().map(|v| (v.exposure.as_str(), v)).collect();

    // Which steps count, as the reference says.
    for (step, want) in steps.iter().zip(expected["steps"].as_array().unwrap()) {
        assert_eq!(step.which.as_deref(), want["which"].as_str());
        assert_eq!(
            step.counts(),
            want["counted"].as_bool().unwrap(),
            "{name}: {want}"
        );
    }

    let ignored = strings(&expected["ignored"]);
    assert_eq!(without_tableau, ignored.len(), "{name}");
    assert!(
        ignored.iter().all(|e| !by_id.contains_key(e.as_str())),
        "{name}"
    );

    let fresh: BTreeSet<String> = expected["refresh"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|item| strings(&item["exposures"]))
        .collect();
    let untouched = strings(&expected["untouched"]);
    let malformed: BTreeSet<String> = expected["malformed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["exposure"].as_str().unwrap().to_owned())
        .collect();
    let skipped = expected["skipped"].as_array().unwrap();
    assert_eq!(
        by_id.len(),
        fresh.len() + untouched.len() + malformed.len() + skipped.len(),
        "{name}: every exposure with Tableau meta has a verdict"
    );

    for exposure in &fresh {
        let verdict = by_id[exposure.as_str()];
        assert_eq!(verdict.decision, Decision::Fresh, "{name}: {exposure}");
        assert!(verdict.items.is_ok(), "{name}: {exposure}");
    }
    for exposure in &untouched {
        assert_eq!(
            by_id[exposure.as_str()].decision,
            Decision::Untouched,
            "{name}: {exposure}"
        );
    }
    for skip in skipped {
        let exposure = skip["exposure"].as_str().unwrap();
        let Decision::Blocked { node, status } = &by_id[exposure].decision else {
            panic!("{name}: {exposure} is not blocked: {:?}", by_id[exposure]);
        };
        // The reference lists every blocker sorted; we name the first.
        let first = &skip["blocked_by"][0];
        assert_eq!(node, first["node"].as_str().unwrap(), "{name}: {exposure}");
        assert_eq!(
            status.as_str(),
            first["status"].as_str().unwrap(),
            "{name}: {exposure}"
        );
    }
    // The malformed exposures all sit below fresh models (README), so their
    // decision is known too; each fails alone, saying where and what.
    for exposure in &malformed {
        let verdict = by_id[exposure.as_str()];
        assert_eq!(verdict.decision, Decision::Fresh, "{name}: {exposure}");
        let error = verdict.items.as_ref().unwrap_err();
        assert!(
            error.starts_with("meta.tableau"),
            "{name}: {exposure}: {error}"
        );
    }
    let error = |e: &str| by_id[e].items.clone().unwrap_err();
    assert!(error("exposure.tableau_demo.broken_list_item").starts_with("meta.tableau[1]: "));
    assert!(
        error("exposure.tableau_demo.broken_both_kinds")
            .contains("both \"workbook\" and \"datasource\"")
    );
    assert!(error("exposure.tableau_demo.broken_number").ends_with("not a number"));

    // The plan: the reference's items, each once, named by its first exposure.
    let plan = plan(&verdicts);
    let refresh: Vec<Value> = plan.refresh.iter().map(wire).collect();
    let want: Vec<Value> = expected["refresh"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let mut item = item.clone();
            let first = item["exposures"][0].clone();
            let object = item.as_object_mut().unwrap();
            object.remove("exposures");
            object.insert("exposure".into(), first);
            item
        })
        .collect();
    assert_eq!(sorted(refresh), sorted(want), "{name}");
    let skipped: Vec<Value> = plan.skipped.iter().map(|(t, _)| wire(t)).collect();
    let want: Vec<Value> = skipped_items(skip_list(&expected));
    assert_eq!(sorted(skipped), sorted(want), "{name}");
    assert_eq!(plan.malformed.len(), malformed.len(), "{name}");
}

/// A target as the workflow state writes it, less `jobs`.
fn wire(target: &Target) -> Value {
    let mut value = serde_json::to_value(target).unwrap();
    value.as_object_mut().unwrap().remove("jobs");
    value
}

fn skip_list(expected: &Value) -> Vec<Value> {
    expected["skipped"].as_array().unwrap().clone()
}

/// Each blocked exposure's items, each item once, with its first exposure.
fn skipped_items(skipped: Vec<Value>) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for skip in skipped {
        for item in skip["items"].as_array().unwrap() {
            if !seen.contains(item) {
                seen.push(item.clone());
                let mut item = item.clone();
                item.as_object_mut()
                    .unwrap()
                    .insert("exposure".into(), skip["exposure"].clone());
                out.push(item);
            }
        }
    }
    out
}

fn sorted(mut values: Vec<Value>) -> Vec<Value> {
    values.sort_by_key(|v| v.to_string());
    values
}

#[test]
fn one_dbt_build_with_failures() {
    check("build");
}

#[test]
fn four_steps_with_a_docs_generate_last() {
    check("steps");
}

#[test]
fn a_build_without_failures() {
    check("success");
}

#[test]
fn the_docs_step_alone_touches_nothing() {
    let (_, _, steps) = decided("steps");
    let manifest = read_manifest(File::open(set("steps").join("manifest.json")).unwrap()).unwrap();
    let docs = steps.last().unwrap();
    assert_eq!(docs.which.as_deref(), Some("generate"));
    let verdicts = decide(&manifest, &RunOutcome::from_steps([docs]));
    assert!(
        verdicts.iter().all(|v| v.decision == Decision::Untouched),
        "{verdicts:?}"
    );
    // Counted anyway, it would hide revenue_by_currency's error: the trap is real.
    let mut counted = docs.clone();
    counted.which = Some("build".into());
    let mut all: Vec<RunResults> = steps[..3].to_vec();
    all.push(counted);
    let verdicts = decide(&manifest, &RunOutcome::from_steps(&all));
    let revenue = verdicts
        .iter()
        .find(|v| v.exposure == "exposure.tableau_demo.revenue_workbook")
        .unwrap();
    assert_eq!(revenue.decision, Decision::Fresh);
}
