//! Exposures judged from the run's own artifacts in dbt Cloud: the function's
//! resolver, used inside the webhook's deadline (plain mode) or as the
//! workflow's first step.

use super::{ExposureResolver, Malformed, Resolution, ResolveFailure, judge};
use crate::BoxFuture;
use crate::dbt_cloud::DbtCloud;
use crate::secrets::DBT_CLOUD_API_TOKEN;
use crate::webhook::RunSummary;
use secrecy::SecretString;
use tokio::time::{Instant, timeout_at};

pub struct DbtCloudResolver {
    client: DbtCloud,
}

impl DbtCloudResolver {
    pub fn new(client: DbtCloud) -> DbtCloudResolver {
        DbtCloudResolver { client }
    }

    async fn resolve_now(
        &self,
        run: &RunSummary,
        token: Option<&SecretString>,
        deadline: Instant,
    ) -> Result<Resolution, ResolveFailure> {
        let fixed = |error: String| ResolveFailure {
            error,
            retryable: false,
        };
        let token = token.ok_or_else(|| {
            fixed(format!(
                "exposure targets need {DBT_CLOUD_API_TOKEN}: a dbt Cloud service token that can \
                 read runs (Job Viewer or Read-only), in the secret or the environment"
            ))
        })?;
        let (Some(account), Some(run_id)) = (&run.account_id, &run.run_id) else {
            return Err(fixed(
                "the webhook names no accountId or runId, so the run's artifacts can't be read \
                 from dbt Cloud"
                    .into(),
            ));
        };
        let artifacts = self
            .client
            .fetch_run_artifacts(token, account, run_id, deadline)
            .await
            .map_err(|e| ResolveFailure {
                // Every DbtCloudError already names dbt Cloud.
                error: e.to_string(),
                retryable: e.is_retryable(),
            })?;
        let run_label = format!("run {run_id}");
        // Parsing a big manifest takes CPU seconds: off the async thread, and
        // still bounded by the deadline.
        let work = tokio::task::spawn_blocking(move || {
            let manifest = artifacts.manifest.open().map_err(|e| e.to_string())?;
            let steps = artifacts
                .run_results
                .iter()
                .map(|(_, bytes)| Ok(bytes.as_slice()));
            judge(manifest, steps, Malformed::Touched).map_err(|e| e.to_string())
        });
        match timeout_at(deadline, work).await {
            Ok(Ok(Ok(resolution))) => Ok(resolution),
            Ok(Ok(Err(e))) => Err(fixed(format!(
                "the artifacts of dbt Cloud {run_label} can't be used: {e}"
            ))),
            Ok(Err(e)) => Err(fixed(format!(
                "judging the exposures of {run_label} failed: {e}"
            ))),
            Err(_) => Err(ResolveFailure {
                error: format!(
                    "the exposures of dbt Cloud {run_label} were not judged before the deadline"
                ),
                retryable: true,
            }),
        }
    }
}

impl ExposureResolver for DbtCloudResolver {
    fn resolve<'a>(
        &'a self,
        run: &'a RunSummary,
        token: Option<&'a SecretString>,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Resolution, ResolveFailure>> {
        Box::pin(self.resolve_now(run, token, deadline))
    }
}
