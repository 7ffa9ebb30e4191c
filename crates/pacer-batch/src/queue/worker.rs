//! The worker's side: each model's jobs taken from its stream through the consumer group,
//! as its lane has room for them, run through the lane (paced by the shared limiter), and
//! returned on the results stream. A job held by a worker that died is reclaimed after the
//! idle timeout; this worker refreshes the jobs it holds well before that.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream;
use pacer_core::{ErrorKind, ProviderError};
use pacer_engine::{Lane, Outcome, WorkItem};
use redis::AsyncCommands;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamClaimOptions, StreamId, StreamReadOptions,
    StreamReadReply,
};
use tokio::sync::mpsc;

use super::{GROUP, Redis, RunKeys, WireError, WireJob, WireOutcome, patiently, unix_ms};

/// How long the run's spec may be missing, the run not said to have ended, before the worker
/// takes the run for ended: a restarted Redis is published again by the coordinator's next
/// heartbeat; a coordinator gone for good leaves the run to `--resume`.
const GONE_AFTER: Duration = Duration::from_secs(30);

/// One model this worker runs jobs of.
pub struct WorkerLane {
    /// The model's index in the run (its stream).
    pub lane: usize,
    /// Its lane, paced by a shared limiter.
    pub engine: Arc<Lane>,
}

/// A `pacer worker`'s part in runs.
#[derive(Clone, Debug)]
pub struct Worker {
    redis: Redis,
    name: String,
    idle_timeout: Duration,
}

/// What a worker did for a run.
#[derive(Debug, Default)]
pub struct Served {
    /// Jobs it returned.
    pub jobs: u64,
    /// Of those, taken over from a worker that stopped answering.
    pub reclaimed: u64,
    /// Whether the run ended (rather than being interrupted, to be resumed).
    pub ended: bool,
}

/// A job's place: its entry id and key.
type Held = (String, String);

struct LaneState {
    keys: RunKeys,
    lane: usize,
    held: Mutex<HashSet<String>>,
    reclaimed: Mutex<VecDeque<StreamId>>,
    over: AtomicBool,
    /// Its lane stopped (its key refused, say): it takes no job more.
    stopped: AtomicBool,
    returned: AtomicU64,
    taken_over: AtomicU64,
}

impl Worker {
    /// A worker called `name` (unique among the run's workers) on `redis`, taking over jobs
    /// another worker has held without a sign of life for `idle_timeout`.
    pub fn new(redis: Redis, name: impl Into<String>, idle_timeout: Duration) -> Self {
        Self {
            redis,
            name: name.into(),
            idle_timeout,
        }
    }

    /// Runs run `run_id`'s jobs of `lanes` until the run ends (its coordinator deletes it).
    pub async fn serve(&self, run_id: &str, lanes: Vec<WorkerLane>) -> Served {
        let keys = RunKeys::new(run_id);
        let mut tasks = Vec::new();
        let mut states = Vec::new();
        for WorkerLane { lane, engine } in lanes {
            let state = Arc::new(LaneState {
                keys: keys.clone(),
                lane,
                held: Mutex::default(),
                reclaimed: Mutex::default(),
                over: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                returned: AtomicU64::new(0),
                taken_over: AtomicU64::new(0),
            });
            states.push(state.clone());
            tasks.push(tokio::spawn(self.clone().run_lane(state, engine)));
        }
        let watch = tokio::spawn(self.clone().watch_run(keys.clone(), states.clone()));
        for task in tasks {
            let _ = task.await;
        }
        watch.abort();
        let mut c = self.redis.connection();
        let ended = c.exists::<_, bool>(keys.ended()).await.unwrap_or(true);
        Served {
            ended,
            jobs: states
                .iter()
                .map(|s| s.returned.load(Ordering::Relaxed))
                .sum(),
            reclaimed: states
                .iter()
                .map(|s| s.taken_over.load(Ordering::Relaxed))
                .sum(),
        }
    }

    /// Marks the run over once its spec has been gone for [`GONE_AFTER`]; meanwhile keeps
    /// the jobs held alive and takes over those of workers that died.
    async fn watch_run(self, keys: RunKeys, states: Vec<Arc<LaneState>>) {
        let mut gone_since: Option<Instant> = None;
        let beat =
            (self.idle_timeout / 3).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut refreshed = Instant::now();
        loop {
            let mut c = self.redis.connection();
            let seen: redis::RedisResult<(bool, bool, bool)> = redis::pipe()
                .exists(keys.spec())
                .exists(keys.ended())
                .exists(keys.stopped())
                .query_async(&mut c)
                .await;
            match seen {
                Ok((true, false, false)) => gone_since = None,
                Ok((spec, ended, stopped)) => {
                    let gone = gone_since.get_or_insert_with(Instant::now).elapsed();
                    if ended || stopped || (!spec && gone > GONE_AFTER) {
                        for state in &states {
                            state.over.store(true, Ordering::SeqCst);
                        }
                        return;
                    }
                }
                // Redis away: the lanes wait on it already.
                Err(_) => {}
            }
            if refreshed.elapsed() >= beat {
                refreshed = Instant::now();
                for state in &states {
                    self.refresh(state).await;
                }
            }
            tokio::time::sleep(beat.min(Duration::from_millis(500))).await;
        }
    }

    /// Tells Redis the jobs `state` holds are alive, and takes over jobs idle too long.
    async fn refresh(&self, state: &LaneState) {
        let stream = state.keys.jobs(state.lane);
        let mut c = self.redis.connection();
        // Only the jobs the group still has as this worker's: one another worker took over
        // (this one seemed dead) is its now, and is not taken back.
        let owned: Result<redis::streams::StreamPendingCountReply, _> = c
            .xpending_consumer_count(&stream, GROUP, "-", "+", 10_000, &self.name)
            .await;
        let Ok(owned) = owned else { return };
        let held: Vec<String> = {
            let held = state.held.lock().unwrap_or_else(|e| e.into_inner());
            owned
                .ids
                .into_iter()
                .map(|p| p.id)
                .filter(|id| held.contains(id))
                .collect()
        };
        for ids in held.chunks(256) {
            let options = StreamClaimOptions::default().with_justid();
            let refreshed: Result<redis::Value, _> = c
                .xclaim_options(&stream, GROUP, &self.name, 0, ids, options)
                .await;
            if let Err(e) = refreshed {
                tracing::debug!("cannot refresh held jobs: {}", self.redis.error(&e));
                return;
            }
        }
        if state.over.load(Ordering::SeqCst) || state.stopped.load(Ordering::SeqCst) {
            return;
        }
        let idle = self.idle_timeout.as_millis() as u64;
        let options = StreamAutoClaimOptions::default().count(16);
        let claimed: Result<StreamAutoClaimReply, _> = c
            .xautoclaim_options(&stream, GROUP, &self.name, idle, "0-0", options)
            .await;
        let Ok(claimed) = claimed else { return };
        let mut held = state.held.lock().unwrap_or_else(|e| e.into_inner());
        let mut queue = state.reclaimed.lock().unwrap_or_else(|e| e.into_inner());
        for entry in claimed.claimed {
            if entry.map.is_empty() || !held.insert(entry.id.clone()) {
                continue;
            }
            tracing::warn!(
                "took over job {} of model #{}: its worker stopped answering {} s ago",
                entry.id,
                state.lane,
                self.idle_timeout.as_secs()
            );
            state.taken_over.fetch_add(1, Ordering::Relaxed);
            queue.push_back(entry);
        }
    }

    /// Feeds the lane from its stream as it has room, and returns its outcomes.
    async fn run_lane(self, state: Arc<LaneState>, engine: Arc<Lane>) {
        let (tx, mut rx) = mpsc::channel::<Outcome<Held>>(64);
        // Blocking reads on a connection of their own.
        let reader = self.redis.another().unwrap_or_else(|_| self.redis.clone());
        let items = stream::unfold((), {
            let worker = self.clone();
            let state = state.clone();
            move |()| {
                let (worker, state, reader) = (worker.clone(), state.clone(), reader.clone());
                async move {
                    worker
                        .next_job(&state, &reader)
                        .await
                        .map(|item| (item, ()))
                }
            }
        });
        let returns = tokio::spawn({
            let worker = self.clone();
            let state = state.clone();
            async move {
                while let Some(outcome) = rx.recv().await {
                    worker.give_back(&state, outcome).await;
                }
            }
        });
        engine.run(items, tx).await;
        let _ = returns.await;
        if let Some(stopped) = engine.stopped() {
            tracing::warn!("model {}: {}", engine.name(), stopped.message);
            // It takes no job more, and its jobs in flight go back to the group.
            state.stopped.store(true, Ordering::SeqCst);
            state.held.lock().unwrap_or_else(|e| e.into_inner()).clear();
            state
                .reclaimed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            // The coordinator stops the model as a run on one machine would.
            let kind = stopped.kind.map(|k| format!("{k:?}")).unwrap_or_default();
            let fields = [
                ("stop", state.lane.to_string()),
                ("kind", kind),
                ("message", stopped.message.clone()),
                ("worker", self.name.clone()),
            ];
            let mut c = self.redis.connection();
            let _: Result<String, _> = c.xadd(state.keys.results(), "*", &fields).await;
        }
    }

    /// The lane's next job: one taken over, else the next on the stream; `None` once the
    /// run is over.
    async fn next_job(&self, state: &LaneState, reader: &Redis) -> Option<WorkItem<Held>> {
        loop {
            if state.over.load(Ordering::SeqCst) || state.stopped.load(Ordering::SeqCst) {
                return None;
            }
            let reclaimed = state
                .reclaimed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            if let Some(entry) = reclaimed {
                return Some(Self::item(entry));
            }
            let reply: Option<StreamReadReply> = {
                let mut c = reader.connection();
                let options = StreamReadOptions::default()
                    .group(GROUP, &self.name)
                    .count(1)
                    .block(1000);
                match c
                    .xread_options(&[state.keys.jobs(state.lane)], &[">"], &options)
                    .await
                {
                    Ok(reply) => Some(reply),
                    Err(e) => {
                        // The stream and group are made again by the coordinator after a
                        // restart of Redis: wait for them.
                        tracing::debug!("cannot read jobs: {}", self.redis.error(&e));
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        None
                    }
                }
            };
            let entry = reply.and_then(|r| r.keys.into_iter().flat_map(|k| k.ids).next());
            if let Some(entry) = entry {
                state
                    .held
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(entry.id.clone());
                return Some(Self::item(entry));
            }
        }
    }

    /// The work item of a job's entry. An entry that cannot be read is answered at once
    /// with an error, so that its job gets a record.
    fn item(entry: StreamId) -> WorkItem<Held> {
        let key = entry.get::<String>("key").unwrap_or_default();
        let job = entry.get::<String>("job").unwrap_or_default();
        let held = (entry.id.clone(), key.clone());
        match serde_json::from_str::<WireJob>(&job) {
            Ok(job) => WorkItem::prompt(key, job.into_request(), held),
            Err(e) => {
                let message = format!("the job on Redis cannot be read: {e}");
                WorkItem::direct(
                    key,
                    move |_| {
                        let message = message.clone();
                        Box::pin(
                            async move { Err(ProviderError::new(ErrorKind::BadRequest, message)) },
                        )
                    },
                    held,
                )
            }
        }
    }

    /// Returns one outcome on the results stream, then acknowledges its job.
    async fn give_back(&self, state: &LaneState, outcome: Outcome<Held>) {
        let (job_id, key) = outcome.context;
        let (response, error) = match outcome.result {
            Ok(response) => (Some(response), None),
            Err(e) => (
                None,
                Some(WireError {
                    kind: e.kind,
                    status: e.status,
                    message: e.message,
                    usage: e.usage,
                }),
            ),
        };
        let wire = WireOutcome {
            response,
            error,
            attempts: outcome.attempts,
            usage_all_attempts: outcome.usage_all_attempts,
            elapsed_ms: outcome.elapsed.as_secs_f64() * 1000.0,
            queued_ms: outcome.queued.as_secs_f64() * 1000.0,
            upstream_ms: outcome.upstream.as_secs_f64() * 1000.0,
            latency_ms: outcome.latency.map(|d| d.as_secs_f64() * 1000.0),
            finished_at_ms: outcome
                .finished_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or_else(|_| unix_ms(), |d| d.as_millis() as u64),
            worker: self.name.clone(),
        };
        let wire = serde_json::to_string(&wire).unwrap_or_default();
        patiently(&self.redis, "returning results", || {
            let mut c = self.redis.connection();
            let fields = [
                ("key", key.clone()),
                ("job_id", job_id.clone()),
                ("outcome", wire.clone()),
            ];
            let stream = state.keys.results();
            // With an expiry: a late result after the run ended leaves nothing for good.
            async move {
                redis::pipe()
                    .xadd(&stream, "*", &fields)
                    .ignore()
                    .expire(&stream, super::RUN_TTL.as_secs() as i64)
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await
            }
        })
        .await;
        state.returned.fetch_add(1, Ordering::Relaxed);
        state
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&job_id);
        // The coordinator acknowledges it too, once it is journalled.
        let mut c = self.redis.connection();
        let _: Result<(), _> = c.xack(state.keys.jobs(state.lane), GROUP, &[&job_id]).await;
    }
}
