//! Targets from a local dbt target directory: `manifest.json` and
//! `run_results.json`, judged by the library's resolver
//! ([`dbt_tableau_engine::resolve::local`]), after the checks only a single local
//! `run_results.json` needs.

use dbt_tableau_engine::exposures::{Artifact, NON_EXECUTING};
use dbt_tableau_engine::resolve::local::resolve_target_dir;
use dbt_tableau_engine::resolve::{Malformed, Resolution};
use serde::Deserialize;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// What the exposures in `dir` say about the run that wrote it. An error is an
/// input error (status 2) and says which file and what to do.
pub fn resolve_local(dir: &Path, malformed: Malformed) -> Result<Resolution, String> {
    if dir.is_dir() {
        for artifact in [Artifact::RunResults, Artifact::Manifest] {
            let path = dir.join(artifact.to_string());
            if !path.exists() {
                return Err(format!(
                    "{} not found: dbt writes it to its target directory when it runs \
                     (dbt build); give --target-dir if yours is elsewhere",
                    path.display()
                ));
            }
        }
        refuse_non_executing(dir)?;
    }
    resolve_target_dir(dir, malformed)
}

/// dbt Cloud combines a job's steps and leaves out those that run nothing; on
/// disk there is one run_results.json, the last command's. When that command ran
/// nothing (`dbt docs generate` lists every node as `success` without running
/// it), judging by it would refresh nothing, silently: say so instead.
fn refuse_non_executing(dir: &Path) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        args: Option<Args>,
    }
    #[derive(Deserialize)]
    struct Args {
        #[serde(default)]
        which: Option<String>,
    }
    let path = dir.join(Artifact::RunResults.to_string());
    // Unreadable or malformed files are the resolver's to report.
    let Ok(file) = File::open(&path) else {
        return Ok(());
    };
    let Ok(head) = serde_json::from_reader::<_, Head>(BufReader::new(file)) else {
        return Ok(());
    };
    match head.args.and_then(|a| a.which) {
        Some(which) if NON_EXECUTING.contains(&which.as_str()) => Err(format!(
            "{} was written by `dbt {}`, which runs no model: run dbt-tableau right \
             after the command that built the models (dbt build, run, seed, snapshot, test), \
             before commands that overwrite it",
            path.display(),
            // `args.which` of `dbt docs generate` is "generate".
            if which == "generate" {
                "docs generate"
            } else {
                &which
            }
        )),
        _ => Ok(()),
    }
}
