//! Limiters sharing one key in a real `redis-server` (skipped without one, unless
//! `PACER_REQUIRE_REDIS` is set): one budget, one cool-down, limits learned once, failing
//! closed while Redis is away. Redis keeps time, so these run on the real clock and assert
//! only what no scheduling delay can change.

use std::num::NonZeroU64;
use std::time::Duration;

use pacer_limit::remote::{Redis, SharedKey, TestServer, limits_key};
use pacer_limit::{Cost, Dimension, Limiter, LimiterConfig, Limits, Reading, Verdict};

fn key(server: &TestServer, model: &str) -> SharedKey {
    SharedKey {
        redis: Redis::open(&server.url()).unwrap(),
        key: limits_key("test", "mock", "http://127.0.0.1:1/v1", model),
    }
}

fn per_minute(rpm: u64) -> LimiterConfig {
    LimiterConfig::new(Limits {
        rpm: NonZeroU64::new(rpm),
        ..Limits::default()
    })
}

async fn hash(server: &TestServer, key: &SharedKey) -> std::collections::HashMap<String, String> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("HGETALL")
        .arg(&key.key)
        .query_async(&mut connection)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_limiters_on_one_key_share_one_budget() {
    let Some(server) = TestServer::for_test() else {
        return;
    };
    // 60 a minute, a burst of one: whoever books first takes the only slot of this second.
    let a = Limiter::shared(per_minute(60), key(&server, "m"));
    let b = Limiter::shared(per_minute(60), key(&server, "m"));
    let first = a
        .acquire_within(Cost::request(0, 0), Duration::from_millis(300))
        .await;
    assert!(matches!(first, Ok(Ok(_))), "{first:?}");
    match b
        .acquire_within(Cost::request(0, 0), Duration::from_millis(200))
        .await
    {
        Ok(Err(wait)) => assert!(wait > Duration::from_millis(500), "{wait:?}"),
        other => panic!("the second limiter took a slot the first had: {other:?}"),
    }
    // Another model's key is a budget of its own.
    let c = Limiter::shared(per_minute(60), key(&server, "other"));
    let other = c
        .acquire_within(Cost::request(0, 0), Duration::from_millis(300))
        .await;
    assert!(matches!(other, Ok(Ok(_))), "{other:?}");
    // Waiting is no refusal: b gets its slot a second after a's.
    let started = std::time::Instant::now();
    b.acquire(Cost::request(0, 0)).await.unwrap();
    assert!(started.elapsed() > Duration::from_millis(400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_used_up_pauses_every_process_once() {
    let Some(server) = TestServer::for_test() else {
        return;
    };
    let shared = key(&server, "m");
    let a = Limiter::shared(per_minute(6000), shared.clone());
    let b = Limiter::shared(per_minute(6000), shared.clone());
    let sent_a = a.acquire(Cost::request(0, 0)).await.unwrap();
    let sent_b = b.acquire(Cost::request(0, 0)).await.unwrap();
    let exhausted = [(
        Dimension::Requests,
        Reading {
            limit: Some(6000),
            remaining: Some(0),
            reset: None,
        },
    )];
    let verdict = a.rate_limited(&sent_a, Some(Duration::from_secs(3)), &exhausted);
    assert_eq!(
        verdict,
        Verdict::Paused {
            pause: Duration::from_secs(3)
        }
    );
    // The pause reaches Redis in the background.
    wait_for(|| async { hash(&server, &shared).await.contains_key("paused") }).await;
    // b's next request waits for the pause a began, though b itself saw no 429 yet...
    match b
        .acquire_within(Cost::request(0, 0), Duration::from_millis(500))
        .await
    {
        Ok(Err(wait)) => assert!(wait > Duration::from_secs(1), "{wait:?}"),
        other => panic!("b sent during a's pause: {other:?}"),
    }
    // ...and b's own refusal of the same event joins it rather than pausing again.
    b.rate_limited(&sent_b, Some(Duration::from_secs(3)), &exhausted);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hash(&server, &shared).await["epoch"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_learned_by_one_pace_the_others() {
    let Some(server) = TestServer::for_test() else {
        return;
    };
    let shared = key(&server, "m");
    // Neither was told a limit; the first reply says 60 a minute.
    let a = Limiter::shared(LimiterConfig::default(), shared.clone());
    let b = Limiter::shared(LimiterConfig::default(), shared.clone());
    let sent = a.acquire(Cost::request(10, 10)).await.unwrap();
    let said = [(
        Dimension::Requests,
        Reading {
            limit: Some(60),
            remaining: None,
            reset: None,
        },
    )];
    a.learn(&sent, &said, true);
    wait_for(|| async { hash(&server, &shared).await.contains_key("pm0") }).await;
    assert_eq!(hash(&server, &shared).await["learned0"], "1");
    let first = b
        .acquire_within(Cost::request(0, 0), Duration::from_millis(300))
        .await;
    assert!(matches!(first, Ok(Ok(_))), "{first:?}");
    let second = b
        .acquire_within(Cost::request(0, 0), Duration::from_millis(300))
        .await;
    assert!(
        matches!(second, Ok(Err(wait)) if wait > Duration::from_millis(500)),
        "{second:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_admitted_while_redis_is_away_and_all_goes_on_after() {
    let Some(mut server) = TestServer::for_test() else {
        return;
    };
    let limiter = Limiter::shared(per_minute(600), key(&server, "m"));
    limiter.acquire(Cost::request(0, 0)).await.unwrap();
    server.stop();
    let held = limiter
        .acquire_within(Cost::request(0, 0), Duration::from_secs(2))
        .await;
    assert!(
        matches!(held, Ok(Err(_))),
        "admitted without Redis: {held:?}"
    );
    let waiting =
        tokio::spawn(async move { limiter.acquire(Cost::request(0, 0)).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished());
    server.restart().unwrap();
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("admitted once Redis is back")
        .unwrap()
        .unwrap();
}

async fn wait_for<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("Redis never showed the change");
}
