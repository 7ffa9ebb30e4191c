//! The coordinator's side: each live model's jobs go on its stream instead of to a lane of
//! its own, and the results stream comes back as the outcomes the journal writer records.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pacer_core::{Price, Request};
use pacer_engine::{Outcome, Reservation, StopReason};
use redis::AsyncCommands;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::{GROUP, RUN_TTL, RUNS, Redis, RunKeys, WireOutcome, millis, patiently, unix_ms};
use crate::Done;
use crate::run::feed::Job;

/// Jobs of one model on Redis at once, waiting or running: what bounds Redis's memory.
pub(super) const WINDOW: usize = 1024;
/// After this long without a result while jobs wait, the coordinator says so.
pub(super) const QUIET: Duration = Duration::from_secs(15);

/// How a run's live jobs go through Redis to `pacer worker` processes (see the
/// [module](super)): the server, and the run's models as workers rebuild them (JSON without
/// secrets, published for them).
#[derive(Clone, Debug)]
pub struct Queue {
    /// The server.
    pub redis: Redis,
    /// The run's models, for workers.
    pub spec: Value,
}

/// Tells the coordinator that an outcome's records are in the journal, so that its job and
/// result leave Redis.
#[derive(Debug)]
pub(crate) struct Receipt {
    tx: mpsc::UnboundedSender<(usize, String, Option<String>)>,
    pub(super) lane: usize,
    pub(super) job_id: String,
    result_id: Option<String>,
}

impl Receipt {
    /// The records are written.
    pub(crate) fn written(self) {
        let _ = self.tx.send((self.lane, self.job_id, self.result_id));
    }
}

/// A job on Redis whose result has not come back.
pub(super) struct Pending {
    pub(super) lane: usize,
    pub(super) job: Job,
    pub(super) request: Request,
    pub(super) job_id: String,
    pub(super) hold: Option<(Reservation, Option<Price>)>,
    pub(super) tx: mpsc::Sender<Outcome<Job>>,
}

/// A result that came back before this session asked for its job (returned to an earlier
/// session of the run).
pub(super) struct Stored {
    pub(super) result_id: String,
    pub(super) job_id: String,
    pub(super) outcome: WireOutcome,
}

#[derive(Default)]
pub(super) struct Books {
    pub(super) pending: HashMap<String, Pending>,
    pub(super) stored: HashMap<String, Stored>,
    /// Jobs on the streams from earlier sessions, by key: lane and entry id.
    pub(super) queued: HashMap<String, String>,
    /// Hashes of the keys recorded this session.
    pub(super) recorded: HashSet<u64>,
}

/// One run's coordinator.
pub(crate) struct Coordinator {
    pub(super) redis: Redis,
    pub(super) keys: RunKeys,
    pub(super) run_id: String,
    pub(super) spec: String,
    pub(super) lanes: usize,
    pub(super) books: Mutex<Books>,
    /// Jobs out per lane, and a wake-up when one comes back.
    pub(super) out: Vec<AtomicU64>,
    pub(super) back: Notify,
    pub(super) written: mpsc::UnboundedSender<(usize, String, Option<String>)>,
    pub(super) tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(super) last_result: Mutex<Instant>,
    /// Each lane's stop, when a worker's lane stopped.
    pub(super) stopped: Vec<Mutex<Option<StopReason>>>,
}

pub(super) fn hash(key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

pub(super) fn field(entry: &StreamId, name: &str) -> String {
    entry.get::<String>(name).unwrap_or_default()
}

impl Coordinator {
    /// Publishes the run, creates its streams' group and reads back what an earlier
    /// session left on Redis: results not journalled yet are kept for their jobs, and those
    /// the journal has are deleted.
    pub(crate) async fn open(
        queue: &Queue,
        run_id: &str,
        labels: &[String],
        done: &Done,
    ) -> Arc<Self> {
        let redis = queue.redis.clone();
        let keys = RunKeys::new(run_id);
        let spec = queue.spec.to_string();
        let mut books = Books::default();
        let is_done = |key: &str| {
            let Ok((label, prompt, samples)) =
                serde_json::from_str::<(String, String, Vec<u32>)>(key)
            else {
                return true;
            };
            samples.iter().all(|s| done.contains(&label, &prompt, *s))
        };
        patiently(&redis, "publishing the run", || {
            let mut c = redis.connection();
            let (spec, spec_key) = (spec.clone(), keys.spec());
            async move {
                c.set_ex::<_, _, ()>(&spec_key, spec, RUN_TTL.as_secs())
                    .await?;
                c.del::<_, ()>(RunKeys::new(run_id).stopped()).await?;
                c.zadd::<_, _, _, ()>(RUNS, run_id, unix_ms()).await
            }
        })
        .await;
        let mut stale = Vec::new();
        for lane in 0..labels.len() {
            let stream = keys.jobs(lane);
            patiently(&redis, "creating the job streams", || {
                let mut c = redis.connection();
                let stream = stream.clone();
                async move {
                    match c
                        .xgroup_create_mkstream::<_, _, _, ()>(&stream, GROUP, "0")
                        .await
                    {
                        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
                        other => other,
                    }
                }
            })
            .await;
            let jobs: StreamRangeReply = patiently(&redis, "reading the job streams", || {
                let mut c = redis.connection();
                let stream = stream.clone();
                async move { c.xrange_all(&stream).await }
            })
            .await;
            for entry in jobs.ids {
                let key = field(&entry, "key");
                if is_done(&key) {
                    stale.push((stream.clone(), entry.id));
                } else {
                    books.queued.insert(key, entry.id);
                }
            }
        }
        let results: StreamRangeReply = patiently(&redis, "reading the results", || {
            let mut c = redis.connection();
            let stream = keys.results();
            async move { c.xrange_all(&stream).await }
        })
        .await;
        let mut last = "0".to_string();
        for entry in results.ids {
            last = entry.id.clone();
            let key = field(&entry, "key");
            let outcome = serde_json::from_str::<WireOutcome>(&field(&entry, "outcome"));
            match outcome {
                Ok(outcome) if !is_done(&key) && !books.stored.contains_key(&key) => {
                    let job_id = field(&entry, "job_id");
                    books.stored.insert(
                        key,
                        Stored {
                            result_id: entry.id,
                            job_id,
                            outcome,
                        },
                    );
                }
                _ => stale.push((keys.results(), entry.id)),
            }
        }
        for (stream, id) in stale {
            let mut c = redis.connection();
            let _: Result<(), _> = c.xdel(&stream, &[&id]).await;
        }
        let (written, receipts) = mpsc::unbounded_channel();
        let coordinator = Arc::new(Self {
            redis,
            keys,
            run_id: run_id.to_string(),
            spec,
            lanes: labels.len(),
            books: Mutex::new(books),
            out: (0..labels.len()).map(|_| AtomicU64::new(0)).collect(),
            back: Notify::new(),
            written,
            tasks: Mutex::new(Vec::new()),
            last_result: Mutex::new(Instant::now()),
            stopped: (0..labels.len()).map(|_| Mutex::new(None)).collect(),
        });
        let tasks = vec![
            tokio::spawn(coordinator.clone().read_results(last)),
            tokio::spawn(coordinator.clone().delete_written(receipts)),
            tokio::spawn(coordinator.clone().heartbeat()),
        ];
        *coordinator.lock_tasks() = tasks;
        coordinator
    }

    pub(super) fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the results stream from `last` on, handing each result to its job's lane.
    pub(super) async fn read_results(self: Arc<Self>, mut last: String) {
        // Blocking reads on a connection of their own.
        let reader = self.redis.another().unwrap_or_else(|_| self.redis.clone());
        loop {
            let reply: StreamReadReply = patiently(&reader, "reading results", || {
                let mut c = reader.connection();
                let (stream, last) = (self.keys.results(), last.clone());
                let options = StreamReadOptions::default().count(256).block(1000);
                async move { c.xread_options(&[stream], &[last], &options).await }
            })
            .await;
            for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
                last = entry.id.clone();
                *self.last_result.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                self.take_result(entry).await;
            }
        }
    }

    /// One result: to its lane if its job is out, kept if its job has not been asked for
    /// yet, deleted if its job has a record already (a late duplicate).
    pub(super) async fn take_result(&self, entry: StreamId) {
        if entry.map.contains_key("stop") {
            self.lane_stopped(&entry).await;
            return;
        }
        let key = field(&entry, "key");
        let outcome = serde_json::from_str::<WireOutcome>(&field(&entry, "outcome")).or_else(|e| {
            // Its job gets a record all the same (a worker of another version, say).
            tracing::warn!("a worker returned an unreadable result for {key}: {e}");
            Ok::<_, serde_json::Error>(WireOutcome {
                error: Some(super::WireError {
                    kind: pacer_core::ErrorKind::InvalidResponse,
                    status: None,
                    message: format!("the worker's result cannot be read: {e}"),
                    usage: None,
                }),
                attempts: 1,
                finished_at_ms: super::unix_ms(),
                worker: field(&entry, "worker"),
                ..WireOutcome::default()
            })
        });
        let delivery = {
            let mut books = self.books();
            let duplicate = books.recorded.contains(&hash(&key));
            match outcome {
                Ok(outcome) if !duplicate => match books.pending.remove(&key) {
                    Some(pending) => {
                        books.recorded.insert(hash(&key));
                        Some((pending, outcome))
                    }
                    None => {
                        if let std::collections::hash_map::Entry::Vacant(slot) =
                            books.stored.entry(key)
                        {
                            slot.insert(Stored {
                                result_id: entry.id.clone(),
                                job_id: field(&entry, "job_id"),
                                outcome,
                            });
                            return;
                        }
                        None
                    }
                },
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("a worker returned an unreadable result for {key}: {e}");
                    None
                }
            }
        };
        match delivery {
            Some((pending, outcome)) => self.deliver(pending, outcome, Some(entry.id)).await,
            None => {
                let mut c = self.redis.connection();
                let _: Result<(), _> = c.xdel(self.keys.results(), &[&entry.id]).await;
            }
        }
    }

    /// Hands `outcome` to the journal writer as `pending`'s outcome.
    pub(super) async fn deliver(
        &self,
        pending: Pending,
        mut outcome: WireOutcome,
        result_id: Option<String>,
    ) {
        let result = outcome.result();
        if let Some((hold, price)) = pending.hold {
            hold.settle(&outcome.usage_all_attempts, price.as_ref());
        }
        let mut job = pending.job;
        job.receipt = Some(Receipt {
            tx: self.written.clone(),
            lane: pending.lane,
            job_id: pending.job_id,
            result_id,
        });
        let [elapsed, queued, upstream] =
            [outcome.elapsed_ms, outcome.queued_ms, outcome.upstream_ms].map(millis);
        let outcome = Outcome {
            id: job.prompt_id.clone(),
            context: job,
            result,
            request: Some(pending.request),
            attempts: outcome.attempts,
            usage_all_attempts: outcome.usage_all_attempts,
            elapsed,
            queued,
            upstream,
            latency: outcome.latency_ms.map(millis),
            held: None,
            finished_at: outcome.finished_at(),
        };
        let _ = pending.tx.send(outcome).await;
        self.out[pending.lane].fetch_sub(1, Ordering::SeqCst);
        self.back.notify_waiters();
    }

    /// Ends the run on Redis: its keys go, and workers leave it.
    pub(crate) async fn finish(&self, completed: bool) {
        for task in self.lock_tasks().drain(..) {
            task.abort();
        }
        let mut c = self.redis.connection();
        if !completed {
            // Interrupted: workers take nothing more until `--resume`; what they return
            // meanwhile waits on Redis for it.
            let _: Result<(), _> = redis::pipe()
                .zrem(RUNS, &self.run_id)
                .ignore()
                .set_ex(self.keys.stopped(), 1, RUN_TTL.as_secs())
                .ignore()
                .query_async(&mut c)
                .await;
            return;
        }
        let mut pipe = redis::pipe();
        pipe.zrem(RUNS, &self.run_id)
            .ignore()
            .set_ex(self.keys.ended(), 1, 60)
            .ignore()
            .del(self.keys.spec())
            .ignore()
            .del(self.keys.results())
            .ignore();
        for lane in 0..self.lanes {
            pipe.del(self.keys.jobs(lane)).ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut c).await {
            tracing::warn!(
                "{}: the run's keys stay until they expire in an hour",
                self.redis.error(&e)
            );
        }
    }
}
