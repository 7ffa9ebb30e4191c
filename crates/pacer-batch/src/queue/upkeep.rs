//! The coordinator's upkeep: its heartbeat, publishing the run again after Redis lost it,
//! and deleting jobs and results once their records are written.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use pacer_engine::StopReason;
use redis::AsyncCommands;
use redis::streams::StreamId;
use serde_json::Value;
use tokio::sync::mpsc;

use super::coordinator::{Coordinator, QUIET, field};
use super::{GROUP, HEARTBEAT, RUN_TTL, RUNS, WireJob, patiently, unix_ms};

impl Coordinator {
    /// Says the run is alive every [`HEARTBEAT`], keeps its keys from expiring, and says so
    /// when no result has come for a while though jobs wait.
    pub(super) async fn heartbeat(self: Arc<Self>) {
        let mut said = false;
        loop {
            let mut c = self.redis.connection();
            let mut pipe = redis::pipe();
            pipe.zadd(RUNS, &self.run_id, unix_ms())
                .ignore()
                // Runs silent for a day are no run in progress.
                .zrembyscore(RUNS, 0, unix_ms().saturating_sub(86_400_000))
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
        // Jobs an earlier session left on the streams are gone with them: queued afresh.
        self.books().queued.clear();
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

    /// Deletes each job and result once its records are written.
    pub(super) async fn delete_written(
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

    /// A worker's lane of a model stopped (its key refused, its quota used up): the model
    /// stops here as it would on one machine; its jobs left stay pending for `--resume`.
    pub(super) async fn lane_stopped(&self, entry: &StreamId) {
        let lane: usize = field(entry, "stop").parse().unwrap_or(usize::MAX);
        let kind = serde_json::from_value(Value::String(field(entry, "kind"))).ok();
        let message = format!(
            "{} (on worker {})",
            field(entry, "message"),
            field(entry, "worker")
        );
        if let Some(slot) = self.stopped.get(lane) {
            slot.lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(StopReason { kind, message });
            self.back.notify_waiters();
        }
        let mut c = self.redis.connection();
        let _: Result<(), _> = c.xdel(self.keys.results(), &[&entry.id]).await;
    }

    /// Why lane `lane` stopped, if a worker stopped it.
    pub(super) fn stop_of(&self, lane: usize) -> Option<StopReason> {
        self.stopped
            .get(lane)
            .and_then(|s| s.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}
