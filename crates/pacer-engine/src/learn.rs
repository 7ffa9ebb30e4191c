//! What a reply's headers said about the rate limits, passed to the limiter: one mapping for
//! the lanes and for the gateway.

use pacer_core::{LimitDimension, ProviderError, RateLimitInfo};
use pacer_limit::{Dimension, Limiter, Permit, Reading, Verdict};

/// Tells `limiter` what the reply to `permit`'s request said about the limits (`info`, when
/// its headers carried any) and whether the server answered at all (`replied`: any HTTP
/// status), so it learns limits nobody configured and follows what the server has left.
pub fn learn_from(limiter: &Limiter, permit: &Permit, info: Option<&RateLimitInfo>, replied: bool) {
    limiter.learn(permit, &readings(info), replied);
}

/// Tells `limiter` that `permit`'s request was refused with the rate-limit error `error`,
/// and returns what to do: retry it alone after a hiccup, or after the lane's pause.
pub fn judge_refusal(limiter: &Limiter, permit: &Permit, error: &ProviderError) -> Verdict {
    limiter.rate_limited(
        permit,
        error.retry_after,
        &readings(error.rate_limits.as_deref()),
    )
}

fn readings(info: Option<&RateLimitInfo>) -> Vec<(Dimension, Reading)> {
    info.map(|info| {
        info.readings()
            .into_iter()
            .filter(|(_, r)| r.limit.is_some() || r.remaining.is_some())
            .map(|(d, r)| {
                let dimension = match d {
                    LimitDimension::Requests => Dimension::Requests,
                    LimitDimension::Tokens => Dimension::Tokens,
                    LimitDimension::InputTokens => Dimension::InputTokens,
                    LimitDimension::OutputTokens => Dimension::OutputTokens,
                };
                let reading = Reading {
                    limit: r.limit,
                    remaining: r.remaining,
                    reset: r.reset,
                };
                (dimension, reading)
            })
            .collect()
    })
    .unwrap_or_default()
}
