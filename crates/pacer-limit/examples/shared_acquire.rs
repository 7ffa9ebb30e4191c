//! What the shared limiter costs: the latency one acquire adds (one script run in Redis, no
//! waiting: the limits are far above the load) and the acquires per second one Redis
//! sustains from many tasks in several limiters, beside the in-process limiter's.
//!
//! ```text
//! redis-server --port 6399 --save '' &
//! cargo run --release -p pacer-limit --example shared_acquire -- redis://127.0.0.1:6399/
//! ```
//!
//! Without an argument it starts its own `redis-server` on a free port.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pacer_limit::remote::{Redis, SharedKey, TestServer, limits_key};
use pacer_limit::{Cost, Limiter, LimiterConfig, Limits};

fn config() -> LimiterConfig {
    // Far above the load: nothing waits, so what is measured is the booking itself.
    LimiterConfig::new(Limits {
        rpm: NonZeroU64::new(1_000_000_000),
        tpm: NonZeroU64::new(1_000_000_000_000),
        ..Limits::default()
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn latency(limiter: &Limiter, n: usize) -> (Duration, Duration) {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let permit = limiter.acquire(Cost::request(100, 200)).await.unwrap();
        took.push(start.elapsed());
        limiter.settle(&permit, Cost::request(100, 50));
    }
    took.sort();
    (percentile(&took, 0.5), percentile(&took, 0.99))
}

async fn throughput(limiters: &[Arc<Limiter>], tasks: usize, for_how_long: Duration) -> f64 {
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let limiter = limiters[t % limiters.len()].clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < for_how_long {
                limiter.acquire(Cost::request(100, 200)).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let own;
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            own = TestServer::start().expect("redis-server");
            own.url()
        }
    };
    let redis = Redis::open(&url).unwrap();
    let key = |n: usize| SharedKey {
        redis: redis.clone(),
        key: limits_key("bench", "openai", "http://127.0.0.1/v1", &format!("m{n}")),
    };
    let local = Limiter::new(config());
    let shared = Limiter::shared(config(), key(0));
    latency(&shared, 200).await; // warm up: the script is loaded once
    let (p50, p99) = latency(&local, 20_000).await;
    println!(
        "in-process acquire:  p50 {:>8.1} µs  p99 {:>8.1} µs",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    let (p50, p99) = latency(&shared, 5_000).await;
    println!(
        "shared acquire:      p50 {:>8.1} µs  p99 {:>8.1} µs  (one script run on loopback)",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    for (processes, tasks) in [(1, 64), (4, 256)] {
        // Each limiter stands for a process: its own line, one connection to Redis.
        let limiters: Vec<Arc<Limiter>> = (0..processes)
            .map(|_| {
                Arc::new(Limiter::shared(
                    config(),
                    SharedKey {
                        redis: redis.another().unwrap(),
                        key: key(1).key,
                    },
                ))
            })
            .collect();
        let rate = throughput(&limiters, tasks, Duration::from_secs(5)).await;
        println!(
            "shared, {processes} limiter(s) × {} tasks on one key: {rate:>8.0} acquires/s",
            tasks / processes
        );
    }
}
