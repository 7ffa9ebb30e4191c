//! A run's `events.jsonl` as the report shows it: every session counted, the rare events
//! kept (cool-downs, limits, stops, the budget, sessions), retries and refusals (one per
//! request at most) kept up to a cap and the rest counted.

use pacer_batch::{EventLine, What};

use crate::data::EventView;
use crate::folder::unix;

/// The most retries, and the most refusals, a run shows; past it they are counted.
const MAX_EVENTS: usize = 5000;

/// The events of a run as they are read: every session counted; every rare event kept
/// (cool-downs, limits, stops, sessions), retries and refusals (one per request at most) up to
/// [`MAX_EVENTS`], the rest counted.
#[derive(Default)]
pub(crate) struct Events {
    /// Each kept event with its time (Unix seconds).
    pub kept: Vec<(f64, EventLine)>,
    /// The earliest time of any.
    pub first: Option<f64>,
    /// Sessions.
    pub sessions: u32,
    /// Of them, resumes.
    pub resumes: u32,
    /// Retries and refusals kept so far, each kind to its own cap.
    frequent: [usize; 2],
    /// Events not kept.
    pub left_out: u64,
}

impl Events {
    /// Takes one event line.
    pub(crate) fn add(&mut self, event: EventLine) {
        // An event whose time does not read is left out alone.
        let Some(time) = unix(&event.time) else {
            self.left_out += 1;
            return;
        };
        self.first = Some(self.first.map_or(time, |f| f.min(time)));
        if let What::Session { resumed, .. } = &event.what {
            // A folder resumed by a Pacer older than events.jsonl: its first session is
            // not in the file.
            if self.sessions == 0 && *resumed {
                self.sessions += 1;
            }
            self.sessions += 1;
            self.resumes += u32::from(*resumed);
        }
        let frequent = match event.what {
            What::Retry { .. } => Some(0),
            What::Refused { .. } => Some(1),
            _ => None,
        };
        if let Some(kind) = frequent {
            if self.frequent[kind] >= MAX_EVENTS {
                self.left_out += 1;
                return;
            }
            self.frequent[kind] += 1;
        }
        self.kept.push((time, event));
    }
}

/// An event line as the page shows it, `t` seconds into the run.
pub(crate) fn view(event: EventLine, t: f64) -> EventView {
    let mut view = EventView {
        t,
        lane: event.lane,
        ..EventView::default()
    };
    match event.what {
        What::Session { run_id, resumed } => {
            view.kind = "session";
            view.detail = match resumed {
                true => format!("run {run_id} resumed"),
                false => format!("run {run_id} started"),
            };
        }
        What::Cooldown {
            seconds,
            status,
            cause,
        } => {
            view.kind = "cooldown";
            view.seconds = Some(seconds);
            let status = status.map(|s| format!("{s} ")).unwrap_or_default();
            view.detail = format!("paused {seconds:.1} s: {status}{cause}");
        }
        What::Refused { status, cause } => {
            view.kind = "refused";
            let status = status.map(|s| format!("{s} ")).unwrap_or_default();
            view.detail = format!("refused, no pause: {status}{cause}");
        }
        What::Limit {
            dimension,
            from,
            to,
        } => {
            view.kind = "limit";
            let show = |v: Option<u64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
            view.detail = match from {
                None => format!("{dimension} learned: {}", show(to)),
                Some(_) => format!("{dimension} {} → {}", show(from), show(to)),
            };
            view.dimension = Some(dimension);
            (view.from, view.to) = (from, to);
        }
        What::Retry {
            item,
            kind,
            retry,
            delay_seconds,
        } => {
            view.kind = "retry";
            view.detail = format!("{item}: {kind}, retry {retry} after {delay_seconds:.1} s");
        }
        What::Stopped { reason, .. } => {
            view.kind = "stopped";
            view.detail = reason;
        }
        What::Budget { reason } => {
            view.kind = "budget";
            view.detail = reason;
        }
    }
    view
}
