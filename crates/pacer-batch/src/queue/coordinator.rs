//! The coordinator's side: each live model's jobs go on its stream instead of to a lane of
//! its own, and the results stream comes back as the outcomes the journal writer records.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pacer_core::{ErrorKind, Price, Request};
use pacer_engine::{Budget, Outcome, Reservation, StopReason, WorkItem};
use redis::AsyncCommands;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use serde_json::Value;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use super::{
    GROUP, HEARTBEAT, RUN_TTL, RUNS, Redis, RunKeys, WireJob, WireOutcome, job_key, patiently,
    unix_ms,
};
use crate::Done;
use crate::run::feed::Job;
use crate::run::spawn::{LaneRun, Start};

/// Jobs of one model on Redis at once, waiting or running: what bounds Redis's memory.
const WINDOW: usize = 1024;
/// After this long without a result while jobs wait, the coordinator says so.
const QUIET: Duration = Duration::from_secs(15);

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

impl Queue {
    /// Opens the run `run_id` of `models` on Redis (see [`Coordinator::open`]).
    pub(crate) async fn open(
        &self,
        run_id: &str,
        models: &[crate::BatchModel],
        done: &Done,
    ) -> Arc<Coordinator> {
        let labels: Vec<String> = models.iter().map(|m| m.label.clone()).collect();
        Coordinator::open(self, run_id, &labels, done).await
    }
}

/// Tells the coordinator that an outcome's records are in the journal, so that its job and
/// result leave Redis.
#[derive(Debug)]
pub(crate) struct Receipt {
    tx: mpsc::UnboundedSender<(usize, String, Option<String>)>,
    lane: usize,
    job_id: String,
    result_id: Option<String>,
}

impl Receipt {
    /// The records are written.
    pub(crate) fn written(self) {
        let _ = self.tx.send((self.lane, self.job_id, self.result_id));
    }
}

/// A job on Redis whose result has not come back.
struct Pending {
    lane: usize,
    job: Job,
    request: Request,
    job_id: String,
    hold: Option<(Reservation, Option<Price>)>,
    tx: mpsc::Sender<Outcome<Job>>,
}

/// A result that came back before this session asked for its job (returned to an earlier
/// session of the run).
struct Stored {
    result_id: String,
    job_id: String,
    outcome: WireOutcome,
}

#[derive(Default)]
struct Books {
    pending: HashMap<String, Pending>,
    stored: HashMap<String, Stored>,
    /// Jobs on the streams from earlier sessions, by key: lane and entry id.
    queued: HashMap<String, String>,
    /// Hashes of the keys recorded this session.
    recorded: HashSet<u64>,
}

/// One run's coordinator.
pub(crate) struct Coordinator {
    redis: Redis,
    keys: RunKeys,
    run_id: String,
    spec: String,
    lanes: usize,
    books: Mutex<Books>,
    /// Jobs out per lane, and a wake-up when one comes back.
    out: Vec<AtomicU64>,
    back: Notify,
    written: mpsc::UnboundedSender<(usize, String, Option<String>)>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    last_result: Mutex<Instant>,
}

fn hash(key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

fn field(entry: &StreamId, name: &str) -> String {
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
        });
        let tasks = vec![
            tokio::spawn(coordinator.clone().read_results(last)),
            tokio::spawn(coordinator.clone().delete_written(receipts)),
            tokio::spawn(coordinator.clone().heartbeat()),
        ];
        *coordinator.lock_tasks() = tasks;
        coordinator
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Says the run is alive every [`HEARTBEAT`], keeps its keys from expiring, and says so
    /// when no result has come for a while though jobs wait.
    async fn heartbeat(self: Arc<Self>) {
        let mut said = false;
        loop {
            let mut c = self.redis.connection();
            let mut pipe = redis::pipe();
            pipe.zadd(RUNS, &self.run_id, unix_ms())
                .ignore()
                .expire(self.keys.spec(), RUN_TTL.as_secs() as i64)
                .ignore()
                .expire(self.keys.results(), RUN_TTL.as_secs() as i64)
                .ignore();
            for lane in 0..self.lanes {
                pipe.expire(self.keys.jobs(lane), RUN_TTL.as_secs() as i64)
                    .ignore();
            }
            match pipe.query_async::<()>(&mut c).await {
                Err(e) => tracing::warn!(
                    "{}: the run's heartbeat is not written; workers go on with what they hold",
                    self.redis.error(&e)
                ),
                Ok(()) => {
                    if !c.exists::<_, bool>(self.keys.spec()).await.unwrap_or(true) {
                        self.publish_again().await;
                    }
                }
            }
            let waiting = self.out.iter().any(|o| o.load(Ordering::Relaxed) > 0);
            let quiet = self
                .last_result
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed()
                > QUIET;
            if waiting && quiet && !said {
                said = true;
                tracing::warn!(
                    "no worker has returned a result for {} s: start workers with `pacer worker --redis {}`",
                    QUIET.as_secs(),
                    self.redis.shown()
                );
            } else if !quiet {
                said = false;
            }
            tokio::time::sleep(HEARTBEAT).await;
        }
    }

    /// Redis lost the run (it restarted without its data): publishes it again and puts
    /// every job whose result has not come back on its stream again. A result already on its
    /// way from a worker still counts; the second copy's is then dropped as a duplicate.
    async fn publish_again(&self) {
        tracing::warn!(
            "Redis at {} lost this run (restarted?): publishing it again and queueing the jobs without a result again",
            self.redis.shown()
        );
        let jobs: Vec<(String, usize, String)> = self
            .books()
            .pending
            .iter()
            .map(|(key, p)| {
                let wire = serde_json::to_string(&WireJob::new(&p.request)).unwrap_or_default();
                (key.clone(), p.lane, wire)
            })
            .collect();
        let mut c = self.redis.connection();
        let spec = self.spec.clone();
        let mut pipe = redis::pipe();
        pipe.set_ex(self.keys.spec(), spec, RUN_TTL.as_secs())
            .ignore()
            .zadd(RUNS, &self.run_id, unix_ms())
            .ignore();
        if let Err(e) = pipe.query_async::<()>(&mut c).await {
            tracing::warn!("{}", self.redis.error(&e));
            return;
        }
        for lane in 0..self.lanes {
            let _: Result<(), _> = c
                .xgroup_create_mkstream(self.keys.jobs(lane), GROUP, "0")
                .await;
        }
        for (key, lane, wire) in jobs {
            let added: Result<String, _> = c
                .xadd(
                    self.keys.jobs(lane),
                    "*",
                    &[("key", key.as_str()), ("job", &wire)],
                )
                .await;
            if let Ok(id) = added
                && let Some(pending) = self.books().pending.get_mut(&key)
            {
                pending.job_id = id;
            }
        }
    }

    /// Reads the results stream from `last` on, handing each result to its job's lane.
    async fn read_results(self: Arc<Self>, mut last: String) {
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
    async fn take_result(&self, entry: StreamId) {
        let key = field(&entry, "key");
        let outcome = serde_json::from_str::<WireOutcome>(&field(&entry, "outcome"));
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
                        if !books.stored.contains_key(&key) {
                            let job_id = field(&entry, "job_id");
                            books.stored.insert(
                                key,
                                Stored {
                                    result_id: entry.id.clone(),
                                    job_id,
                                    outcome,
                                },
                            );
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
    async fn deliver(&self, pending: Pending, mut outcome: WireOutcome, result_id: Option<String>) {
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
        let outcome = Outcome {
            id: job.prompt_id.clone(),
            context: job,
            result,
            request: Some(pending.request),
            attempts: outcome.attempts,
            usage_all_attempts: outcome.usage_all_attempts,
            elapsed: Duration::from_secs_f64(outcome.elapsed_ms.max(0.0) / 1000.0),
            queued: Duration::from_secs_f64(outcome.queued_ms.max(0.0) / 1000.0),
            upstream: Duration::from_secs_f64(outcome.upstream_ms.max(0.0) / 1000.0),
            held: None,
            finished_at: outcome.finished_at(),
        };
        let _ = pending.tx.send(outcome).await;
        self.out[pending.lane].fetch_sub(1, Ordering::SeqCst);
        self.back.notify_waiters();
    }

    /// Deletes each job and result once its records are written.
    async fn delete_written(
        self: Arc<Self>,
        mut receipts: mpsc::UnboundedReceiver<(usize, String, Option<String>)>,
    ) {
        while let Some(first) = receipts.recv().await {
            let mut batch = vec![first];
            while let Ok(next) = receipts.try_recv() {
                batch.push(next);
            }
            let mut pipe = redis::pipe();
            for (lane, job_id, result_id) in &batch {
                pipe.xack(self.keys.jobs(*lane), GROUP, &[job_id]).ignore();
                pipe.xdel(self.keys.jobs(*lane), &[job_id]).ignore();
                if let Some(result_id) = result_id {
                    pipe.xdel(self.keys.results(), &[result_id]).ignore();
                }
            }
            patiently(&self.redis, "trimming the streams", || {
                let mut c = self.redis.connection();
                let pipe = pipe.clone();
                async move { pipe.query_async::<()>(&mut c).await }
            })
            .await;
        }
    }

    /// Puts one job on its lane's stream (or adopts the copy an earlier session left, or
    /// its result).
    async fn send(
        &self,
        lane: usize,
        label: &str,
        item: WorkItem<Job>,
        hold: Option<(Reservation, Option<Price>)>,
        tx: &mpsc::Sender<Outcome<Job>>,
    ) {
        let job = item.context;
        let request = match item.work {
            pacer_engine::Work::Prompt(request) => request,
            // The feed makes prompts only.
            _ => return,
        };
        let key = job_key(label, &job.prompt_id, &job.samples);
        let (stored, queued) = {
            let mut books = self.books();
            let stored = books.stored.remove(&key);
            let queued = books.queued.remove(&key);
            (stored, queued)
        };
        self.out[lane].fetch_add(1, Ordering::SeqCst);
        let mut pending = Pending {
            lane,
            job,
            request,
            job_id: String::new(),
            hold,
            tx: tx.clone(),
        };
        if let Some(stored) = stored {
            pending.job_id = stored.job_id;
            self.books().recorded.insert(hash(&key));
            self.deliver(pending, stored.outcome, Some(stored.result_id))
                .await;
            return;
        }
        pending.job_id = match queued {
            Some(id) => id,
            None => {
                let wire =
                    serde_json::to_string(&WireJob::new(&pending.request)).unwrap_or_default();
                patiently(&self.redis, "queueing jobs", || {
                    let mut c = self.redis.connection();
                    let (stream, key, wire) = (self.keys.jobs(lane), key.clone(), wire.clone());
                    async move {
                        c.xadd::<_, _, _, _, String>(stream, "*", &[("key", key), ("job", wire)])
                            .await
                    }
                })
                .await
            }
        };
        // A result may have come for an adopted job between the lookups: it is stored.
        let early = {
            let mut books = self.books();
            match books.stored.remove(&key) {
                Some(stored) => {
                    books.recorded.insert(hash(&key));
                    Some(stored)
                }
                None => {
                    books.pending.insert(key, pending);
                    return;
                }
            }
        };
        if let Some(stored) = early {
            self.deliver(pending, stored.outcome, Some(stored.result_id))
                .await;
        }
    }

    /// Starts the remote lane of `start`'s model: its jobs go to workers.
    pub(crate) fn lane(
        self: &Arc<Self>,
        start: Start<'_>,
        stop: watch::Receiver<Option<String>>,
    ) -> JoinHandle<LaneRun> {
        let provider = start.model.provider.clone();
        let price = start.model.lane.price;
        RemoteLane {
            coordinator: self.clone(),
            lane: start.index,
            label: start.model.label.clone(),
            budget: start.budget,
            price,
            worst_case: Box::new(move |request| {
                let cost = pacer_engine::estimate(&*provider, request, true);
                let usd =
                    price.map_or(0.0, |p| p.worst_case(cost.input_tokens, cost.output_tokens));
                (usd, cost.input_tokens + cost.output_tokens)
            }),
            items: start.items,
            outcomes: start.outcomes,
            stop,
        }
        .spawn()
    }

    /// Ends the run on Redis: its keys go, and workers leave it.
    pub(crate) async fn finish(&self, completed: bool) {
        for task in self.lock_tasks().drain(..) {
            task.abort();
        }
        if !completed {
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
        let mut c = self.redis.connection();
        if let Err(e) = pipe.query_async::<()>(&mut c).await {
            tracing::warn!(
                "{}: the run's keys stay until they expire in an hour",
                self.redis.error(&e)
            );
        }
    }
}

/// Everything a model's remote lane needs.
struct RemoteLane {
    pub coordinator: Arc<Coordinator>,
    pub lane: usize,
    pub label: String,
    pub budget: Option<Arc<Budget>>,
    pub price: Option<Price>,
    pub worst_case: Box<dyn Fn(&Request) -> (f64, u64) + Send + Sync>,
    pub items: mpsc::Receiver<WorkItem<Job>>,
    pub outcomes: mpsc::Sender<Outcome<Job>>,
    pub stop: watch::Receiver<Option<String>>,
}

impl RemoteLane {
    /// Puts the lane's jobs on Redis as room allows and waits for their results.
    pub(crate) fn spawn(mut self) -> JoinHandle<LaneRun> {
        tokio::spawn(async move {
            let started = Instant::now();
            let mut finished = 0;
            let stopped = loop {
                let item = tokio::select! {
                    _ = self.stop.wait_for(Option::is_some) => None,
                    item = self.items.recv() => Some(item),
                };
                let Some(item) = item else {
                    break self.stop_reason();
                };
                let Some(item) = item else { break None };
                if !self.room().await {
                    break self.stop_reason();
                }
                let hold = match &self.budget {
                    None => None,
                    Some(budget) => {
                        let (usd, tokens) = match &item.work {
                            pacer_engine::Work::Prompt(request) => (self.worst_case)(request),
                            _ => (0.0, 0),
                        };
                        match budget.reserve(usd, tokens) {
                            Ok(hold) => Some((hold, self.price)),
                            Err(exhausted) => {
                                break Some(StopReason {
                                    kind: Some(ErrorKind::BudgetExhausted),
                                    message: exhausted.to_string(),
                                });
                            }
                        }
                    }
                };
                self.coordinator
                    .send(self.lane, &self.label, item, hold, &self.outcomes)
                    .await;
                finished += 1;
            };
            // Everything sent comes back, unless the run stopped.
            while stopped.is_none() || stopped.as_ref().is_some_and(|s| s.kind.is_some()) {
                let back = self.coordinator.back.notified();
                if self.coordinator.out[self.lane].load(Ordering::SeqCst) == 0 {
                    break;
                }
                tokio::select! {
                    () = back => {}
                    _ = self.stop.wait_for(Option::is_some) => break,
                }
            }
            // What has not come back stays on Redis for a resume.
            let lane = self.lane;
            self.coordinator
                .books()
                .pending
                .retain(|_, p| p.lane != lane);
            LaneRun {
                stopped,
                finished,
                elapsed: started.elapsed(),
                in_flight: Vec::new(),
            }
        })
    }

    fn stop_reason(&self) -> Option<StopReason> {
        self.stop.borrow().clone().map(|message| StopReason {
            kind: None,
            message,
        })
    }

    /// Waits until fewer than [`WINDOW`] jobs of the lane are out; false if the run stops.
    async fn room(&mut self) -> bool {
        loop {
            let back = self.coordinator.back.notified();
            if self.coordinator.out[self.lane].load(Ordering::SeqCst) < WINDOW as u64 {
                return true;
            }
            tokio::select! {
                () = back => {}
                _ = self.stop.wait_for(Option::is_some) => return false,
            }
        }
    }
}
