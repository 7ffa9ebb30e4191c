//! First come, first served, on tokio's paused clock: requests that arrive together are
//! admitted in arrival order, each waits what the requests ahead of it explain, and a
//! request with a deadline is refused only when those ahead would keep it past it.

use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pacer_limit::{Cost, Limiter, LimiterConfig, Limits};
use tokio::time::Instant;

/// 120 requests a minute (one every half second), a 2 s burst (4 at once), exactly.
fn limiter() -> Arc<Limiter> {
    Arc::new(Limiter::new(LimiterConfig {
        burst: Duration::from_secs(2),
        headroom: 1.0,
        max_headroom: 1.0,
        clock_skew: Duration::ZERO,
        ..LimiterConfig::new(Limits {
            rpm: NonZeroU64::new(120),
            ..Limits::default()
        })
    }))
}

#[tokio::test(start_paused = true)]
async fn waiters_are_admitted_in_the_order_they_came() {
    let limiter = limiter();
    let start = Instant::now();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..16usize {
        let (limiter, order) = (limiter.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            limiter.acquire(Cost::request(0, 0)).await.unwrap();
            order.lock().unwrap().push(i);
            start.elapsed()
        }));
        // Each arrives a moment after the one before.
        tokio::task::yield_now().await;
    }
    let mut waits = Vec::new();
    for task in tasks {
        waits.push(task.await.unwrap());
    }
    assert_eq!(*order.lock().unwrap(), (0..16).collect::<Vec<_>>());
    // The 4 of the burst at once, then one every half second: each waits for those ahead.
    for (i, wait) in waits.iter().enumerate() {
        let expected = Duration::from_millis(500 * i.saturating_sub(3) as u64);
        assert_eq!(*wait, expected, "request {i}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_deadline_refuses_only_what_the_line_ahead_would_keep_too_long() {
    let limiter = limiter();
    // Ten wait in line without a deadline: the last of them goes at 3 s.
    let line: Vec<_> = (0..10)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire(Cost::request(0, 0)).await.unwrap() })
        })
        .collect();
    tokio::task::yield_now().await;
    // An eleventh would go at 3.5 s: asked to wait at most 2 s, it is refused at once, told
    // how long the line would keep it, and takes no place in it.
    let start = Instant::now();
    let refused = limiter
        .acquire_within(Cost::request(0, 0), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err(), Duration::from_millis(3_500));
    assert_eq!(start.elapsed(), Duration::ZERO);
    // Allowed 4 s, it waits its turn behind the ten.
    let admitted = limiter
        .acquire_within(Cost::request(0, 0), Duration::from_secs(4))
        .await
        .unwrap();
    assert!(admitted.is_ok());
    assert_eq!(start.elapsed(), Duration::from_millis(3_500));
    for task in line {
        task.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_that_gives_up_leaves_the_line() {
    let limiter = limiter();
    for _ in 0..4 {
        limiter.acquire(Cost::request(0, 0)).await.unwrap();
    }
    let impatient = {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.acquire(Cost::request(0, 0)).await })
    };
    tokio::task::yield_now().await;
    impatient.abort();
    let _ = impatient.await;
    // Nothing is left of it: the next request waits only the half second the burst owes.
    let start = Instant::now();
    let wait = limiter
        .acquire_within(Cost::request(0, 0), Duration::from_millis(100))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(wait, Duration::from_millis(500));
    limiter.acquire(Cost::request(0, 0)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(500));
}
