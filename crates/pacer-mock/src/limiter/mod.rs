//! Rate limits enforced the way providers do: one token bucket per dimension (requests,
//! tokens, and Anthropic's input and output tokens), each holding `limit × window / 60` units
//! and refilling continuously at `limit / 60` per second, plus an optional total token quota.

mod bucket;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::MockServerConfig;
use bucket::Bucket;
pub(crate) use bucket::Reading;

/// A limited dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dimension {
    /// Requests per minute.
    Requests,
    /// Tokens per minute (prompt plus output).
    Tokens,
    /// Input tokens per minute (Anthropic).
    InputTokens,
    /// Output tokens per minute (Anthropic).
    OutputTokens,
}

/// Every dimension, in [`Readings`] order.
const DIMENSIONS: [Dimension; 4] = [
    Dimension::Requests,
    Dimension::Tokens,
    Dimension::InputTokens,
    Dimension::OutputTokens,
];

impl Dimension {
    /// The name OpenAI uses in headers and error types.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Dimension::Requests => "requests",
            Dimension::Tokens => "tokens",
            Dimension::InputTokens => "input_tokens",
            Dimension::OutputTokens => "output_tokens",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What one request costs in each dimension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Tokens for the token limit and the quota: the prompt plus the output cap.
    pub(crate) tokens: u64,
    /// Input tokens, for the input-token limit; `None` where the protocol has none, so the
    /// request is neither checked nor charged there.
    pub(crate) input: Option<u64>,
    /// The output cap, for the output-token limit; `None` likewise.
    pub(crate) output: Option<u64>,
}

impl Cost {
    /// The units charged in each dimension, `None` where the request is not counted;
    /// `requests` is what it costs in the request dimension.
    fn units(&self, requests: f64) -> [Option<f64>; 4] {
        [
            Some(requests),
            Some(self.tokens as f64),
            self.input.map(|n| n as f64),
            self.output.map(|n| n as f64),
        ]
    }
}

/// Every dimension's reading; `None` where a dimension is not limited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Readings([Option<Reading>; 4]);

impl Readings {
    /// The reading of `dimension`.
    pub(crate) fn get(&self, dimension: Dimension) -> Option<Reading> {
        self.0[dimension.index()]
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Refusal {
    /// A bucket holds too little.
    Limited(Limited),
    /// The token quota is spent.
    Quota,
}

/// The bucket a refused request must wait on longest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Limited {
    /// Its dimension.
    pub(crate) dimension: Dimension,
    /// Its per-minute limit.
    pub(crate) limit: u64,
    /// Its use, scaled to the per-minute limit.
    pub(crate) used: u64,
    /// What the request costs in it.
    pub(crate) requested: u64,
    /// Time until every bucket holds enough.
    pub(crate) retry_after: Duration,
}

/// One model's buckets: providers limit each model on its own.
#[derive(Debug)]
struct Buckets {
    last: Instant,
    /// In [`DIMENSIONS`] order.
    buckets: [Option<Bucket>; 4],
}

impl Buckets {
    /// Refills every bucket up to `now`.
    fn advance(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        for bucket in self.buckets.iter_mut().flatten() {
            bucket.refill(elapsed);
        }
    }

    fn readings(&self) -> Readings {
        Readings(
            self.buckets
                .each_ref()
                .map(|b| b.as_ref().map(Bucket::reading)),
        )
    }
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
    /// Per-minute limits, in [`DIMENSIONS`] order.
    limits: [Option<u64>; 4],
    /// The window of each dimension's bucket, in [`DIMENSIONS`] order.
    windows: [Duration; 4],
}

impl Limiter {
    /// The limits `config` sets, for every model apart; each model's buckets start full.
    pub(crate) fn new(config: &MockServerConfig) -> Self {
        let limits = [config.rpm, config.tpm, config.itpm, config.otpm];
        let limited = limits.iter().any(Option::is_some) || config.quota_tokens.is_some();
        Self {
            state: limited.then(|| {
                Mutex::new(State {
                    models: HashMap::new(),
                    charged: 0,
                })
            }),
            quota: config.quota_tokens,
            limits,
            windows: DIMENSIONS.map(|d| match d {
                Dimension::Requests => config.window,
                Dimension::Tokens | Dimension::InputTokens | Dimension::OutputTokens => {
                    config.token_window.unwrap_or(config.window)
                }
            }),
        }
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, State>> {
        let state = self.state.as_ref()?;
        Some(state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// `model`'s buckets, created full on first use and refilled up to `now`.
    fn buckets<'a>(
        &self,
        models: &'a mut HashMap<String, Buckets>,
        model: &str,
        now: Instant,
    ) -> &'a mut Buckets {
        let buckets = models.entry(model.to_owned()).or_insert_with(|| Buckets {
            last: now,
            buckets: std::array::from_fn(|i| {
                self.limits[i].map(|limit| Bucket::new(limit, self.windows[i]))
            }),
        });
        buckets.advance(now);
        buckets
    }

    /// Admits a request costing one request and `cost` at `now`, charging every bucket it
    /// counts in, or says why not. Either way, returns the buckets' readings.
    pub(crate) fn admit(
        &self,
        now: Instant,
        model: &str,
        cost: &Cost,
    ) -> (Result<(), Refusal>, Readings) {
        let Some(mut state) = self.lock() else {
            return (Ok(()), Readings::default());
        };
        let State { models, charged } = &mut *state;
        let spent = self.quota.is_some_and(|q| *charged >= q);
        let model_buckets = self.buckets(models, model, now);
        let units = cost.units(1.0);
        let mut refusal: Option<Limited> = None;
        for (i, (bucket, cost)) in model_buckets.buckets.iter().zip(units).enumerate() {
            let (Some(bucket), Some(cost)) = (bucket, cost) else {
                continue;
            };
            if bucket.admits(cost) {
                continue;
            }
            let wait = bucket.wait_for(cost);
            if refusal.is_none_or(|r| wait > r.retry_after) {
                refusal = Some(Limited {
                    dimension: DIMENSIONS[i],
                    limit: bucket.limit,
                    used: bucket.used(),
                    requested: cost as u64,
                    retry_after: wait,
                });
            }
        }
        let verdict = if spent {
            Err(Refusal::Quota)
        } else if let Some(limited) = refusal {
            Err(Refusal::Limited(limited))
        } else {
            for (bucket, cost) in model_buckets.buckets.iter_mut().zip(units) {
                if let (Some(bucket), Some(cost)) = (bucket, cost) {
                    bucket.level -= cost;
                }
            }
            *charged = charged.saturating_add(cost.tokens);
            Ok(())
        };
        (verdict, model_buckets.readings())
    }

    /// Gives back `refund` of an admitted request's charge at `now` (output it did not use,
    /// as Anthropic and Google correct theirs), to the buckets and the quota; returns the
    /// readings after.
    pub(crate) fn refund(&self, now: Instant, model: &str, refund: &Cost) -> Readings {
        self.give_back(now, model, refund, 0.0)
    }

    /// Takes back the whole charge of a request admitted at `now` and then refused after
    /// all, the request itself included; returns the readings after.
    pub(crate) fn unadmit(&self, now: Instant, model: &str, cost: &Cost) -> Readings {
        self.give_back(now, model, cost, 1.0)
    }

    fn give_back(&self, now: Instant, model: &str, cost: &Cost, requests: f64) -> Readings {
        let Some(mut state) = self.lock() else {
            return Readings::default();
        };
        let State { models, charged } = &mut *state;
        *charged = charged.saturating_sub(cost.tokens);
        let model_buckets = self.buckets(models, model, now);
        for (bucket, units) in model_buckets.buckets.iter_mut().zip(cost.units(requests)) {
            if let (Some(bucket), Some(units)) = (bucket, units) {
                bucket.give_back(units);
            }
        }
        model_buckets.readings()
    }
}

#[cfg(test)]
impl From<[Option<Reading>; 4]> for Readings {
    fn from(readings: [Option<Reading>; 4]) -> Self {
        Readings(readings)
    }
}
