//! The limiter's behaviour on tokio's paused clock: exact and instant.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use pacer_limit::{Cost, Dimension, LimitError, Limiter, LimiterConfig, Limits};
use tokio::time::Instant;

fn limiter(rpm: u64, tpm: Option<u64>) -> Limiter {
    Limiter::new(LimiterConfig::new(Limits {
        rpm: NonZeroU64::new(rpm),
        tpm: tpm.and_then(NonZeroU64::new),
        ..Limits::default()
    }))
}

#[tokio::test(start_paused = true)]
async fn requests_are_spaced_at_the_rate_after_a_two_second_burst() {
    let limiter = limiter(600, None); // 10 per second, burst of 20
    let start = Instant::now();
    for _ in 0..20 {
        limiter.acquire(Cost::request(0, 0)).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    for _ in 0..100 {
        limiter.acquire(Cost::request(0, 0)).await.unwrap();
    }
    assert_eq!(start.elapsed().as_millis(), 10_000);
}

#[tokio::test(start_paused = true)]
async fn a_minute_of_requests_takes_a_minute_less_the_burst() {
    let limiter = limiter(1200, None);
    let start = Instant::now();
    for _ in 0..1200 {
        limiter.acquire(Cost::request(0, 0)).await.unwrap();
    }
    // The first 40 (2 s worth) go at once; the rest at 20 a second.
    assert_eq!(start.elapsed().as_millis(), 58_000);
}

#[tokio::test(start_paused = true)]
async fn tokens_bound_the_rate_when_they_run_out_first() {
    let limiter = limiter(10_000, Some(6_000)); // 100 tokens a second, burst 200
    let start = Instant::now();
    for _ in 0..12 {
        limiter.acquire(Cost::request(50, 50)).await.unwrap();
    }
    // 1200 tokens, 200 of them in the burst: 10 s.
    assert_eq!(start.elapsed().as_millis(), 10_000);
}

#[tokio::test(start_paused = true)]
async fn a_request_larger_than_the_limit_is_an_error_not_a_hang() {
    let limiter = limiter(60, Some(1_000));
    let err = limiter.acquire(Cost::request(900, 200)).await.unwrap_err();
    assert_eq!(
        err,
        LimitError::InsufficientCapacity {
            dimension: Dimension::Tokens,
            cost: 1100,
            limit: 1000
        }
    );
    assert!(err.to_string().contains("raise `tpm`"));
}

#[tokio::test(start_paused = true)]
async fn a_large_request_is_not_starved_by_small_ones() {
    let limiter = Arc::new(limiter(100_000, Some(6_000))); // 100 tokens/s
    let start = Instant::now();
    limiter.acquire(Cost::request(200, 0)).await.unwrap(); // empties the burst
    let big = {
        let limiter = limiter.clone();
        tokio::spawn(async move {
            limiter.acquire(Cost::request(1_000, 0)).await.unwrap();
            start.elapsed()
        })
    };
    tokio::task::yield_now().await;
    let small = {
        let limiter = limiter.clone();
        tokio::spawn(async move {
            limiter.acquire(Cost::request(10, 0)).await.unwrap();
            start.elapsed()
        })
    };
    let (big, small) = (big.await.unwrap(), small.await.unwrap());
    // 1000 tokens behind a spent burst wait until only the burst's worth of debt is ahead.
    assert_eq!(big.as_millis(), 10_000);
    assert!(small > big, "small {small:?} overtook big {big:?}");
}

#[tokio::test(start_paused = true)]
async fn settling_gives_unused_tokens_back() {
    let limiter = limiter(100_000, Some(60_000)); // 1000 tokens/s, burst 2000
    let start = Instant::now();
    let permit = limiter.acquire(Cost::request(500, 1_500)).await.unwrap();
    limiter.settle(&permit, Cost::request(500, 500));
    // 1000 of the burst used, not 2000: the next 1500 wait half a second, not one and a half.
    limiter.acquire(Cost::request(1_500, 0)).await.unwrap();
    assert_eq!(start.elapsed().as_millis(), 500);
}

#[tokio::test(start_paused = true)]
async fn one_cooldown_per_rate_limit_event() {
    let limiter = limiter(6_000, None);
    let permits: Vec<_> = futures_permits(&limiter, 5).await;
    let started: Vec<_> = permits
        .iter()
        .map(|p| limiter.rate_limited(p, Some(Duration::from_secs(3))))
        .collect();
    assert_eq!(started[0], Some(Duration::from_secs(3)));
    assert!(started[1..].iter().all(Option::is_none));
    assert_eq!(limiter.cooldowns(), 1);

    let start = Instant::now();
    limiter.acquire(Cost::request(0, 0)).await.unwrap();
    assert_eq!(start.elapsed().as_millis(), 3_000);
}

#[tokio::test(start_paused = true)]
async fn consecutive_events_double_the_pause_until_a_success() {
    let limiter = limiter(6_000, None);
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    assert_eq!(limiter.rate_limited(&p, None), Some(Duration::from_secs(5)));
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    assert_eq!(
        limiter.rate_limited(&p, None),
        Some(Duration::from_secs(10))
    );
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    limiter.succeeded();
    assert_eq!(limiter.rate_limited(&p, None), Some(Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_caught_by_a_cooldown_goes_after_the_pause() {
    let limiter = Arc::new(limiter(60, None)); // 1/s, burst 2
    let start = Instant::now();
    let first = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    limiter.acquire(Cost::request(0, 0)).await.unwrap();
    let waiter = {
        let limiter = limiter.clone();
        tokio::spawn(async move {
            limiter.acquire(Cost::request(0, 0)).await.unwrap();
            start.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    limiter.rate_limited(&first, Some(Duration::from_secs(10)));
    let waited = waiter.await.unwrap();
    assert!(waited >= Duration::from_millis(10_500), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn the_rate_ramps_up_after_a_pause() {
    let mut config = LimiterConfig::new(Limits {
        rpm: NonZeroU64::new(600),
        ..Limits::default()
    });
    config.burst = Duration::ZERO;
    let limiter = Limiter::new(config); // 10/s, a one-request burst
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    limiter.rate_limited(&p, Some(Duration::from_secs(1)));
    let resume = Instant::now() + Duration::from_secs(1);
    limiter.acquire(Cost::request(0, 0)).await.unwrap();
    limiter.acquire(Cost::request(0, 0)).await.unwrap();
    // Right after the pause, a quarter of the rate: 400 ms apart instead of 100 ms.
    let gap = Instant::now() - resume;
    assert!(gap >= Duration::from_millis(390), "{gap:?}");
    // Ten seconds later the ramp is done.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let t = Instant::now();
    for _ in 0..10 {
        limiter.acquire(Cost::request(0, 0)).await.unwrap();
    }
    assert!(
        t.elapsed() <= Duration::from_millis(1_000),
        "{:?}",
        t.elapsed()
    );
}

async fn futures_permits(limiter: &Limiter, n: usize) -> Vec<pacer_limit::Permit> {
    let mut permits = Vec::new();
    for _ in 0..n {
        permits.push(limiter.acquire(Cost::request(0, 0)).await.unwrap());
    }
    permits
}
