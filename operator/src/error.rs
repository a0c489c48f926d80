//! The controller's error type; every variant has a stable metric label.

use crate::resources::InvalidSpec;

/// Why a reconcile failed. `InvalidSpec` waits for the user to change the object; the others are retried
/// with a per-object growing backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid spec: {0}")]
    InvalidSpec(#[source] InvalidSpec),

    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("deleting {kind} {name}: {source}")]
    Delete {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("patching the status: {0}")]
    Status(#[source] kube::Error),

    #[error("encoding {kind} {name} as JSON: {source}")]
    Encode {
        kind: &'static str,
        name: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("StatelessService has no {0}")]
    MissingMetadata(&'static str),

    #[error("the child caches stopped (the controller is shutting down)")]
    CachesStopped,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The `error` label of `herd_reconcile_failures_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "invalid_spec",
            Error::Apply { .. } => "apply",
            Error::Delete { .. } => "delete",
            Error::Status(_) => "status",
            Error::Encode { .. } => "encode",
            Error::MissingMetadata(_) => "missing_metadata",
            Error::CachesStopped => "caches_stopped",
        }
    }

    /// Transient errors are retried with backoff; an invalid spec only changes when the user edits it.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Error::InvalidSpec(_) | Error::MissingMetadata(_))
    }
}
