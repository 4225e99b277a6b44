//! The dbt Cloud client when dbt Cloud is busy, failing, slow or gone: what is
//! retried, that nothing waits past the deadline, that a broken-off download
//! starts over, and that the token never shows in an error or a log line.

use crate::common;
use dbt_tableau_testkit::fake_dbt_cloud;

use common::LogCapture;
use dbt_tableau_engine::dbt_cloud::{DbtCloud, DbtCloudError};
use fake_dbt_cloud::*;
use secrecy::SecretString;
use std::io::{Read, Write};
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

fn token() -> SecretString {
    SecretString::from(TOKEN.to_owned())
}

fn client(uri: &str) -> DbtCloud {
    DbtCloud::new(DbtCloud::default_http().unwrap(), uri).unwrap()
}

const RUN_PATH: &str = r"/runs/\d+/$";

/// A fake with one `dbt build` step and its artifacts.
async fn one_step() -> FakeDbtCloud {
    let fake = FakeDbtCloud::start(10, vec![step("Invoke dbt with `dbt build`", 10)]).await;
    fake.serve("manifest.json", 1, b"{\"nodes\":{}}".to_vec());
    fake.serve("run_results.json", 1, b"{\"results\":[]}".to_vec());
    fake
}

/// Answers the run's path with `answer`, `times` times, before the fake does.
async fn first(fake: &FakeDbtCloud, answer: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path_regex(RUN_PATH))
        .respond_with(answer)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(&fake.server)
        .await;
}

#[tokio::test]
async fn too_many_requests_waits_as_told_then_succeeds() {
    let fake = one_step().await;
    let busy = dbt_error(429, "Too many requests").insert_header("Retry-After", "1");
    first(&fake, busy, 1).await;
    let started = Instant::now();
    let run = client(&fake.uri())
        .run(&token(), ACCOUNT, RUN, started + Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(run.steps.len(), 1);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After ignored: {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(fake.requests().await.len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let fake = one_step().await;
    first(
        &fake,
        ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"),
        1,
    )
    .await;
    first(&fake, dbt_error(500, "Internal error"), 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let artifacts = crate::dbt_cloud::fetch(&client(&fake.uri()), &token(), ACCOUNT, RUN, deadline)
        .await
        .unwrap();
    assert_eq!(artifacts.run_results.len(), 1);
    assert_eq!(
        fake.requests().await.len(),
        5,
        "2 failures, run, manifest, step 1"
    );
}

#[tokio::test]
async fn server_errors_forever_end_in_retry_later_well_inside_the_deadline() {
    let fake = one_step().await;
    first(&fake, dbt_error(503, "Service unavailable"), 100).await;
    let started = Instant::now();
    let error = client(&fake.uri())
        .run(&token(), ACCOUNT, RUN, started + Duration::from_secs(20))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            DbtCloudError::RetryLater {
                status: 503,
                after: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let text = error.to_string();
    assert!(
        text.starts_with("dbt Cloud kept failing (HTTP 503: Service unavailable)"),
        "{text}"
    );
    assert!(text.contains("retry in a few minutes"), "{text}");
    assert_eq!(fake.requests().await.len(), 4, "attempts");
}

#[tokio::test]
async fn retry_after_past_the_deadline_is_not_waited_for() {
    let fake = one_step().await;
    first(
        &fake,
        dbt_error(429, "Slow down").insert_header("Retry-After", "60"),
        100,
    )
    .await;
    let started = Instant::now();
    let error = client(&fake.uri())
        .run(&token(), ACCOUNT, RUN, started + Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.status(), Some(429), "{error:?}");
    assert!(
        matches!(error, DbtCloudError::RetryLater { after: Some(a), .. } if a == Duration::from_secs(60))
    );
    assert!(error.is_retryable());
    assert!(
        error.to_string().contains("asked to retry in 60 s"),
        "{error}"
    );
}

#[tokio::test]
async fn slow_answer_ends_at_the_deadline_not_later() {
    let fake = one_step().await;
    let slow = ResponseTemplate::new(200)
        .set_body_string("{}")
        .set_delay(Duration::from_secs(20));
    first(&fake, slow, 100).await;
    let started = Instant::now();
    let error = client(&fake.uri())
        .run(
            &token(),
            ACCOUNT,
            RUN,
            started + Duration::from_millis(1500),
        )
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, DbtCloudError::Deadline { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(1800),
        "{took:?}"
    );
    assert!(
        error.to_string().contains("did not answer in time"),
        "{error}"
    );
}

#[tokio::test]
async fn stalled_attempt_is_cut_by_the_request_timeout_and_retried() {
    let fake = one_step().await;
    let slow = ResponseTemplate::new(200)
        .set_body_string("{}")
        .set_delay(Duration::from_secs(20));
    first(&fake, slow, 1).await;
    let started = Instant::now();
    let run = client(&fake.uri())
        .with_request_timeout(Duration::from_millis(400))
        .run(&token(), ACCOUNT, RUN, started + Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(run.id, RUN);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported_as_unreachable() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let error = client(&format!("http://127.0.0.1:{port}"))
        .run(&token(), ACCOUNT, RUN, started + Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(error, DbtCloudError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot reach dbt Cloud at http://127.0.0.1:{port}/api/v2/"
        )),
        "{text}"
    );
    assert!(!text.contains("include_related"), "{text}");
    let logs = capture.text();
    assert_eq!(
        logs.matches("dbt Cloud call failed; retrying").count(),
        3,
        "{logs}"
    );
}

/// Serves one artifact by hand: the first connection sends half the body and
/// hangs up, the next ones the whole body. wiremock cannot break a body off.
fn breaking_server(body: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let part = if n == 0 {
                &body[..body.len() / 2]
            } else {
                &body[..]
            };
            let _ = stream.write_all(part);
            let _ = stream.flush();
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn download_broken_off_midway_starts_over_and_keeps_only_the_whole_body() {
    let body: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let uri = breaking_server(body.clone());
    let got = client(&uri)
        .stream_artifact(
            &token(),
            ACCOUNT,
            RUN,
            "manifest.json",
            None,
            Instant::now() + Duration::from_secs(10),
            crate::dbt_cloud::whole(),
        )
        .await
        .unwrap()
        .expect("the parse of the whole body");
    assert_eq!(got.len(), body.len());
    assert!(got == body, "not the served bytes");
}

#[tokio::test]
async fn token_never_shows_in_errors_or_logs() {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let fake = one_step().await;
    // A proxy that echoes the request's headers in its error pages.
    let echo = |status: u16| {
        move |request: &wiremock::Request| {
            let auth = request
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap();
            ResponseTemplate::new(status)
                .set_body_string(format!("<pre>Authorization: {auth}</pre>"))
        }
    };
    Mock::given(method("GET"))
        .and(path_regex(r"/artifacts/run_results.json$"))
        .respond_with(echo(502))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"/artifacts/manifest.json$"))
        .respond_with(echo(400))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let cloud = client(&fake.uri());
    let soon = || Instant::now() + Duration::from_secs(10);
    let mut errors = vec![
        crate::dbt_cloud::fetch(&cloud, &token(), ACCOUNT, RUN, soon())
            .await
            .err()
            .unwrap(),
        cloud
            .run(
                &SecretString::from(METADATA_TOKEN.to_owned()),
                ACCOUNT,
                RUN,
                soon(),
            )
            .await
            .unwrap_err(),
        cloud
            .run(
                &token(),
                ACCOUNT,
                "999",
                Instant::now() + Duration::from_millis(1),
            )
            .await
            .unwrap_err(),
    ];
    errors.push(
        client("http://127.0.0.1:9")
            .run(&token(), ACCOUNT, RUN, soon())
            .await
            .unwrap_err(),
    );
    // The echo reached the client, and was redacted.
    assert!(
        errors[0]
            .to_string()
            .contains("Authorization: Token [redacted]"),
        "{}",
        errors[0]
    );
    let logs = capture.text();
    assert!(logs.contains("retrying"), "the retries were logged: {logs}");
    for text in errors
        .iter()
        .flat_map(|e| [e.to_string(), format!("{e:?}")])
        .chain([logs])
    {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains(METADATA_TOKEN), "token leaked: {text}");
        assert!(!text.contains("dbtc_fake"), "token leaked: {text}");
    }
}

/// Serves an artifact that never ends: a header announcing 1 GB, then 64 kB
/// every 20 ms for as long as the client reads.
fn endless_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{\"nodes\":{";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 << 10];
                while stream.write_all(&chunk).is_ok() {
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parse_cut_off_by_the_deadline_stops_with_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let reading = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let (flag, seen) = (Arc::clone(&reading), Arc::clone(&bytes));
    // A parser that reads until the reader says stop, as the exposure readers do.
    let parse = Arc::new(
        move |mut reader: dbt_tableau_engine::dbt_cloud::ArtifactReader| {
            flag.store(true, Ordering::SeqCst);
            let mut buffer = vec![0u8; 16 << 10];
            let outcome = loop {
                match reader.read(&mut buffer) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        seen.fetch_add(n as u64, Ordering::SeqCst);
                    }
                    Err(e) => break Err(e.to_string()),
                }
            };
            flag.store(false, Ordering::SeqCst);
            outcome
        },
    );
    let started = Instant::now();
    let result = client(&endless_server())
        .stream_artifact(
            &token(),
            ACCOUNT,
            RUN,
            "manifest.json",
            None,
            started + Duration::from_millis(1500),
            parse,
        )
        .await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "{took:?}");
    match result {
        Err(e) => assert!(e.is_retryable(), "{e:?}"),
        Ok(parsed) => assert!(parsed.is_err(), "an endless artifact parsed: {parsed:?}"),
    }
    assert!(bytes.load(Ordering::SeqCst) > 0, "the parse had started");
    // Nothing of the parse runs on after the call (into the next invocation).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!reading.load(Ordering::SeqCst), "the parse still reads");
    let after = bytes.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(bytes.load(Ordering::SeqCst), after, "the parse still reads");
}
