//! Pacing to what a server says, on tokio's paused clock: a simulated server with a token
//! bucket of a given window answers every request with `remaining` and `reset`, as OpenAI's
//! and Anthropic's do, and refuses with 429 when its bucket is empty. The limiter must spend
//! what the server allows without a 429, whatever the window, and follow it when the limit
//! drops or another client spends from the same key.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pacer_limit::{Cost, Dimension, Limiter, LimiterConfig, Limits, Reading, Verdict};
use tokio::time::Instant;

/// A server's request bucket: `limit` per minute, holding `window` worth, full at the start.
struct Server {
    limit: u64,
    capacity: f64,
    level: f64,
    last: Instant,
    /// Pacer's requests it refused.
    refused: u32,
    /// When it last refused anyone.
    last_refusal: Option<Instant>,
}

impl Server {
    fn new(limit: u64, window: Duration) -> Arc<Mutex<Self>> {
        let capacity = limit as f64 * window.as_secs_f64() / 60.0;
        Arc::new(Mutex::new(Self {
            limit,
            capacity,
            level: capacity,
            last: Instant::now(),
            refused: 0,
            last_refusal: None,
        }))
    }

    fn rate(&self) -> f64 {
        self.limit as f64 / 60.0
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let seconds = now.duration_since(self.last).as_secs_f64();
        self.level = (self.level + seconds * self.rate()).min(self.capacity);
        self.last = now;
    }

    /// Lowers (or raises) the limit; the bucket keeps its window.
    fn set_limit(&mut self, limit: u64) {
        self.refill();
        let window = self.capacity / self.rate();
        self.limit = limit;
        self.capacity = limit as f64 * window / 60.0;
        self.level = self.level.min(self.capacity);
    }

    /// Takes one request now, or refuses it; either way says what remains.
    fn admit(&mut self) -> (bool, Reading, Duration) {
        self.refill();
        let admitted = self.level >= 1.0;
        if admitted {
            self.level -= 1.0;
        } else {
            self.last_refusal = Some(Instant::now());
        }
        let reading = Reading {
            limit: Some(self.limit),
            remaining: Some(self.level.max(0.0).floor() as u64),
            reset: Some(Duration::from_secs_f64(
                (self.capacity - self.level) / self.rate(),
            )),
        };
        let retry_after = Duration::from_secs_f64(((1.0 - self.level) / self.rate()).max(0.0));
        (admitted, reading, retry_after)
    }
}

/// Sends `n` requests through `limiter` to `server`, each answered after `latency`, retrying
/// refusals as the limiter's verdict says. Returns when the last is done.
async fn drive(limiter: &Arc<Limiter>, server: &Arc<Mutex<Server>>, n: usize, latency: Duration) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (limiter, server) = (limiter.clone(), server.clone());
            tokio::spawn(async move {
                loop {
                    let permit = limiter.acquire(Cost::request(0, 0)).await.unwrap();
                    let (admitted, reading, retry_after) = {
                        let mut server = server.lock().unwrap();
                        let answer = server.admit();
                        server.refused += u32::from(!answer.0);
                        answer
                    };
                    tokio::time::sleep(latency).await;
                    let readings = [(Dimension::Requests, reading)];
                    limiter.learn(&permit, &readings, true);
                    if admitted {
                        limiter.succeeded();
                        return;
                    }
                    let verdict = limiter.rate_limited(&permit, Some(retry_after), &readings);
                    if let Verdict::Hiccup { wait } = verdict {
                        tokio::time::sleep(wait).await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

fn configured(rpm: u64) -> Arc<Limiter> {
    Arc::new(Limiter::new(LimiterConfig::new(Limits {
        rpm: std::num::NonZeroU64::new(rpm),
        ..Limits::default()
    })))
}

/// The time the server allows for `n` requests: its bucket at once, the rest at its rate,
/// plus one reply's latency.
fn ideal(n: usize, rpm: u64, window: Duration, latency: Duration) -> f64 {
    let capacity = rpm as f64 * window.as_secs_f64() / 60.0;
    (n as f64 - capacity).max(0.0) / (rpm as f64 / 60.0) + latency.as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn every_window_is_spent_as_the_server_allows_without_a_429() {
    let latency = Duration::from_millis(300);
    for seconds in [1, 2, 10, 60] {
        let window = Duration::from_secs(seconds);
        let server = Server::new(600, window);
        let limiter = configured(600);
        // A bucket's worth plus a minute at the rate.
        let n = 600 + 10 * seconds as usize;
        let start = Instant::now();
        drive(&limiter, &server, n, latency).await;
        let actual = start.elapsed().as_secs_f64();
        let eff = ideal(n, 600, window, latency) / actual;
        assert_eq!(server.lock().unwrap().refused, 0, "{seconds} s window");
        assert!(
            eff >= 0.97,
            "{seconds} s window: efficiency {eff:.3} ({actual:.1} s)"
        );
        assert!(
            eff <= 1.0 + 1e-6,
            "{seconds} s window: faster than allowed ({actual:.1} s)"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn slow_replies_do_not_make_the_server_look_spent() {
    // 4 s replies: by the time one comes back, 80 more went out and the server refilled 80.
    // Its `remaining` is old news; taken as now, it would stall the lane for seconds.
    let latency = Duration::from_secs(4);
    let window = Duration::from_secs(2);
    let server = Server::new(1200, window);
    let limiter = configured(1200);
    let start = Instant::now();
    drive(&limiter, &server, 600, latency).await;
    let actual = start.elapsed().as_secs_f64();
    let eff = ideal(600, 1200, window, latency) / actual;
    assert_eq!(server.lock().unwrap().refused, 0);
    assert!(eff >= 0.97, "efficiency {eff:.3} ({actual:.1} s)");
}

#[tokio::test(start_paused = true)]
async fn a_limit_lowered_mid_run_is_followed() {
    let latency = Duration::from_millis(300);
    let server = Server::new(1200, Duration::from_secs(2));
    let limiter = configured(1200);
    let lower = {
        let server = server.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            server.lock().unwrap().set_limit(600);
        })
    };
    let start = Instant::now();
    drive(&limiter, &server, 400, latency).await;
    lower.await.unwrap();
    assert_eq!(limiter.limits().rpm.map(|l| l.get()), Some(600));
    // 40 at once and 200 more in the first 10 s, the other 160 at 10 a second: 26.3 s.
    let actual = start.elapsed().as_secs_f64();
    assert!((26.3..27.2).contains(&actual), "{actual:.1} s");
    // What was in flight when the limit dropped may be refused, once.
    let refused = server.lock().unwrap().refused;
    assert!(refused <= 2, "{refused} refused");
}

#[tokio::test(start_paused = true)]
async fn a_second_client_on_the_key_leaves_pacer_what_is_left() {
    let latency = Duration::from_millis(300);
    let server = Server::new(1200, Duration::from_secs(2));
    let limiter = configured(1200);
    // The other client spends 10 a second, half the limit, for 40 s.
    let other = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut refused = 0;
            for _ in 0..400 {
                tick.tick().await;
                refused += u32::from(!server.lock().unwrap().admit().0);
            }
            refused
        })
    };
    let start = Instant::now();
    drive(&limiter, &server, 300, latency).await;
    let actual = start.elapsed().as_secs_f64();
    let others_refused = other.await.unwrap();
    // 300 at the 10 a second left over (less the shared 40-request burst) is about 28 s.
    assert!((24.0..34.0).contains(&actual), "{actual:.1} s");
    // Until the others' spending is measured (three comparisons of replies a quarter of a
    // second apart), the bucket runs dry now and then, for Pacer or for the other client;
    // once it is, never.
    let server = server.lock().unwrap();
    let last = server
        .last_refusal
        .map_or(0.0, |t| (t - start).as_secs_f64());
    assert!(last < 4.0, "a refusal at {last:.1} s");
    let refused = server.refused + others_refused;
    assert!(
        refused <= 20,
        "{} of Pacer's and {others_refused} of the other's refused",
        server.refused
    );
}
