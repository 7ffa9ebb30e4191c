//! A lane's running totals.

use std::collections::BTreeMap;

use pacer_core::{ErrorKind, Usage};

/// Totals of a lane. `total == succeeded + failed` always holds: items left pending by a
/// stopped lane are counted apart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Items that ended.
    pub total: u64,
    /// Items that ended with a reply.
    pub succeeded: u64,
    /// Items that ended with an error.
    pub failed: u64,
    /// Items taken but left unfinished because the lane stopped.
    pub pending: u64,
    /// Error retries (backoffs).
    pub retries: u64,
    /// Requests refused with a rate-limit error.
    pub rate_limited_requests: u64,
    /// Cool-downs: one per rate-limit event, however many requests it refused.
    pub rate_limit_events: u64,
    /// Final errors by kind.
    pub error_counts: BTreeMap<ErrorKind, u64>,
    /// Tokens over every attempt.
    pub usage: Usage,
}
