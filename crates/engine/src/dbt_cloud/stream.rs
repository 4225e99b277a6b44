//! A run's artifacts streamed straight into a parser, as they arrive: no size
//! cap, no copy of the body in memory or on disk.
//!
//! The body's chunks go through a small bounded channel to a reader on tokio's
//! blocking pool ([`ArtifactReader`], a `std::io::Read`), where the caller's
//! parser runs. The channel holds the download back when the parser is slower
//! (at a 128 MB Lambda's CPU share it always is), so memory stays at a few
//! chunks whatever the artifact weighs. A parse stops when the download does:
//! on an error, at the deadline, or when the caller gives up (the sink's drop
//! raises the reader's stop flag), so no parse runs on into the container's
//! next invocation.

use super::DbtCloud;
use super::artifacts::{MANIFEST, RUN_RESULTS, steps_to_try};
use super::error::{DbtCloudError, Resource};
use super::http::Sink;
use super::run::{Run, resource};
use bytes::Bytes;
use secrecy::SecretString;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};

/// Chunks in flight between the download and the parser (hyper's chunks are
/// 8-64 kB).
const CHANNEL_CHUNKS: usize = 8;

/// A parser of one artifact, run on the blocking pool for each attempt.
pub type Consume<T> = Arc<dyn Fn(ArtifactReader) -> T + Send + Sync>;

/// The body of one download attempt, for a blocking parser. Errors (never a
/// hang) when the download stops before the end, the deadline passes or the
/// caller gives up.
pub struct ArtifactReader {
    chunks: mpsc::Receiver<Bytes>,
    chunk: Bytes,
    stop: Arc<AtomicBool>,
    complete: Arc<AtomicBool>,
    deadline: std::time::Instant,
}

impl Read for ArtifactReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(std::io::Error::other(
                    "the download was abandoned (an error, or the caller gave up)",
                ));
            }
            if std::time::Instant::now() >= self.deadline {
                return Err(std::io::Error::other("the deadline passed while parsing"));
            }
            if !self.chunk.is_empty() {
                let n = buf.len().min(self.chunk.len());
                buf[..n].copy_from_slice(&self.chunk.split_to(n));
                return Ok(n);
            }
            match self.chunks.blocking_recv() {
                Some(chunk) => self.chunk = chunk,
                None if self.complete.load(Ordering::Acquire) => return Ok(0),
                None => {
                    return Err(std::io::Error::other(
                        "the download stopped before the end of the artifact",
                    ));
                }
            }
        }
    }
}

/// One attempt's parser, fed by the channel.
struct Parse<T> {
    chunks: mpsc::Sender<Bytes>,
    stop: Arc<AtomicBool>,
    complete: Arc<AtomicBool>,
    task: JoinHandle<T>,
}

struct ParseSink<T> {
    consume: Consume<T>,
    parse: Option<Parse<T>>,
    resource: Resource,
    deadline: Instant,
    /// The parser returned before the body's end (it found an error): the
    /// download stops and the parser's answer is the result.
    parser_done: bool,
}

impl<T: Send + 'static> ParseSink<T> {
    fn start(&mut self) -> &mut Parse<T> {
        self.parse.get_or_insert_with(|| {
            let (sender, chunks) = mpsc::channel(CHANNEL_CHUNKS);
            let stop = Arc::new(AtomicBool::new(false));
            let complete = Arc::new(AtomicBool::new(false));
            let reader = ArtifactReader {
                chunks,
                chunk: Bytes::new(),
                stop: stop.clone(),
                complete: complete.clone(),
                deadline: self.deadline.into_std(),
            };
            let consume = self.consume.clone();
            Parse {
                chunks: sender,
                stop,
                complete,
                task: tokio::task::spawn_blocking(move || consume(reader)),
            }
        })
    }

    /// The body ended: the parser reads to its end and answers.
    async fn finish(mut self) -> Result<T, DbtCloudError> {
        let Parse {
            chunks,
            stop,
            complete,
            task,
        } = match self.parse.take() {
            Some(parse) => parse,
            None => {
                self.start();
                self.parse.take().expect("just started")
            }
        };
        complete.store(true, Ordering::Release);
        drop(chunks);
        let deadline = self.deadline;
        match timeout_at(deadline, task).await {
            Ok(Ok(parsed)) => Ok(parsed),
            Ok(Err(panicked)) => Err(DbtCloudError::BadAnswer {
                resource: self.resource.clone(),
                detail: format!("parsing it failed: {panicked}"),
            }),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                Err(DbtCloudError::Deadline {
                    resource: self.resource.clone(),
                })
            }
        }
    }
}

impl<T> Drop for ParseSink<T> {
    fn drop(&mut self) {
        if let Some(parse) = &self.parse {
            parse.stop.store(true, Ordering::Relaxed);
        }
    }
}

impl<T: Send + 'static> Sink for ParseSink<T> {
    fn restart(&mut self) -> Result<(), DbtCloudError> {
        // The attempt broke off mid-body: its parser is stopped and the next
        // attempt's bytes go to a new one.
        if let Some(parse) = self.parse.take() {
            parse.stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn write(&mut self, chunk: Bytes) -> crate::BoxFuture<'_, Result<(), DbtCloudError>> {
        Box::pin(async move {
            let deadline = self.deadline;
            let sender = self.start().chunks.clone();
            match timeout_at(deadline, sender.send(chunk)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => {
                    self.parser_done = true;
                    Err(DbtCloudError::Deadline {
                        resource: self.resource.clone(),
                    })
                }
                Err(_) => Err(DbtCloudError::Deadline {
                    resource: self.resource.clone(),
                }),
            }
        })
    }
}

/// A run read through [`DbtCloud::stream_run_artifacts`].
#[derive(Debug)]
pub struct RunStream<M> {
    pub run: Run,
    /// The manifest's parse.
    pub manifest: M,
    /// The steps that had run results, in order (0: the run's default step).
    pub steps: Vec<u32>,
}

impl DbtCloud {
    /// One artifact of a run, streamed into `consume` on the blocking pool;
    /// its answer is the result. `step`: dbt Cloud's step number (1 = first);
    /// `None` is the last step.
    #[allow(clippy::too_many_arguments)]
    pub async fn stream_artifact<T: Send + 'static>(
        &self,
        token: &SecretString,
        account_id: &str,
        run_id: &str,
        path: &str,
        step: Option<u32>,
        deadline: Instant,
        consume: Consume<T>,
    ) -> Result<T, DbtCloudError> {
        let resource = resource(account_id, run_id, Some((path.to_owned(), step)))?;
        let url = self.artifact_url(&resource)?;
        let mut sink = ParseSink {
            consume,
            parse: None,
            resource: resource.clone(),
            deadline,
            parser_done: false,
        };
        match self.get(token, &url, &resource, &mut sink, deadline).await {
            Ok(()) => sink.finish().await,
            Err(_) if sink.parser_done => sink.finish().await,
            Err(e) => Err(e),
        }
    }

    /// The run with its steps; the manifest streamed into `manifest` while
    /// each step's `run_results.json` is streamed, in step order, into `step`
    /// and handed to `fold` with its step number (steps without run results
    /// are passed over). The manifest is the last step's (dbt Cloud's
    /// default) or, when it has none, that of the last step that has run
    /// results (how dbt Cloud fills a step's artifacts is not documented: the
    /// last step that ran nodes wrote one).
    #[allow(clippy::too_many_arguments)]
    pub async fn stream_run_artifacts<M: Send + 'static, S: Send + 'static>(
        &self,
        token: &SecretString,
        account_id: &str,
        run_id: &str,
        deadline: Instant,
        manifest: Consume<M>,
        step: Consume<S>,
        mut fold: impl FnMut(u32, S) + Send,
    ) -> Result<RunStream<M>, DbtCloudError> {
        let run = self.run(token, account_id, run_id, deadline).await?;
        let last_manifest = async {
            let parsed = self
                .stream_artifact(
                    token,
                    account_id,
                    run_id,
                    MANIFEST,
                    None,
                    deadline,
                    manifest.clone(),
                )
                .await;
            match parsed {
                Err(missing @ DbtCloudError::NotFound { .. }) => Ok(Err(missing)),
                other => other.map(Ok),
            }
        };
        let results = async {
            let mut with_results = Vec::new();
            for number in steps_to_try(&run) {
                let parsed = self
                    .stream_artifact(
                        token,
                        account_id,
                        run_id,
                        RUN_RESULTS,
                        number,
                        deadline,
                        step.clone(),
                    )
                    .await;
                match parsed {
                    Ok(parsed) => {
                        fold(number.unwrap_or(0), parsed);
                        with_results.push(number.unwrap_or(0));
                    }
                    Err(DbtCloudError::NotFound { .. }) => {
                        tracing::debug!(run_id, step = number, "no run_results.json for this step");
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(with_results)
        };
        let (parsed, steps) = futures_util::future::try_join(last_manifest, results).await?;
        let manifest = match parsed {
            Ok(parsed) => parsed,
            Err(missing) => match steps.last().filter(|step| **step > 0) {
                Some(&step) => self
                    .stream_artifact(
                        token,
                        account_id,
                        run_id,
                        MANIFEST,
                        Some(step),
                        deadline,
                        manifest,
                    )
                    .await
                    .map_err(|e| match e {
                        DbtCloudError::NotFound { .. } => missing,
                        e => e,
                    })?,
                None => return Err(missing),
            },
        };
        Ok(RunStream {
            run,
            manifest,
            steps,
        })
    }
}
