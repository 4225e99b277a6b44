//! The two subcommands: where targets come from, the refresh, and following the
//! jobs with the workflow's tracker. Errors here are usage, configuration or
//! input errors (status 2); a target that fails is a result, not an error.

use super::args::{CheckArgs, RefreshArgs, target_dir};
use super::local::resolve_local;
use super::output::{Finished, Mode, Targets};
use super::progress::Display;
use dbt_tableau_engine::answer::TargetReport;
use dbt_tableau_engine::follow::{
    FollowSettings, JobChecker, cancel_timed_out, schedule, settings::TIMEOUT_VARIABLE, tracker,
};
use dbt_tableau_engine::resolve::{Malformed, Resolution, merge};
use dbt_tableau_engine::secrets::{
    DBT_WEBHOOK_KEY, Origin, Secrets, SecretsError, TABLEAU_SITE_NAME, TableauAccess,
};
use dbt_tableau_engine::tableau::{Refresher, TableauRefresher, refresher_from_env};
use dbt_tableau_engine::targets::Target;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// The refresh requests (version, sign-in, lookups, one POST per item) get this
/// long in all: a command has no webhook's 10 s, but must not hang either.
const REFRESH_BUDGET: Duration = Duration::from_secs(5 * 60);
/// One check of every running job.
const CHECK_BUDGET: Duration = Duration::from_secs(2 * 60);

/// What a subcommand ends with.
pub struct Done {
    pub finished: Finished,
    /// Said instead of the lines when there is no target at all.
    pub if_empty: &'static str,
}

const NOTHING_FRESH: &str = "nothing to refresh: no exposure naming a Tableau item is downstream of a node this run rebuilt";

/// `check`: the dry run of the artifacts' targets, contacting nothing.
pub fn check(args: &CheckArgs) -> Result<Done, String> {
    // Every malformed meta.tableau: finding them is what the check is for.
    let resolution = resolve_local(&target_dir(&args.target_dir), Malformed::All)?;
    Ok(Done {
        finished: Finished::new(Mode::DryRun, Targets::Reports(dry_run(resolution))),
        if_empty: NOTHING_FRESH,
    })
}

fn dry_run(resolution: Resolution) -> Vec<TargetReport> {
    let (targets, mut reports) = merge(&[], resolution);
    let mut dry: Vec<TargetReport> = targets.iter().map(TargetReport::dry_run).collect();
    dry.append(&mut reports);
    dry
}

/// Everything `refresh` needs from the environment, read before anything is
/// asked of Tableau so a misconfigured pipeline learns it on its first run.
struct Config {
    access: TableauAccess,
    refresher: TableauRefresher,
    follow: Option<FollowSettings>,
}

fn config(args: &RefreshArgs) -> Result<Config, String> {
    let access = access_from(|key| std::env::var(key).ok())?;
    let refresher = refresher_from_env()?;
    let follow = args.wait.then(|| follow_settings(args)).transpose()?;
    Ok(Config {
        access,
        refresher,
        follow,
    })
}

/// The Tableau half of the function's secret, from the environment. The webhook
/// key is the function's alone, so a stand-in fills it. An empty variable counts
/// as unset (a CI workflow passing a secret that doesn't exist gives ""), except
/// TABLEAU_SITE_NAME, where "" is Tableau Server's Default site.
pub fn access_from(lookup: impl Fn(&str) -> Option<String>) -> Result<TableauAccess, String> {
    let origin = Origin("the environment".into());
    let lookup = |key: &'static str| match key {
        DBT_WEBHOOK_KEY => Some("not used by dbt-tableau".to_owned()),
        TABLEAU_SITE_NAME => lookup(key),
        _ => lookup(key).filter(|v| !v.trim().is_empty()),
    };
    let secrets = Secrets::from_lookup(&origin, lookup).map_err(|e| e.to_string())?;
    secrets.tableau.map_err(|e| match e {
        SecretsError::MissingKey { key, .. } => format!(
            "{key} is not set: dbt-tableau reads the Tableau site and credentials from the environment \
             (TABLEAU_SITE_URL, TABLEAU_SITE_NAME, and a personal access token or a connected app's keys)"
        ),
        // The function's words speak of a secret plus the environment; here the
        // environment is all there is.
        other => other
            .to_string()
            .replace("the environment (with the environment)", "the environment")
            .replace("the environment (or the environment)", "the environment"),
    })
}

/// POLL_* and REFRESH_TIMEOUT_MINUTES, with `--timeout` in place of the latter
/// (checked by the same rule, and named as the flag in errors).
fn follow_settings(args: &RefreshArgs) -> Result<FollowSettings, String> {
    FollowSettings::from_lookup(|key| match (key, &args.timeout) {
        (TIMEOUT_VARIABLE, Some(flag)) => Some(flag.clone()),
        _ => std::env::var(key).ok(),
    })
    .map_err(|e| match &args.timeout {
        Some(_) if e.starts_with(TIMEOUT_VARIABLE) => e.replacen(TIMEOUT_VARIABLE, "--timeout", 1),
        _ => e,
    })
}

/// `refresh`: targets from the flags or the artifacts, then Tableau.
pub async fn refresh(args: &RefreshArgs, live: bool) -> Result<Done, String> {
    let items = args.items();
    if args.incremental
        && !items.is_empty()
        && items
            .iter()
            .all(|t| t.kind == dbt_tableau_engine::targets::ItemKind::Flow)
    {
        return Err(
            "--incremental applies to the extracts of workbooks and data sources, and only flows are named"
                .into(),
        );
    }
    let config = if args.dry_run {
        None
    } else {
        Some(config(args)?)
    };
    let resolution = if items.is_empty() {
        // As the function judges a run: malformed exposures the run touched.
        let mut resolution = resolve_local(&target_dir(&args.target_dir), Malformed::Touched)?;
        resolution.targets = (resolution.targets.into_iter())
            .map(|t| args.incremental_if_asked(t))
            .collect();
        resolution
    } else {
        Resolution {
            targets: items,
            reports: Vec::new(),
        }
    };
    let Some(config) = config else {
        return Ok(Done {
            finished: Finished::new(Mode::DryRun, Targets::Reports(dry_run(resolution))),
            if_empty: NOTHING_FRESH,
        });
    };
    let (targets, mut others) = merge(&[], resolution);
    let mut display = Display::new(live);
    let mut reports = if targets.is_empty() {
        Vec::new()
    } else {
        display.refreshing(targets.len());
        let refs: Vec<&Target> = targets.iter().collect();
        let deadline = Instant::now() + REFRESH_BUDGET;
        config
            .refresher
            .refresh(&config.access, &refs, deadline)
            .await
    };
    reports.append(&mut others);
    let finished = match &config.follow {
        None => Finished::new(Mode::Refresh, Targets::Reports(reports)),
        Some(settings) => {
            let mut followed = follow(&config, settings, reports, &mut display).await;
            if args.timeout.is_some() {
                // The tracker's words name the variable the function reads.
                for target in &mut followed {
                    if let Some(error) = &mut target.report.error {
                        *error = error.replace(&format!("({TIMEOUT_VARIABLE})"), "(--timeout)");
                    }
                }
            }
            Finished::new(Mode::Wait, Targets::Followed(followed))
        }
    };
    display.finish();
    Ok(Done {
        finished,
        if_empty: NOTHING_FRESH,
    })
}

/// The workflow's loop in one process: wait, check every running job, take the
/// outcome in, until nothing is left to follow or the timeout passes.
async fn follow(
    config: &Config,
    settings: &FollowSettings,
    reports: Vec<TargetReport>,
    display: &mut Display,
) -> Vec<tracker::Followed> {
    let started = Instant::now();
    let (mut followed, mut progress) = tracker::begin(reports, settings, SystemTime::now());
    display.begin(&followed);
    while !progress.done {
        // The schedule's own wait rather than `progress.wait_seconds`, which is
        // rounded up to whole seconds for a Step Functions Wait state.
        let wait = schedule::next_wait_within(settings, progress.waits, started.elapsed())
            .unwrap_or(Duration::ZERO);
        let jobs = tracker::pending_jobs(&followed);
        display.wait(wait, jobs.len()).await;
        let deadline = Instant::now() + CHECK_BUDGET;
        let outcome =
            JobChecker::check_jobs(&config.refresher, &config.access, &jobs, deadline).await;
        display.checked(&outcome);
        let timed_out = tracker::advance(
            &mut followed,
            &mut progress,
            outcome,
            settings,
            SystemTime::now(),
        );
        let deadline = Instant::now() + CHECK_BUDGET;
        cancel_timed_out(
            &config.refresher,
            &config.access,
            &mut followed,
            &timed_out,
            settings,
            deadline,
        )
        .await;
        display.advanced(&followed);
    }
    followed
}
