//! The dependency graph as the decision needs it: every unique_id interned once into a
//! string table, and each node's direct parents as a slice of one flat `u32` array.
//!
//! Why not `HashMap<String, Vec<String>>`: a 20,000-model project has ~100,000 ids and
//! ~200,000 parent edges; strings per edge and a `Vec` per node would cost several
//! times the memory the ids themselves need, in a 128 MB function.

use std::collections::HashMap;
use std::sync::Arc;

/// An interned unique_id: an index into [`Graph`]'s string table.
pub type NodeId = u32;

/// A node's resource type, as its unique_id's prefix says (`model.pkg.name`). Enough
/// for the decision, so the manifest's huge `nodes` section is never read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Model,
    Seed,
    Snapshot,
    /// Data tests and unit tests: their results judge their parents, not themselves.
    Test,
    Source,
    /// Exposures, metrics, semantic models, analyses, operations...
    Other,
}

impl NodeKind {
    pub fn of(unique_id: &str) -> NodeKind {
        match unique_id.split('.').next() {
            Some("model") => NodeKind::Model,
            Some("seed") => NodeKind::Seed,
            Some("snapshot") => NodeKind::Snapshot,
            Some("test" | "unit_test") => NodeKind::Test,
            Some("source") => NodeKind::Source,
            _ => NodeKind::Other,
        }
    }

    /// Whether a `success` of this node means fresh data in the warehouse.
    pub fn builds_data(self) -> bool {
        matches!(self, NodeKind::Model | NodeKind::Seed | NodeKind::Snapshot)
    }
}

#[derive(Debug, Default, Clone)]
pub struct Graph {
    // The same `Arc<str>` is the map's key and the table's entry: each id is stored
    // once, and the map answers "which id is this string" for run results.
    ids: HashMap<Arc<str>, NodeId>,
    names: Vec<Arc<str>>,
    // `spans[id]` = (start, len) into `parents`; (0, 0) for a node without entry.
    spans: Vec<(u32, u32)>,
    parents: Vec<NodeId>,
}

impl Graph {
    pub fn intern(&mut self, unique_id: &str) -> NodeId {
        if let Some(&id) = self.ids.get(unique_id) {
            return id;
        }
        // More than 4 billion distinct ids would not fit in 128 MB anyway; saturating
        // keeps this panic-free without a fallible signature everywhere.
        let id = NodeId::try_from(self.names.len()).unwrap_or(NodeId::MAX);
        let name: Arc<str> = Arc::from(unique_id);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    pub fn id(&self, unique_id: &str) -> Option<NodeId> {
        self.ids.get(unique_id).copied()
    }

    pub fn name(&self, id: NodeId) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Starts `child`'s parent list; [`Graph::push_parent`] appends to it. A second
    /// entry for the same child (a malformed map) replaces the first.
    pub(crate) fn begin_parents(&mut self, child: NodeId) {
        let index = child as usize;
        if self.spans.len() <= index {
            self.spans.resize(index + 1, (0, 0));
        }
        let start = u32::try_from(self.parents.len()).unwrap_or(u32::MAX);
        self.spans[index] = (start, 0);
    }

    pub(crate) fn push_parent(&mut self, child: NodeId, parent: NodeId) {
        self.parents.push(parent);
        if let Some(span) = self.spans.get_mut(child as usize) {
            span.1 += 1;
        }
    }

    /// The direct parents of a node, as the manifest's `parent_map` lists them.
    pub fn parents(&self, id: NodeId) -> &[NodeId] {
        let Some(&(start, len)) = self.spans.get(id as usize) else {
            return &[];
        };
        let (start, len) = (start as usize, len as usize);
        self.parents.get(start..start + len).unwrap_or(&[])
    }

    /// Builds a graph from `(child, parents)` pairs: for tests and hand-made examples.
    pub fn from_parent_map<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [&'a str])>,
    ) -> Graph {
        let mut graph = Graph::default();
        for (child, parents) in entries {
            let child = graph.intern(child);
            let parents: Vec<NodeId> = parents.iter().map(|p| graph.intern(p)).collect();
            graph.begin_parents(child);
            for parent in parents {
                graph.push_parent(child, parent);
            }
        }
        graph
    }

    /// Drops spare capacity once reading is over: the vectors grew by doubling.
    pub(crate) fn shrink(&mut self) {
        self.names.shrink_to_fit();
        self.spans.shrink_to_fit();
        self.parents.shrink_to_fit();
        self.ids.shrink_to_fit();
    }

    /// How many parent edges the graph holds (for figures in the benchmark).
    pub fn edges(&self) -> usize {
        self.parents.len()
    }
}
