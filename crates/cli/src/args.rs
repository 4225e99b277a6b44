//! The command line, as CONTRACT.md ("Command line, for dbt Core") writes it.
//! clap checks the combinations, so a flag that would be silently ignored is a
//! usage error (status 2) instead.

use clap::builder::NonEmptyStringValueParser;
use clap::{ArgGroup, Args, Parser, Subcommand};
use dbt_tableau_engine::targets::{ItemKind, Target};
use std::path::PathBuf;

/// The item flags, for the conflicts below.
const ITEM_FLAGS: [&str; 6] = [
    "workbook",
    "datasource",
    "flow",
    "workbook_id",
    "datasource_id",
    "flow_id",
];

#[derive(Debug, Parser)]
#[command(
    name = "dbt-tableau",
    version,
    about = "Refresh the Tableau extracts (and run the Prep flows) a dbt run made fresh, and follow them to their end",
    long_about = "Refresh the Tableau extracts (and run the Prep flows) a dbt run made fresh, and follow them to their end.\n\n\
        Tableau settings come from the environment: TABLEAU_SITE_URL, TABLEAU_SITE_NAME, and \
        either TABLEAU_API_TOKEN_NAME + TABLEAU_API_TOKEN_SECRET (a personal access token) or \
        TABLEAU_CONNECTED_APP_CLIENT_ID, TABLEAU_CONNECTED_APP_SECRET_ID, \
        TABLEAU_CONNECTED_APP_SECRET_VALUE and TABLEAU_USERNAME (a connected app).\n\n\
        With --wait, a job still running at the timeout is cancelled in Tableau unless \
        CANCEL_ON_TIMEOUT=false.\n\n\
        Exit status: 0 every target succeeded (or was queued, without --wait), 1 a target \
        failed, 2 a usage, configuration or input error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Queue extract refreshes and flow runs: of the items named by the exposures a
    /// dbt run made fresh (from --target-dir), or of the items named with flags.
    Refresh(RefreshArgs),
    /// Print what `refresh` would do with the artifacts, and every malformed
    /// meta.tableau; contacts nothing. Exits 1 when a meta.tableau is malformed.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("names").multiple(true).args(["workbook", "datasource", "flow"])))]
pub struct RefreshArgs {
    /// dbt's target directory, holding manifest.json and run_results.json
    /// [default: target]
    #[arg(long, value_name = "DIR", conflicts_with_all = ITEM_FLAGS)]
    pub target_dir: Option<PathBuf>,
    /// Follow every refresh job until Tableau finishes it (or the timeout passes;
    /// a job still running then is cancelled unless CANCEL_ON_TIMEOUT=false).
    #[arg(long, conflicts_with = "dry_run")]
    pub wait: bool,
    /// With --wait: give up on jobs still running after this many minutes
    /// [default: REFRESH_TIMEOUT_MINUTES, or 240]
    #[arg(long, value_name = "MINUTES", requires = "wait")]
    pub timeout: Option<String>,
    /// Say what would be refreshed, without contacting Tableau.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document on stdout: {"status": ..., "targets": [...]}.
    #[arg(long)]
    pub json: bool,
    /// Refresh the workbook of this name (repeatable).
    #[arg(long, value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub workbook: Vec<String>,
    /// Refresh the published data source of this name (repeatable).
    #[arg(long, value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub datasource: Vec<String>,
    /// Refresh the workbook with this Tableau LUID (repeatable; no lookup).
    #[arg(long, value_name = "LUID", value_parser = NonEmptyStringValueParser::new())]
    pub workbook_id: Vec<String>,
    /// Refresh the data source with this Tableau LUID (repeatable; no lookup).
    #[arg(long, value_name = "LUID", value_parser = NonEmptyStringValueParser::new())]
    pub datasource_id: Vec<String>,
    /// Run the Tableau Prep flow of this name (Run Flow Now; repeatable).
    #[arg(long, value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    pub flow: Vec<String>,
    /// Run the flow with this Tableau LUID (repeatable; no lookup).
    #[arg(long, value_name = "LUID", value_parser = NonEmptyStringValueParser::new())]
    pub flow_id: Vec<String>,
    /// Refresh the extracts of workbooks and data sources incrementally (REST API
    /// 3.25+; flows are run as usual).
    #[arg(long)]
    pub incremental: bool,
    /// The Tableau project holding the items named with --workbook/--datasource/--flow.
    #[arg(long, value_name = "NAME", requires = "names", value_parser = NonEmptyStringValueParser::new())]
    pub project: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// dbt's target directory, holding manifest.json and run_results.json
    /// [default: target]
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Print one JSON document on stdout: {"status": ..., "targets": [...]}.
    #[arg(long)]
    pub json: bool,
}

/// dbt's own default for `--target-path`.
pub fn target_dir(given: &Option<PathBuf>) -> PathBuf {
    given.clone().unwrap_or_else(|| PathBuf::from("target"))
}

impl RefreshArgs {
    /// `--incremental` applies to every workbook and data source (from flags or
    /// from the exposures); a flow has no incremental run.
    pub fn incremental_if_asked(&self, target: Target) -> Target {
        if self.incremental && target.kind != ItemKind::Flow {
            target.incremental()
        } else {
            target
        }
    }

    /// The items named with flags, each once, in flag order (workbooks, data
    /// sources, then LUIDs); empty when the exposures decide.
    pub fn items(&self) -> Vec<Target> {
        let project = self.project.as_deref();
        let named = |kind, names: &[String]| -> Vec<Target> {
            names
                .iter()
                .map(|name| Target::named(kind, name, project))
                .collect()
        };
        let by_id = |kind, ids: &[String]| -> Vec<Target> {
            ids.iter()
                .map(|id| Target::by_id(kind, id.trim()))
                .collect()
        };
        let mut items: Vec<Target> = Vec::new();
        for target in named(ItemKind::Workbook, &self.workbook)
            .into_iter()
            .chain(named(ItemKind::Datasource, &self.datasource))
            .chain(named(ItemKind::Flow, &self.flow))
            .chain(by_id(ItemKind::Workbook, &self.workbook_id))
            .chain(by_id(ItemKind::Datasource, &self.datasource_id))
            .chain(by_id(ItemKind::Flow, &self.flow_id))
        {
            let target = self.incremental_if_asked(target);
            if !items.iter().any(|seen| seen.same_item(&target)) {
                items.push(target);
            }
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("dbt-tableau").chain(args.iter().copied()))
    }

    fn refresh(args: &[&str]) -> RefreshArgs {
        match parse(args).unwrap().command {
            Command::Refresh(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn items_from_flags_with_the_project_on_names_only() {
        let r = refresh(&[
            "refresh",
            "--workbook",
            "Sales",
            "--datasource-id",
            " ds-1 ",
            "--project",
            "Finance",
            "--workbook",
            "Q1, Q2 & Q3: Review",
            "--workbook",
            "Sales",
        ]);
        let items = r.items();
        assert_eq!(
            items,
            vec![
                Target::named(ItemKind::Workbook, "Sales", Some("Finance")),
                Target::named(ItemKind::Workbook, "Q1, Q2 & Q3: Review", Some("Finance")),
                Target::by_id(ItemKind::Datasource, "ds-1"),
            ]
        );
    }

    #[test]
    fn combinations_that_would_ignore_a_flag_are_usage_errors() {
        for bad in [
            &["refresh", "--project", "Finance"][..],
            &["refresh", "--workbook-id", "x", "--project", "Finance"],
            &["refresh", "--timeout", "5"],
            &["refresh", "--wait", "--dry-run"],
            &["refresh", "--target-dir", "t", "--workbook", "Sales"],
            &["refresh", "--workbook", ""],
            &["refresh", "--frobnicate"],
            &["check", "--workbook", "Sales"],
            &["refresh", "extra"],
            &[],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}: {e}");
            assert_ne!(e.kind(), ErrorKind::DisplayHelp);
        }
    }

    #[test]
    fn defaults() {
        let r = refresh(&["refresh"]);
        assert!(r.items().is_empty() && !r.wait && !r.dry_run && !r.json);
        assert_eq!(target_dir(&r.target_dir), PathBuf::from("target"));
        assert!(refresh(&["refresh", "--wait", "--timeout", "0.5"]).wait);
    }
}
