//! Gemini's error replies: a `google.rpc.Status` and the typed details Pacer reads.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An error reply: `{"error": {...}}`, a `google.rpc.Status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorReply {
    /// The error.
    pub(crate) error: ErrorStatus,
}

/// What went wrong.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorStatus {
    /// The HTTP status.
    #[serde(default)]
    pub(crate) code: u16,
    /// In words.
    #[serde(default)]
    pub(crate) message: String,
    /// `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, ...
    #[serde(default)]
    pub(crate) status: String,
    /// Typed details: `RetryInfo`, `QuotaFailure`, `ErrorInfo`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) details: Vec<ErrorDetail>,
}

/// One typed detail; the fields of the types Pacer reads, the rest kept as they came.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorDetail {
    /// `type.googleapis.com/google.rpc.RetryInfo`, `...QuotaFailure`, `...ErrorInfo`, ...
    #[serde(default, rename = "@type")]
    pub(crate) type_url: String,
    /// RetryInfo: how long to wait, as seconds (`"32s"`, `"1.5s"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retry_delay: Option<String>,
    /// QuotaFailure: the quotas used up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) violations: Vec<QuotaViolation>,
    /// ErrorInfo: the reason (`API_KEY_INVALID`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// The rest.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// One used-up quota of a QuotaFailure.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QuotaViolation {
    /// The metric (`generativelanguage.googleapis.com/generate_content_free_tier_requests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quota_metric: Option<String>,
    /// The quota (`GenerateRequestsPerDayPerProjectPerModel-FreeTier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quota_id: Option<String>,
    /// The limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) quota_value: Option<String>,
    /// The rest (`quotaDimensions`, ...).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

impl QuotaViolation {
    /// Whether the quota is counted per day, so it resets at midnight Pacific time.
    pub(crate) fn is_daily(&self) -> bool {
        [&self.quota_id, &self.quota_metric]
            .into_iter()
            .flatten()
            .any(|name| {
                let lower = name.to_ascii_lowercase();
                ["perday", "per_day", "per-day"]
                    .iter()
                    .any(|p| lower.contains(p))
            })
    }
}
