//! Rate limits enforced the way providers do: one token bucket per dimension (requests,
//! tokens), each holding `limit × window / 60` units and refilling continuously at
//! `limit / 60` per second, plus an optional total token quota.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::MockServerConfig;

/// A limited dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dimension {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
}

impl Dimension {
    /// The name OpenAI uses in headers and error types.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Dimension::Requests => "requests",
            Dimension::Tokens => "tokens",
        }
    }
}

/// What one bucket looked like after a decision, for the `x-ratelimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reading {
    /// The per-minute limit.
    pub(crate) limit: u64,
    /// Whole units left in the bucket.
    pub(crate) remaining: u64,
    /// Time until the bucket is full again.
    pub(crate) reset: Duration,
}

/// Both dimensions' readings; `None` where a dimension is not limited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Readings {
    /// The request bucket.
    pub(crate) requests: Option<Reading>,
    /// The token bucket.
    pub(crate) tokens: Option<Reading>,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Refusal {
    /// A bucket holds too little.
    Limited {
        /// The dimension the client must wait on longest.
        dimension: Dimension,
        /// Its per-minute limit.
        limit: u64,
        /// Its use, scaled to the per-minute limit.
        used: u64,
        /// What the request costs in it.
        requested: u64,
        /// Time until every bucket holds enough.
        retry_after: Duration,
    },
    /// The token quota is spent.
    Quota,
}

#[derive(Debug)]
struct Bucket {
    limit: u64,
    capacity: f64,
    /// Units per second.
    rate: f64,
    level: f64,
}

impl Bucket {
    fn new(limit: u64, window: Duration) -> Self {
        let capacity = limit as f64 * window.as_secs_f64() / 60.0;
        Self {
            limit,
            capacity,
            rate: limit as f64 / 60.0,
            level: capacity,
        }
    }

    fn refill(&mut self, seconds: f64) {
        self.level = (self.level + self.rate * seconds).min(self.capacity);
    }

    /// Full buckets admit anything, so a request bigger than the bucket passes once.
    fn admits(&self, cost: f64) -> bool {
        self.level >= cost || self.level >= self.capacity
    }

    /// Time until the bucket admits `cost`.
    fn wait_for(&self, cost: f64) -> Duration {
        let needed = cost.min(self.capacity) - self.level;
        Duration::from_secs_f64((needed / self.rate).max(0.0))
    }

    fn reading(&self) -> Reading {
        Reading {
            limit: self.limit,
            remaining: self.level.max(0.0).floor() as u64,
            reset: Duration::from_secs_f64(((self.capacity - self.level) / self.rate).max(0.0)),
        }
    }

    fn used(&self) -> u64 {
        let share = 1.0 - self.level / self.capacity.max(f64::MIN_POSITIVE);
        (self.limit as f64 * share).round().max(0.0) as u64
    }
}

/// One model's buckets: providers limit each model on its own.
#[derive(Debug)]
struct Buckets {
    last: Instant,
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

#[derive(Debug)]
struct State {
    models: HashMap<String, Buckets>,
    /// Tokens charged on the whole account, for the quota.
    charged: u64,
}

/// The server's limits, behind one mutex; free when nothing is limited.
#[derive(Debug)]
pub(crate) struct Limiter {
    state: Option<Mutex<State>>,
    quota: Option<u64>,
    rpm: Option<u64>,
    tpm: Option<u64>,
    window: Duration,
}

impl Limiter {
    /// The limits `config` sets, for every model apart; each model's buckets start full.
    pub(crate) fn new(config: &MockServerConfig) -> Self {
        let limited = config.rpm.is_some() || config.tpm.is_some() || config.quota_tokens.is_some();
        Self {
            state: limited.then(|| {
                Mutex::new(State {
                    models: HashMap::new(),
                    charged: 0,
                })
            }),
            quota: config.quota_tokens,
            rpm: config.rpm,
            tpm: config.tpm,
            window: config.window,
        }
    }

    /// Admits a request costing one request and `tokens` tokens at `now`, charging every
    /// bucket, or says why not. Either way, returns the buckets' readings.
    pub(crate) fn admit(
        &self,
        now: Instant,
        model: &str,
        tokens: u64,
    ) -> (Result<(), Refusal>, Readings) {
        let Some(state) = &self.state else {
            return (Ok(()), Readings::default());
        };
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let State { models, charged } = &mut *state;
        if !models.contains_key(model) {
            let buckets = Buckets {
                last: now,
                requests: self.rpm.map(|l| Bucket::new(l, self.window)),
                tokens: self.tpm.map(|l| Bucket::new(l, self.window)),
            };
            models.insert(model.to_owned(), buckets);
        }
        let state = models.get_mut(model).expect("inserted above");
        let elapsed = now.saturating_duration_since(state.last).as_secs_f64();
        state.last = state.last.max(now);
        let costs = [1.0, tokens as f64];
        let verdict = {
            let Buckets {
                requests,
                tokens: token_bucket,
                ..
            } = &mut *state;
            let buckets = [
                (Dimension::Requests, requests.as_mut()),
                (Dimension::Tokens, token_bucket.as_mut()),
            ];
            let mut refusal: Option<Refusal> = None;
            let mut all_admit = true;
            for ((dimension, bucket), cost) in buckets.into_iter().zip(costs) {
                let Some(bucket) = bucket else { continue };
                bucket.refill(elapsed);
                if bucket.admits(cost) {
                    continue;
                }
                all_admit = false;
                let wait = bucket.wait_for(cost);
                let longer = match refusal {
                    Some(Refusal::Limited { retry_after, .. }) => wait > retry_after,
                    _ => true,
                };
                if longer {
                    refusal = Some(Refusal::Limited {
                        dimension,
                        limit: bucket.limit,
                        used: bucket.used(),
                        requested: cost as u64,
                        retry_after: wait,
                    });
                }
            }
            if self.quota.is_some_and(|q| *charged >= q) {
                Err(Refusal::Quota)
            } else if all_admit {
                for (bucket, cost) in [requests.as_mut(), token_bucket.as_mut()]
                    .into_iter()
                    .zip(costs)
                {
                    if let Some(bucket) = bucket {
                        bucket.level -= cost;
                    }
                }
                *charged = charged.saturating_add(tokens);
                Ok(())
            } else {
                Err(refusal.unwrap_or(Refusal::Quota))
            }
        };
        let readings = Readings {
            requests: state.requests.as_ref().map(Bucket::reading),
            tokens: state.tokens.as_ref().map(Bucket::reading),
        };
        (verdict, readings)
    }
}

/// `d` rounded up to whole milliseconds.
pub(crate) fn ceil_millis(d: Duration) -> u64 {
    let nanos = d.as_nanos();
    nanos.div_ceil(1_000_000).try_into().unwrap_or(u64::MAX)
}

/// `d`, rounded up to milliseconds, as Go prints durations and OpenAI sends its reset
/// headers: `0s`, `20ms`, `1.5s`, `1m2s`, `1h0m0s`.
pub(crate) fn go_duration(d: Duration) -> String {
    let ms = ceil_millis(d);
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let mut out = String::with_capacity(12);
    let hours = ms / 3_600_000;
    let minutes = ms / 60_000 % 60;
    let seconds = ms / 1000 % 60;
    let fraction = ms % 1000;
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let _ = write!(out, "{seconds}");
    if fraction > 0 {
        let digits = format!("{fraction:03}");
        let _ = write!(out, ".{}", digits.trim_end_matches('0'));
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(1)), "1ms");
        assert_eq!(go_duration(ms(20)), "20ms");
        assert_eq!(go_duration(ms(999)), "999ms");
        assert_eq!(go_duration(ms(1000)), "1s");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(1020)), "1.02s");
        assert_eq!(go_duration(ms(60_000)), "1m0s");
        assert_eq!(go_duration(ms(62_000)), "1m2s");
        assert_eq!(go_duration(ms(90_250)), "1m30.25s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(go_duration(ms(3_723_000)), "1h2m3s");
    }

    fn config(rpm: Option<u64>, tpm: Option<u64>) -> MockServerConfig {
        MockServerConfig {
            rpm,
            tpm,
            window: Duration::from_secs(1),
            ..MockServerConfig::default()
        }
    }

    #[test]
    fn request_bucket_refuses_then_refills() {
        let t0 = Instant::now();
        // 120 rpm over 1 s: a bucket of 2, refilling 2 per second.
        let limiter = Limiter::new(&config(Some(120), None));
        let (ok, r) = limiter.admit(t0, "m", 10);
        assert_eq!(ok, Ok(()));
        assert_eq!(r.requests.unwrap().remaining, 1);
        assert_eq!(r.requests.unwrap().limit, 120);
        assert_eq!(r.requests.unwrap().reset, Duration::from_millis(500));
        assert!(r.tokens.is_none());
        assert_eq!(limiter.admit(t0, "m", 10).0, Ok(()));
        let (refused, r) = limiter.admit(t0, "m", 10);
        match refused {
            Err(Refusal::Limited {
                dimension,
                retry_after,
                used,
                requested,
                ..
            }) => {
                assert_eq!(dimension, Dimension::Requests);
                assert_eq!(ceil_millis(retry_after), 500);
                assert_eq!(used, 120);
                assert_eq!(requested, 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.requests.unwrap().remaining, 0);
        assert_eq!(
            limiter.admit(t0 + Duration::from_millis(500), "m", 10).0,
            Ok(())
        );
    }

    #[test]
    fn full_bucket_admits_a_big_request_once_leaving_debt() {
        let t0 = Instant::now();
        // 600 tpm over 1 s: a bucket of 10 tokens, refilling 10 per second.
        let limiter = Limiter::new(&config(None, Some(600)));
        assert_eq!(limiter.admit(t0, "m", 25).0, Ok(()));
        let (refused, r) = limiter.admit(t0 + Duration::from_secs(1), "m", 5);
        let Err(Refusal::Limited {
            dimension,
            retry_after,
            ..
        }) = refused
        else {
            panic!("{refused:?}")
        };
        assert_eq!(dimension, Dimension::Tokens);
        // Level -5 after 1 s; 5 needed: 1 s more.
        assert_eq!(ceil_millis(retry_after), 1000);
        assert_eq!(r.tokens.unwrap().remaining, 0);
        assert_eq!(go_duration(r.tokens.unwrap().reset), "1.5s");
    }

    #[test]
    fn quota_refuses_once_spent_without_charging() {
        let t0 = Instant::now();
        let limiter = Limiter::new(&MockServerConfig {
            quota_tokens: Some(100),
            ..MockServerConfig::default()
        });
        assert_eq!(limiter.admit(t0, "m", 60).0, Ok(()));
        assert_eq!(limiter.admit(t0, "m", 60).0, Ok(()));
        assert_eq!(limiter.admit(t0, "m", 1).0, Err(Refusal::Quota));
        assert_eq!(limiter.admit(t0, "m", 1).1, Readings::default());
    }

    #[test]
    fn unlimited_is_free() {
        let t0 = Instant::now();
        let limiter = Limiter::new(&MockServerConfig::default());
        assert!(limiter.state.is_none());
        assert_eq!(
            limiter.admit(t0, "m", 1_000_000),
            (Ok(()), Readings::default())
        );
    }
}

#[cfg(test)]
mod per_model {
    use super::*;

    #[test]
    fn each_model_has_its_own_buckets() {
        let t0 = Instant::now();
        let config = MockServerConfig {
            rpm: Some(60),
            window: Duration::from_secs(1),
            ..MockServerConfig::default()
        };
        // A bucket of one request per model.
        let limiter = Limiter::new(&config);
        assert_eq!(limiter.admit(t0, "a", 1).0, Ok(()));
        assert!(limiter.admit(t0, "a", 1).0.is_err());
        assert_eq!(limiter.admit(t0, "b", 1).0, Ok(()));
    }
}
