//! The exposure resolver on big artifacts: wall time per phase and peak memory.
//!
//! ```text
//! python3 bench/make_manifest.py --models 20000 --out /tmp/m20000
//! cargo run --release -p dbt-tableau-engine --example resolve_bench -- /tmp/m20000/manifest.json /tmp/m20000/run_results.json
//!     [--check EXPECTED_DECISION_JSON]   (bench/exposures_reference.py's output)
//! python3 bench/artifact_server.py /tmp/m20000    (prints PORT)
//! cargo run --release -p dbt-tableau-engine --example resolve_bench -- --dbt-cloud http://127.0.0.1:PORT
//! ```
//!
//! `--dbt-cloud URL` judges run 2 of account 1 through the function's resolver
//! (the run, then the manifest and each step's run_results streamed over HTTP into
//! the parser), on a current-thread runtime as the function runs it.
//!
//! Peak memory is the kernel's high-water mark of resident memory (VmHWM in
//! /proc/self/status; Linux only): what a 128 MB Lambda's limit is held against.
//! The files are streamed from disk, so the figure is the resolver's, not the input's.
//!
//! Figures: bench/results.md (bench/exposures_bench.py runs this at 1,000 /
//! 5,000 / 20,000 models, light and heavy run_results, at full CPU and at a
//! 128 MB function's CPU share).

use dbt_tableau_engine::exposures::{
    Decision, RunOutcome, Verdict, decide, read_manifest, read_run_results,
};
use std::collections::BTreeMap;
use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--dbt-cloud") {
        return match args.get(1).map(|url| over_http(url)) {
            Some(Ok(())) => ExitCode::SUCCESS,
            Some(Err(e)) => {
                eprintln!("resolve_bench: {e}");
                ExitCode::from(2)
            }
            None => {
                eprintln!("usage: resolve_bench --dbt-cloud URL");
                ExitCode::from(2)
            }
        };
    }
    let check = args.iter().position(|a| a == "--check").map(|i| {
        args.remove(i);
        (i < args.len()).then(|| args.remove(i))
    });
    let Some((manifest_path, step_paths)) = args.split_first() else {
        eprintln!("usage: resolve_bench MANIFEST RUN_RESULTS... [--check EXPECTED_DECISION_JSON]");
        return ExitCode::from(2);
    };
    match run(manifest_path, step_paths, check.flatten().as_deref()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("resolve_bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(
    manifest_path: &str,
    step_paths: &[String],
    check: Option<&str>,
) -> Result<bool, Box<dyn std::error::Error>> {
    let rss_at_start = status_kib("VmRSS");
    let size = std::fs::metadata(manifest_path)?.len();

    let started = Instant::now();
    let manifest = read_manifest(File::open(manifest_path)?)?;
    let manifest_secs = started.elapsed().as_secs_f64();
    let hwm_after_manifest = status_kib("VmHWM");
    println!(
        "manifest.json {:.1} MB read in {manifest_secs:.2} s ({:.0} MB/s): {} ids, {} edges, {} exposures with Tableau meta ({} without)",
        mb(size),
        mb(size) / manifest_secs,
        manifest.graph.len(),
        manifest.graph.edges(),
        manifest.exposures.len(),
        manifest.exposures_without_tableau,
    );

    let started = Instant::now();
    let mut outcome = RunOutcome::default();
    let mut step_bytes = 0;
    for path in step_paths {
        step_bytes += std::fs::metadata(path)?.len();
        outcome.add(read_run_results(File::open(path)?)?);
    }
    println!(
        "run_results: {} step(s), {:.1} MB, read and combined in {:.2} s: {} nodes",
        step_paths.len(),
        mb(step_bytes),
        started.elapsed().as_secs_f64(),
        outcome.len()
    );

    let started = Instant::now();
    let verdicts = decide(&manifest, &outcome);
    let decide_secs = started.elapsed().as_secs_f64();
    let mut counts = BTreeMap::new();
    for v in &verdicts {
        let key = match (&v.items, &v.decision) {
            (Err(_), _) => "malformed",
            (_, Decision::Fresh) => "fresh",
            (_, Decision::Blocked { .. }) => "blocked",
            (_, Decision::Untouched) => "untouched",
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    println!("decide: {decide_secs:.3} s: {counts:?}");
    println!(
        "memory: VmRSS at start {} MB; VmHWM after the manifest {} MB; VmHWM at the end {} MB",
        kib_mb(rss_at_start),
        kib_mb(hwm_after_manifest),
        kib_mb(status_kib("VmHWM")),
    );
    match check {
        Some(path) => compare(&verdicts, path),
        None => Ok(true),
    }
}

/// Compares the decisions with the reference's (fresh, untouched, blocked by one of
/// the listed nodes). Malformed ones are the item parser's business and are skipped.
fn compare(verdicts: &[Verdict], path: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let expected: serde_json::Value = serde_json::from_reader(File::open(path)?)?;
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    for item in expected["refresh"].as_array().ok_or("no refresh list")? {
        for e in item["exposures"].as_array().ok_or("no exposures")? {
            want.insert(e.as_str().unwrap_or_default().into(), "fresh".into());
        }
    }
    for e in expected["untouched"]
        .as_array()
        .ok_or("no untouched list")?
    {
        want.insert(e.as_str().unwrap_or_default().into(), "untouched".into());
    }
    for skip in expected["skipped"].as_array().ok_or("no skipped list")? {
        let nodes: Vec<String> = skip["blocked_by"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                format!(
                    "{} ({})",
                    b["node"].as_str().unwrap_or(""),
                    b["status"].as_str().unwrap_or("")
                )
            })
            .collect();
        want.insert(
            skip["exposure"].as_str().unwrap_or_default().into(),
            nodes.join(", "),
        );
    }
    let mut differences = 0;
    for v in verdicts {
        let Some(expected) = want.get(&v.exposure) else {
            continue;
        };
        let agrees = match &v.decision {
            Decision::Fresh => expected == "fresh",
            Decision::Untouched => expected == "untouched",
            Decision::Blocked { node, status } => expected.contains(&format!("{node} ({status})")),
        };
        if !agrees {
            differences += 1;
            println!(
                "DIFFERS {}: ours {:?}, reference {expected}",
                v.exposure, v.decision
            );
        }
    }
    println!(
        "check: {} exposures compared with the reference, {differences} differ",
        want.len()
    );
    Ok(differences == 0)
}

/// The function's path: [`DbtCloudResolver`] against a dbt Cloud at `url`.
fn over_http(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    use dbt_tableau_engine::dbt_cloud::DbtCloud;
    use dbt_tableau_engine::resolve::ExposureResolver;
    use dbt_tableau_engine::resolve::cloud::DbtCloudResolver;
    use dbt_tableau_engine::webhook::RunSummary;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let resolver = DbtCloudResolver::new(DbtCloud::new(DbtCloud::default_http()?, url)?);
    let run = RunSummary {
        account_id: Some("1".into()),
        run_id: Some("2".into()),
        ..RunSummary::default()
    };
    let token = secrecy::SecretString::from("dbtc_bench".to_owned());
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(300);
    let resolution = runtime
        .block_on(resolver.resolve(&run, Some(&token), deadline))
        .map_err(|f| f.error)?;
    println!(
        "dbt Cloud over HTTP: judged in {:.2} s: {} targets to refresh, {} reports",
        started.elapsed().as_secs_f64(),
        resolution.targets.len(),
        resolution.reports.len()
    );
    println!(
        "memory: VmHWM at the end {} MB",
        kib_mb(status_kib("VmHWM"))
    );
    Ok(())
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn kib_mb(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
