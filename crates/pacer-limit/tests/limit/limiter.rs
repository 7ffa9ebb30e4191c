//! The limiter's behaviour on tokio's paused clock: exact and instant.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use pacer_limit::{Cost, Dimension, LimitError, Limiter, LimiterConfig, Limits, Reading, Verdict};
use tokio::time::Instant;

/// A limiter paced at exactly its limits with a two-second burst, so the arithmetic below
/// stays round.
fn exact(limits: Limits) -> LimiterConfig {
    LimiterConfig {
        burst: Duration::from_secs(2),
        headroom: 1.0,
        clock_skew: Duration::ZERO,
        ..LimiterConfig::new(limits)
    }
}

fn limiter(rpm: u64, tpm: Option<u64>) -> Limiter {
    Limiter::new(exact(Limits {
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
        .map(|p| paused(limiter.rate_limited(p, Some(Duration::from_secs(3)), &[])))
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
    assert_eq!(
        paused(limiter.rate_limited(&p, None, &[])),
        Some(Duration::from_secs(5))
    );
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    assert_eq!(
        paused(limiter.rate_limited(&p, None, &[])),
        Some(Duration::from_secs(10))
    );
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    limiter.succeeded();
    assert_eq!(
        paused(limiter.rate_limited(&p, None, &[])),
        Some(Duration::from_secs(5))
    );
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
    paused(limiter.rate_limited(&first, Some(Duration::from_secs(10)), &[]));
    let waited = waiter.await.unwrap();
    assert!(waited >= Duration::from_millis(10_500), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn the_rate_ramps_up_after_a_pause() {
    let mut config = exact(Limits {
        rpm: NonZeroU64::new(600),
        ..Limits::default()
    });
    config.burst = Duration::ZERO;
    let limiter = Limiter::new(config); // 10/s, a one-request burst
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    paused(limiter.rate_limited(&p, Some(Duration::from_secs(1)), &[]));
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

/// The pause a verdict started, if it started one.
fn paused(verdict: Verdict) -> Option<Duration> {
    match verdict {
        Verdict::Paused { pause } => Some(pause),
        Verdict::Hiccup { .. } | Verdict::Joined => None,
    }
}

async fn futures_permits(limiter: &Limiter, n: usize) -> Vec<pacer_limit::Permit> {
    let mut permits = Vec::new();
    for _ in 0..n {
        permits.push(limiter.acquire(Cost::request(0, 0)).await.unwrap());
    }
    permits
}

fn requests(limit: Option<u64>, remaining: Option<u64>) -> [(Dimension, Reading); 1] {
    [(
        Dimension::Requests,
        Reading {
            limit,
            remaining,
            reset: None,
        },
    )]
}

fn probing() -> Arc<Limiter> {
    Arc::new(Limiter::new(LimiterConfig {
        probe: true,
        ..exact(Limits::default())
    }))
}

async fn is_held(limiter: &Arc<Limiter>) -> bool {
    let limiter = limiter.clone();
    let waiting = tokio::spawn(async move { limiter.acquire(Cost::request(1, 1)).await });
    tokio::time::sleep(Duration::from_secs(30)).await;
    let held = !waiting.is_finished();
    waiting.abort();
    held
}

#[tokio::test(start_paused = true)]
async fn unknown_limits_are_learned_from_the_first_reply() {
    let limiter = probing();
    let probe = limiter.acquire(Cost::request(10, 10)).await.unwrap();
    assert!(limiter.probing());
    // Everything else waits for the probe's reply, however long it takes.
    assert!(is_held(&limiter).await);
    limiter.learn(&probe, &requests(Some(600), Some(9)), true);
    assert!(!limiter.probing());
    assert_eq!(limiter.limits().rpm.map(NonZeroU64::get), Some(600));
    // Then paced by what was learned: a 20-request burst (the server's 9 left have refilled
    // while the probe's reply took 30 s), then 10 a second.
    let start = Instant::now();
    for _ in 0..40 {
        limiter.acquire(Cost::request(1, 1)).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_reply_without_headers_ends_the_probe_unlimited() {
    let limiter = probing();
    let probe = limiter.acquire(Cost::request(1, 1)).await.unwrap();
    limiter.learn(&probe, &[], true);
    assert!(!limiter.probing());
    assert!(!is_held(&limiter).await);
    assert!(limiter.limits().is_unlimited());
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_got_no_reply_hands_over_to_the_next_request() {
    let limiter = probing();
    let first = limiter.acquire(Cost::request(1, 1)).await.unwrap();
    let next = {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.acquire(Cost::request(1, 1)).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!next.is_finished());
    // A timeout or a refused connection: no answer, so the next request probes.
    limiter.learn(&first, &[], false);
    let second = next.await.unwrap().unwrap();
    assert!(limiter.probing());
    assert!(is_held(&limiter).await);
    limiter.learn(&second, &requests(Some(60), None), true);
    assert!(!limiter.probing());
}

#[tokio::test(start_paused = true)]
async fn remaining_pulls_the_level_down_counting_requests_sent_since() {
    let limiter = limiter(600, None); // 10/s, burst of 20
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    // Someone else shares the key: the server has 5 left, not our 19.
    limiter.learn(&p, &requests(Some(600), Some(5)), true);
    let available = limiter.available(Dimension::Requests).unwrap();
    assert!((available - 5.0).abs() < 1e-6, "{available}");
    // Two more go out; a late reply to `p` still says 5, which those two already used.
    limiter.acquire(Cost::request(0, 0)).await.unwrap();
    limiter.acquire(Cost::request(0, 0)).await.unwrap();
    limiter.learn(&p, &requests(None, Some(5)), true);
    let available = limiter.available(Dimension::Requests).unwrap();
    assert!((available - 3.0).abs() < 1e-6, "{available}");
    // More remaining than we think says how much the server's bucket holds: the burst grows
    // to it, less the 17 the limiter still owes.
    limiter.learn(&p, &requests(None, Some(500)), true);
    assert_eq!(limiter.burst(Dimension::Requests), Some(500.0));
    let available = limiter.available(Dimension::Requests).unwrap();
    assert!((available - 483.0).abs() < 1e-6, "{available}");
}

#[tokio::test(start_paused = true)]
async fn the_server_lowers_a_configured_limit_but_never_raises_it() {
    let limiter = limiter(600, None);
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    limiter.learn(&p, &requests(Some(1200), None), true);
    assert_eq!(limiter.limits().rpm.map(NonZeroU64::get), Some(600));
    limiter.learn(&p, &requests(Some(300), None), true);
    assert_eq!(limiter.limits().rpm.map(NonZeroU64::get), Some(300));
}

#[tokio::test(start_paused = true)]
async fn learned_limits_follow_the_server_both_ways() {
    let limiter = probing();
    let p = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    let tokens = [(
        Dimension::Tokens,
        Reading {
            limit: Some(60_000),
            remaining: None,
            reset: None,
        },
    )];
    limiter.learn(&p, &tokens, true);
    assert_eq!(limiter.limits().tpm.map(NonZeroU64::get), Some(60_000));
    assert_eq!(limiter.limits().rpm, None);
    let tokens = [(
        Dimension::Tokens,
        Reading {
            limit: Some(90_000),
            remaining: None,
            reset: None,
        },
    )];
    limiter.learn(&p, &tokens, true);
    assert_eq!(limiter.limits().tpm.map(NonZeroU64::get), Some(90_000));
}

#[tokio::test(start_paused = true)]
async fn tokens_given_back_by_requests_in_flight_serve_those_waiting() {
    // 600 output tokens a minute (10 a second, burst 20). Each request is held at 10
    // output tokens, takes 100 ms and writes 2. Twenty of them: booked all at once they would
    // take 18 s; booking when their turn is near, they profit from every refund.
    let limiter = Arc::new(Limiter::new(exact(Limits {
        otpm: NonZeroU64::new(600),
        ..Limits::default()
    })));
    let start = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let permit = limiter.acquire(Cost::request(0, 10)).await.unwrap();
                let admitted = start.elapsed();
                tokio::time::sleep(Duration::from_millis(100)).await;
                limiter.settle(&permit, Cost::request(0, 2));
                admitted
            })
        })
        .collect();
    let mut last = Duration::ZERO;
    for task in tasks {
        last = last.max(task.await.unwrap());
    }
    // 20 × 2 tokens written = 40: 2 s of burst plus about 2 s at the rate.
    assert!(last < Duration::from_secs(5), "{last:?}");
    assert!(last > Duration::from_secs(1), "{last:?}");
}

#[tokio::test(start_paused = true)]
async fn acquire_within_refuses_what_would_wait_too_long_and_reserves_nothing_for_it() {
    let limiter = limiter(600, None); // 10 per second, burst of 20
    let start = Instant::now();
    let max = Duration::from_secs(1);
    for _ in 0..30 {
        assert!(
            limiter
                .acquire_within(Cost::request(0, 0), max)
                .await
                .unwrap()
                .is_ok()
        );
    }
    // The burst went at once, then 10 more within the second.
    assert_eq!(start.elapsed().as_millis(), 1_000);
    // The burst is spent: the next slot is 100 ms away. Asked to wait at most 50 ms, a
    // request is refused with the wait it would have had, and reserves nothing for it.
    let short = Duration::from_millis(50);
    let refused = limiter
        .acquire_within(Cost::request(0, 0), short)
        .await
        .unwrap();
    let wait = refused.unwrap_err();
    assert_eq!(wait, Duration::from_millis(100));
    let again = limiter
        .acquire_within(Cost::request(0, 0), short)
        .await
        .unwrap();
    assert_eq!(again.unwrap_err(), wait);
    let waited = limiter
        .acquire_within(Cost::request(0, 0), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(waited.is_ok());
    assert_eq!(start.elapsed().as_millis(), 1_000 + wait.as_millis());
}
