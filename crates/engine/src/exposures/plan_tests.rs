//! `meta.tableau` items and the plan made from verdicts.

use super::*;
use crate::targets::{ItemKind, Locator, Target};
use serde_json::{Value, json};

fn of(exposure: &str, mut target: Target) -> Target {
    target.exposure = Some(exposure.into());
    target
}

#[test]
fn meta_tableau_is_one_item_or_a_list_of_items() {
    let one = parse_tableau(
        &json!({"workbook": "Sales", "project": "Finance"}),
        "meta.tableau",
        "exposure.p.e",
    );
    assert_eq!(
        one,
        Ok(vec![of(
            "exposure.p.e",
            Target::named(ItemKind::Workbook, "Sales", Some("Finance"))
        )])
    );
    let two = parse_tableau(
        &json!([{"datasource": "Orders"}, {"workbook_id": "abc"}]),
        "meta.tableau",
        "exposure.p.e",
    );
    assert_eq!(
        two,
        Ok(vec![
            of(
                "exposure.p.e",
                Target::named(ItemKind::Datasource, "Orders", None)
            ),
            of("exposure.p.e", Target::by_id(ItemKind::Workbook, "abc")),
        ])
    );
    assert_eq!(two.unwrap()[1].locator, Locator::Id("abc".into()));
}

#[test]
fn a_malformed_meta_tableau_says_where_and_what() {
    let error =
        |value: Value| parse_tableau(&value, "config.meta.tableau", "exposure.p.e").unwrap_err();
    assert!(
        error(json!(42)).starts_with("config.meta.tableau: must be an object"),
        "{}",
        error(json!(42))
    );
    assert!(error(json!(42)).ends_with("not a number"));
    assert!(error(json!("Sales")).ends_with("not a string"));
    assert!(error(json!([])).contains("names no Tableau item"));
    // Items are judged by the target vocabulary, at their index.
    let list = error(json!([{"workbook": "A"}, {"project": "P"}]));
    assert!(
        list.starts_with("config.meta.tableau[1]: one of \"workbook\", \"datasource\" or \"flow\""),
        "{list}"
    );
    let both = error(json!({"workbook": "A", "datasource": "B"}));
    assert!(
        both.contains("both \"workbook\" and \"datasource\""),
        "{both}"
    );
    assert!(
        error(json!([{"workbook": "A"}, 3]))
            .starts_with("config.meta.tableau[1]: must be an object")
    );
    assert!(error(json!({"workbook": "A", "jobs": [1]})).contains("unknown field \"jobs\""));
}

fn verdict(exposure: &str, items: &[Target], decision: Decision) -> Verdict {
    Verdict {
        exposure: exposure.into(),
        name: exposure.into(),
        items: Ok(items.iter().map(|t| of(exposure, t.clone())).collect()),
        decision,
    }
}

#[test]
fn the_plan_refreshes_fresh_items_once_and_skips_blocked_ones() {
    let sales = Target::named(ItemKind::Workbook, "Sales", None);
    let orders = Target::named(ItemKind::Datasource, "Orders", None);
    let kpis = Target::by_id(ItemKind::Workbook, "kpi-luid");
    let idle = Target::named(ItemKind::Workbook, "Idle", None);
    let blocked = Decision::Blocked {
        node: "model.p.x".into(),
        status: Status::Error,
    };
    let verdicts = [
        verdict(
            "exposure.p.a",
            &[sales.clone(), orders.clone()],
            Decision::Fresh,
        ),
        verdict(
            "exposure.p.b",
            std::slice::from_ref(&sales),
            Decision::Fresh,
        ),
        verdict("exposure.p.c", std::slice::from_ref(&kpis), blocked.clone()),
        verdict(
            "exposure.p.d",
            &[kpis.clone(), orders.clone()],
            blocked.clone(),
        ),
        verdict("exposure.p.e", &[idle], Decision::Untouched),
        Verdict {
            items: Err("meta.tableau: must be ...".into()),
            ..verdict("exposure.p.f", &[], Decision::Fresh)
        },
    ];
    let plan = plan(&verdicts);
    // Orders is named by a fresh and a blocked exposure: skipped.
    assert_eq!(plan.refresh, vec![of("exposure.p.a", sales)]);
    let why = blocked.why_blocked().unwrap();
    assert_eq!(
        plan.skipped,
        vec![
            (of("exposure.p.c", kpis), why.clone()),
            (of("exposure.p.d", orders), why)
        ]
    );
    assert_eq!(
        plan.malformed,
        vec![("exposure.p.f".into(), "meta.tableau: must be ...".into())]
    );
}
