//! A 100 MB manifest streams through a parser without being held in memory:
//! the process's peak resident size grows by a small fraction of it. nextest
//! runs it in a process of its own, so no other test's allocations blur the
//! figure.

use dbt_tableau_engine::dbt_cloud::{ArtifactReader, DbtCloud};
use secrecy::SecretString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const SIZE: usize = 100 << 20;

/// Peak resident set size (VmHWM) in bytes; Linux only.
fn peak_rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Serves `file` to every GET, read from disk in 64 kB pieces, so that the
/// server side holds none of it either.
fn file_server(file: PathBuf) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let len = std::fs::metadata(&file).unwrap().len();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            let mut source = std::fs::File::open(&file).unwrap();
            let mut buffer = vec![0u8; 64 << 10];
            while let Ok(n @ 1..) = source.read(&mut buffer) {
                if stream.write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn a_manifest_streams_through_its_parser_in_little_memory() {
    let Some(before) = peak_rss() else {
        eprintln!("no /proc/self/status: skipped");
        return;
    };
    let source = std::env::temp_dir().join(format!("dbt-cloud-memory-{}.json", std::process::id()));
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
        let line =
            b"{\"unique_id\":\"model.shop.a_model_with_a_long_name\",\"raw_code\":\"select 1\"},\n";
        let mut written = 0;
        while written < SIZE {
            out.write_all(line).unwrap();
            written += line.len();
        }
    }
    let expected = std::fs::metadata(&source).unwrap().len();
    let uri = file_server(source.clone());
    let cloud = DbtCloud::new(DbtCloud::default_http().unwrap(), &uri).unwrap();
    let started = Instant::now();
    // A parser that looks at every byte and keeps none of them.
    let count = Arc::new(|mut reader: ArtifactReader| {
        let mut buffer = vec![0u8; 64 << 10];
        let mut seen = 0u64;
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return Ok(seen),
                Ok(n) => seen += n as u64,
                Err(e) => return Err(e),
            }
        }
    });
    let seen = cloud
        .stream_artifact(
            &SecretString::from("dbtc_token".to_owned()),
            "1",
            "2",
            "manifest.json",
            None,
            started + Duration::from_secs(120),
            count,
        )
        .await
        .unwrap()
        .expect("the whole manifest read");
    let took = started.elapsed();
    let grew = peak_rss().unwrap().saturating_sub(before);
    let _ = std::fs::remove_file(&source);
    assert_eq!(seen, expected);
    eprintln!(
        "{} MB streamed in {took:?}; peak RSS grew by {:.1} MB",
        expected >> 20,
        grew as f64 / f64::from(1 << 20)
    );
    assert!(
        grew < 16 << 20,
        "peak RSS grew by {grew} bytes for {expected}"
    );
}
