//! The limits of a lane and how the limiter paces them.

use std::num::NonZeroU64;
use std::time::Duration;

use crate::Dimension;

/// The per-minute limits a provider enforces on one model. `None` means not limited (or not
/// known yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<NonZeroU64>,
    /// Tokens (input plus output) per minute.
    pub tpm: Option<NonZeroU64>,
    /// Input tokens per minute.
    pub itpm: Option<NonZeroU64>,
    /// Output tokens per minute.
    pub otpm: Option<NonZeroU64>,
}

impl Limits {
    /// The limit on `dimension`.
    pub fn get(&self, dimension: Dimension) -> Option<NonZeroU64> {
        match dimension {
            Dimension::Requests => self.rpm,
            Dimension::Tokens => self.tpm,
            Dimension::InputTokens => self.itpm,
            Dimension::OutputTokens => self.otpm,
        }
    }

    /// Whether no limit at all is set.
    pub fn is_unlimited(&self) -> bool {
        Dimension::ALL.iter().all(|d| self.get(*d).is_none())
    }
}

/// How a [`Limiter`](crate::Limiter) paces its lane.
#[derive(Clone, Debug)]
pub struct LimiterConfig {
    /// The limits.
    pub limits: Limits,
    /// How much may go at once after an idle spell, as time at the full rate, while the server
    /// has not said more. Providers enforce per-minute limits over short windows of unknown
    /// length, so this is one second, not a minute. A server that reports what remains is
    /// believed: the burst grows to the most it has said remains (up to a whole minute).
    pub burst: Duration,
    /// The share of each limit paced at to start with, so that jitter between send and
    /// arrival never tips the server's window over. It narrows towards `max_headroom` while
    /// no rate-limit error comes, and widens again after one that shows a limit used up.
    pub headroom: f64,
    /// The largest share of each limit the headroom narrows to.
    pub max_headroom: f64,
    /// How much later than Pacer's a server's clock may start (its bucket begins to refill
    /// when the first request reaches it, a little after Pacer let that request go): the
    /// burst is smaller by what the server refills in this time, so that spending a server's
    /// whole bucket at once leaves it that lag.
    pub clock_skew: Duration,
    /// With no limits set, send one request first and pace the rest by the limits its reply
    /// reports (for providers that send `x-ratelimit-*` headers).
    pub probe: bool,
    /// The pause after a rate-limit error that carried no `retry-after`; it doubles with each
    /// consecutive event.
    pub cooldown: Duration,
    /// The longest pause.
    pub max_cooldown: Duration,
    /// How long the rate takes to climb back to full after a pause.
    pub slow_start: Duration,
    /// The share of the full rate allowed right after a pause.
    pub slow_start_floor: f64,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            burst: Duration::from_secs(1),
            headroom: 0.98,
            max_headroom: 0.995,
            clock_skew: Duration::from_millis(100),
            probe: false,
            cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(120),
            slow_start: Duration::from_secs(10),
            slow_start_floor: 0.25,
        }
    }
}

impl LimiterConfig {
    /// The default pacing with `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }
}
