//! CloudWatch Embedded Metric Format: one JSON log line per target becomes
//! metrics in namespace `DbtTableauRefresh` with no API call (and no
//! CloudWatch client in the function). An alarm on `RefreshFailed` covers both
//! modes: the workflow's finished targets and the plain mode's failed queueing.

use dbt_tableau_engine::answer::{RefreshResult, TargetReport};
use dbt_tableau_engine::follow::tracker::{Followed, seconds_between};
use dbt_tableau_engine::webhook::RunSummary;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

pub const NAMESPACE: &str = "DbtTableauRefresh";

/// The record for a followed target that ended; `None` for one with nothing to
/// count (skipped, or already queued by someone else so its end is not ours).
pub fn finished_target(target: &Followed, run: &RunSummary, now: SystemTime) -> Option<Value> {
    let report = &target.report;
    let succeeded = match report.result {
        RefreshResult::Succeeded => true,
        RefreshResult::Failed
        | RefreshResult::Cancelled
        | RefreshResult::TimedOut
        | RefreshResult::Unknown => false,
        _ => return None,
    };
    let mut record = base(report, run, now, succeeded);
    let mut metrics = vec![count("RefreshSucceeded"), count("RefreshFailed")];
    if let Some(took) =
        seconds_between(target.created_at.as_deref(), target.completed_at.as_deref())
    {
        record["RefreshSeconds"] = json!(took);
        metrics.push(json!({"Name": "RefreshSeconds", "Unit": "Seconds"}));
    }
    if let Some(lag) = seconds_between(
        run.run_finished_at.as_deref(),
        target.completed_at.as_deref(),
    ) {
        record["FreshnessLagSeconds"] = json!(lag);
        metrics.push(json!({"Name": "FreshnessLagSeconds", "Unit": "Seconds"}));
    }
    record["_aws"]["CloudWatchMetrics"][0]["Metrics"] = Value::Array(metrics);
    Some(record)
}

/// The plain mode's record for a target that Tableau did not queue, or whose
/// refresh request's answer was lost (`unknown`).
pub fn failed_to_queue(report: &TargetReport, run: &RunSummary, now: SystemTime) -> Option<Value> {
    matches!(
        report.result,
        RefreshResult::Failed | RefreshResult::Unknown
    )
    .then(|| {
        let mut record = base(report, run, now, false);
        record["_aws"]["CloudWatchMetrics"][0]["Metrics"] =
            json!([count("RefreshSucceeded"), count("RefreshFailed")]);
        record
    })
}

fn count(name: &str) -> Value {
    json!({"Name": name, "Unit": "Count"})
}

fn base(report: &TargetReport, run: &RunSummary, now: SystemTime, succeeded: bool) -> Value {
    let millis = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // One dimension set, by kind: a dimension per item would make a metric per
    // workbook (each billed); the item is in the record's properties instead.
    json!({
        "_aws": {
            "Timestamp": millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Kind"]],
                "Metrics": []
            }]
        },
        "Kind": report.kind_name(),
        "RefreshSucceeded": u8::from(succeeded),
        "RefreshFailed": u8::from(!succeeded),
        "result": report.result.as_str(),
        "item": report.name.as_deref().or(report.id.as_deref()),
        "project": report.project,
        "itemId": report.id,
        "tableauJobId": report.job_id,
        "exposure": report.exposure,
        "dbtJobId": run.job_id,
        "dbtRunId": run.run_id,
    })
}

/// Writes records to stdout as lines of their own: Lambda sends stdout to
/// CloudWatch Logs, where EMF needs the whole line to be the JSON document.
pub fn emit(records: impl IntoIterator<Item = Value>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for record in records {
        let _ = writeln!(out, "{record}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbt_tableau_engine::targets::{ItemKind, Target};

    fn run() -> RunSummary {
        RunSummary {
            job_id: Some("123".into()),
            run_id: Some("456".into()),
            run_finished_at: Some("2027-01-15T07:59:00Z".into()),
            ..RunSummary::default()
        }
    }

    fn followed(result: RefreshResult) -> Followed {
        let target = Target::named(ItemKind::Workbook, "Sales", Some("Finance"));
        let mut report = TargetReport::succeeded(&target, "wb".into(), result, Some("j1".into()));
        report.result = result;
        Followed {
            report,
            created_at: Some("2027-01-15T08:00:00Z".into()),
            started_at: None,
            completed_at: Some("2027-01-15T08:02:30Z".into()),
            notes: None,
            cancel: None,
        }
    }

    #[test]
    fn a_finished_refresh_is_one_record_with_its_times() {
        let now = UNIX_EPOCH + std::time::Duration::from_millis(1_800_000_000_123);
        let record = finished_target(&followed(RefreshResult::Succeeded), &run(), now).unwrap();
        assert_eq!(record["_aws"]["Timestamp"], 1_800_000_000_123u64);
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            NAMESPACE
        );
        let names: Vec<&str> = record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "RefreshSucceeded",
                "RefreshFailed",
                "RefreshSeconds",
                "FreshnessLagSeconds"
            ]
        );
        assert_eq!(
            (&record["RefreshSucceeded"], &record["RefreshFailed"]),
            (&json!(1), &json!(0))
        );
        assert_eq!(record["RefreshSeconds"], 150.0);
        assert_eq!(record["FreshnessLagSeconds"], 210.0);
        assert_eq!(record["item"], "Sales");
    }

    #[test]
    fn failures_count_and_skips_do_not() {
        let now = SystemTime::now();
        for result in [
            RefreshResult::Failed,
            RefreshResult::Cancelled,
            RefreshResult::TimedOut,
            RefreshResult::Unknown,
        ] {
            let record = finished_target(&followed(result), &run(), now).unwrap();
            assert_eq!(record["RefreshFailed"], 1, "{result:?}");
        }
        for result in [RefreshResult::Skipped, RefreshResult::AlreadyQueued] {
            assert!(finished_target(&followed(result), &run(), now).is_none());
        }
        let failed = followed(RefreshResult::Failed).report;
        assert_eq!(
            failed_to_queue(&failed, &run(), now).unwrap()["RefreshFailed"],
            1
        );
        let lost = followed(RefreshResult::Unknown).report;
        assert_eq!(
            failed_to_queue(&lost, &run(), now).unwrap()["RefreshFailed"],
            1
        );
        let queued = followed(RefreshResult::Queued).report;
        assert!(failed_to_queue(&queued, &run(), now).is_none());
    }

    /// Every Kind a failure is counted under is one the template's alarm sums:
    /// a failure under any other would never raise it.
    #[test]
    fn the_alarm_sums_every_kind_a_failure_is_counted_under() {
        let template = include_str!("../../../template.yaml");
        let alarm = &template[template.find("RefreshFailedAlarm:").expect("the alarm")..];
        let alarm = &alarm[..alarm.find("AlarmActions").expect("end of the alarm")];
        let target = Target::named(ItemKind::Workbook, "Sales", None);
        let malformed = TargetReport::malformed_exposure("exposure.shop.x", "bad meta");
        let kinds = [
            TargetReport::failed(&target, "x").kind_name(),
            TargetReport::failed(&Target::named(ItemKind::Datasource, "O", None), "x").kind_name(),
            malformed.kind_name(),
        ];
        let summed = alarm
            .lines()
            .find_map(|l| l.trim().strip_prefix("Expression:"))
            .expect("the alarm's expression");
        for kind in kinds {
            let line = format!("Dimensions: [{{ Name: Kind, Value: {kind} }}]");
            let at = alarm
                .find(&line)
                .unwrap_or_else(|| panic!("no {kind} in the alarm"));
            let id = alarm[..at]
                .rfind("- Id: ")
                .map(|i| alarm[i + 6..].lines().next().unwrap().trim())
                .unwrap();
            assert!(
                summed.contains(&format!("FILL({id}, 0)")),
                "{kind}: {summed}"
            );
        }
    }
}
