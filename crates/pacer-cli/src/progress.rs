//! Progress on stderr: one bar per model on a terminal, a status line every few seconds
//! otherwise, nothing with `--quiet`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pacer_batch::LaneCounters;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Bars (stderr is a terminal).
    Bars,
    /// A plain line every few seconds.
    Lines,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// Bars on a terminal, lines elsewhere, nothing when quiet.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        }
    }
}

/// The lanes' counters and their display.
pub struct Progress {
    lanes: Vec<(String, Arc<LaneCounters>)>,
    mode: Mode,
}

impl Progress {
    /// Progress of lanes with these labels and counters.
    pub fn new(lanes: Vec<(String, Arc<LaneCounters>)>, mode: Mode) -> Self {
        Self { lanes, mode }
    }

    /// Shows progress until the returned guard is finished.
    pub fn start(&self) -> Display {
        let started = Instant::now();
        match self.mode {
            Mode::Quiet => Display(None, None),
            Mode::Bars => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
                let style = ProgressStyle::with_template(
                    "{prefix:>14.bold} {bar:28.cyan/blue} {pos:>7}/{len:7} eta {eta:>4} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                let bars: Vec<_> = self
                    .lanes
                    .iter()
                    .map(|(label, counters)| {
                        let bar =
                            multi.add(ProgressBar::new(counters.total.load(Ordering::Relaxed)));
                        bar.set_style(style.clone());
                        bar.set_prefix(label.clone());
                        (bar, counters.clone())
                    })
                    .collect();
                let task = tokio::spawn(async move {
                    loop {
                        for (bar, c) in &bars {
                            update_bar(bar, c, started.elapsed());
                        }
                        tokio::time::sleep(Duration::from_millis(150)).await;
                    }
                });
                let shown = multi.clone();
                Display(
                    Some(Box::new(move || {
                        task.abort();
                        drop(multi);
                    })),
                    Some(shown),
                )
            }
            Mode::Lines => {
                let lanes = self.lanes.clone();
                let task = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        for (label, c) in &lanes {
                            eprintln!("{}", status_line(label, c, started.elapsed()));
                        }
                    }
                });
                Display(Some(Box::new(move || task.abort())), None)
            }
        }
    }
}

fn update_bar(bar: &ProgressBar, c: &LaneCounters, elapsed: Duration) {
    bar.set_length(c.total.load(Ordering::Relaxed));
    let done = c.done.load(Ordering::Relaxed);
    let skipped = c.skipped.load(Ordering::Relaxed);
    bar.set_position(done + skipped);
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
    bar.set_message(format!(
        "{rate:.1}/s tok {} err {}",
        human(c.tokens.load(Ordering::Relaxed)),
        c.failed.load(Ordering::Relaxed)
    ));
}

/// One plain status line for a lane.
fn status_line(label: &str, c: &LaneCounters, elapsed: Duration) -> String {
    let total = c.total.load(Ordering::Relaxed);
    let done = c.done.load(Ordering::Relaxed);
    let finished = done + c.skipped.load(Ordering::Relaxed);
    let pct = if total == 0 {
        100.0
    } else {
        finished as f64 * 100.0 / total as f64
    };
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
    format!(
        "pacer: {label} {finished}/{total} ({pct:.1}%) {rate:.1}/s errors {} tokens {}",
        c.failed.load(Ordering::Relaxed),
        human(c.tokens.load(Ordering::Relaxed)),
    )
}

fn human(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// Stops the display when finished; says a line above the bars meanwhile.
pub struct Display(Option<Box<dyn FnOnce() + Send>>, Option<MultiProgress>);

impl Display {
    /// Writes `line` to stderr, above the bars when they are shown.
    pub fn say(&self, line: &str) {
        match &self.1 {
            Some(multi) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Stops showing progress and clears the bars.
    pub fn finish(mut self) {
        if let Some(stop) = self.0.take() {
            stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_reads_well() {
        let c = LaneCounters::default();
        c.total.store(200, Ordering::Relaxed);
        c.done.store(50, Ordering::Relaxed);
        c.skipped.store(50, Ordering::Relaxed);
        c.failed.store(2, Ordering::Relaxed);
        c.tokens.store(12_345, Ordering::Relaxed);
        assert_eq!(
            status_line("mock-small", &c, Duration::from_secs(10)),
            "pacer: mock-small 100/200 (50.0%) 5.0/s errors 2 tokens 12.3k"
        );
    }
}
