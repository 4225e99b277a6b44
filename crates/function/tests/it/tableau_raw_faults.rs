//! Faults below HTTP, from a raw TCP server that speaks just enough HTTP/1.1 to
//! misbehave where wiremock can't: connections reset or dropped unanswered,
//! answers cut mid-body, slow-loris answers. In every case: the target's report,
//! an error an operator can act on, within the deadline, and the next invocation
//! on the same refresher works.

use dbt_tableau_testkit::fake_tableau;

use dbt_tableau_engine::answer::{RefreshResult, TargetReport};
use dbt_tableau_engine::secrets::{TableauAccess, TableauCredentials};
use dbt_tableau_engine::tableau::{Refresher, TableauRefresher};
use fake_tableau::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Sign-out may run this much past the deadline (SIGN_OUT_GRACE), plus scheduling.
const SLACK: Duration = Duration::from_millis(700);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Route {
    ServerInfo,
    SignIn,
    SignOut,
    Lookup,
    Refresh,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Read the request, then close the socket with RST (SO_LINGER 0).
    Reset,
    /// Accept and close without reading or answering.
    Drop,
    /// Status line, headers announcing 400 bytes, 40 of them, then close.
    HalfAnswer,
    /// Headers at once, then one body byte every 200 ms.
    SlowLoris,
}

#[derive(Clone, Default)]
struct RawTableau {
    faults: Arc<Mutex<HashMap<Route, Fault>>>,
    hits: Arc<Mutex<HashMap<Route, usize>>>,
}

impl RawTableau {
    async fn start() -> (RawTableau, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let raw = RawTableau::default();
        let server = raw.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve(socket));
            }
        });
        (raw, url)
    }

    fn fail(&self, route: Route, fault: Fault) {
        self.faults.lock().unwrap().insert(route, fault);
    }

    fn heal(&self) {
        self.faults.lock().unwrap().clear();
    }

    fn hits(&self, route: Route) -> usize {
        self.hits.lock().unwrap().get(&route).copied().unwrap_or(0)
    }

    async fn serve(self, mut socket: TcpStream) {
        let mut head = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
            if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let text = String::from_utf8_lossy(&head[..end]).to_string();
        let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let length: usize = text
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body_read = head.len() - end;
        while body_read < length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body_read += n,
            }
        }
        let route = if path.ends_with("/serverinfo") {
            Route::ServerInfo
        } else if path.ends_with("/auth/signin") {
            Route::SignIn
        } else if path.ends_with("/auth/signout") {
            Route::SignOut
        } else if path.contains("/refresh") {
            Route::Refresh
        } else {
            Route::Lookup
        };
        *self.hits.lock().unwrap().entry(route).or_default() += 1;
        let (status, body) = match route {
            Route::ServerInfo => (200, r#"{"serverInfo":{"restApiVersion":"3.22"}}"#.to_owned()),
            Route::SignIn => (
                200,
                r#"{"credentials":{"site":{"id":"site-raw"},"user":{"id":"u"},"token":"raw-session-token"}}"#
                    .to_owned(),
            ),
            Route::SignOut => (204, String::new()),
            Route::Lookup => (
                200,
                r#"{"pagination":{"pageNumber":"1","pageSize":"100","totalAvailable":"1"},
                   "workbooks":{"workbook":[{"id":"wb-raw","name":"Sales","project":{"id":"p","name":"Finance"}}]}}"#
                    .to_owned(),
            ),
            Route::Refresh => (202, r#"{"job":{"id":"job-raw"}}"#.to_owned()),
        };
        let fault = self.faults.lock().unwrap().get(&route).copied();
        let headers = |length: usize| {
            format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n"
            )
        };
        match fault {
            None => {
                let _ = socket.write_all(headers(body.len()).as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
            Some(Fault::Reset) => {
                // Linger 0 makes the close an RST and never blocks (the
                // deprecation is about a non-zero linger blocking on drop).
                #[allow(deprecated)]
                let _ = socket.set_linger(Some(Duration::ZERO));
                drop(socket);
            }
            Some(Fault::Drop) => drop(socket),
            Some(Fault::HalfAnswer) => {
                let _ = socket.write_all(headers(400).as_bytes()).await;
                let _ = socket
                    .write_all(&body.as_bytes()[..40.min(body.len() / 2)])
                    .await;
                let _ = socket.flush().await;
                drop(socket);
            }
            Some(Fault::SlowLoris) => {
                if socket.write_all(headers(1000).as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..1000 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if socket.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn raw_access(url: &str) -> TableauAccess {
    TableauAccess {
        server: url.to_owned(),
        site: SITE.into(),
        credentials: TableauCredentials::PersonalAccessToken {
            name: PAT_NAME.into(),
            secret: PAT_SECRET.to_owned().into(),
        },
    }
}

async fn raw_run(refresher: &TableauRefresher, url: &str, budget: Duration) -> TargetReport {
    let target = workbook("Sales", None);
    let started = Instant::now();
    let mut reports = refresher
        .refresh(&raw_access(url), &[&target], started + budget)
        .await;
    let elapsed = started.elapsed();
    assert!(elapsed < budget + SLACK, "took {elapsed:?}");
    eprintln!(
        "{:?} / {:?} after {elapsed:?}",
        reports[0].result, reports[0].error
    );
    reports.remove(0)
}

/// The fault on `route`, then the same refresher once the server heals.
async fn raw_fault(route: Route, fault: Fault, budget: Duration) -> (TargetReport, RawTableau) {
    let (raw, url) = RawTableau::start().await;
    let refresher = TableauRefresher::new(None).unwrap();
    raw.fail(route, fault);
    let report = raw_run(&refresher, &url, budget).await;
    // A refresh request that went without its answer coming back may have
    // queued a job: its outcome is unknown, and it is not sent again.
    let expected = match route {
        Route::Refresh => RefreshResult::Unknown,
        _ => RefreshResult::Failed,
    };
    assert_eq!(report.result, expected, "{report:?}");
    let hits_during_fault = raw.hits(route);
    raw.heal();
    let next = raw_run(&refresher, &url, BUDGET).await;
    assert_eq!(
        next.result,
        RefreshResult::Queued,
        "next invocation: {next:?}"
    );
    assert_eq!(next.job_id.as_deref(), Some("job-raw"));
    let hits = raw.hits.lock().unwrap().clone();
    eprintln!("{route:?} {fault:?}: {hits_during_fault} hits during the fault; all: {hits:?}");
    (report, raw)
}

fn assert_unreachable(report: &TargetReport, what: &str) {
    let error = report.error.as_deref().unwrap();
    assert!(
        error.starts_with(&format!(
            "workbook \"Sales\": {what} failed: cannot reach Tableau at http://127.0.0.1:"
        )),
        "{error}"
    );
    assert!(!error.contains("raw-session-token"), "{error}");
}

#[tokio::test]
async fn connection_reset_on_the_lookup() {
    let (report, raw) = raw_fault(Route::Lookup, Fault::Reset, BUDGET).await;
    assert_unreachable(&report, "lookup");
    // Retried a bounded number of times (4 attempts), then the next invocation.
    assert_eq!(raw.hits(Route::Lookup), 4 + 1);
    assert_eq!(raw.hits(Route::Refresh), 1);
}

#[tokio::test]
async fn connection_dropped_unanswered_on_the_refresh() {
    let (report, raw) = raw_fault(Route::Refresh, Fault::Drop, BUDGET).await;
    let error = report.error.as_deref().unwrap();
    assert!(
        error.starts_with(
            "workbook \"Sales\": refresh failed: the refresh request reached Tableau (or may have) \
             but its answer was lost (cannot reach Tableau at http://127.0.0.1:"
        ),
        "{error}"
    );
    // Once during the fault, once after it healed: never sent twice.
    assert_eq!(raw.hits(Route::Refresh), 2);
    assert_eq!(
        report.id.as_deref(),
        Some("wb-raw"),
        "found before the refresh failed"
    );
}

#[tokio::test]
async fn answer_cut_mid_body_on_the_refresh() {
    let (report, raw) = raw_fault(Route::Refresh, Fault::HalfAnswer, BUDGET).await;
    let error = report.error.as_deref().unwrap();
    assert!(
        error.contains("its answer was lost (cannot reach Tableau at"),
        "{error}"
    );
    assert!(!error.contains("raw-session-token"), "{error}");
    assert_eq!(raw.hits(Route::Refresh), 2);
}

#[tokio::test]
async fn answer_cut_mid_body_on_sign_in() {
    let (raw, url) = RawTableau::start().await;
    let refresher = TableauRefresher::new(None).unwrap();
    raw.fail(Route::SignIn, Fault::HalfAnswer);
    let report = raw_run(&refresher, &url, BUDGET).await;
    let error = report.error.as_deref().unwrap();
    assert!(
        error.starts_with("Tableau sign-in failed: cannot reach Tableau at http://127.0.0.1:"),
        "{error}"
    );
    assert_eq!(raw.hits(Route::Lookup), 0);
    raw.heal();
    assert_eq!(
        raw_run(&refresher, &url, BUDGET).await.result,
        RefreshResult::Queued
    );
}

#[tokio::test]
async fn slow_loris_refresh_answer_fails_at_the_deadline_and_still_signs_out() {
    let budget = Duration::from_millis(1500);
    let (report, raw) = raw_fault(Route::Refresh, Fault::SlowLoris, budget).await;
    let error = report.error.as_deref().unwrap();
    assert!(
        error
            .starts_with("workbook \"Sales\": refresh failed: the refresh request reached Tableau")
            && error.contains("answer was lost (Tableau did not answer in time)"),
        "{error}"
    );
    assert_eq!(raw.hits(Route::SignOut), 2, "both invocations signed out");
}

#[tokio::test]
async fn slow_loris_lookup_answer_fails_at_the_deadline() {
    let budget = Duration::from_millis(1500);
    let (report, _) = raw_fault(Route::Lookup, Fault::SlowLoris, budget).await;
    assert_eq!(
        report.error.as_deref(),
        Some("workbook \"Sales\": Tableau did not answer in time")
    );
}

#[tokio::test]
async fn slow_loris_sign_in_answer_fails_every_target_at_the_deadline() {
    let budget = Duration::from_millis(1500);
    let (report, _) = raw_fault(Route::SignIn, Fault::SlowLoris, budget).await;
    assert_eq!(
        report.error.as_deref(),
        Some("Tableau did not answer in time (signing in)")
    );
}

#[tokio::test]
async fn sign_out_reset_does_not_change_the_report() {
    let (raw, url) = RawTableau::start().await;
    let refresher = TableauRefresher::new(None).unwrap();
    raw.fail(Route::SignOut, Fault::Reset);
    let report = raw_run(&refresher, &url, BUDGET).await;
    assert_eq!(report.result, RefreshResult::Queued, "{report:?}");
    assert_eq!(report.error, None);
    raw.heal();
    assert_eq!(
        raw_run(&refresher, &url, BUDGET).await.result,
        RefreshResult::Queued
    );
}

#[tokio::test]
async fn slow_loris_sign_out_does_not_hold_the_answer_past_its_grace() {
    let (raw, url) = RawTableau::start().await;
    let refresher = TableauRefresher::new(None).unwrap();
    raw.fail(Route::SignOut, Fault::SlowLoris);
    let budget = Duration::from_millis(1500);
    let started = Instant::now();
    let report = raw_run(&refresher, &url, budget).await;
    assert_eq!(report.result, RefreshResult::Queued, "{report:?}");
    // Sign-out gets at most 2 s (SIGN_OUT_MAX) when the work ended early.
    assert!(
        started.elapsed() < Duration::from_millis(2600),
        "{:?}",
        started.elapsed()
    );
}
