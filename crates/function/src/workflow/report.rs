//! The report an operator receives: a subject that fits SNS's 100 characters and
//! says what failed for which dbt run, and a body with every target's result,
//! how long its refresh took, Tableau's notes and the dbt run's page.

use super::state::{Outcome, WorkflowState};
use dbt_tableau_engine::answer::RefreshResult;
use dbt_tableau_engine::follow::tracker::{Followed, seconds_between};

/// SNS wants a subject of ASCII text "less than 100 characters long".
pub const SUBJECT_LIMIT: usize = 99;
/// The `Fail` state's cause is kept to a readable line.
const SUMMARY_LIMIT: usize = 1000;
/// The message's size in bytes. SNS takes 256 KB, and the report step's state
/// (under Step Functions' 256 KiB) holds the message twice (as itself and in
/// the notification) beside Chat's 8,000 characters: targets past this are
/// counted, and written to the log, rather than listed.
pub const MESSAGE_BUDGET: usize = 64 * 1024;

/// Where the dbt run's page is: the account's access URL.
pub struct ReportSettings {
    pub notify_all: bool,
    /// `DBT_CLOUD_API_URL`, e.g. `https://cloud.getdbt.com`.
    pub dbt_cloud_url: String,
}

pub const NOTIFY_ON: &str = "NOTIFY_ON";

/// `NOTIFY_ON`: `failures` (or unset) reports only runs with a target that did
/// not succeed; `all` reports every run.
pub fn notify_all(raw: Option<&str>) -> Result<bool, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("failures") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("all") => Ok(true),
        Some(v) => Err(format!("{NOTIFY_ON} must be failures or all, not \"{v}\"")),
    }
}

impl ReportSettings {
    /// `NOTIFY_ON` (`failures`, the default, or `all`) and `DBT_CLOUD_API_URL`.
    pub fn from_env() -> ReportSettings {
        ReportSettings::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> ReportSettings {
        let notify_all = lookup("NOTIFY_ON").is_some_and(|v| v.trim().eq_ignore_ascii_case("all"));
        let dbt_cloud_url = lookup(dbt_tableau_engine::dbt_cloud::API_URL_VARIABLE)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| dbt_tableau_engine::dbt_cloud::DEFAULT_API_URL.to_owned());
        ReportSettings {
            notify_all,
            dbt_cloud_url,
        }
    }
}

pub fn outcome(state: &WorkflowState, settings: &ReportSettings) -> Outcome {
    let run = &state.run;
    let who = format!(
        "dbt job {} run {}",
        run.job_id.as_deref().unwrap_or("?"),
        run.run_id.as_deref().unwrap_or("?")
    );
    let not_ok: Vec<&Followed> = state
        .reports
        .iter()
        .filter(|t| !t.report.result.is_success())
        .collect();
    // Skipped exposures were never meant to be refreshed: not in the count.
    let total = state
        .reports
        .iter()
        .filter(|t| t.report.result != RefreshResult::Skipped)
        .count();
    let broken = state.error.as_ref();
    let failed = broken.is_some() || !not_ok.is_empty() || !state.problems.is_empty();
    let headline = if let Some(error) = broken {
        format!("the refresh workflow broke ({})", error.error)
    } else if !not_ok.is_empty() {
        let what = match not_ok.as_slice() {
            [one] => format!("{} {}", one.report.kind_name(), one.report.label()),
            many => format!("{} of {total} Tableau refreshes", many.len()),
        };
        format!("{what} did not succeed")
    } else if !state.problems.is_empty() {
        "the exposures of the run could not be read".to_owned()
    } else {
        match total {
            0 => "nothing to refresh".to_owned(),
            1 => "the Tableau refresh succeeded".to_owned(),
            n => format!("all {n} Tableau refreshes succeeded"),
        }
    };
    let subject = subject_text(&format!("Tableau refresh: {headline} ({who})"));
    let mut summary = format!("{headline} for {who}");
    for target in &not_ok {
        summary.push_str(&format!(
            "; {} {}: {}",
            target.report.kind_name(),
            target.report.label(),
            target
                .report
                .error
                .as_deref()
                .unwrap_or(target.report.result.as_str())
        ));
    }
    for problem in &state.problems {
        summary.push_str(&format!("; {problem}"));
    }
    let message = message(state, settings, &headline, &who);
    Outcome {
        notify: failed || settings.notify_all,
        failed,
        notification: notification(&subject, &message),
        subject,
        message,
        summary: clip(&summary, SUMMARY_LIMIT),
    }
}

/// The SNS message for `MessageStructure: json`: a text per protocol.
/// Chatbot's custom notifications: `{"version":"1.0","source":"custom",
/// "content":{"title","description"}}` (its description is at most 8,000 characters).
fn notification(subject: &str, message: &str) -> String {
    let chat = serde_json::json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": subject,
            "description": clip(&format!("```\n{message}\n```"), 8000),
        }
    });
    // "default" is what email, SQS and every protocol without a key of its own
    // receive: the text is not repeated per protocol (the size of the state).
    serde_json::json!({
        "default": message,
        "https": chat.to_string(),
    })
    .to_string()
}

fn message(state: &WorkflowState, settings: &ReportSettings, headline: &str, who: &str) -> String {
    let run = &state.run;
    let mut text = format!("{who}: {headline}.\n\n");
    if let Some(name) = &run.job_name {
        text.push_str(&format!("dbt job:      {name}\n"));
    }
    if let Some(project) = &run.project_name {
        text.push_str(&format!("dbt project:  {project}\n"));
    }
    if let Some(status) = &run.run_status {
        text.push_str(&format!("Run status:   {status}\n"));
    }
    if let Some(finished) = &run.run_finished_at {
        text.push_str(&format!("Run finished: {finished}\n"));
    }
    if let Some(url) = run_page(state, settings) {
        text.push_str(&format!("Run page:     {url}\n"));
    }
    if let Some(error) = &state.error {
        text.push_str(&format!(
            "\nThe workflow stopped with {}: {}\nThe execution's history in the Step Functions console shows the step that failed.\n",
            error.error,
            error.cause
        ));
    }
    for problem in &state.problems {
        text.push_str(&format!("\nProblem: {problem}\n"));
    }
    if !state.reports.is_empty() {
        text.push_str("\nTargets:\n");
    }
    let mut left_out = (0, 0);
    for target in &state.reports {
        let lines = target_lines(target);
        if left_out.0 == 0 && text.len() + lines.len() <= MESSAGE_BUDGET - 400 {
            text.push_str(&lines);
            continue;
        }
        left_out.0 += 1;
        if !target.report.result.is_success() {
            left_out.1 += 1;
        }
        tracing::info!(
            run_id = run.run_id.as_deref(),
            "report line left out of the message: {}",
            lines.trim_end()
        );
    }
    if left_out.0 > 0 {
        text.push_str(&format!(
            "- ...and {} more targets ({} did not succeed), left out to keep the report \
             under SNS's 256 KB: each is in the function's log (\"report line left out\") \
             and in the execution's history.\n",
            left_out.0, left_out.1
        ));
    }
    text
}

fn target_lines(target: &Followed) -> String {
    let report = &target.report;
    let mut line = format!(
        "- {:<14} {} {}",
        report.result.as_str().to_uppercase(),
        report.kind_name(),
        report.label()
    );
    if let Some(project) = &report.project {
        line.push_str(&format!(" (project \"{project}\")"));
    }
    if let Some(id) = &report.id {
        line.push_str(&format!(" [id {id}]"));
    }
    if report.incremental {
        line.push_str(" (incremental)");
    }
    line.push('\n');
    if let Some(took) =
        seconds_between(target.created_at.as_deref(), target.completed_at.as_deref())
    {
        line.push_str(&format!("    refresh took {}\n", duration_words(took)));
    }
    if let Some(job) = &report.job_id {
        line.push_str(&format!("    Tableau job {job}\n"));
    }
    if let Some(exposure) = &report.exposure {
        line.push_str(&format!("    named by dbt exposure {exposure}\n"));
    }
    match (&report.error, &target.notes) {
        (Some(error), Some(notes)) if error != notes => {
            line.push_str(&format!("    {error}\n    Tableau's notes: {notes}\n"))
        }
        (_, Some(notes)) if report.result == RefreshResult::Failed => {
            line.push_str(&format!("    Tableau's notes: {notes}\n"))
        }
        (Some(error), _) => line.push_str(&format!("    {error}\n")),
        _ => {}
    }
    line
}

fn run_page(state: &WorkflowState, settings: &ReportSettings) -> Option<String> {
    let run = &state.run;
    let base = settings.dbt_cloud_url.trim_end_matches('/');
    match (&run.account_id, &run.project_id, &run.run_id) {
        (Some(account), Some(project), Some(id)) => Some(format!(
            "{base}/deploy/{account}/projects/{project}/runs/{id}"
        )),
        (Some(account), None, Some(id)) => Some(format!("{base}/deploy/{account}/runs/{id}")),
        _ => None,
    }
}

fn duration_words(seconds: f64) -> String {
    let total = seconds.round() as u64;
    match (total / 3600, (total % 3600) / 60, total % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// SNS refuses a subject with non-ASCII or control characters, or 100 or more
/// characters: a name such as "Projeśt Übersicht" must not cost the report.
pub fn subject_text(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= SUBJECT_LIMIT {
        return ascii;
    }
    format!("{}...", &ascii[..SUBJECT_LIMIT - 3])
}

/// At most `limit` characters (not bytes: names may be non-ASCII), with an
/// ellipsis when cut.
pub fn clip(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(limit - 1).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
