//! What can go wrong reading dbt's artifacts. Every variant names the artifact, so an
//! operator reading a report knows which file to look at.

use std::fmt;

/// Which dbt artifact an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    Manifest,
    RunResults,
}

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Artifact::Manifest => "manifest.json",
            Artifact::RunResults => "run_results.json",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExposuresError {
    /// The bytes could not be read (the stream broke off).
    Read { artifact: Artifact, detail: String },
    /// Not JSON, cut short, or a field of the wrong type; `detail` says where (the
    /// byte offset; serde's line and column within a captured value).
    Malformed { artifact: Artifact, detail: String },
    /// Well-formed JSON but not an artifact of a kind and version we read (another
    /// artifact, a too old manifest, a manifest without its parent map).
    Unsupported { artifact: Artifact, detail: String },
}

impl ExposuresError {
    pub(crate) fn unsupported(artifact: Artifact, detail: impl Into<String>) -> ExposuresError {
        ExposuresError::Unsupported {
            artifact,
            detail: detail.into(),
        }
    }

    pub fn artifact(&self) -> Artifact {
        match self {
            ExposuresError::Read { artifact, .. }
            | ExposuresError::Malformed { artifact, .. }
            | ExposuresError::Unsupported { artifact, .. } => *artifact,
        }
    }
}

impl fmt::Display for ExposuresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExposuresError::Read { artifact, detail } => {
                write!(f, "could not read {artifact}: {detail}")
            }
            ExposuresError::Malformed { artifact, detail } => {
                write!(f, "{artifact} is not a valid dbt artifact: {detail}")
            }
            ExposuresError::Unsupported { artifact, detail } => {
                write!(f, "{artifact} is not supported: {detail}")
            }
        }
    }
}

impl std::error::Error for ExposuresError {}
