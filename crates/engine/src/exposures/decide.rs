//! The decision: which exposures this run made fresh, which it blocked. Pure: a
//! manifest view and the run's outcome in, verdicts out.
//!
//! Upstream of an exposure = its `depends_on.nodes` and, transitively, their parents
//! in the manifest's parent map. Then, in this order:
//! - **Blocked** when an upstream node other than a test ended `error`, `skipped` or
//!   `runtime error`, or a test whose parents include an upstream node ended `fail`,
//!   `error` or `runtime error` (`warn` does not block). Blocked wins over fresh: a
//!   dashboard downstream of a failure keeps its last good extract.
//! - **Fresh** when an upstream model, seed or snapshot ended `success`.
//! - **Untouched** otherwise: nothing upstream ran (not listed in answers).

use super::graph::{Graph, NodeId, NodeKind};
use super::items::parse_tableau;
use super::manifest::{Exposure, ManifestView};
use super::run_results::{RunOutcome, Status};
use crate::targets::Target;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Fresh,
    /// `node` is the blocking node or failing test's unique_id; when several block,
    /// the first in unique_id order, so the report is the same for the same run.
    Blocked {
        node: String,
        status: Status,
    },
    Untouched,
}

impl Decision {
    /// Why a blocked exposure's items are skipped, for the report's `error`.
    pub fn why_blocked(&self) -> Option<String> {
        let Decision::Blocked { node, status } = self else {
            return None;
        };
        Some(if NodeKind::of(node) == NodeKind::Test {
            format!("not refreshed: {node}, a test on an upstream node, ended {status} in this run")
        } else {
            format!("not refreshed: upstream {node} ended {status} in this run")
        })
    }
}

/// The judgement on one exposure with Tableau meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub exposure: String,
    pub name: String,
    /// The Tableau items the exposure names, each with `exposure` set (and `jobs`
    /// `None`: the entry's jobs were matched before resolving), or what is wrong with
    /// its `meta.tableau` (this exposure fails; the others go on).
    pub items: Result<Vec<Target>, String>,
    pub decision: Decision,
}

/// One verdict per exposure with Tableau meta, in unique_id order.
pub fn decide(manifest: &ManifestView, outcome: &RunOutcome) -> Vec<Verdict> {
    let marks = Marks::new(&manifest.graph, outcome);
    // Once per node (a parent map is a DAG), so each exposure costs its own
    // dependencies rather than a walk over everything upstream; a malformed map
    // with a cycle is judged by walking, which the cycle can't fool.
    let upstream = Upstream::new(&manifest.graph, &marks);
    let mut walk = Walk::new(manifest.graph.len());
    manifest
        .exposures
        .iter()
        .map(|exposure| Verdict {
            exposure: exposure.unique_id.clone(),
            name: exposure.name.clone(),
            items: parse_tableau(&exposure.tableau, exposure.tableau_at, &exposure.unique_id),
            decision: match &upstream {
                Some(upstream) => upstream.judge(exposure),
                None => walk.judge(&manifest.graph, &marks, exposure),
            },
        })
        .collect()
}

type Blocker<'o> = Option<(&'o str, &'o Status)>;

/// The first of two blockers by unique_id.
fn first<'o>(a: Blocker<'o>, b: Blocker<'o>) -> Blocker<'o> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// What an exposure's upstream says: blocked wins over fresh.
fn verdict(blocker: Blocker<'_>, fresh: bool) -> Decision {
    match (blocker, fresh) {
        (Some((node, status)), _) => Decision::Blocked {
            node: node.to_owned(),
            status: status.clone(),
        },
        (None, true) => Decision::Fresh,
        (None, false) => Decision::Untouched,
    }
}

/// Per node, over the node and everything upstream of it: whether any built
/// fresh data, and the first blocker by unique_id.
struct Upstream<'o> {
    fresh: Vec<bool>,
    blocker: Vec<Blocker<'o>>,
}

impl<'o> Upstream<'o> {
    /// `None` when the parent map has a cycle.
    fn new(graph: &Graph, marks: &Marks<'o>) -> Option<Upstream<'o>> {
        const NEW: u8 = 0;
        const OPEN: u8 = 1;
        const DONE: u8 = 2;
        let n = graph.len();
        let mut state = vec![NEW; n];
        let mut up = Upstream {
            fresh: vec![false; n],
            blocker: vec![None; n],
        };
        let mut stack: Vec<(NodeId, usize)> = Vec::new();
        for root in 0..n as NodeId {
            if state[root as usize] != NEW {
                continue;
            }
            state[root as usize] = OPEN;
            stack.push((root, 0));
            while let Some(top) = stack.last_mut() {
                let (id, next) = *top;
                let parents = graph.parents(id);
                if let Some(&parent) = parents.get(next) {
                    top.1 += 1;
                    match state.get(parent as usize) {
                        Some(&NEW) => {
                            state[parent as usize] = OPEN;
                            stack.push((parent, 0));
                        }
                        Some(&OPEN) | None => return None,
                        Some(_) => {}
                    }
                    continue;
                }
                let flags = marks.flags(id);
                let mut fresh = flags & FRESH != 0;
                let mut blocker = marks.own_blocker(id, flags);
                for &parent in parents {
                    fresh |= up.fresh[parent as usize];
                    blocker = first(blocker, up.blocker[parent as usize]);
                }
                up.fresh[id as usize] = fresh;
                up.blocker[id as usize] = blocker;
                state[id as usize] = DONE;
                stack.pop();
            }
        }
        Some(up)
    }

    fn judge(&self, exposure: &Exposure) -> Decision {
        let mut fresh = false;
        let mut blocker = None;
        for &id in &exposure.depends_on {
            fresh |= self.fresh.get(id as usize).copied().unwrap_or(false);
            blocker = first(blocker, self.blocker.get(id as usize).copied().flatten());
        }
        verdict(blocker, fresh)
    }
}

/// The run's results laid onto the graph once, so each exposure's walk only looks up.
struct Marks<'o> {
    /// Per node: the first (by unique_id) of its own blocking result and the failing
    /// tests on it.
    blockers: HashMap<NodeId, (&'o str, &'o Status)>,
    /// Per node (by id): [`FRESH`] and [`BLOCKED`] bits, so the walks, which visit
    /// up to every node per exposure, test a byte rather than hash.
    flags: Vec<u8>,
}

const FRESH: u8 = 1;
const BLOCKED: u8 = 2;

impl<'o> Marks<'o> {
    fn new(graph: &Graph, outcome: &'o RunOutcome) -> Marks<'o> {
        let mut marks = Marks {
            blockers: HashMap::new(),
            flags: vec![0; graph.len()],
        };
        for (unique_id, status) in outcome.iter() {
            // A result for a node the manifest does not know cannot be upstream of
            // anything in it.
            let Some(id) = graph.id(unique_id) else {
                continue;
            };
            let kind = NodeKind::of(unique_id);
            if kind == NodeKind::Test {
                if matches!(status, Status::Fail | Status::Error | Status::RuntimeError) {
                    // A test judges the nodes it tests: its parents.
                    for &parent in graph.parents(id) {
                        marks.block(parent, unique_id, status);
                    }
                }
            } else if matches!(
                status,
                Status::Error | Status::Skipped | Status::RuntimeError
            ) {
                marks.block(id, unique_id, status);
            } else if kind.builds_data() && *status == Status::Success {
                marks.flag(id, FRESH);
            }
        }
        marks
    }

    fn flag(&mut self, at: NodeId, flag: u8) {
        if let Some(flags) = self.flags.get_mut(at as usize) {
            *flags |= flag;
        }
    }

    fn flags(&self, at: NodeId) -> u8 {
        self.flags.get(at as usize).copied().unwrap_or(0)
    }

    /// The node's own blocker; `flags` (its [`Marks::flags`]) spares the hash
    /// lookup for the nodes that have none.
    fn own_blocker(&self, at: NodeId, flags: u8) -> Blocker<'o> {
        (flags & BLOCKED != 0)
            .then(|| self.blockers.get(&at).copied())
            .flatten()
    }

    fn block(&mut self, at: NodeId, unique_id: &'o str, status: &'o Status) {
        self.flag(at, BLOCKED);
        let entry = self.blockers.entry(at).or_insert((unique_id, status));
        if unique_id < entry.0 {
            *entry = (unique_id, status);
        }
    }
}

/// A depth-first walk up the parent map with a visited stamp per node, reused across
/// exposures (no clearing between them).
struct Walk {
    seen: Vec<u32>,
    stamp: u32,
    stack: Vec<NodeId>,
}

impl Walk {
    fn new(nodes: usize) -> Walk {
        Walk {
            seen: vec![0; nodes],
            stamp: 0,
            stack: Vec::new(),
        }
    }

    fn judge(&mut self, graph: &Graph, marks: &Marks, exposure: &Exposure) -> Decision {
        self.stamp += 1;
        let mut fresh = false;
        let mut blocker: Option<(&str, &Status)> = None;
        self.stack.clear();
        self.stack.extend_from_slice(&exposure.depends_on);
        while let Some(id) = self.stack.pop() {
            let Some(seen) = self.seen.get_mut(id as usize) else {
                continue;
            };
            if *seen == self.stamp {
                continue;
            }
            *seen = self.stamp;
            let flags = marks.flags(id);
            fresh |= flags & FRESH != 0;
            blocker = first(blocker, marks.own_blocker(id, flags));
            self.stack.extend_from_slice(graph.parents(id));
        }
        verdict(blocker, fresh)
    }
}
