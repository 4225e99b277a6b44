//! run_results.json far beyond the old 48 MiB cap (each result carrying a large
//! `compiled_code`, as dbt >= 1.8 writes it) is judged like the small original,
//! in bounded memory: through the resolver from dbt Cloud (streamed over HTTP)
//! and from a local target/ directory. Alone in its own test binary, and both
//! cases in one test, so that no other test's allocations blur the figure.

use dbt_tableau_engine::dbt_cloud::DbtCloud;
use dbt_tableau_engine::resolve::cloud::DbtCloudResolver;
use dbt_tableau_engine::resolve::local::resolve_target_dir;
use dbt_tableau_engine::resolve::{ExposureResolver, Malformed, Resolution, judge};
use dbt_tableau_engine::webhook::RunSummary;
use secrecy::SecretString;
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

/// Each result's padding: 1 MiB of SQL-like text with escapes in it.
const PADDING: usize = 1 << 20;
/// The padded run_results must pass this (the old cap was 48 MiB).
const AT_LEAST: usize = 64 << 20;
/// What the process's peak resident size may grow by while judging it.
const GROWTH_LIMIT: usize = 24 << 20;

fn build_set() -> PathBuf {
    crate::exposures_harness::set("build")
}

/// Peak resident set size (VmHWM) in bytes; Linux only.
fn peak_rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Writes the real build's run_results with every result's `compiled_code`
/// padded to a MiB, the results repeated until the file passes [`AT_LEAST`]
/// (a repeated result says the same as the first: the decision is unchanged).
/// Written piece by piece: the whole never sits in memory.
fn write_padded(out: &mut impl Write) -> usize {
    let text = std::fs::read_to_string(build_set().join("run_results.json")).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let results = doc["results"].as_array().unwrap().clone();
    doc.as_object_mut().unwrap().remove("results");
    let line = "select \"id\", 'it''s' as quoted, '\\n' from {{ ref('orders') }} -- pad\n";
    let sql: String = line.repeat(PADDING / line.len());
    let mut written = 0;
    let mut put = |bytes: &[u8]| {
        out.write_all(bytes).unwrap();
        bytes.len()
    };
    written += put(b"{\"results\": [");
    let mut first = true;
    while written < AT_LEAST {
        for result in &results {
            let mut result = result.clone();
            result["compiled_code"] = Value::String(sql.clone());
            written += put(if first { b"" } else { b", " });
            first = false;
            written += put(serde_json::to_string(&result).unwrap().as_bytes());
        }
    }
    written += put(b"], ");
    let rest = serde_json::to_string(&doc).unwrap();
    written + put(&rest.as_bytes()[1..])
}

/// A dbt Cloud of one run with one step, on a thread: the run, the real
/// build's manifest read from disk, and the padded run_results generated
/// while it is sent, so the server side holds none of it.
fn fake_dbt_cloud() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || serve(stream));
        }
    });
    format!("http://{address}")
}

fn serve(stream: std::net::TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
    let mut out = std::io::BufWriter::with_capacity(64 << 10, stream.try_clone().unwrap());
    out.write_all(head.as_bytes()).unwrap();
    if request.contains("/artifacts/manifest.json") {
        let mut file = File::open(build_set().join("manifest.json")).unwrap();
        std::io::copy(&mut file, &mut out).unwrap();
    } else if request.contains("/artifacts/run_results.json") {
        write_padded(&mut out);
    } else {
        let run = r#"{"status":{"code":200,"is_success":true},"data":{"id":2,"status":10,"artifacts_saved":true,"run_steps":[{"index":1,"name":"Invoke dbt with `dbt build`","status":10}]}}"#;
        out.write_all(run.as_bytes()).unwrap();
    }
    let _ = out.flush();
    drop(out);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// The resolution of the original (small) artifacts.
fn expected(malformed: Malformed) -> Resolution {
    let open = |name: &str| File::open(build_set().join(name));
    judge(
        open("manifest.json").unwrap(),
        [open("run_results.json")].map(|f| {
            f.map_err(|e| dbt_tableau_engine::exposures::ExposuresError::Read {
                artifact: dbt_tableau_engine::exposures::Artifact::RunResults,
                detail: e.to_string(),
            })
        }),
        malformed,
    )
    .unwrap()
}

fn local_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("exposures-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(build_set().join("manifest.json"), dir.join("manifest.json")).unwrap();
    let mut file = std::io::BufWriter::new(File::create(dir.join("run_results.json")).unwrap());
    let written = write_padded(&mut file);
    file.flush().unwrap();
    assert!(written >= AT_LEAST);
    dir
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_results_beyond_48_mib_are_judged_in_bounded_memory() {
    let Some(_) = peak_rss() else {
        eprintln!("no /proc/self/status: skipped");
        return;
    };
    let want_touched = expected(Malformed::Touched);
    let want_all = expected(Malformed::All);
    assert!(
        !want_touched.targets.is_empty(),
        "the build refreshes something"
    );

    // From dbt Cloud, over HTTP.
    let resolver = DbtCloudResolver::new(
        DbtCloud::new(DbtCloud::default_http().unwrap(), &fake_dbt_cloud()).unwrap(),
    );
    let run = RunSummary {
        account_id: Some("1".into()),
        run_id: Some("2".into()),
        ..RunSummary::default()
    };
    let token = SecretString::from("dbtc_token".to_owned());
    let before = peak_rss().unwrap();
    let started = Instant::now();
    let resolution = resolver
        .resolve(&run, Some(&token), started + Duration::from_secs(120))
        .await
        .unwrap();
    let grew = peak_rss().unwrap().saturating_sub(before);
    eprintln!(
        "dbt Cloud: judged in {:?}; peak RSS grew by {:.1} MiB",
        started.elapsed(),
        grew as f64 / f64::from(1 << 20)
    );
    assert_eq!(resolution, want_touched);
    assert!(grew < GROWTH_LIMIT, "peak RSS grew by {grew} bytes");

    // From a local target/ directory.
    let dir = local_dir();
    let results_size = size(&dir.join("run_results.json"));
    let before = peak_rss().unwrap();
    let resolution = resolve_target_dir(&dir, Malformed::All);
    let grew = peak_rss().unwrap().saturating_sub(before);
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!(
        "target/: {} MiB judged; peak RSS grew by {:.1} MiB",
        results_size >> 20,
        grew as f64 / f64::from(1 << 20)
    );
    assert_eq!(resolution.unwrap(), want_all);
    assert!(grew < GROWTH_LIMIT, "peak RSS grew by {grew} bytes");
}
