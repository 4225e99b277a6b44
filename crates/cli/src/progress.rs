//! What `refresh` shows on stderr while it works: on a terminal a live display
//! (a spinner per job, a countdown to the next check), cleared before the result
//! is printed; otherwise (CI logs, a pipe) plain timestamped lines, one per change,
//! so that a log read later says when each job moved.

use super::output::item;
use dbt_tableau_engine::answer::{RefreshResult, TargetReport};
use dbt_tableau_engine::follow::tracker::{Followed, seconds_between};
use dbt_tableau_engine::follow::{CheckOutcome, JobObservation};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

const TICK: Duration = Duration::from_millis(120);

pub struct Display {
    live: Option<Live>,
    /// Per target: the state last shown, so plain lines are written on changes only.
    shown: Vec<String>,
    /// Per job id: the progress Tableau gave at the last check.
    progress: HashMap<String, Option<u64>>,
}

struct Live {
    multi: MultiProgress,
    /// Per target: its spinner while it is followed.
    bars: Vec<Option<ProgressBar>>,
    footer: ProgressBar,
}

impl Display {
    /// `live`: stderr is a terminal.
    pub fn new(live: bool) -> Display {
        let live = live.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let footer = multi.add(ProgressBar::new_spinner());
            footer.set_style(style("{spinner} {wide_msg}"));
            footer.enable_steady_tick(TICK);
            Live {
                multi,
                bars: Vec::new(),
                footer,
            }
        });
        Display {
            live,
            shown: Vec::new(),
            progress: HashMap::new(),
        }
    }

    /// Before the refresh requests.
    pub fn refreshing(&mut self, items: usize) {
        let plural = if items == 1 { "" } else { "s" };
        let what = format!("asking Tableau to refresh {items} item{plural}");
        match &self.live {
            Some(live) => live.footer.set_message(what),
            None => plain(&what),
        }
    }

    /// After the refresh, when following starts.
    pub fn begin(&mut self, followed: &[Followed]) {
        self.shown = followed.iter().map(state).collect();
        match &mut self.live {
            Some(live) => {
                for target in followed {
                    let bar = target.report.job_id.is_some().then(|| {
                        let bar = live
                            .multi
                            .insert_before(&live.footer, ProgressBar::new_spinner());
                        bar.set_style(style("{spinner} {prefix}  {wide_msg} {elapsed:>4}"));
                        bar.set_prefix(item(&target.report));
                        bar.enable_steady_tick(TICK);
                        bar
                    });
                    live.bars.push(bar);
                }
                self.update_live(followed);
            }
            None => {
                for (target, shown) in followed.iter().zip(&self.shown) {
                    plain(&format!("{}: {shown}", item(&target.report)));
                }
            }
        }
    }

    /// Notes what a check saw of running jobs, before the tracker takes it in.
    pub fn checked(&mut self, outcome: &CheckOutcome) {
        match outcome {
            CheckOutcome::Checked(observed) => {
                for seen in observed {
                    if let JobObservation::Running { progress } = seen.observation {
                        self.progress.insert(seen.job_id.clone(), progress);
                    }
                }
            }
            CheckOutcome::Unreachable(reason) => {
                let what = format!("Tableau could not be reached ({reason})");
                match &self.live {
                    Some(live) => live.footer.set_message(what),
                    None => plain(&what),
                }
            }
        }
    }

    /// After the tracker took in a check: what changed.
    pub fn advanced(&mut self, followed: &[Followed]) {
        if self.live.is_some() {
            return self.update_live(followed);
        }
        let states: Vec<String> = followed.iter().map(|t| self.state_of(t)).collect();
        for ((target, shown), now) in followed.iter().zip(self.shown.iter_mut()).zip(states) {
            if now != *shown {
                plain(&format!("{}: {now}", item(&target.report)));
                *shown = now;
            }
        }
    }

    /// Waits `wait`, counting down on a terminal.
    pub async fn wait(&mut self, wait: Duration, pending: usize) {
        let plural = if pending == 1 { "" } else { "s" };
        let Some(live) = &self.live else {
            plain(&format!(
                "{pending} job{plural} running; next check in {} s",
                seconds(wait)
            ));
            return tokio::time::sleep(wait).await;
        };
        let until = tokio::time::Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            live.footer.set_message(format!(
                "{pending} job{plural} running; next check in {} s",
                seconds(left)
            ));
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        }
        live.footer.set_message("checking the jobs");
    }

    /// Clears the live display, so the result printed next stands alone.
    pub fn finish(&mut self) {
        if let Some(live) = self.live.take() {
            for bar in live.bars.iter().flatten() {
                bar.finish_and_clear();
            }
            live.footer.finish_and_clear();
            let _ = live.multi.clear();
        }
    }

    fn update_live(&mut self, followed: &[Followed]) {
        let states: Vec<String> = followed.iter().map(|t| self.state_of(t)).collect();
        let Some(live) = &self.live else { return };
        for ((target, bar), now) in followed.iter().zip(&live.bars).zip(states) {
            let Some(bar) = bar else { continue };
            if bar.is_finished() {
                continue;
            }
            if target.is_pending() {
                bar.set_message(now);
            } else {
                let mark = if target.report.result.is_success() {
                    "✔"
                } else {
                    "✘"
                };
                bar.set_style(style(&format!("{mark} {{prefix}}  {{wide_msg}}")));
                bar.finish_with_message(now);
            }
        }
    }

    fn state_of(&self, target: &Followed) -> String {
        let running = target
            .report
            .job_id
            .as_ref()
            .filter(|_| target.is_pending())
            .and_then(|job| self.progress.get(job));
        match running {
            Some(Some(percent)) => format!("running ({percent}%)"),
            Some(None) => "running".to_owned(),
            None => state(target),
        }
    }
}

/// A target's state in words: `queued, job j-1`, `succeeded in 42 s`, or the
/// result and why.
fn state(target: &Followed) -> String {
    let report: &TargetReport = &target.report;
    let mut state = report.result.as_str().to_owned();
    if report.result == RefreshResult::Queued
        && let Some(job) = &report.job_id
    {
        state.push_str(&format!(", job {job}"));
    }
    if let Some(s) = seconds_between(target.created_at.as_deref(), target.completed_at.as_deref()) {
        state.push_str(&format!(" in {s:.0} s"));
    }
    if let Some(error) = &report.error {
        state.push_str(&format!(": {error}"));
    }
    state
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn seconds(d: Duration) -> u64 {
    dbt_tableau_engine::follow::schedule::whole_seconds(d)
}

/// One timestamped line on stderr (UTC, to the second).
fn plain(what: &str) {
    let now = time::OffsetDateTime::from(SystemTime::now());
    let stamp = now
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let _ = writeln!(std::io::stderr().lock(), "{stamp} {what}");
}
