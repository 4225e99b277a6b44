//! Properties of the decision over random graphs and runs, held against a plain
//! reference reading of the rules; and of the reader over damaged manifests.

use super::decide_tests::view;
use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const KINDS: &[&str] = &["model", "model", "model", "seed", "snapshot", "source"];
const NODE_STATUSES: &[&str] = &["success", "error", "skipped", "no-op", "success"];
const TEST_STATUSES: &[&str] = &["pass", "fail", "warn", "error", "skipped", "pass"];

/// A random project: nodes (parents only among earlier nodes, so a DAG), tests on
/// one or two nodes, exposures on a few nodes, and one result per node in the run.
#[derive(Debug, Clone)]
struct Project {
    parent_map: Vec<(String, Vec<String>)>,
    exposures: Vec<(String, Vec<String>)>,
    results: Vec<(String, String)>,
}

fn project() -> impl Strategy<Value = Project> {
    (2usize..24, 0usize..8, 1usize..5).prop_flat_map(|(nodes, tests, exposures)| {
        (
            prop::collection::vec(
                (
                    0..KINDS.len(),
                    prop::collection::vec(any::<prop::sample::Index>(), 0..3),
                ),
                nodes,
            ),
            prop::collection::vec(
                prop::collection::vec(any::<prop::sample::Index>(), 1..3),
                tests,
            ),
            prop::collection::vec(
                prop::collection::vec(any::<prop::sample::Index>(), 0..3),
                exposures,
            ),
            prop::collection::vec(
                prop::option::of(any::<prop::sample::Index>()),
                nodes + tests,
            ),
        )
            .prop_map(|(nodes, tests, exposures, statuses)| {
                build(nodes, tests, exposures, statuses)
            })
    })
}

fn build(
    nodes: Vec<(usize, Vec<prop::sample::Index>)>,
    tests: Vec<Vec<prop::sample::Index>>,
    exposures: Vec<Vec<prop::sample::Index>>,
    statuses: Vec<Option<prop::sample::Index>>,
) -> Project {
    let names: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, (k, _))| format!("{}.p.n{i:02}", KINDS[*k]))
        .collect();
    let mut parent_map = Vec::new();
    for (i, (_, parents)) in nodes.iter().enumerate() {
        // Sources have no parents; others pick among earlier nodes.
        let parents: BTreeSet<String> = if i == 0 || names[i].starts_with("source.") {
            BTreeSet::new()
        } else {
            parents.iter().map(|p| names[p.index(i)].clone()).collect()
        };
        parent_map.push((names[i].clone(), parents.into_iter().collect()));
    }
    let test_names: Vec<String> = (0..tests.len()).map(|i| format!("test.p.t{i}")).collect();
    for (name, on) in test_names.iter().zip(&tests) {
        let on: BTreeSet<String> = on
            .iter()
            .map(|p| names[p.index(names.len())].clone())
            .collect();
        parent_map.push((name.clone(), on.into_iter().collect()));
    }
    let exposures = exposures
        .iter()
        .enumerate()
        .map(|(i, deps)| {
            (
                format!("exposure.p.e{i}"),
                deps.iter()
                    .map(|d| names[d.index(names.len())].clone())
                    .collect(),
            )
        })
        .collect();
    let results = names
        .iter()
        .map(|n| (n, NODE_STATUSES))
        .chain(test_names.iter().map(|n| (n, TEST_STATUSES)))
        .zip(statuses)
        .filter_map(|((name, pick_from), s)| {
            s.map(|s| (name.clone(), pick_from[s.index(pick_from.len())].to_owned()))
        })
        .collect();
    Project {
        parent_map,
        exposures,
        results,
    }
}

impl Project {
    fn view(&self) -> ManifestView {
        let pm: Vec<(&str, Vec<&str>)> = self
            .parent_map
            .iter()
            .map(|(c, ps)| (c.as_str(), ps.iter().map(String::as_str).collect()))
            .collect();
        let pm: Vec<(&str, &[&str])> = pm.iter().map(|(c, ps)| (*c, ps.as_slice())).collect();
        let ex: Vec<(&str, Vec<&str>)> = self
            .exposures
            .iter()
            .map(|(e, ds)| (e.as_str(), ds.iter().map(String::as_str).collect()))
            .collect();
        let ex: Vec<(&str, &[&str])> = ex.iter().map(|(e, ds)| (*e, ds.as_slice())).collect();
        view(&pm, &ex)
    }

    fn outcome(&self) -> RunOutcome {
        self.results
            .iter()
            .map(|(id, s)| (id.as_str(), Status::from(s.as_str())))
            .collect()
    }

    fn decisions(&self) -> BTreeMap<String, Decision> {
        let view = self.view();
        decide(&view, &self.outcome())
            .into_iter()
            .map(|v| (v.exposure, v.decision))
            .collect()
    }

    /// Upstream by the contract's words, on strings, without the interned graph.
    fn upstream(&self, exposure: &str) -> BTreeSet<String> {
        let parents: BTreeMap<&str, &Vec<String>> = self
            .parent_map
            .iter()
            .map(|(c, p)| (c.as_str(), p))
            .collect();
        let mut todo: Vec<String> = self
            .exposures
            .iter()
            .find(|(e, _)| e == exposure)
            .unwrap()
            .1
            .clone();
        let mut seen = BTreeSet::new();
        while let Some(n) = todo.pop() {
            if seen.insert(n.clone()) {
                todo.extend(
                    parents
                        .get(n.as_str())
                        .into_iter()
                        .flat_map(|p| p.iter().cloned()),
                );
            }
        }
        seen
    }

    /// Nodes and tests whose results could block `exposure`, with those results.
    fn blockers(&self, exposure: &str) -> BTreeMap<String, String> {
        let up = self.upstream(exposure);
        let parents: BTreeMap<&str, &Vec<String>> = self
            .parent_map
            .iter()
            .map(|(c, p)| (c.as_str(), p))
            .collect();
        self.results
            .iter()
            .filter(|(id, status)| {
                if id.starts_with("test.") {
                    ["fail", "error"].contains(&status.as_str())
                        && parents[id.as_str()].iter().any(|p| up.contains(p))
                } else {
                    ["error", "skipped"].contains(&status.as_str()) && up.contains(id)
                }
            })
            .cloned()
            .collect()
    }

    fn reference(&self, exposure: &str) -> Decision {
        let up = self.upstream(exposure);
        if let Some((node, status)) = self.blockers(exposure).into_iter().next() {
            return Decision::Blocked {
                node,
                status: Status::from(status),
            };
        }
        let fresh = self
            .results
            .iter()
            .any(|(id, s)| s == "success" && up.contains(id) && NodeKind::of(id).builds_data());
        if fresh {
            Decision::Fresh
        } else {
            Decision::Untouched
        }
    }
}

proptest! {
    #[test]
    fn decide_follows_the_contracts_words(p in project()) {
        for (exposure, decision) in p.decisions() {
            prop_assert_eq!(decision, p.reference(&exposure), "{}", exposure);
        }
    }

    #[test]
    fn a_failing_upstream_node_never_adds_a_refresh(p in project(), pick in any::<prop::sample::Index>(), bad in 0usize..3) {
        let before = p.decisions();
        let mut worse = p.clone();
        let node = &p.parent_map[pick.index(p.parent_map.len())].0;
        let status = if node.starts_with("test.") { ["fail", "error", "fail"][bad] } else { ["error", "skipped", "error"][bad] };
        worse.results.retain(|(id, _)| id != node);
        worse.results.push((node.clone(), status.to_owned()));
        for (exposure, after) in worse.decisions() {
            if after == Decision::Fresh {
                prop_assert_eq!(&before[&exposure], &Decision::Fresh);
            }
            let up = p.upstream(&exposure);
            let parents = &p.parent_map.iter().find(|(c, _)| c == node).unwrap().1;
            if up.contains(node) || (node.starts_with("test.") && parents.iter().any(|x| up.contains(x))) {
                prop_assert!(matches!(after, Decision::Blocked { .. }), "{} {:?}", exposure, after);
            }
        }
    }

    #[test]
    fn an_exposure_with_nothing_upstream_in_the_run_is_never_listed(p in project()) {
        let ran: BTreeSet<&String> = p.results.iter().map(|(id, _)| id).collect();
        for (exposure, decision) in p.decisions() {
            let up = p.upstream(&exposure);
            let tests_on_up = p.parent_map.iter().filter(|(t, ps)| t.starts_with("test.") && ps.iter().any(|x| up.contains(x)));
            let touched = up.iter().any(|n| ran.contains(n)) || tests_on_up.into_iter().any(|(t, _)| ran.contains(t));
            if !touched {
                prop_assert_eq!(decision, Decision::Untouched);
            }
        }
    }

    #[test]
    fn the_order_of_results_steps_and_parent_map_entries_does_not_matter(
        p in project(), seed in any::<u64>(), steps in 1usize..4,
    ) {
        let expected = p.decisions();
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut shuffled = p.clone();
        rng.shuffle(&mut shuffled.parent_map);
        rng.shuffle(&mut shuffled.exposures);
        rng.shuffle(&mut shuffled.results);
        // Each node's one result goes to a random step; steps in a random order, plus
        // a docs step claiming success for everything.
        let mut split: Vec<RunResults> = (0..steps).map(|_| RunResults { which: Some("build".into()), results: vec![] }).collect();
        for (id, s) in &shuffled.results {
            split[rng.usize(..steps)].results.push(NodeResult { unique_id: id.clone(), status: Status::from(s.as_str()) });
        }
        let docs = RunResults {
            which: Some("generate".into()),
            results: p.parent_map.iter().map(|(id, _)| NodeResult { unique_id: id.clone(), status: Status::Success }).collect(),
        };
        split.insert(rng.usize(..=split.len()), docs);
        let outcome = RunOutcome::from_steps(&split);
        let got: BTreeMap<String, Decision> =
            decide(&shuffled.view(), &outcome).into_iter().map(|v| (v.exposure, v.decision)).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn a_damaged_manifest_is_an_answer_not_a_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = super::reader_tests::sample_manifest().into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = read_manifest(bytes.as_slice());
        let _ = read_run_results(bytes.as_slice());
    }
}
