//! A run's artifacts: `GET /api/v2/accounts/{a}/runs/{r}/artifacts/{path}[?step=N]`.
//!
//! `manifest.json` is streamed to a temporary file chunk by chunk (a
//! 20,000-model manifest is over 100 MB; the function has 128 MB), the
//! `run_results.json` of each step is held in memory within a budget. The
//! exposure resolver reads neither way: it streams every artifact straight
//! into its parser ([`super::stream`]), without a cap.

use super::DbtCloud;
use super::error::{DbtCloudError, Resource};
use super::http::Sink;
use super::run::{Memory, Run, resource};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use secrecy::SecretString;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

pub const MANIFEST: &str = "manifest.json";
pub const RUN_RESULTS: &str = "run_results.json";
/// What all steps' `run_results.json` together may take in memory: past this
/// the function would risk its 128 MB, and an error beats being killed.
pub const RUN_RESULTS_BUDGET: usize = 48 << 20;

/// Bytes a path segment may not carry as they are.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'\\');

/// What the exposure decision reads from a run.
#[derive(Debug)]
pub struct RunArtifacts {
    pub run: Run,
    /// The last step's `manifest.json` (dbt Cloud's default), or, when it has
    /// none, the manifest of the last step that has run results.
    pub manifest: TempFile,
    /// `(step, run_results.json)` for each step that has run results, in step
    /// order (`step` as dbt Cloud's `?step=` counts, 1 = first). When dbt Cloud
    /// lists no steps, the run's default (last step's) results as step 0.
    pub run_results: Vec<(u32, Vec<u8>)>,
}

/// A file under the system's temporary directory, removed when dropped (also
/// when an error or a panic unwinds past it), so a warm container's /tmp does
/// not fill up with the manifests of earlier invocations.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    len: u64,
}

impl TempFile {
    /// A new empty file with a name no other invocation or process uses.
    fn create(label: &str) -> std::io::Result<(TempFile, File)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        loop {
            let name = format!(
                "dbt-cloud-{}-{}-{:016x}-{label}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                fastrand::u64(..)
            );
            let path = std::env::temp_dir().join(name);
            match options.open(&path) {
                Ok(file) => return Ok((TempFile { path, len: 0 }, file)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Opens the file for reading.
    pub fn open(&self) -> std::io::Result<File> {
        File::open(&self.path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes a body to a [`TempFile`]. Plain blocking writes: each chunk is a few
/// kB landing in the page cache, which costs less than handing every chunk to
/// tokio's blocking pool.
struct FileSink {
    temp: TempFile,
    writer: BufWriter<File>,
    resource: Resource,
}

impl FileSink {
    fn failed(&self, error: std::io::Error) -> DbtCloudError {
        DbtCloudError::File {
            resource: self.resource.clone(),
            path: self.temp.path.clone(),
            detail: error.to_string(),
        }
    }

    fn finish(mut self) -> Result<TempFile, DbtCloudError> {
        self.writer.flush().map_err(|e| self.failed(e))?;
        Ok(self.temp)
    }
}

impl Sink for FileSink {
    fn restart(&mut self) -> Result<(), DbtCloudError> {
        let start = self.writer.seek(SeekFrom::Start(0));
        let cut = start.and_then(|_| self.writer.get_ref().set_len(0));
        cut.map_err(|e| self.failed(e))?;
        self.temp.len = 0;
        Ok(())
    }

    fn write(&mut self, chunk: bytes::Bytes) -> crate::BoxFuture<'_, Result<(), DbtCloudError>> {
        let written = match self.writer.write_all(&chunk) {
            Ok(()) => {
                self.temp.len += chunk.len() as u64;
                Ok(())
            }
            Err(e) => Err(self.failed(e)),
        };
        Box::pin(std::future::ready(written))
    }
}

impl DbtCloud {
    /// One artifact of a run, read into memory (up to [`RUN_RESULTS_BUDGET`]
    /// bytes). `step`: dbt Cloud's step number (1 = first); `None` is the last
    /// step.
    pub async fn artifact(
        &self,
        token: &SecretString,
        account_id: &str,
        run_id: &str,
        path: &str,
        step: Option<u32>,
        deadline: Instant,
    ) -> Result<Vec<u8>, DbtCloudError> {
        let resource = resource(account_id, run_id, Some((path.to_owned(), step)))?;
        self.artifact_bytes(token, &resource, RUN_RESULTS_BUDGET, deadline)
            .await
    }

    async fn artifact_bytes(
        &self,
        token: &SecretString,
        resource: &Resource,
        limit: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, DbtCloudError> {
        let url = self.artifact_url(resource)?;
        let mut body = Memory::new(limit, resource.clone());
        self.get(token, &url, resource, &mut body, deadline).await?;
        Ok(body.bytes)
    }

    /// One artifact of a run, streamed to a temporary file chunk by chunk; a
    /// failed or abandoned download leaves no file behind.
    pub async fn artifact_to_file(
        &self,
        token: &SecretString,
        account_id: &str,
        run_id: &str,
        path: &str,
        step: Option<u32>,
        deadline: Instant,
    ) -> Result<TempFile, DbtCloudError> {
        let resource = resource(account_id, run_id, Some((path.to_owned(), step)))?;
        let url = self.artifact_url(&resource)?;
        let label: String = path
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        let (temp, file) = TempFile::create(&label).map_err(|e| DbtCloudError::File {
            resource: resource.clone(),
            path: std::env::temp_dir(),
            detail: e.to_string(),
        })?;
        let mut sink = FileSink {
            temp,
            writer: BufWriter::with_capacity(64 << 10, file),
            resource: resource.clone(),
        };
        self.get(token, &url, &resource, &mut sink, deadline)
            .await?;
        sink.finish()
    }

    /// The run with its steps, the `run_results.json` of every step that has
    /// one, and the manifest in a temporary file. The manifest streams while
    /// the steps' results are read. The run's status is not judged here (the
    /// caller has it in [`RunArtifacts::run`]); a run whose steps all lack run
    /// results gives an empty `run_results`. All steps' results together
    /// beyond [`RUN_RESULTS_BUDGET`] are [`DbtCloudError::TooLarge`].
    pub async fn fetch_run_artifacts(
        &self,
        token: &SecretString,
        account_id: &str,
        run_id: &str,
        deadline: Instant,
    ) -> Result<RunArtifacts, DbtCloudError> {
        // The run first: a wrong token, account or run is then reported as
        // such, not as a missing artifact.
        let run = self.run(token, account_id, run_id, deadline).await?;
        // A missing manifest is set aside, not an error yet (see below); any
        // other error of either download ends both.
        let manifest = async {
            match self
                .artifact_to_file(token, account_id, run_id, MANIFEST, None, deadline)
                .await
            {
                Err(missing @ DbtCloudError::NotFound { .. }) => Ok(Err(missing)),
                other => other.map(Ok),
            }
        };
        let results = self.step_results(token, account_id, run_id, &run, deadline);
        let (manifest, run_results) = futures_util::future::try_join(manifest, results).await?;
        let manifest = match manifest {
            // The last step wrote no manifest (how dbt Cloud fills a step's
            // artifacts is not documented): the last step that ran nodes did.
            Err(missing @ DbtCloudError::NotFound { .. }) => {
                match run_results.last().filter(|(step, _)| *step > 0) {
                    Some(&(step, _)) => self
                        .artifact_to_file(token, account_id, run_id, MANIFEST, Some(step), deadline)
                        .await
                        .map_err(|e| match e {
                            DbtCloudError::NotFound { .. } => missing,
                            e => e,
                        })?,
                    None => return Err(missing),
                }
            }
            manifest => manifest?,
        };
        Ok(RunArtifacts {
            run,
            manifest,
            run_results,
        })
    }

    /// Tries `?step=` with each of the run's own `run_steps[].index` (in
    /// order): a run's indexes need not be 1..=n (a step left out, a clone
    /// step numbered 0). A step that wrote no run results answers 404.
    async fn step_results(
        &self,
        token: &SecretString,
        account_id: &str,
        run_id: &str,
        run: &Run,
        deadline: Instant,
    ) -> Result<Vec<(u32, Vec<u8>)>, DbtCloudError> {
        let steps = steps_to_try(run);
        let mut results = Vec::new();
        let mut budget = RUN_RESULTS_BUDGET;
        for step in steps {
            let resource = resource(account_id, run_id, Some((RUN_RESULTS.to_owned(), step)))?;
            let fetched = self
                .artifact_bytes(token, &resource, budget, deadline)
                .await;
            match fetched {
                Ok(bytes) => {
                    budget -= bytes.len();
                    results.push((step.unwrap_or(0), bytes));
                }
                Err(DbtCloudError::NotFound { .. }) => {
                    tracing::debug!(run_id, step, "no run_results.json for this step");
                }
                Err(DbtCloudError::TooLarge { resource, .. }) => {
                    return Err(DbtCloudError::TooLarge {
                        resource,
                        limit: RUN_RESULTS_BUDGET,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(results)
    }

    pub(super) fn artifact_url(&self, resource: &Resource) -> Result<String, DbtCloudError> {
        let Some((path, step)) = &resource.artifact else {
            return Ok(self.run_url(resource));
        };
        let segments: Vec<&str> = path.split('/').collect();
        if segments
            .iter()
            .any(|s| s.is_empty() || *s == "." || *s == "..")
        {
            return Err(DbtCloudError::InvalidInput {
                what: "artifact path",
                value: path.clone(),
            });
        }
        let encoded: Vec<String> = segments
            .iter()
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        let mut url = format!("{}artifacts/{}", self.run_url(resource), encoded.join("/"));
        if let Some(step) = step {
            url.push_str(&format!("?step={step}"));
        }
        Ok(url)
    }
}

/// The `?step=` values whose run results are read: the run's own
/// `run_steps[].index`, in order (they need not be 1..=n: a step left out, a
/// clone step numbered 0); `None` (dbt Cloud's default, the last step) when
/// the run lists no steps.
pub(super) fn steps_to_try(run: &Run) -> Vec<Option<u32>> {
    match run.steps.len() {
        0 => vec![None],
        _ => run.steps.iter().map(|s| Some(s.index)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_files_are_unique_and_removed_on_drop() {
        let (a, _) = TempFile::create("manifest.json").unwrap();
        let (b, _) = TempFile::create("manifest.json").unwrap();
        assert_ne!(a.path(), b.path());
        let path = a.path().to_owned();
        assert!(path.exists());
        drop(a);
        assert!(!path.exists());
    }

    #[test]
    fn artifact_urls_encode_the_path_and_reject_traversal() {
        let cloud = DbtCloud::new(DbtCloud::default_http().unwrap(), "https://x.dbt.com").unwrap();
        let at = |path: &str, step| {
            cloud.artifact_url(&resource("1", "2", Some((path.to_owned(), step))).unwrap())
        };
        assert_eq!(
            at("run_results.json", Some(3)).unwrap(),
            "https://x.dbt.com/api/v2/accounts/1/runs/2/artifacts/run_results.json?step=3"
        );
        assert_eq!(
            at("metadata/a b#.json", None).unwrap(),
            "https://x.dbt.com/api/v2/accounts/1/runs/2/artifacts/metadata/a%20b%23.json"
        );
        for bad in ["../secrets", "a//b", "", "x/.."] {
            assert!(at(bad, None).is_err(), "{bad}");
        }
    }
}
