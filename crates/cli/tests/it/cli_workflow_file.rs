//! The GitHub Actions workflow the README points at is valid YAML and does what
//! the README says: installs dbt and dbt-tableau, runs dbt build, then
//! `dbt-tableau refresh --wait` with the Tableau settings from the repository's
//! secrets. Parsed by PyYAML (which cfn-lint brings into the test command's
//! .venv), so the crate needs no YAML parser.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const WORKFLOW: &str = "docs/ci/github-actions-dbt-tableau.yml";

fn parsed() -> Value {
    parse(WORKFLOW)
}

fn parse(file: &str) -> Value {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(file);
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
        "PyYAML could not read {file} (run ./scripts/test.sh, whose .venv has PyYAML): {}",
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
    // Never the bare PyPI name (not ours yet): a direct reference to a release's
    // wheel, pinned to its tag.
    let words: Vec<&str> = runs[install].split_whitespace().collect();
    for (at, word) in words.iter().enumerate() {
        assert!(
            word.trim_matches('"') != "dbt-tableau" || words.get(at + 1) == Some(&"@"),
            "installs dbt-tableau by its unpublished PyPI name: {}",
            runs[install]
        );
    }
    let reference = words
        .iter()
        .position(|w| w.trim_start_matches('"') == "dbt-tableau")
        .and_then(|at| words.get(at + 2))
        .expect("a `dbt-tableau @ URL` direct reference");
    assert!(
        reference.contains("/releases/download/v${DBT_TABLEAU_VERSION}/")
            && reference.contains("manylinux2014_x86_64.whl"),
        "{reference}"
    );
    let install_step = steps
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("pip install")))
        .unwrap();
    let version = install_step["env"]["DBT_TABLEAU_VERSION"].as_str().unwrap();
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "the example pins this release"
    );
    let text = std::fs::read_to_string(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(WORKFLOW),
    )
    .unwrap();
    assert!(
        text.contains("NOT published on PyPI yet"),
        "the file says plainly that the name is not published"
    );
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
    let readme = std::fs::read_to_string(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("README.md"),
    )
    .unwrap();
    assert!(readme.contains("## dbt Core and CI"), "the README section");
    assert!(
        readme.contains(WORKFLOW),
        "the README links the workflow file"
    );
}

/// The release workflow builds a wheel for every platform the README promises,
/// an sdist and the function's arm64 zip, and publishes to PyPI with trusted
/// publishing: an OIDC token, never a stored password.
#[test]
fn the_release_workflow_builds_every_platform_and_publishes_without_a_token() {
    let release = parse(".github/workflows/release.yml");
    let text = serde_json::to_string(&release).unwrap();
    for target in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(text.contains(target), "no wheel for {target}");
    }
    assert!(
        text.contains("--compatibility manylinux2014"),
        "glibc 2.17 wheels"
    );
    assert!(text.contains("\"command\":\"sdist\""), "an sdist");
    assert!(text.contains("bootstrap.zip"), "the function's zip");
    let jobs = release["jobs"].as_object().expect("jobs");
    let pypi = &jobs["pypi"];
    assert_eq!(
        pypi["permissions"]["id-token"], "write",
        "trusted publishing"
    );
    let publish = pypi["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("pypa/gh-action-pypi-publish@"))
        })
        .expect("the PyPI publish step");
    assert!(
        publish["with"].get("password").is_none(),
        "no stored PyPI token"
    );
    let triggers = release.get("on").or(release.get("true")).expect("on");
    assert!(triggers["push"]["tags"].is_array(), "runs on a tag");
}
