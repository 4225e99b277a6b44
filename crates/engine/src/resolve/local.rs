//! Exposures judged from a local `target/` directory (`dbt build` on a laptop or
//! in CI, or artifacts downloaded from dbt Cloud): the command's resolver.

use super::{Malformed, Resolution, judge};
use crate::exposures::{Artifact, ExposuresError};
use std::fs::File;
use std::path::Path;

/// Reads `dir/manifest.json` and `dir/run_results.json`. An error says which
/// file and what is wrong with it, in words for the command's stderr.
pub fn resolve_target_dir(dir: &Path, malformed: Malformed) -> Result<Resolution, String> {
    if !dir.is_dir() {
        return Err(format!(
            "target directory {} does not exist (run dbt build first, or pass --target-dir)",
            dir.display()
        ));
    }
    let open = |artifact: Artifact| {
        let path = dir.join(artifact.to_string());
        File::open(&path).map_err(|e| ExposuresError::Read {
            artifact,
            detail: format!("{}: {e}", path.display()),
        })
    };
    let describe = |e: ExposuresError| format!("{e} (in {})", dir.display());
    let manifest = open(Artifact::Manifest).map_err(describe)?;
    judge(manifest, [open(Artifact::RunResults)], malformed).map_err(describe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::RefreshResult;
    use std::path::PathBuf;

    fn artifacts(set: &str) -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("tests/artifacts")
            .join(set)
    }

    #[test]
    fn the_real_build_refreshes_fresh_items_and_skips_blocked_ones() {
        let resolution = resolve_target_dir(&artifacts("build"), Malformed::All).unwrap();
        let names: Vec<String> = resolution.targets.iter().map(|t| t.to_string()).collect();
        assert!(
            names.contains(&"workbook \"Weekly KPIs\" in project \"Ops\"".to_owned()),
            "{names:?}"
        );
        assert!(resolution.targets.iter().all(|t| t.exposure.is_some()));
        let skipped: Vec<_> = resolution
            .reports
            .iter()
            .filter(|r| r.result == RefreshResult::Skipped)
            .collect();
        assert!(!skipped.is_empty());
        assert!(
            skipped
                .iter()
                .any(|r| r.error.as_deref().unwrap().contains("revenue_by_currency")),
            "{skipped:?}"
        );
        let malformed = resolution
            .reports
            .iter()
            .filter(|r| r.kind.is_none())
            .count();
        assert_eq!(malformed, 3);
    }

    #[test]
    fn missing_and_broken_artifacts_name_the_file() {
        let nowhere = resolve_target_dir(Path::new("/no/such/target"), Malformed::All).unwrap_err();
        assert!(nowhere.contains("does not exist"), "{nowhere}");
        let dir = std::env::temp_dir().join(format!("dbt-tableau-local-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = resolve_target_dir(&dir, Malformed::All).unwrap_err();
        assert!(missing.contains("manifest.json"), "{missing}");
        std::fs::write(dir.join("manifest.json"), "{not json").unwrap();
        std::fs::write(dir.join("run_results.json"), "{}").unwrap();
        let broken = resolve_target_dir(&dir, Malformed::All).unwrap_err();
        assert!(broken.contains("manifest.json"), "{broken}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
