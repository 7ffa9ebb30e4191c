//! In flight follows the limit, on tokio's paused clock: a lane keeps as many requests out as
//! its admitted rate and the server's latency need, not a fixed handful; a lane with no limit
//! keeps a few; and hiccup 429s do not stall it.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{items, ok};
use async_trait::async_trait;
use pacer_core::{
    Accounting, ErrorKind, LimitReading, Provider, ProviderError, RateLimitInfo, Request, Response,
};
use pacer_engine::{Lane, LaneConfig, UNPACED_IN_FLIGHT};
use pacer_limit::{Limiter, LimiterConfig, Limits};
use tokio::time::Instant;

/// A server that answers after `latency`, counting how many requests it holds at once; every
/// `hiccup_every`-th call is a 429 whose headers show plenty left.
struct Slow {
    latency: Duration,
    hiccup_every: u64,
    calls: AtomicU64,
    holding: AtomicUsize,
    most: AtomicUsize,
}

impl Slow {
    fn new(latency: Duration, hiccup_every: u64) -> Arc<Self> {
        Arc::new(Self {
            latency,
            hiccup_every,
            calls: AtomicU64::new(0),
            holding: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl Provider for Slow {
    fn kind(&self) -> &'static str {
        "slow"
    }
    fn accounting(&self) -> Accounting {
        Accounting::Actual
    }
    async fn send(&self, _request: &Request) -> Result<Response, ProviderError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.hiccup_every > 0 && call.is_multiple_of(self.hiccup_every) {
            let room = RateLimitInfo {
                requests: LimitReading {
                    limit: Some(1_200),
                    remaining: Some(30),
                    reset: None,
                },
                ..RateLimitInfo::default()
            };
            return Err(ProviderError::new(ErrorKind::RateLimited, "busy")
                .with_status(429)
                .with_retry_after(Duration::from_secs(1))
                .with_rate_limits(Some(room)));
        }
        let now = self.holding.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
        self.holding.fetch_sub(1, Ordering::SeqCst);
        Ok(ok("done"))
    }
}

/// 1,200 requests a minute, paced exactly, with a 2 s burst (40 at once).
fn limiter() -> Arc<Limiter> {
    Arc::new(Limiter::new(LimiterConfig {
        burst: Duration::from_secs(2),
        headroom: 1.0,
        max_headroom: 1.0,
        clock_skew: Duration::ZERO,
        ..LimiterConfig::new(Limits {
            rpm: NonZeroU64::new(1_200),
            ..Limits::default()
        })
    }))
}

#[tokio::test(start_paused = true)]
async fn in_flight_follows_the_rate_times_the_latency() {
    let server = Slow::new(Duration::from_secs(4), 0);
    let lane = Lane::builder(LaneConfig::new("slow"), server.clone())
        .limiter(limiter())
        .build();
    let start = Instant::now();
    let stats = lane.process_all(items(600), |o| assert!(o.is_ok())).await;
    assert_eq!(stats.succeeded, 600);
    // 40 at once, the other 560 at 20 a second, the last reply 4 s later: 32 s, where 8 in
    // flight would take 300 s.
    let took = start.elapsed().as_secs_f64();
    assert!((32.0..32.5).contains(&took), "{took:.2} s");
    // 20 a second for 4 s, and the burst: about 120 out at once, never the 600.
    let most = server.most.load(Ordering::SeqCst);
    assert!((100..=140).contains(&most), "{most} in flight");
}

#[tokio::test(start_paused = true)]
async fn an_explicit_concurrency_still_caps_it() {
    let server = Slow::new(Duration::from_secs(4), 0);
    let mut config = LaneConfig::new("capped");
    config.concurrency = std::num::NonZeroUsize::new(10);
    let lane = Lane::builder(config, server.clone())
        .limiter(limiter())
        .build();
    lane.process_all(items(100), |o| assert!(o.is_ok())).await;
    assert_eq!(server.most.load(Ordering::SeqCst), 10);
}

#[tokio::test(start_paused = true)]
async fn a_lane_that_knows_no_limit_keeps_a_few_in_flight() {
    let server = Slow::new(Duration::from_secs(1), 0);
    let lane = Lane::builder(LaneConfig::new("open"), server.clone()).build();
    lane.process_all(items(100), |o| assert!(o.is_ok())).await;
    assert_eq!(server.most.load(Ordering::SeqCst), UNPACED_IN_FLIGHT);
}

#[tokio::test(start_paused = true)]
async fn hiccup_429s_do_not_stall_the_lane() {
    // One call in eight is a 429 that shows room: each costs its own request a second, the
    // lane nothing.
    let server = Slow::new(Duration::from_millis(300), 8);
    let lane = Lane::builder(LaneConfig::new("flaky"), server.clone())
        .limiter(limiter())
        .build();
    let start = Instant::now();
    let stats = lane.process_all(items(400), |o| assert!(o.is_ok())).await;
    assert_eq!(stats.succeeded, 400);
    assert!(stats.rate_limited_requests >= 50, "{stats:?}");
    assert_eq!(stats.rate_limit_events, 0);
    assert_eq!(lane.limiter().cooldowns(), 0);
    assert_eq!(stats.retries, 0, "a 429 is no error retry");
    // 400 (and the 429s' retries: about 57) at 20 a second after the 40 of the burst is about
    // 21 s; the last hiccup adds at most its second.
    let took = start.elapsed().as_secs_f64();
    assert!(took < 23.5, "{took:.2} s");
}
