//! The lane's pacing, on tokio's paused clock: one cooldown per rate-limit event, 429s that
//! never use up error retries, and the limiter setting the pace.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use pacer_core::{ErrorKind, ProviderError};
use pacer_engine::Lane;
use pacer_limit::{Limiter, LimiterConfig, Limits};
use pacer_providers::MockProvider;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn one_cooldown_per_rate_limit_event() {
    // Everything sent in the first 250 ms is refused: 20 requests in flight, one event.
    let t0 = Instant::now();
    let provider = Scripted::new(move |_, _| {
        if t0.elapsed() < Duration::from_millis(250) {
            Err(ProviderError::new(ErrorKind::RateLimited, "slow down")
                .with_retry_after(Duration::from_secs(2)))
        } else {
            Ok(ok("fine"))
        }
    });
    let lane = Lane::builder(config(20), provider).build();
    let stats = lane.process_all(items(20), |o| assert!(o.is_ok())).await;
    assert_eq!(stats.rate_limited_requests, 20);
    assert_eq!(stats.rate_limit_events, 1);
    assert_eq!(lane.limiter().cooldowns(), 1);
    assert_eq!(stats.succeeded, 20);
    // The pause was honoured: 100 ms to the 429, 2 s of pause, 100 ms to the reply.
    assert!(
        t0.elapsed() >= Duration::from_millis(2_200),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limits_do_not_use_up_error_retries() {
    let provider = Scripted::new(|call, _| {
        if call < 5 {
            Err(ProviderError::new(ErrorKind::RateLimited, "429")
                .with_retry_after(Duration::from_millis(10)))
        } else {
            Ok(ok("at last"))
        }
    });
    let mut cfg = config(1);
    cfg.retry.max_retries = 0;
    let lane = Lane::builder(cfg, provider).build();
    let mut attempts = 0;
    let stats = lane
        .process_all(items(1), |o| {
            assert!(o.is_ok());
            attempts = o.attempts;
        })
        .await;
    assert_eq!((stats.succeeded, stats.retries, attempts), (1, 0, 6));
}

#[tokio::test(start_paused = true)]
async fn the_limiter_paces_the_lane() {
    let limiter = Arc::new(Limiter::new(LimiterConfig {
        burst: Duration::from_secs(2),
        headroom: 1.0,
        clock_skew: Duration::ZERO,
        ..LimiterConfig::new(Limits {
            rpm: NonZeroU64::new(600),
            ..Limits::default()
        })
    }));
    let lane = Lane::builder(config(50), Arc::new(MockProvider::default()))
        .limiter(limiter)
        .build();
    let start = Instant::now();
    lane.process_all(items(120), |_| {}).await;
    // 20 in the burst, then 10 a second.
    assert_eq!(start.elapsed().as_secs(), 10);
}
