//! The GitHub Actions workflow the README points at is valid YAML and does what
//! the README says: installs dbt and dbt-tableau, runs dbt build, then
//! `dbt-tableau refresh --wait` with the Tableau settings from the repository's
//! secrets. Parsed by PyYAML (which cfn-lint brings into the test command's
//! .venv), so the crate needs no YAML parser.
#![cfg(feature = "cli")]

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const WORKFLOW: &str = "docs/ci/github-actions-dbt-tableau.yml";

fn parsed() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(WORKFLOW);
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "PyYAML could not read {WORKFLOW} (run ./scripts/test.sh, whose .venv has PyYAML): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python")
}

fn steps(workflow: &Value) -> Vec<Value> {
    let jobs = workflow["jobs"].as_object().expect("jobs");
    jobs.values()
        .flat_map(|job| job["steps"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn runs(steps: &[Value]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_workflow_builds_with_dbt_then_refreshes_and_waits() {
    let workflow = parsed();
    // YAML 1.1 reads the key `on` as true.
    let triggers = workflow
        .get("on")
        .or(workflow.get("true"))
        .expect("triggers");
    assert!(triggers.get("push").is_some() || triggers.get("schedule").is_some());
    let steps = steps(&workflow);
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    assert!(
        uses.iter().any(|u| u.starts_with("actions/checkout@")),
        "{uses:?}"
    );
    assert!(
        uses.iter().any(|u| u.starts_with("actions/setup-python@")),
        "{uses:?}"
    );
    let runs = runs(&steps);
    let position = |needle: &str| {
        runs.iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no step runs {needle:?}: {runs:?}"))
    };
    let install = position("pip install");
    assert!(runs[install].contains("dbt-tableau") && runs[install].contains("dbt-"));
    let build = position("dbt build");
    let refresh = position("dbt-tableau refresh");
    assert!(install < build && build < refresh, "{runs:?}");
    assert!(runs[refresh].contains("--wait"), "{}", runs[refresh]);
    // The settings come from the repository's secrets, never from the file.
    let refresh_step = steps
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("dbt-tableau refresh"))
        })
        .unwrap();
    let env = refresh_step["env"]
        .as_object()
        .expect("the refresh step's env");
    for key in [
        "TABLEAU_SITE_URL",
        "TABLEAU_SITE_NAME",
        "TABLEAU_API_TOKEN_NAME",
        "TABLEAU_API_TOKEN_SECRET",
    ] {
        assert_eq!(
            env[key].as_str(),
            Some(format!("${{{{ secrets.{key} }}}}").as_str()),
            "{key}"
        );
    }
}

#[test]
fn the_readme_shows_this_file() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(readme.contains("## dbt Core and CI"), "the README section");
    assert!(
        readme.contains(WORKFLOW),
        "the README links the workflow file"
    );
}
