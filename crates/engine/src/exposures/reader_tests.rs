//! The streaming readers: key order, skipped sections, and bad input as errors.

use super::*;
use serde_json::json;
use std::io::Read;

const V12: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";

/// A manifest's top-level sections as `(key, JSON text)`, in dbt's own order.
fn sections() -> Vec<(&'static str, String)> {
    let exposures = json!({
        "exposure.shop.sales": {
            "name": "sales", "type": "dashboard", "owner": {"email": "a@b.c"},
            "depends_on": {"macros": [], "nodes": ["model.shop.orders", "model.shop.customers"]},
            "meta": {"tableau": {"workbook": "Sales", "project": "Finance"}},
            "config": {"enabled": true, "meta": {"tableau": {"workbook": "Sales", "project": "Finance"}}}
        },
        "exposure.shop.config_only": {
            "name": "config_only", "depends_on": {"nodes": ["model.shop.orders"]},
            "meta": {}, "config": {"meta": {"tableau": [{"datasource": "Orders"}, {"workbook_id": "abc"}]}}
        },
        "exposure.shop.meta_wins": {
            "name": "meta_wins", "depends_on": {"nodes": []},
            "meta": {"tableau": {"workbook": "From meta"}},
            "config": {"meta": {"tableau": {"workbook": "From config"}}}
        },
        "exposure.shop.notebook": {
            "name": "notebook", "depends_on": {"nodes": ["model.shop.orders"]},
            "meta": {"owner": "x", "tableau": null}, "config": {"meta": {}}
        }
    });
    let parent_map = json!({
        "model.shop.orders": ["seed.shop.raw_orders"],
        "model.shop.customers": [],
        "seed.shop.raw_orders": [],
        "test.shop.unique_orders_id.1a": ["model.shop.orders"],
        "exposure.shop.sales": ["model.shop.orders", "model.shop.customers"]
    });
    let nodes = json!({
        "model.shop.orders": {"resource_type": "model", "raw_code": "select 1 -- \"}]", "columns": {"id": {"meta": {"tableau": {"workbook": "Not an exposure"}}}}},
        "seed.shop.raw_orders": {"resource_type": "seed", "config": {"meta": {"tableau": {"workbook": "x"}}}}
    });
    vec![
        (
            "metadata",
            json!({"dbt_schema_version": V12, "dbt_version": "1.11.2", "env": {}}).to_string(),
        ),
        ("nodes", nodes.to_string()),
        ("sources", "{}".into()),
        ("exposures", exposures.to_string()),
        ("parent_map", parent_map.to_string()),
        (
            "child_map",
            json!({"model.shop.orders": ["exposure.shop.sales"]}).to_string(),
        ),
    ]
}

fn document(sections: &[(&str, String)]) -> String {
    let body: Vec<String> = sections
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    format!("{{{}}}", body.join(",\n"))
}

/// The sample manifest, for the reader's fuzz property.
pub(super) fn sample_manifest() -> String {
    document(&sections())
}

fn read(text: &str) -> Result<ManifestView, ExposuresError> {
    read_manifest(text.as_bytes())
}

fn parents(view: &ManifestView, id: &str) -> Vec<String> {
    let id = view.graph.id(id).expect("interned");
    view.graph
        .parents(id)
        .iter()
        .map(|&p| view.graph.name(p).to_owned())
        .collect()
}

#[test]
fn keeps_exposures_with_tableau_meta_and_the_parent_map() {
    let view = read(&document(&sections())).expect("a valid manifest");
    assert_eq!(view.schema_version, V12);
    assert_eq!(view.dbt_version.as_deref(), Some("1.11.2"));
    let ids: Vec<&str> = view
        .exposures
        .iter()
        .map(|e| e.unique_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "exposure.shop.config_only",
            "exposure.shop.meta_wins",
            "exposure.shop.sales"
        ]
    );
    assert_eq!(view.exposures_without_tableau, 1);
    assert_eq!(
        view.exposures[0].tableau,
        json!([{"datasource": "Orders"}, {"workbook_id": "abc"}])
    );
    assert_eq!(view.exposures[0].tableau_at, "config.meta.tableau");
    assert_eq!(view.exposures[1].tableau, json!({"workbook": "From meta"}));
    assert_eq!(view.exposures[1].tableau_at, "meta.tableau");
    let sales = &view.exposures[2];
    assert_eq!(sales.name, "sales");
    let deps: Vec<&str> = sales
        .depends_on
        .iter()
        .map(|&d| view.graph.name(d))
        .collect();
    assert_eq!(deps, ["model.shop.orders", "model.shop.customers"]);
    assert_eq!(
        parents(&view, "model.shop.orders"),
        ["seed.shop.raw_orders"]
    );
    assert_eq!(
        parents(&view, "test.shop.unique_orders_id.1a"),
        ["model.shop.orders"]
    );
    assert!(parents(&view, "model.shop.customers").is_empty());
    // Nothing from `nodes` was kept: the column's meta is not an exposure.
    assert!(
        view.exposures
            .iter()
            .all(|e| e.tableau != json!({"workbook": "Not an exposure"}))
    );
}

#[test]
fn the_sections_may_come_in_any_order() {
    let base = sections();
    let expected = read(&document(&base)).unwrap();
    // Every order of the five sections after `metadata`, and `metadata` last.
    let mut orders = vec![(0..base.len()).collect::<Vec<_>>()];
    for _ in 0..200 {
        let mut order = orders.last().unwrap().clone();
        let (i, j) = (
            fastrand::usize(..order.len()),
            fastrand::usize(..order.len()),
        );
        order.swap(i, j);
        orders.push(order);
    }
    for order in orders {
        let shuffled: Vec<_> = order.iter().map(|&i| base[i].clone()).collect();
        let view = read(&document(&shuffled)).unwrap();
        assert_eq!(view.exposures.len(), expected.exposures.len());
        for (a, b) in view.exposures.iter().zip(&expected.exposures) {
            assert_eq!((&a.unique_id, &a.tableau), (&b.unique_id, &b.tableau));
            let names = |v: &ManifestView, e: &Exposure| -> Vec<String> {
                e.depends_on
                    .iter()
                    .map(|&d| v.graph.name(d).to_owned())
                    .collect()
            };
            assert_eq!(names(&view, a), names(&expected, b));
        }
        assert_eq!(
            parents(&view, "model.shop.orders"),
            ["seed.shop.raw_orders"]
        );
        assert_eq!(view.graph.len(), expected.graph.len());
    }
}

/// A `nodes` section of `count` bulky models, produced while it is read, so the
/// test never holds it either.
struct HugeNodes {
    head: Vec<u8>,
    count: usize,
    produced: usize,
    chunk: Vec<u8>,
    at: usize,
    tail: Vec<u8>,
}

impl Read for HugeNodes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.at < self.chunk.len() {
                let n = buf.len().min(self.chunk.len() - self.at);
                buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            self.at = 0;
            self.chunk = if !self.head.is_empty() {
                std::mem::take(&mut self.head)
            } else if self.produced < self.count {
                self.produced += 1;
                let sep = if self.produced == 1 { "" } else { "," };
                let sql = "select * from {{ ref('x') }} -- \\\"quoted\\\" ".repeat(40);
                format!("{sep}\"model.big.m{}\": {{\"raw_code\": \"{sql}\", \"columns\": {{\"a\": [[[{{}}]]]}}, \"meta\": {{\"tableau\": {{\"workbook\": \"no\"}}}}}}", self.produced).into_bytes()
            } else if !self.tail.is_empty() {
                std::mem::take(&mut self.tail)
            } else {
                return Ok(0);
            };
        }
    }
}

#[test]
fn a_huge_nodes_section_is_skipped() {
    let mut rest = sections();
    rest.retain(|(k, _)| *k != "nodes");
    let reader = HugeNodes {
        head: format!("{{\"{}\": {}, \"nodes\": {{", rest[0].0, rest[0].1).into_bytes(),
        count: 10_000, // ~20 MB
        produced: 0,
        chunk: Vec::new(),
        at: 0,
        tail: format!("}}, {}", &document(&rest[1..])[1..]).into_bytes(),
    };
    let view = read_manifest(reader).expect("read");
    assert_eq!(view.exposures.len(), 3);
    // Only ids from exposures and parent_map: none of the 20,000 models.
    assert!(view.graph.len() < 10, "{}", view.graph.len());
}

#[test]
fn absurd_nesting_inside_a_skipped_section_is_fine() {
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let mut s = sections();
    s[1].1 = format!("{{\"model.x.y\": {deep}}}");
    assert!(read(&document(&s)).is_ok());
    // Inside a kept value serde's recursion limit answers, not the stack.
    let mut s = sections();
    s[3].1 = format!("{{\"exposure.x.y\": {{\"meta\": {{\"tableau\": {deep}}}}}}}");
    assert!(matches!(
        read(&document(&s)),
        Err(ExposuresError::Malformed { .. })
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let text = document(&sections());
    for end in 0..text.len() {
        if !text.is_char_boundary(end) {
            continue;
        }
        let result = read(&text[..end]);
        assert!(result.is_err(), "a prefix of {end} bytes was accepted");
    }
}

fn error_of(text: &str) -> ExposuresError {
    read(text).expect_err(text)
}

/// `text` with the first `from` replaced, which must be there.
fn changed(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} is not in the document");
    text.replacen(from, to, 1)
}

#[test]
fn malformed_json_and_wrong_shapes_are_malformed() {
    let ok = document(&sections());
    for bad in [
        String::new(),
        "{".into(),
        "not json".into(),
        "[]".into(),
        "\"manifest\"".into(),
        format!("{ok} trailing"),
        changed(
            &ok,
            "\"nodes\":[\"model.shop.orders\",\"model.shop.customers\"]",
            "\"nodes\":\"model.shop.orders\"",
        ),
        changed(
            &ok,
            "\"model.shop.orders\":[\"seed.shop.raw_orders\"]",
            "\"model.shop.orders\":{}",
        ),
        changed(
            &ok,
            "\"exposure.shop.sales\":{",
            "\"exposure.shop.sales\":[",
        ),
        document(&[("metadata", "{\"dbt_schema_version\": 12}".into())]),
    ] {
        let error = error_of(&bad);
        assert!(
            matches!(error, ExposuresError::Malformed { .. }),
            "{bad:.80}: {error}"
        );
        assert!(error.to_string().starts_with("manifest.json"), "{error}");
    }
}

#[test]
fn unsupported_manifests_say_why() {
    let mut s = sections();
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (s[1..].to_vec(), "no metadata.dbt_schema_version"),
        (
            s.iter()
                .filter(|(k, _)| *k != "parent_map")
                .cloned()
                .collect(),
            "no \"parent_map\"",
        ),
        (
            s.iter()
                .filter(|(k, _)| *k != "exposures")
                .cloned()
                .collect(),
            "no \"exposures\"",
        ),
        (
            {
                s[4].1 = "null".into();
                s.clone()
            },
            "no \"parent_map\"",
        ),
        (
            {
                s[0].1 = json!({"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v9.json", "dbt_version": "1.4.0"}).to_string();
                s.clone()
            },
            "v9 (dbt 1.4.0) is older than v10",
        ),
        (
            {
                s[0].1 = json!({"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}).to_string();
                s.clone()
            },
            "dbt run-results artifact",
        ),
        (
            {
                s[0].1 = json!({"dbt_schema_version": "twelve"}).to_string();
                s.clone()
            },
            "unrecognised",
        ),
    ];
    for (sections, why) in cases {
        let error = error_of(&document(&sections));
        assert!(
            matches!(error, ExposuresError::Unsupported { .. }),
            "{error}"
        );
        assert!(error.to_string().contains(why), "{error} lacks {why}");
    }
}

#[test]
fn a_newer_schema_is_read() {
    let mut s = sections();
    s[0].1 = json!({"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v13.json"})
        .to_string();
    assert_eq!(read(&document(&s)).unwrap().exposures.len(), 3);
}

#[test]
fn a_broken_stream_is_a_read_error() {
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("connection reset"));
            }
            self.0 -= 1;
            buf[0] = b'{';
            Ok(1)
        }
    }
    let error = read_manifest(Broken(1)).unwrap_err();
    assert!(matches!(error, ExposuresError::Read { .. }), "{error}");
    assert!(error.to_string().contains("connection reset"), "{error}");
}
