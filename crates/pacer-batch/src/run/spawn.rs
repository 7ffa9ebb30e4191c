//! Starting each model's lane: a live lane fed by its cursor over the prompts, or a batch
//! lane (with, where failed lines go live, a live lane behind it).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream;
use pacer_engine::{Budget, Lane, LaneConfig, Outcome, StopHandle, StopReason, WorkItem};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::batched::{self, BatchLane, BatchProgress, LedgerBatch, Numbers, ledger::Ledger};
use super::feed::Job;
use super::{BatchError, BatchModel, Notice};
use crate::Manifest;

/// How one model's lane ended.
#[derive(Debug)]
pub(crate) struct LaneRun {
    /// Why it stopped early, if it did.
    pub stopped: Option<StopReason>,
    /// Items that ended in this session (calls, for a live lane).
    pub finished: u64,
    /// Its wall time.
    pub elapsed: Duration,
    /// Its batches still running at the provider.
    pub in_flight: Vec<String>,
}

/// What the batch lanes of a run share.
pub(crate) struct BatchShared {
    pub run_id: String,
    pub dir: PathBuf,
    pub ledger: Arc<Mutex<Ledger>>,
    pub numbers: Arc<Numbers>,
    pub earlier: Vec<LedgerBatch>,
    pub progress: Arc<dyn Fn(&BatchProgress) + Send + Sync>,
    pub stop: watch::Receiver<Option<String>>,
}

/// Everything a lane is started with.
pub(crate) struct Start<'a> {
    pub index: usize,
    pub model: &'a BatchModel,
    pub budget: Option<Arc<Budget>>,
    pub items: mpsc::Receiver<WorkItem<Job>>,
    pub outcomes: mpsc::Sender<Outcome<Job>>,
    /// The jobs the journal holds at opening.
    pub done: Arc<crate::Done>,
    /// The run's events file, which observes every lane.
    pub events: Arc<crate::EventLog>,
}

/// A live lane on `config`, and the handle that stops it.
fn live_lane(
    model: &BatchModel,
    budget: Option<Arc<Budget>>,
    events: Arc<crate::EventLog>,
) -> (Arc<Lane>, StopHandle) {
    let config = LaneConfig {
        name: model.label.clone(),
        budget,
        ..model.lane.clone()
    };
    let lane = Arc::new(
        Lane::builder(config, model.provider.clone())
            .observer(events)
            .build(),
    );
    let stop = lane.stop_handle();
    (lane, stop)
}

/// Runs `lane` over the items of `rx`, its outcomes into `tx`.
async fn run_live(
    lane: Arc<Lane>,
    rx: mpsc::Receiver<WorkItem<Job>>,
    tx: mpsc::Sender<Outcome<Job>>,
) -> (Option<StopReason>, u64) {
    let items = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) });
    let stats = lane.run(items, tx).await;
    (lane.stopped(), stats.total)
}

/// Starts a model's live lane (one per deployment, where it has several); returns its task
/// and stop handles.
pub(crate) fn live(start: Start<'_>) -> (JoinHandle<LaneRun>, Vec<StopHandle>) {
    if !start.model.deployments.is_empty() {
        return deployed(start);
    }
    let (lane, stop) = live_lane(start.model, start.budget, start.events);
    let started = Instant::now();
    let task = tokio::spawn(async move {
        let (stopped, finished) = run_live(lane, start.items, start.outcomes).await;
        LaneRun {
            stopped,
            finished,
            elapsed: started.elapsed(),
            in_flight: Vec::new(),
        }
    });
    (task, vec![stop])
}

/// A model's deployments, a lane each, all taking the model's jobs from one line as each
/// has room: a deployment with twice the limits takes twice the jobs, and one that stops
/// (its key refused, its quota used up) leaves the rest to the others. The model's lane
/// has stopped only when every deployment has.
fn deployed(start: Start<'_>) -> (JoinHandle<LaneRun>, Vec<StopHandle>) {
    let model = start.model;
    let mut lanes = Vec::new();
    let mut stops = Vec::new();
    let mut doors = Vec::new();
    for deployment in &model.deployments {
        let config = LaneConfig {
            name: format!("{}@{}", model.label, deployment.id),
            budget: start.budget.clone(),
            ..deployment.lane.clone()
        };
        let lane = Arc::new(
            Lane::builder(config, deployment.provider.clone())
                .observer(start.events.clone())
                .build(),
        );
        stops.push(lane.stop_handle());
        // Each lane's own door, one job wide: the line hands the next job to whichever
        // lane has taken its last.
        let (door, items) = mpsc::channel(1);
        let deployed = Arc::new(super::model::Deployed {
            id: deployment.id.clone(),
            price: deployment.lane.price,
        });
        doors.push((door, deployed, deployment.name.clone()));
        lanes.push((lane, items));
    }
    let line = tokio::spawn(hand_out(start.items, doors));
    let outcomes = start.outcomes;
    let started = Instant::now();
    let task = tokio::spawn(async move {
        let runs = lanes.into_iter().map(|(lane, items)| {
            let outcomes = outcomes.clone();
            async move {
                let items =
                    stream::unfold(
                        items,
                        |mut rx| async move { rx.recv().await.map(|i| (i, rx)) },
                    );
                let stats = lane.run(items, outcomes).await;
                (lane.stopped(), stats.total)
            }
        });
        let ended = futures_util::future::join_all(runs).await;
        line.abort();
        let finished = ended.iter().map(|(_, n)| n).sum();
        // The model stopped when every deployment did; one that stopped alone is named.
        let stopped = match ended.iter().filter(|(s, _)| s.is_some()).count() {
            0 => None,
            n if n == ended.len() => ended.into_iter().find_map(|(s, _)| s),
            _ => ended
                .into_iter()
                .find_map(|(s, _)| s)
                .map(|reason| StopReason {
                    message: format!("{} (its other deployments went on)", reason.message),
                    ..reason
                }),
        };
        LaneRun {
            stopped,
            finished,
            elapsed: started.elapsed(),
            in_flight: Vec::new(),
        }
    });
    (task, stops)
}

/// Hands each job of `line` to the first deployment's door with room, marked as that
/// deployment's (its model's name there); a door whose lane has ended takes none.
async fn hand_out(
    mut line: mpsc::Receiver<WorkItem<super::feed::Job>>,
    doors: Vec<(
        mpsc::Sender<WorkItem<super::feed::Job>>,
        Arc<super::model::Deployed>,
        String,
    )>,
) {
    while let Some(mut item) = line.recv().await {
        let room = loop {
            let open: Vec<usize> = (0..doors.len())
                .filter(|i| !doors[*i].0.is_closed())
                .collect();
            if open.is_empty() {
                return;
            }
            let rooms = open.iter().map(|&i| Box::pin(doors[i].0.reserve()));
            // A lane that ended as the job came: the next look finds another.
            if let (Ok(room), at, _) = futures_util::future::select_all(rooms).await {
                break (room, open[at]);
            }
        };
        let (room, at) = room;
        let (_, deployed, name) = &doors[at];
        if let pacer_engine::Work::Prompt(request) = &mut item.work {
            request.model.clone_from(name);
        }
        item.context.deployment = Some(deployed.clone());
        room.send(item);
    }
}

/// Starts a model's batch lane (and its live fallback lane, if it has one); returns its
/// task and, with a fallback, the fallback's stop handle.
pub(crate) fn batch(
    start: Start<'_>,
    shared: &BatchShared,
) -> (JoinHandle<LaneRun>, Option<StopHandle>) {
    let model = start.model;
    let settings = model.batch.clone().unwrap_or_default();
    let fallback = settings.fallback_live.then(|| {
        let lane = live_lane(model, start.budget.clone(), start.events.clone());
        (lane, mpsc::channel(64))
    });
    let stop = fallback.as_ref().map(|((_, stop), _)| stop.clone());
    let (fallback, live_tx) = match fallback {
        Some(((lane, _), (tx, rx))) => (Some((lane, rx)), Some(tx)),
        None => (None, None),
    };
    let lane = BatchLane {
        label: model.label.clone(),
        model: model.name.clone(),
        lane: start.index,
        provider: model.provider.clone(),
        price: settings.price_over(model.lane.price),
        settings,
        max_retries: model.lane.retry.max_retries,
        budget: start.budget,
        run_id: shared.run_id.clone(),
        dir: shared.dir.clone(),
        ledger: shared.ledger.clone(),
        numbers: shared.numbers.clone(),
        outcomes: start.outcomes.clone(),
        done: start.done.clone(),
        live: live_tx,
        progress: shared.progress.clone(),
        stop: shared.stop.clone(),
        earlier: shared
            .earlier
            .iter()
            .filter(|b| b.label == model.label)
            .cloned()
            .collect(),
    };
    let items = start.items;
    let outcomes = start.outcomes;
    let started = Instant::now();
    let task = tokio::spawn(async move {
        let live = fallback.map(|(lane, rx)| tokio::spawn(run_live(lane, rx, outcomes)));
        let end = lane.run(items).await;
        let (live_stopped, _) = match live {
            Some(task) => task.await.unwrap_or((None, 0)),
            None => (None, 0),
        };
        LaneRun {
            stopped: end.stopped.or(live_stopped),
            finished: 0,
            elapsed: started.elapsed(),
            in_flight: end.in_flight,
        }
    });
    (task, stop)
}

impl super::Batch {
    /// What the run's batch lanes share, when it has any: the ledger (its earlier batches
    /// read back), the counters of batches and jobs, the progress notices and the stop.
    pub(super) fn open_batches(
        &self,
        manifest: &Manifest,
    ) -> Result<Option<BatchShared>, BatchError> {
        if self.models.iter().all(|m| m.batch.is_none()) {
            return Ok(None);
        }
        // Only this run's batches: a tag carries the run id.
        let prefix = format!("pacer-{}-", manifest.run_id);
        let mut earlier = batched::read_ledger(&self.output)?;
        earlier.retain(|b| b.tag.starts_with(&prefix));
        let notices = self.notices.clone();
        Ok(Some(BatchShared {
            run_id: manifest.run_id.clone(),
            dir: self.output.clone(),
            ledger: Arc::new(std::sync::Mutex::new(batched::ledger::Ledger::open(
                &self.output,
            )?)),
            numbers: Arc::new(batched::Numbers::after(&earlier, &manifest.run_id)),
            earlier,
            progress: Arc::new(move |progress: &BatchProgress| {
                if let Some(notices) = &notices {
                    notices(&Notice::Batch(progress));
                }
            }),
            stop: self.stop.subscribe(),
        }))
    }
}
