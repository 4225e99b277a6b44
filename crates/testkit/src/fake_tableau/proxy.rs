//! A fault-making HTTP/1.1 proxy in front of the fake Tableau, for faults a
//! wiremock responder can't make: an answer lost after Tableau did the work
//! (the request is forwarded, the fake acts and answers, then the connection is
//! closed without a byte back), an answer held back (a slow sign-out), and a
//! gateway's HTML 502 page that echoes the request it got, headers and body,
//! the way some gateways and WAFs do.
//!
//! Rules match a path suffix and apply to the next `times` requests that match.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub enum Fault {
    /// Forward, let the fake answer, then drop the connection unanswered.
    LoseAnswer,
    /// Forward, and hold the fake's answer this long before passing it on.
    Hold(Duration),
    /// Answer 502 with an HTML page echoing the request; the fake never sees it.
    EchoPage,
}

#[derive(Debug)]
struct Rule {
    suffix: String,
    fault: Fault,
    times: u32,
}

pub struct FaultProxy {
    pub uri: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    /// Every request line seen ("POST /api/..."), in order.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        dbt_tableau_engine::tls::install_crypto_provider();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let (r, s) = (rules.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, upstream.clone(), r.clone(), s.clone()));
            }
        });
        FaultProxy { uri, rules, seen }
    }

    /// Applies `fault` to the next `times` requests whose path ends with `suffix`.
    pub fn on(&self, suffix: &str, fault: Fault, times: u32) {
        self.rules.lock().unwrap().push(Rule {
            suffix: suffix.into(),
            fault,
            times,
        });
    }

    pub fn count(&self, needle: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

fn take_fault(rules: &Mutex<Vec<Rule>>, path: &str) -> Option<Fault> {
    let mut rules = rules.lock().unwrap();
    let rule = rules
        .iter_mut()
        .find(|r| r.times > 0 && path.ends_with(&r.suffix))?;
    rule.times -= 1;
    Some(rule.fault.clone())
}

async fn serve(
    conn: TcpStream,
    upstream: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    seen: Arc<Mutex<Vec<String>>>,
) {
    let (read, mut write) = conn.into_split();
    let mut reader = BufReader::new(read);
    let client = reqwest::Client::new();
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => head.push(line.trim_end().to_owned()),
            }
        }
        let Some(request_line) = head.first().cloned() else {
            return;
        };
        let mut parts = request_line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("GET").to_owned(),
            parts.next().unwrap_or("/").to_owned(),
        );
        let headers: Vec<(String, String)> = head[1..]
            .iter()
            .filter_map(|h| h.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        seen.lock().unwrap().push(format!("{method} {target}"));
        let path = target.split('?').next().unwrap_or(&target).to_owned();
        let fault = take_fault(&rules, &path);
        if let Some(Fault::EchoPage) = fault {
            // Body first, credentials headers next: what a WAF page quoting
            // the offending request shows first, within any excerpt's reach.
            let mut quoted: Vec<&String> = head[1..].iter().collect();
            quoted.sort_by_key(|h| {
                let h = h.to_ascii_lowercase();
                !(h.starts_with("x-tableau-auth") || h.starts_with("authorization"))
            });
            let page = format!(
                "<html><title>502 Bad Gateway</title><pre>{}\n{}\n{request_line}</pre></html>",
                String::from_utf8_lossy(&body),
                quoted
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            let answer = format!(
                "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{page}",
                page.len()
            );
            if write.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let mut request = client.request(
            method.parse().unwrap_or(reqwest::Method::GET),
            format!("{upstream}{target}"),
        );
        for (k, v) in &headers {
            let skip = ["host", "content-length", "connection"];
            if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                request = request.header(k.as_str(), v.as_str());
            }
        }
        let Ok(response) = request.body(body).send().await else {
            return;
        };
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        let answer_body = response.bytes().await.unwrap_or_default();
        match fault {
            // The work is done upstream; the answer never arrives.
            Some(Fault::LoseAnswer) => return,
            Some(Fault::Hold(time)) => tokio::time::sleep(time).await,
            _ => {}
        }
        let head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            answer_body.len()
        );
        if write.write_all(head.as_bytes()).await.is_err()
            || write.write_all(&answer_body).await.is_err()
        {
            return;
        }
    }
}
