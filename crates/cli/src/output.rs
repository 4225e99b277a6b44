//! What the command prints when it is done: one JSON document (`--json`) or
//! human-readable lines on stdout, GitHub Actions annotations for failed targets,
//! and the exit status. Pure but for the writers it is handed.

use dbt_tableau_engine::answer::TargetReport;
use dbt_tableau_engine::follow::tracker::{Followed, seconds_between};
use serde::Serialize;
use std::io::{self, Write};

/// The targets of a finished command: reports as the function answers them, or
/// followed targets (the reports plus Tableau's job times and notes).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Targets {
    Reports(Vec<TargetReport>),
    Followed(Vec<Followed>),
}

impl Targets {
    pub fn reports(&self) -> Vec<&TargetReport> {
        match self {
            Targets::Reports(reports) => reports.iter().collect(),
            Targets::Followed(followed) => followed.iter().map(|f| &f.report).collect(),
        }
    }

    /// Every target succeeded, or was queued, already queued, a dry run or skipped.
    pub fn all_succeeded(&self) -> bool {
        self.reports().iter().all(|r| r.result.is_success())
    }
}

/// What the command did, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Finished {
    pub status: &'static str,
    pub targets: Targets,
}

/// Which run produced the targets, for the `status` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Refresh,
    DryRun,
    Wait,
}

impl Finished {
    /// The function's rule: `dry_run` for a dry run (like its DRY_RUN answer,
    /// whatever the elements say; the exit status tells), otherwise `queued` or,
    /// after waiting, `succeeded` when every target is fine, else `failed`.
    pub fn new(mode: Mode, targets: Targets) -> Finished {
        let status = match (mode, targets.all_succeeded()) {
            (Mode::DryRun, _) => "dry_run",
            (_, false) => "failed",
            (Mode::Refresh, true) => "queued",
            (Mode::Wait, true) => "succeeded",
        };
        Finished { status, targets }
    }

    /// 0 when every target is fine, 1 when any is not.
    pub fn exit_code(&self) -> u8 {
        if self.targets.all_succeeded() { 0 } else { 1 }
    }

    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self).map_err(io::Error::other)?;
        writeln!(out)
    }

    /// One line per target, then a count; `what_if_empty` says why there is
    /// nothing when there is nothing.
    pub fn write_human(&self, out: &mut impl Write, what_if_empty: &str) -> io::Result<()> {
        let reports = self.targets.reports();
        if reports.is_empty() {
            return writeln!(out, "{what_if_empty}");
        }
        let width = reports
            .iter()
            .map(|r| r.result.as_str().len())
            .max()
            .unwrap_or(0);
        match &self.targets {
            Targets::Reports(reports) => {
                for report in reports {
                    writeln!(out, "{}", line(report, None, width))?;
                }
            }
            Targets::Followed(followed) => {
                for target in followed {
                    writeln!(out, "{}", line(&target.report, Some(target), width))?;
                }
            }
        }
        writeln!(out, "{}", counts(&reports))
    }

    /// `::error::` lines for the failed targets, as GitHub Actions reads them.
    pub fn write_annotations(&self, out: &mut impl Write) -> io::Result<()> {
        for report in self.targets.reports() {
            if report.result.is_success() {
                continue;
            }
            let title = format!("Tableau refresh {}", report.result.as_str());
            let message = format!("{}: {}", kind_and_label(report), why(report));
            writeln!(
                out,
                "::error title={}::{}",
                escape_property(&title),
                escape_data(&message)
            )?;
        }
        Ok(())
    }
}

/// `succeeded  workbook "Sales" [Finance]  job j-1, 42 s  (exposure ...)`, and the
/// reason for anything that is not a success.
pub fn line(report: &TargetReport, followed: Option<&Followed>, width: usize) -> String {
    let mut line = format!("{:width$}  {}", report.result.as_str(), item(report));
    if let Some(job) = &report.job_id {
        line.push_str(&format!("  job {job}"));
    }
    if let Some(seconds) =
        followed.and_then(|f| seconds_between(f.created_at.as_deref(), f.completed_at.as_deref()))
    {
        line.push_str(&format!(", {seconds:.0} s"));
    }
    // A malformed exposure's label is already the exposure.
    if let (Some(exposure), Some(_)) = (&report.exposure, report.kind) {
        line.push_str(&format!("  ({exposure})"));
    }
    if !report.result.is_success() || report.error.is_some() {
        line.push_str(&format!("\n{:width$}  {}", "", why(report)));
    }
    line
}

/// `workbook "Sales" [Finance]`, `data source id <luid>`, or `exposure <unique_id>`
/// for a malformed one.
pub fn item(report: &TargetReport) -> String {
    let mut item = kind_and_label(report);
    if let Some(project) = &report.project {
        item.push_str(&format!(" [{project}]"));
    }
    if report.incremental {
        item.push_str(" (incremental)");
    }
    item
}

fn kind_and_label(report: &TargetReport) -> String {
    match report.kind {
        Some(kind) => format!("{kind} {}", report.label()),
        None => format!("exposure {}", report.label()),
    }
}

fn why(report: &TargetReport) -> String {
    report
        .error
        .clone()
        .unwrap_or_else(|| format!("ended {}", report.result.as_str()))
}

/// `7 targets: 5 queued, 1 already_queued, 1 failed`, in first-seen order.
fn counts(reports: &[&TargetReport]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for report in reports {
        let result = report.result.as_str();
        match counts.iter_mut().find(|(r, _)| *r == result) {
            Some((_, n)) => *n += 1,
            None => counts.push((result, 1)),
        }
    }
    let listed: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    let plural = if reports.len() == 1 { "" } else { "s" };
    format!("{} target{plural}: {}", reports.len(), listed.join(", "))
}

/// A workflow command's message: `%`, CR and LF escaped, or the runner would
/// end the annotation at the first newline (actions/toolkit's `escapeData`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`, which end it.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbt_tableau_engine::answer::RefreshResult;
    use dbt_tableau_engine::targets::{ItemKind, Target};

    fn sales() -> Target {
        Target::named(ItemKind::Workbook, "Sales", Some("Finance"))
    }

    #[test]
    fn status_and_exit_follow_the_functions_rule() {
        let queued = TargetReport::succeeded(&sales(), "wb-1".into(), RefreshResult::Queued, None);
        let skipped = TargetReport::skipped(&sales(), "blocked by model.x (error)");
        let failed = TargetReport::failed(&sales(), "not found");
        let run = |mode, reports: Vec<TargetReport>| {
            let f = Finished::new(mode, Targets::Reports(reports));
            (f.status, f.exit_code())
        };
        assert_eq!(
            run(Mode::Refresh, vec![queued.clone(), skipped.clone()]),
            ("queued", 0)
        );
        assert_eq!(
            run(Mode::Refresh, vec![queued, failed.clone()]),
            ("failed", 1)
        );
        assert_eq!(run(Mode::DryRun, vec![failed]), ("dry_run", 1));
        assert_eq!(run(Mode::Wait, vec![skipped]), ("succeeded", 0));
        assert_eq!(run(Mode::Refresh, vec![]), ("queued", 0));
    }

    #[test]
    fn json_elements_are_the_functions() {
        let report = TargetReport::skipped(&sales(), "blocked");
        let mut out = Vec::new();
        Finished::new(Mode::Refresh, Targets::Reports(vec![report.clone()]))
            .write_json(&mut out)
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["status"], "queued");
        assert_eq!(doc["targets"][0], serde_json::to_value(&report).unwrap());
    }

    #[test]
    fn annotations_escape_what_would_cut_them() {
        let failed = TargetReport::failed(&sales(), "100% broken\nsecond line");
        let mut out = Vec::new();
        Finished::new(Mode::Refresh, Targets::Reports(vec![failed]))
            .write_annotations(&mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::error title=Tableau refresh failed::workbook \"Sales\": 100%25 broken%0Asecond line\n"
        );
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }

    #[test]
    fn human_lines_say_why() {
        let failed = TargetReport::failed(&sales(), "not found in project");
        let mut out = Vec::new();
        Finished::new(Mode::Refresh, Targets::Reports(vec![failed]))
            .write_human(&mut out, "")
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "failed  workbook \"Sales\" [Finance]\n        not found in project\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("1 target: 1 failed\n"), "{text}");
    }
}
