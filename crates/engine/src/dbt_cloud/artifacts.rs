//! Where a run's artifacts are: `GET /api/v2/accounts/{a}/runs/{r}/artifacts/{path}[?step=N]`,
//! and which steps are asked. Every artifact is read as it downloads
//! ([`super::stream`]): none is held whole, in memory or on disk.

use super::DbtCloud;
use super::error::{DbtCloudError, Resource};
use super::run::Run;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

pub const MANIFEST: &str = "manifest.json";
pub const RUN_RESULTS: &str = "run_results.json";

/// Bytes a path segment may not carry as they are.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'\\');

impl DbtCloud {
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
    use crate::dbt_cloud::run::resource;

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
