//! One run's work on several machines through Redis Streams: the coordinator (`pacer run
//! --redis`) reads the prompts, journals every result and puts the jobs its journal lacks on
//! one stream per model; workers (`pacer worker`) on any host take them through a consumer
//! group, run them through their own lanes (the shared limiter paces them all) and return
//! outcomes on the run's results stream.
//!
//! In Redis, under `pacer:run:<run id>:`:
//!
//! | key | what |
//! |---|---|
//! | `spec` | the run's models without secrets (JSON, opaque here: the command line writes and reads it) |
//! | `jobs:<lane>` | a stream of jobs (`key`, `job`), consumer group `workers` |
//! | `results` | a stream of outcomes (`key`, `job_id`, `outcome`) |
//!
//! and `pacer:runs`, a sorted set of the runs in progress by their last heartbeat. A job's
//! entry and its result are deleted once the result is in the journal; every key of the
//! run is deleted when it ends, and expires an hour after its last heartbeat otherwise.
//!
//! Exactly one record per job: a result whose job key has a record already (a slow worker's
//! late duplicate, or one returned again after a reclaim) is dropped; a job held by a worker
//! that dies is reclaimed by another after the idle timeout (`XAUTOCLAIM`), while a worker
//! that lives refreshes what it holds so nothing of its is taken from it.

pub(crate) mod coordinator;
mod remote_lane;
mod upkeep;
pub mod worker;

use std::time::{Duration, SystemTime};

use pacer_core::{ErrorKind, ProviderError, Request, Response, Tool, ToolChoice, Usage};
use serde::{Deserialize, Serialize};

pub use coordinator::Queue;
pub use pacer_limit::remote::{Redis, RedisError};
pub use worker::{Served, Worker, WorkerLane};

/// The consumer group of every job stream.
pub const GROUP: &str = "workers";
/// The sorted set of runs in progress, scored by their last heartbeat (Unix ms).
pub const RUNS: &str = "pacer:runs";
/// How often the coordinator says its run is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A run whose coordinator said nothing for this long is not joined by new workers.
pub const RUN_STALE: Duration = Duration::from_secs(30);
/// How long a run's keys outlive its coordinator's last heartbeat.
pub(crate) const RUN_TTL: Duration = Duration::from_secs(3600);

/// The keys of run `run_id`.
#[derive(Clone, Debug)]
pub struct RunKeys {
    prefix: String,
}

impl RunKeys {
    /// The keys of run `run_id`.
    pub fn new(run_id: &str) -> Self {
        Self {
            prefix: format!("pacer:run:{run_id}:"),
        }
    }

    /// The run's models (JSON).
    pub fn spec(&self) -> String {
        format!("{}spec", self.prefix)
    }

    /// Lane `lane`'s jobs.
    pub fn jobs(&self, lane: usize) -> String {
        format!("{}jobs:{lane}", self.prefix)
    }

    /// The results.
    pub fn results(&self) -> String {
        format!("{}results", self.prefix)
    }

    /// Set while the run is interrupted (its coordinator stopped, to be resumed): workers take
    /// no job more.
    pub fn stopped(&self) -> String {
        format!("{}stopped", self.prefix)
    }

    /// Set when the run has ended (for a minute), so its workers leave at once.
    pub fn ended(&self) -> String {
        format!("{}ended", self.prefix)
    }
}

/// A job on its stream: the request as the coordinator built it, whole (the tools its
/// params leave out of their serialized form travel beside it).
#[derive(Debug, Serialize, Deserialize)]
pub struct WireJob {
    /// The request.
    pub request: Request,
    /// Its tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Its tool choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// The output schema it carries (structured output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

impl WireJob {
    /// `request` for the stream.
    pub fn new(request: &Request) -> Self {
        Self {
            tools: request.params.tools.clone(),
            tool_choice: request.params.tool_choice.clone(),
            schema: request.params.schema.as_deref().cloned(),
            request: request.clone(),
        }
    }

    /// The request again, whole.
    pub fn into_request(self) -> Request {
        let mut request = self.request;
        request.params.tools = self.tools;
        request.params.tool_choice = self.tool_choice;
        request.params.schema = self.schema.map(std::sync::Arc::new);
        request
    }
}

/// How a job ended, on the results stream.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WireOutcome {
    /// The reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// Or the error that ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
    /// Requests sent.
    pub attempts: u32,
    /// Usage over every attempt.
    pub usage_all_attempts: Usage,
    /// From the first try to the end, in ms.
    pub elapsed_ms: f64,
    /// Of which waiting for capacity.
    pub queued_ms: f64,
    /// Of which out with the server.
    pub upstream_ms: f64,
    /// The successful attempt's time with the server, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// When it ended (Unix ms).
    pub finished_at_ms: u64,
    /// The worker that ran it.
    pub worker: String,
}

/// A final error, on the results stream.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireError {
    /// Its kind.
    pub kind: ErrorKind,
    /// The HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong.
    pub message: String,
    /// Tokens billed for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl WireOutcome {
    /// The result again.
    pub fn result(&mut self) -> Result<Response, ProviderError> {
        match (self.response.take(), self.error.take()) {
            (Some(response), _) => Ok(response),
            (None, Some(error)) => {
                let mut e = ProviderError::new(error.kind, error.message);
                e.status = error.status;
                e.usage = error.usage;
                Err(e)
            }
            (None, None) => Err(ProviderError::new(
                ErrorKind::InvalidResponse,
                "a worker returned an outcome with neither a reply nor an error",
            )),
        }
    }

    /// When it ended.
    pub fn finished_at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.finished_at_ms)
    }
}

/// The key of a job: its model's label, prompt id and samples (unique in a run, the same in
/// every session of it).
pub fn job_key(label: &str, prompt_id: &str, samples: &[u32]) -> String {
    serde_json::to_string(&(label, prompt_id, samples)).unwrap_or_default()
}

/// A duration in ms on the results stream, as a `Duration` (not a time: nothing).
pub(crate) fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or_default()
}

/// Unix time now, in ms.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Retries `op` until Redis answers, saying once (and every 15 s) what is wrong: the work
/// pauses while Redis is away and goes on when it is back.
pub(crate) async fn patiently<T, F, Fut>(redis: &Redis, doing: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    let mut backoff = Duration::from_millis(100);
    let mut since: Option<std::time::Instant> = None;
    let mut said: Option<std::time::Instant> = None;
    loop {
        match op().await {
            Ok(value) => {
                if let Some(since) = since {
                    tracing::warn!(
                        "Redis at {} answers again after {:.1} s: {doing} goes on",
                        redis.shown(),
                        since.elapsed().as_secs_f64()
                    );
                }
                return value;
            }
            Err(e) => {
                let now = std::time::Instant::now();
                let began = *since.get_or_insert(now);
                if said.is_none_or(|at| now.duration_since(at) > Duration::from_secs(15)) {
                    said = Some(now);
                    tracing::warn!(
                        "{}: {doing} is paused until it answers ({:.0} s so far)",
                        redis.error(&e),
                        now.duration_since(began).as_secs_f64()
                    );
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pacer_core::{Request, Tool, ToolChoice};
    use serde_json::json;

    use super::*;

    #[test]
    fn a_job_crosses_the_queue_whole() {
        let mut request = Request::text("m", Some("Be brief."), "Weather in Paris?");
        request.params.max_tokens = Some(64);
        request.params.tools = vec![Tool {
            name: "weather".into(),
            description: Some("Looks it up".into()),
            parameters: json!({"type": "object"}),
        }];
        request.params.tool_choice = Some(ToolChoice::Tool("weather".into()));
        request.params.schema = Some(Arc::new(json!({"type": "object"})));
        let text = serde_json::to_string(&WireJob::new(&request)).unwrap();
        let back = serde_json::from_str::<WireJob>(&text)
            .unwrap()
            .into_request();
        assert_eq!(back, request);
    }
}
