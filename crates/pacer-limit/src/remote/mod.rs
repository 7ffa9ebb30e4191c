//! The shared limiter's side in Redis: one hash per model (provider, base URL and model,
//! never the API key) holding every bucket's `tat`, the limits in force, the cool-down and
//! what the server said, changed only by four Lua scripts that Redis runs atomically, on its
//! own clock. Any number of processes on any hosts that book through the same key share one
//! budget, with the in-process limiter's semantics: reservations booked when their turn is
//! near, settled to the actual usage, a burst, the headroom, one cool-down per event of
//! 429s with slow start, and limits learned from headers written once for everyone.

mod server;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{Cost, Dimension, LimiterConfig};

pub use server::TestServer;

/// How long the key of a model nobody books through any more stays in Redis.
const KEY_TTL: Duration = Duration::from_secs(15 * 60);

/// A connection to one Redis server, reconnecting on its own. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
    shown: String,
    url: String,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("url", &self.shown).finish()
    }
}

/// Redis could not be reached or refused a command; the message names the server (without
/// its password) and says what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Redis at {server}: {message}")]
pub struct RedisError {
    /// The server, as `redis://host:port/db`.
    pub server: String,
    /// What went wrong.
    pub message: String,
}

impl Redis {
    /// A connection to `url` (`redis://[:password@]host[:port][/db]`),
    /// made on first use: a server that is down now is waited for by whoever uses it.
    pub fn open(url: &str) -> Result<Self, RedisError> {
        let shown = shown_url(url);
        let url = url.to_string();
        let fail = |e: redis::RedisError| RedisError {
            server: shown.clone(),
            message: e.to_string(),
        };
        let client = redis::Client::open(url.as_str()).map_err(fail)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(fail)?;
        Ok(Self {
            connection,
            shown,
            url,
        })
    }

    /// A connection of its own to the same server, for blocking reads (`XREAD ... BLOCK`),
    /// which would hold up every other command on the shared one.
    pub fn another(&self) -> Result<Self, RedisError> {
        Self::open(&self.url)
    }

    /// The connection, to run commands on (clones share it).
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// The server as shown in messages: no password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `error` as a [`RedisError`] naming this server.
    pub fn error(&self, error: &redis::RedisError) -> RedisError {
        RedisError {
            server: self.shown.clone(),
            message: describe(error),
        }
    }
}

/// What went wrong, in words a user can act on.
fn describe(error: &redis::RedisError) -> String {
    if error.is_connection_refusal() {
        "connection refused: is redis-server running there?".into()
    } else if error.is_timeout() {
        "no reply in time".into()
    } else if error.is_connection_dropped() || error.is_io_error() {
        format!("connection lost ({error})")
    } else {
        error.to_string()
    }
}

/// `url` without its password or user, for messages.
fn shown_url(url: &str) -> String {
    let Some(scheme) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme + 3..];
    // The authority ends where the path, query or fragment begins; its userinfo at its
    // last `@`.
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The Redis key of a model's limits: its provider's kind, base URL (no credentials, no
/// query) and model name. The API key is never part of it: two organisations' keys on the
/// same model share a budget only when they share a Redis server and a `prefix`.
pub fn limits_key(prefix: &str, kind: &str, base_url: &str, model: &str) -> String {
    let base = shown_url(base_url);
    let base = base.split(['?', '#']).next().unwrap_or_default();
    format!(
        "{prefix}:limits:{kind}:{}:{model}",
        base.trim_end_matches('/')
    )
}

/// Where a limiter keeps its buckets when it shares them: a Redis server and the model's key.
#[derive(Clone, Debug)]
pub struct SharedKey {
    /// The server.
    pub redis: Redis,
    /// The model's key (see [`limits_key`]).
    pub key: String,
}

/// A booking in the shared buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Booked {
    /// How long from now it may start.
    pub start_in: Duration,
    /// The key's cool-down count when it was booked.
    pub epoch: u64,
    /// Redis's clock when it was booked, in microseconds.
    pub at: i64,
    /// Units booked on the key up to and with it, per dimension.
    pub marks: [u64; 4],
}

/// What the acquire script answered.
pub(crate) enum Answer {
    Booked(Booked),
    /// Not its turn yet: look again in this long.
    NotYet(Duration),
    /// It could not start within its wait; it would have waited this long.
    TooLate(Duration),
}

fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{}\n{body}", include_str!("common.lua")))
}

static ACQUIRE: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| script(include_str!("acquire.lua")));
static SETTLE: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| script(include_str!("settle.lua")));
static COOL: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| script(include_str!("cool.lua")));
static LEARN: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| script(include_str!("learn.lua")));

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn ttl_ms() -> i64 {
    micros(KEY_TTL) / 1000
}

impl SharedKey {
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        args: &[f64],
    ) -> Result<T, RedisError> {
        let mut invocation = script.key(&self.key);
        for arg in args {
            invocation.arg(*arg);
        }
        let mut connection = self.redis.connection();
        invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.redis.error(&e))
    }

    /// Books `cost` if its turn is within `horizon`; with `max_wait`, refuses a request that
    /// could not start within it.
    pub(crate) async fn acquire(
        &self,
        config: &LimiterConfig,
        headroom: f64,
        cost: Cost,
        horizon: Duration,
        max_wait: Option<Duration>,
    ) -> Result<Answer, RedisError> {
        let mut args: Vec<f64> = Dimension::ALL.iter().map(|d| cost.of(*d) as f64).collect();
        args.extend(
            Dimension::ALL
                .iter()
                .map(|d| config.limits.get(*d).map_or(0.0, |l| l.get() as f64)),
        );
        args.extend([
            config.burst.as_secs_f64(),
            config.clock_skew.as_secs_f64(),
            headroom,
            micros(horizon) as f64,
            max_wait.map_or(-1.0, |w| micros(w) as f64),
            config.slow_start.as_secs_f64(),
            config.slow_start_floor.clamp(0.01, 1.0),
            ttl_ms() as f64,
        ]);
        let reply: Vec<i64> = self.run(&ACQUIRE, &args).await?;
        let after = |us: i64| Duration::from_micros(us.max(0) as u64);
        match reply.as_slice() {
            [0, start, epoch, at, r0, r1, r2, r3] => Ok(Answer::Booked(Booked {
                start_in: after(*start),
                epoch: *epoch as u64,
                at: *at,
                marks: [*r0, *r1, *r2, *r3].map(|r| r.max(0) as u64),
            })),
            [1, wait] => Ok(Answer::NotYet(after(*wait))),
            [2, wait] => Ok(Answer::TooLate(after(*wait))),
            other => Err(RedisError {
                server: self.redis.shown.clone(),
                message: format!("unexpected reply from the acquire script: {other:?}"),
            }),
        }
    }

    /// The key's cool-down count now.
    pub(crate) async fn epoch(&self) -> Result<u64, RedisError> {
        let mut connection = self.redis.connection();
        let epoch: Option<u64> = redis::cmd("HGET")
            .arg(&self.key)
            .arg("epoch")
            .query_async(&mut connection)
            .await
            .map_err(|e| self.redis.error(&e))?;
        Ok(epoch.unwrap_or(0))
    }

    /// Moves a booking of `epoch` by `delta` units per dimension.
    pub(crate) async fn settle(
        &self,
        epoch: u64,
        delta: [i64; 4],
        headroom: f64,
    ) -> Result<(), RedisError> {
        let mut args = vec![epoch as f64];
        args.extend(delta.map(|d| d as f64));
        args.extend([headroom, ttl_ms() as f64]);
        self.run::<i64>(&SETTLE, &args).await.map(drop)
    }

    /// Begins a cool-down of `pause` for everyone, unless one began since `epoch`.
    pub(crate) async fn cool(
        &self,
        config: &LimiterConfig,
        headroom: f64,
        epoch: u64,
        pause: Duration,
        resume_full: bool,
    ) -> Result<(), RedisError> {
        let args = [
            epoch as f64,
            micros(pause) as f64,
            f64::from(u8::from(resume_full)),
            config.burst.as_secs_f64(),
            config.clock_skew.as_secs_f64(),
            headroom,
            ttl_ms() as f64,
        ];
        self.run::<Vec<i64>>(&COOL, &args).await.map(drop)
    }

    /// Tells everyone what a reply said: `readings` as (limit, remaining) per dimension,
    /// for a request booked at `at` with `marks`.
    pub(crate) async fn learn(
        &self,
        config: &LimiterConfig,
        headroom: f64,
        readings: [(Option<u64>, Option<u64>); 4],
        marks: [u64; 4],
        at: i64,
    ) -> Result<(), RedisError> {
        let mut args: Vec<f64> = readings
            .iter()
            .map(|(l, _)| l.map_or(0.0, |l| l as f64))
            .collect();
        args.extend(readings.iter().map(|(_, r)| r.map_or(-1.0, |r| r as f64)));
        args.extend(marks.map(|m| m as f64));
        args.extend([
            at as f64,
            config.burst.as_secs_f64(),
            config.clock_skew.as_secs_f64(),
            headroom,
            ttl_ms() as f64,
        ]);
        self.run::<i64>(&LEARN, &args).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_messages_never_hold_credentials() {
        assert_eq!(
            shown_url("redis://:hunter2@cache.internal:6380/2"),
            "redis://cache.internal:6380/2"
        );
        assert_eq!(
            limits_key(
                "pacer",
                "openai",
                "https://user:pw@api.example.com/v1/?key=sk-1",
                "gpt-4o-mini"
            ),
            "pacer:limits:openai:https://api.example.com/v1:gpt-4o-mini"
        );
        // An `@` in the path is no userinfo.
        assert_eq!(
            shown_url("https://example.com/v1/@team/x"),
            "https://example.com/v1/@team/x"
        );
    }
}
