//! Rate-limit errors judged by what they say, and headroom that earns its keep, on tokio's
//! paused clock.

use std::num::NonZeroU64;
use std::time::Duration;

use pacer_limit::{Cost, Dimension, Limiter, LimiterConfig, Limits, Reading, Verdict};
use tokio::time::Instant;

/// 600 requests a minute with the default pacing (headroom 0.98, a one-second burst).
fn limiter() -> Limiter {
    Limiter::new(LimiterConfig::new(Limits {
        rpm: NonZeroU64::new(600),
        ..Limits::default()
    }))
}

fn left(remaining: u64) -> [(Dimension, Reading); 1] {
    [(
        Dimension::Requests,
        Reading {
            limit: Some(600),
            remaining: Some(remaining),
            reset: None,
        },
    )]
}

#[tokio::test(start_paused = true)]
async fn a_429_whose_headers_show_room_is_retried_alone() {
    let limiter = limiter();
    let before = limiter.available(Dimension::Requests).unwrap();
    let permit = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    let verdict = limiter.rate_limited(&permit, Some(Duration::from_secs(1)), &left(300));
    assert_eq!(
        verdict,
        Verdict::Hiccup {
            wait: Duration::from_secs(1)
        }
    );
    // No pause, no cool-down, and the refused request's unit is back.
    assert_eq!(limiter.cooldowns(), 0);
    assert_eq!(limiter.paused_until(), None);
    let after = limiter.available(Dimension::Requests).unwrap();
    assert!((after - before).abs() < 1e-6, "{before} then {after}");
    assert_eq!(limiter.headroom(), 0.98);
}

#[tokio::test(start_paused = true)]
async fn a_429_showing_a_limit_used_up_pauses_once_for_what_the_server_says() {
    let limiter = limiter();
    let a = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    let b = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    // No retry-after: one request's worth at 10 a second is 100 ms.
    let verdict = limiter.rate_limited(&a, None, &left(0));
    assert_eq!(
        verdict,
        Verdict::Paused {
            pause: Duration::from_millis(100)
        }
    );
    // The other request sent alongside is part of the same event.
    assert_eq!(limiter.rate_limited(&b, None, &left(0)), Verdict::Joined);
    assert_eq!(limiter.cooldowns(), 1);
    // The margin doubles after a limit was used up.
    assert!((limiter.headroom() - 0.96).abs() < 1e-9);
    // The headers explained it: the lane goes on at the full rate from an empty bucket, no
    // slow start. 9.6 a second: 10 requests take about a second after the pause.
    let start = Instant::now();
    for _ in 0..10 {
        limiter.acquire(Cost::request(0, 0)).await.unwrap();
    }
    let took = start.elapsed().as_secs_f64();
    assert!((1.1..1.25).contains(&took), "{took:.3} s");
}

#[tokio::test(start_paused = true)]
async fn refusals_one_after_another_still_back_off() {
    let limiter = limiter();
    let mut pauses = Vec::new();
    for _ in 0..3 {
        let permit = limiter.acquire(Cost::request(0, 0)).await.unwrap();
        match limiter.rate_limited(&permit, Some(Duration::from_secs(1)), &left(0)) {
            Verdict::Paused { pause } => pauses.push(pause.as_secs()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(pauses, [1, 2, 4]);
    limiter.succeeded();
    let permit = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    assert_eq!(
        limiter.rate_limited(&permit, Some(Duration::from_secs(1)), &left(0)),
        Verdict::Paused {
            pause: Duration::from_secs(1)
        }
    );
}

#[tokio::test(start_paused = true)]
async fn without_headers_a_429_alone_among_successes_is_a_hiccup() {
    let limiter = limiter();
    for _ in 0..8 {
        limiter.acquire(Cost::request(0, 0)).await.unwrap();
        limiter.succeeded();
    }
    let permit = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    assert_eq!(
        limiter.rate_limited(&permit, None, &[]),
        Verdict::Hiccup {
            wait: Duration::from_secs(1)
        }
    );
    // A second one soon after is not alone: the lane pauses (5 s without retry-after) and
    // ramps back up, since nothing said how much is left.
    let permit = limiter.acquire(Cost::request(0, 0)).await.unwrap();
    assert_eq!(
        limiter.rate_limited(&permit, None, &[]),
        Verdict::Paused {
            pause: Duration::from_secs(5)
        }
    );
    // Nothing said a limit was used up: the headroom stays.
    assert_eq!(limiter.headroom(), 0.98);
}

#[tokio::test(start_paused = true)]
async fn the_headroom_narrows_while_no_429_comes() {
    let limiter = limiter();
    let mut seen = Vec::new();
    for _ in 0..1_000 {
        limiter.succeeded();
        seen.push(limiter.headroom());
    }
    // A quarter of the margin goes every 100 successes: 0.02, 0.015, 0.01125, ...
    assert!((seen[99] - 0.985).abs() < 1e-9, "{}", seen[99]);
    assert!((seen[199] - 0.98875).abs() < 1e-9, "{}", seen[199]);
    // ... down to the narrowest, 0.995.
    assert_eq!(*seen.last().unwrap(), 0.995);
}
