//! A model's remote lane: its jobs go on Redis as room allows, and it waits for their
//! results.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use pacer_core::{ErrorKind, Price, Request};
use pacer_engine::{Budget, Outcome, StopReason, WorkItem};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use redis::AsyncCommands;

use super::coordinator::{Coordinator, Pending, Queue, WINDOW, hash};
use super::{WireJob, job_key, patiently};
use crate::Done;
use crate::run::feed::Job;
use crate::run::spawn::{LaneRun, Start};
use pacer_engine::Reservation;

/// A request's worst case: dollars and tokens, for the budget.
type WorstCase = Box<dyn Fn(&Request) -> (f64, u64) + Send + Sync>;

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

impl Coordinator {
    /// Puts one job on its lane's stream (or adopts the copy an earlier session left, or
    /// its result).
    pub(super) async fn send(
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
}

/// Everything a model's remote lane needs.
struct RemoteLane {
    pub coordinator: Arc<Coordinator>,
    pub lane: usize,
    pub label: String,
    pub budget: Option<Arc<Budget>>,
    pub price: Option<Price>,
    pub worst_case: WorstCase,
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
                if let Some(stopped) = self.coordinator.stop_of(self.lane) {
                    break Some(stopped);
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
            // Everything sent comes back, unless the run stopped, or a worker stopped the
            // model (its jobs out then stay pending).
            let mut stopped = stopped;
            while stopped.is_none() || stopped.as_ref().is_some_and(|s| s.kind.is_some()) {
                let back = self.coordinator.back.notified();
                if self.coordinator.out[self.lane].load(Ordering::SeqCst) == 0 {
                    break;
                }
                if let Some(by_worker) = self.coordinator.stop_of(self.lane) {
                    stopped = Some(by_worker);
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
            if self.coordinator.out[self.lane].load(Ordering::SeqCst) < WINDOW as u64
                || self.coordinator.stop_of(self.lane).is_some()
            {
                return true;
            }
            tokio::select! {
                () = back => {}
                _ = self.stop.wait_for(Option::is_some) => return false,
            }
        }
    }
}
