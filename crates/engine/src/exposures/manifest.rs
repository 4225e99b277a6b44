//! The streaming manifest reader.
//!
//! A manifest is tens to hundreds of MB (the `nodes` section holds every model's SQL,
//! compiled SQL and columns), and the function has 128 MB. So the document is read
//! once, front to back, through serde's streaming deserialiser; every section but
//! `metadata`, `exposures` and `parent_map` is skipped with `IgnoredAny`, which parses
//! without allocating (its nesting stack is one byte per level, so even absurd nesting
//! costs nothing). The sections may come in any order: ids from `exposures` and
//! `parent_map` go into the one string table of [`Graph`] whichever comes first.

use super::error::{Artifact, ExposuresError};
use super::graph::{Graph, NodeId};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::io::{BufReader, Read};

/// The oldest manifest schema accepted: v10 is dbt 1.5; older versions are past dbt's
/// end of life and untested here. Newer ones are read: the fields used (`exposures`,
/// `depends_on.nodes`, `meta`, `parent_map`) have kept their shape since v1, and a
/// dbt Cloud upgrade should not switch exposure refreshes off. A manifest that lacks
/// them is refused whatever its version.
pub const OLDEST_SCHEMA: u32 = 10;

/// An exposure that names Tableau items.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub unique_id: String,
    pub name: String,
    /// `meta.tableau`, or `config.meta.tableau` when `meta` has none (dbt 1.11 copies
    /// one into the other; older manifests may have only one). Raw: what it names is
    /// judged per exposure by the decision, so one malformed exposure fails alone.
    pub tableau: Value,
    /// Where `tableau` was found (`meta.tableau` or `config.meta.tableau`), so an
    /// error points at what the author wrote.
    pub tableau_at: &'static str,
    /// `depends_on.nodes`, interned.
    pub depends_on: Vec<NodeId>,
}

/// What the decision needs from a manifest, and nothing more.
#[derive(Debug, Clone, Default)]
pub struct ManifestView {
    /// `metadata.dbt_schema_version`, e.g. `https://schemas.getdbt.com/dbt/manifest/v12.json`.
    pub schema_version: String,
    pub dbt_version: Option<String>,
    pub graph: Graph,
    /// Exposures with Tableau meta, sorted by unique_id.
    pub exposures: Vec<Exposure>,
    /// How many exposures have no Tableau meta (and are ignored).
    pub exposures_without_tableau: usize,
}

/// Reads a manifest.json from a stream, keeping only exposures, the parent map and
/// the version. Buffered here: serde_json reads byte by byte otherwise.
pub fn read_manifest(reader: impl Read) -> Result<ManifestView, ExposuresError> {
    let json = |e| ExposuresError::from_json(Artifact::Manifest, e);
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, reader));
    let parts = ManifestSeed.deserialize(&mut de).map_err(json)?;
    de.end().map_err(json)?;
    parts.finish()
}

#[derive(Default)]
struct Parts {
    metadata: Option<RawMetadata>,
    graph: Graph,
    exposures: Option<Vec<Exposure>>,
    without_tableau: usize,
    has_parent_map: bool,
}

impl Parts {
    fn finish(mut self) -> Result<ManifestView, ExposuresError> {
        let unsupported = |d: String| ExposuresError::unsupported(Artifact::Manifest, d);
        let metadata = self.metadata.unwrap_or_default();
        let Some(schema_version) = metadata.dbt_schema_version else {
            return Err(unsupported(
                "no metadata.dbt_schema_version: not a manifest written by dbt".into(),
            ));
        };
        let dbt = metadata.dbt_version.as_deref().unwrap_or("unknown");
        match schema_of(&schema_version) {
            Some(("manifest", version)) if version >= OLDEST_SCHEMA => {}
            Some(("manifest", version)) => {
                return Err(unsupported(format!(
                    "manifest schema v{version} (dbt {dbt}) is older than v{OLDEST_SCHEMA} (dbt 1.5); upgrade dbt"
                )));
            }
            Some((kind, _)) => {
                return Err(unsupported(format!(
                    "it is a dbt {kind} artifact ({schema_version}), not a manifest"
                )));
            }
            None => {
                return Err(unsupported(format!(
                    "unrecognised metadata.dbt_schema_version \"{schema_version}\""
                )));
            }
        }
        let Some(mut exposures) = self.exposures else {
            return Err(unsupported(format!("no \"exposures\" section (dbt {dbt})")));
        };
        if !self.has_parent_map {
            return Err(unsupported(format!(
                "no \"parent_map\" (dbt {dbt}): the step that wrote it did not build the graph"
            )));
        }
        exposures.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
        self.graph.shrink();
        Ok(ManifestView {
            schema_version,
            dbt_version: metadata.dbt_version,
            graph: self.graph,
            exposures,
            exposures_without_tableau: self.without_tableau,
        })
    }
}

/// `https://schemas.getdbt.com/dbt/manifest/v12.json` -> `("manifest", 12)`.
fn schema_of(url: &str) -> Option<(&str, u32)> {
    let mut segments = url.rsplit('/');
    let file = segments.next()?;
    let kind = segments.next()?;
    let version = file
        .strip_prefix('v')?
        .strip_suffix(".json")?
        .parse()
        .ok()?;
    Some((kind, version))
}

#[derive(Deserialize, Default)]
struct RawMetadata {
    #[serde(default)]
    dbt_schema_version: Option<String>,
    #[serde(default)]
    dbt_version: Option<String>,
}

// Derived structs skip unknown fields with IgnoredAny, so an exposure's other fields
// (owner, description, ...) cost nothing.
#[derive(Deserialize)]
struct RawExposure {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    meta: Option<RawMeta>,
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    depends_on: Option<RawDependsOn>,
}

#[derive(Deserialize)]
struct RawMeta {
    // `"tableau": null` reads as absent: nothing is named.
    #[serde(default)]
    tableau: Option<Value>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    meta: Option<RawMeta>,
}

#[derive(Deserialize)]
struct RawDependsOn {
    #[serde(default)]
    nodes: Option<Vec<String>>,
}

struct ManifestSeed;

impl<'de> DeserializeSeed<'de> for ManifestSeed {
    type Value = Parts;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Parts, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ManifestSeed {
    type Value = Parts;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a dbt manifest (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parts, A::Error> {
        let mut parts = Parts::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "metadata" => parts.metadata = Some(map.next_value()?),
                "exposures" => {
                    let mut seed = ExposuresSeed {
                        graph: &mut parts.graph,
                        out: Vec::new(),
                        without_tableau: 0,
                    };
                    map.next_value_seed(&mut seed)?;
                    parts.without_tableau = seed.without_tableau;
                    parts.exposures = Some(seed.out);
                }
                "parent_map" => {
                    parts.has_parent_map = map.next_value_seed(ParentMapSeed(&mut parts.graph))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(parts)
    }
}

struct ExposuresSeed<'g> {
    graph: &'g mut Graph,
    out: Vec<Exposure>,
    without_tableau: usize,
}

impl<'de> DeserializeSeed<'de> for &mut ExposuresSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut ExposuresSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the exposures, an object keyed by unique_id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(unique_id) = map.next_key::<String>()? {
            let raw: RawExposure = map.next_value()?;
            let tableau = match raw.meta.and_then(|m| m.tableau) {
                Some(value) => Some((value, "meta.tableau")),
                None => raw
                    .config
                    .and_then(|c| c.meta)
                    .and_then(|m| m.tableau)
                    .map(|value| (value, "config.meta.tableau")),
            };
            let Some((tableau, tableau_at)) = tableau else {
                self.without_tableau += 1;
                continue;
            };
            let nodes = raw.depends_on.and_then(|d| d.nodes).unwrap_or_default();
            let depends_on = nodes.iter().map(|n| self.graph.intern(n)).collect();
            self.out.push(Exposure {
                name: raw.name.unwrap_or_default(),
                unique_id,
                tableau,
                tableau_at,
                depends_on,
            });
        }
        Ok(())
    }
}

/// `parent_map`: `{child: [parent, ...]}`, streamed into the graph without a `String`
/// per edge. `true` when present, `false` for `null` (the schema allows it).
struct ParentMapSeed<'g>(&'g mut Graph);

impl<'de> DeserializeSeed<'de> for ParentMapSeed<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ParentMapSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the parent map, an object of unique_id lists")
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let graph = self.0;
        while let Some(child) = map.next_key_seed(InternSeed(graph))? {
            graph.begin_parents(child);
            map.next_value_seed(ParentsSeed { graph, child })?;
        }
        Ok(true)
    }
}

struct ParentsSeed<'g> {
    graph: &'g mut Graph,
    child: NodeId,
}

impl<'de> DeserializeSeed<'de> for ParentsSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ParentsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of parent unique_ids")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(parent) = seq.next_element_seed(InternSeed(self.graph))? {
            self.graph.push_parent(self.child, parent);
        }
        Ok(())
    }
}

/// A unique_id straight into the string table: the deserialiser lends its scratch
/// buffer, and only an id not seen before is copied.
struct InternSeed<'g>(&'g mut Graph);

impl<'de> DeserializeSeed<'de> for InternSeed<'_> {
    type Value = NodeId;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<NodeId, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for InternSeed<'_> {
    type Value = NodeId;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a unique_id string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeId, E> {
        Ok(self.0.intern(v))
    }
}
