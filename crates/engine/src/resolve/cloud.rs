//! Exposures judged from the run's own artifacts in dbt Cloud: the function's
//! resolver, used inside the webhook's deadline (plain mode) or as the
//! workflow's first step.

use super::{ExposureResolver, Malformed, Resolution, ResolveFailure, conclude};
use crate::BoxFuture;
use crate::dbt_cloud::DbtCloud;
use crate::dbt_cloud::stream::Consume;
use crate::exposures::{self, ExposuresError, ManifestView, RunOutcome, RunResults};
use crate::secrets::DBT_CLOUD_API_TOKEN;
use crate::webhook::RunSummary;
use secrecy::SecretString;
use std::sync::Arc;
use tokio::time::Instant;

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
        // Every artifact is parsed as it downloads (on the blocking pool, each
        // step folded into the outcome as soon as it is read): memory stays at
        // what the decision keeps, whatever the artifacts weigh, and a parse
        // stops with its download at the deadline.
        let manifest: Consume<Result<ManifestView, ExposuresError>> =
            Arc::new(exposures::read_manifest);
        let step: Consume<Result<RunResults, ExposuresError>> =
            Arc::new(exposures::read_run_results);
        let mut outcome = RunOutcome::default();
        let mut bad_step: Option<(u32, ExposuresError)> = None;
        let fold = |number: u32, parsed: Result<RunResults, ExposuresError>| match parsed {
            Ok(results) => outcome.add(results),
            Err(e) => {
                bad_step.get_or_insert((number, e));
            }
        };
        let streamed = self
            .client
            .stream_run_artifacts(token, account, run_id, deadline, manifest, step, fold)
            .await
            .map_err(|e| ResolveFailure {
                // Every DbtCloudError already names dbt Cloud.
                error: e.to_string(),
                retryable: e.is_retryable(),
            })?;
        let unusable = |e: ExposuresError| {
            let retryable = matches!(e, ExposuresError::Read { .. });
            ResolveFailure {
                error: format!("the artifacts of dbt Cloud run {run_id} can't be used: {e}"),
                // A read cut off (the deadline, a broken download) may
                // succeed later; a malformed artifact will not.
                retryable,
            }
        };
        let view = streamed.manifest.map_err(unusable)?;
        if let Some((number, e)) = bad_step {
            let mut failure = unusable(e);
            failure.error.push_str(&format!(" (step {number})"));
            return Err(failure);
        }
        Ok(conclude(&view, &outcome, Malformed::Touched))
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
