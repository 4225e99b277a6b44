//! The streaming manifest reader.
//!
//! A manifest is tens to hundreds of MB (the `nodes` section holds every model's SQL,
//! compiled SQL and columns), and the function has 128 MB and, at that size, 7 % of
//! a vCPU. So the document is read once, front to back, by the byte-speed
//! [`Scanner`]: every section but `metadata`, `exposures` and `parent_map` is skipped
//! without building values. The sections may come in any order: ids from
//! `exposures` and `parent_map` go into the one string table of [`Graph`] whichever
//! comes first. Each exposure (a few kB) is captured and read by serde.

use super::error::{Artifact, ExposuresError};
use super::graph::{Graph, NodeId};
use super::scan::{Kind, Scanner};
use serde::Deserialize;
use serde_json::Value;
use std::io::Read;

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
/// the version. The scanner buffers: a `File` or a network pipe is read in 64 KiB
/// pieces.
pub fn read_manifest(reader: impl Read) -> Result<ManifestView, ExposuresError> {
    let mut scan = Scanner::new(reader, Artifact::Manifest);
    let parts = read_parts(&mut scan)?;
    scan.finish()?;
    parts.finish()
}

fn read_parts<R: Read>(scan: &mut Scanner<R>) -> Result<Parts, ExposuresError> {
    let mut parts = Parts::default();
    let (mut key, mut raw) = (Vec::new(), Vec::new());
    scan.object("a dbt manifest (a JSON object)")?;
    let mut first = true;
    while scan.key(&mut first, &mut key)? {
        match key.as_slice() {
            b"metadata" => {
                raw.clear();
                scan.capture_value(&mut raw)?;
                parts.metadata = Some(serde(scan, &raw)?);
            }
            b"exposures" => {
                let mut out = Vec::new();
                parts.without_tableau = read_exposures(scan, &mut parts.graph, &mut out)?;
                parts.exposures = Some(out);
            }
            b"parent_map" => parts.has_parent_map = read_parent_map(scan, &mut parts.graph)?,
            _ => scan.skip_value()?,
        }
    }
    Ok(parts)
}

/// A captured value read by serde; its errors are the manifest's.
fn serde<'a, T: Deserialize<'a>, R: Read>(
    scan: &Scanner<R>,
    raw: &'a [u8],
) -> Result<T, ExposuresError> {
    serde_json::from_slice(raw).map_err(|e| scan.malformed(e))
}

/// `exposures`: `{unique_id: exposure}`; those with Tableau meta go to `out`. How
/// many have none.
fn read_exposures<R: Read>(
    scan: &mut Scanner<R>,
    graph: &mut Graph,
    out: &mut Vec<Exposure>,
) -> Result<usize, ExposuresError> {
    let mut without_tableau = 0;
    let (mut key, mut raw) = (Vec::new(), Vec::new());
    scan.object("the exposures, an object keyed by unique_id")?;
    let mut first = true;
    while scan.key(&mut first, &mut key)? {
        let unique_id = String::from_utf8(key.clone())
            .map_err(|_| scan.malformed("invalid unicode in a key"))?;
        raw.clear();
        scan.capture_value(&mut raw)?;
        let raw: RawExposure = serde(scan, &raw)?;
        let tableau = match raw.meta.and_then(|m| m.tableau) {
            Some(value) => Some((value, "meta.tableau")),
            None => raw
                .config
                .and_then(|c| c.meta)
                .and_then(|m| m.tableau)
                .map(|value| (value, "config.meta.tableau")),
        };
        let Some((tableau, tableau_at)) = tableau else {
            without_tableau += 1;
            continue;
        };
        let nodes = raw.depends_on.and_then(|d| d.nodes).unwrap_or_default();
        let depends_on = nodes.iter().map(|n| graph.intern(n)).collect();
        out.push(Exposure {
            name: raw.name.unwrap_or_default(),
            unique_id,
            tableau,
            tableau_at,
            depends_on,
        });
    }
    Ok(without_tableau)
}

/// `parent_map`: `{child: [parent, ...]}`, streamed into the graph without a `String`
/// per edge. `true` when present, `false` for `null` (the schema allows it).
fn read_parent_map<R: Read>(
    scan: &mut Scanner<R>,
    graph: &mut Graph,
) -> Result<bool, ExposuresError> {
    if scan.kind()? == Kind::Null {
        scan.null()?;
        return Ok(false);
    }
    let mut id = Vec::new();
    scan.object("the parent map, an object of unique_id lists")?;
    let mut first = true;
    while scan.key(&mut first, &mut id)? {
        let child = graph.intern(text(scan, &id)?);
        graph.begin_parents(child);
        scan.array("a list of parent unique_ids")?;
        let mut first_parent = true;
        while scan.element(&mut first_parent)? {
            scan.string(&mut id, "a unique_id string")?;
            let parent = graph.intern(text(scan, &id)?);
            graph.push_parent(child, parent);
        }
    }
    Ok(true)
}

fn text<'a, R: Read>(scan: &Scanner<R>, bytes: &'a [u8]) -> Result<&'a str, ExposuresError> {
    std::str::from_utf8(bytes).map_err(|_| scan.malformed("invalid unicode in a string"))
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
