//! `pacer run`: config and prompts checked, the journal opened, one lane per model fed by its
//! own cursor over the prompts, every outcome journalled, then the summary.

pub mod feed;
mod write;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::stream;
use pacer_batch::{InputError, scan};
use pacer_batch::{Journal, Manifest, OpenMode};
use pacer_core::ErrorKind;
use pacer_engine::{AttemptSchedule, Budget, Lane, LaneConfig, RetryPolicy, Spending, StopHandle};
use tokio::sync::mpsc;

use crate::cli::RunArgs;
use crate::config::{self, Overrides, RunConfig};
use crate::progress::{Mode, Progress};
use crate::providers;

/// Exit status when some jobs are still pending (a lane stopped, or the run was interrupted).
const EXIT_PENDING: u8 = 3;
/// Exit status after Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

/// Runs `pacer run`.
pub async fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args)?;
    run(config, &args).await
}

/// The run's config: the file (if any) and the flags, checked.
pub fn load(args: &RunArgs) -> anyhow::Result<RunConfig> {
    let file = match &args.config {
        Some(path) => Some((path.as_path(), config::load(path)?)),
        None => None,
    };
    let overrides = Overrides {
        prompts: args.prompts_arg.clone().or(args.prompts.clone()),
        output: args.output.clone(),
        num_prompts: args.num_prompts,
        models: args.models.clone(),
        samples: args.samples,
        concurrency: args.concurrency,
        rpm: args.rpm,
        tpm: args.tpm,
        itpm: args.itpm,
        otpm: args.otpm,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        seed: args.seed,
        logprobs: args.logprobs,
        max_retries: args.max_retries,
        tier: args.tier.clone(),
        limits_file: args.limits.clone(),
        budget_usd: args.budget_usd,
        budget_tokens: args.budget_tokens,
        schema: args.schema.clone(),
    };
    Ok(config::resolve(file, &overrides)?)
}

async fn run(config: RunConfig, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut providers = config
        .models
        .iter()
        .map(|m| {
            providers::build(m).map_err(|e| anyhow::anyhow!("model {}: {}", m.label, e.message))
        })
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter();
    let prompts = config.prompts.clone();
    let (limit, skip_invalid) = (config.num_prompts, args.skip_invalid);
    let scanned = tokio::task::spawn_blocking(move || scan(&prompts, limit, skip_invalid))
        .await
        .context("the prompt scan panicked")??;
    if scanned.count == 0 {
        match scanned.invalid.first() {
            None => bail!("{}: no prompts to run", config.prompts.display()),
            Some(first) => bail!(
                "{}: no valid prompts to run: all {} are invalid, the first: {first}",
                config.prompts.display(),
                scanned.invalid.len()
            ),
        }
    }

    let mode = if args.fresh {
        OpenMode::Fresh
    } else if args.resume || args.retry_failed {
        OpenMode::Resume {
            retry_failed: args.retry_failed,
        }
    } else {
        OpenMode::New
    };
    let resumed = matches!(mode, OpenMode::Resume { .. });
    let (journal, done) = Journal::open(&config.output, mode)?;
    report_journal(&done, args.quiet);
    // The records already there (on resume) are totalled once now; the writer adds the rest.
    let tally = pacer_batch::Tally::read(journal.path())?;
    // The budget covers the whole run: what earlier runs of this folder billed counts, the
    // failures `--retry-failed` moved aside included.
    let moved = pacer_batch::Tally::read(&config.output.join(pacer_batch::RETRIED_FAILURES_FILE))?;
    let budget = config.budget.any().then(|| {
        let (tokens, usd) = tally.spent();
        let (moved_tokens, moved_usd) = moved.spent();
        let (tokens, usd) = (tokens + moved_tokens, usd + moved_usd);
        Budget::new(
            config.budget.usd,
            config.budget.tokens,
            Spending { usd, tokens },
        )
    });
    write_invalid(&config.output, &scanned.invalid)?;
    let manifest = match Manifest::read(&config.output)? {
        Some(manifest) if resumed => manifest,
        _ => {
            let manifest = Manifest::new(
                Some(config.prompts.display().to_string()),
                config.redacted.clone(),
            );
            manifest.write(&config.output)?;
            manifest
        }
    };

    let progress = Progress::new(
        config.models.iter().map(|m| m.label.clone()),
        Mode::detect(args.quiet),
    );
    let done = Arc::new(done);
    let (outcomes_tx, outcomes_rx) = mpsc::channel(1024);
    let mut lanes = Vec::new();
    let mut infos = Vec::new();
    let mut feeders = Vec::new();
    for (index, model) in config.models.iter().enumerate() {
        let counters = progress.counters(index);
        counters.total.store(
            scanned.count * u64::from(model.samples),
            std::sync::atomic::Ordering::Relaxed,
        );
        let provider = providers.next().expect("one provider per model");
        let max_per_call = provider.max_samples_per_call(&model.name);
        infos.push(write::LaneInfo {
            label: model.label.clone(),
            model: model.name.clone(),
            provider: provider.kind(),
            price: model.price,
            counters: counters.clone(),
        });
        let mut lane_config = lane_config(&config, model);
        lane_config.budget = budget.clone();
        let lane = Lane::builder(lane_config, provider).build();
        let (items_tx, items_rx) = mpsc::channel(ITEMS_AHEAD);
        feeders.push(feed::spawn(
            feed::Feed {
                lane: index,
                model: model.clone(),
                prompts: config.prompts.clone(),
                limit: config.num_prompts,
                done: done.clone(),
                counters,
                max_per_call,
            },
            items_tx,
        ));
        lanes.push((Arc::new(lane), items_rx));
    }
    let writer = write::spawn(journal, tally, manifest.run_id.clone(), infos, outcomes_rx);
    let display = progress.start();

    let stops: Vec<StopHandle> = lanes.iter().map(|(lane, _)| lane.stop_handle()).collect();
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ctrl_c = {
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                for stop in &stops {
                    stop.stop(
                        "interrupted: finished work is saved; run again with --resume to continue",
                    );
                }
            }
        })
    };
    let mut tasks = Vec::new();
    for (lane, items_rx) in lanes {
        let tx = outcomes_tx.clone();
        let lane_started = Instant::now();
        tasks.push(tokio::spawn(async move {
            let items = stream::unfold(items_rx, |mut rx| async move {
                rx.recv().await.map(|i| (i, rx))
            });
            let stats = lane.run(items, tx).await;
            (lane, stats, lane_started.elapsed())
        }));
    }
    drop(outcomes_tx);
    let mut ended = Vec::new();
    for task in tasks {
        ended.push(task.await.context("a lane panicked")?);
    }
    ctrl_c.abort();
    let (journal, tally) = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the journal writer panicked"))?
        .with_context(|| format!("writing {}", config.output.join("results.jsonl").display()))?;
    drop(journal);
    for feeder in feeders {
        let _ = feeder.join();
    }
    display.finish();

    let mut any_pending = false;
    let mut reports = Vec::new();
    for (index, (lane, _, elapsed)) in ended.iter().enumerate() {
        let model = &config.models[index];
        let counters = progress.counters(index);
        let finished = counters.done.load(std::sync::atomic::Ordering::Relaxed)
            + counters.skipped.load(std::sync::atomic::Ordering::Relaxed);
        let total = counters.total.load(std::sync::atomic::Ordering::Relaxed);
        let pending = total.saturating_sub(finished);
        any_pending |= pending > 0;
        let stopped = lane.stopped().map(|r| r.message);
        if let Some(reason) = &stopped {
            eprintln!("pacer: {reason}");
        }
        reports.push(pacer_batch::LaneReport {
            label: model.label.clone(),
            elapsed_seconds: elapsed.as_secs_f64(),
            // Jobs (records), not calls: samples sent as `n` share one call.
            completed: counters.done.load(std::sync::atomic::Ordering::Relaxed),
            pending,
            stopped,
        });
    }
    let per_label = tally.finish();
    let mut summary = pacer_batch::Summary::new(&manifest, per_label, &reports);
    summary.resumed = resumed;
    summary.budget_exhausted = ended.iter().any(|(lane, _, _)| {
        lane.stopped()
            .is_some_and(|r| r.kind == Some(ErrorKind::BudgetExhausted))
    });
    summary.write(&config.output)?;
    if !args.quiet {
        eprintln!("{}", pacer_batch::table(&summary));
        eprintln!(
            "pacer: results in {} ({:.1} s)",
            config.output.join("results.jsonl").display(),
            started.elapsed().as_secs_f64()
        );
    }
    if args.export {
        let out = config.output.join("results.json");
        pacer_batch::export(&config.output, &out)?;
        if !args.quiet {
            eprintln!("pacer: exported {}", out.display());
        }
    }
    Ok(if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if any_pending {
        eprintln!("pacer: some items are still pending; run again with --resume to finish them");
        ExitCode::from(EXIT_PENDING)
    } else {
        ExitCode::SUCCESS
    })
}

/// Items read ahead of each lane, so that a fast lane never waits on the prompts file.
const ITEMS_AHEAD: usize = 64;

fn lane_config(config: &RunConfig, model: &config::ModelSpec) -> LaneConfig {
    let mut lane = LaneConfig::new(model.label.clone());
    lane.concurrency = model.concurrency;
    lane.timeout = model.timeout;
    lane.price = model.price;
    lane.limits = model.limits;
    lane.retry = RetryPolicy {
        max_retries: config.max_retries,
        ..RetryPolicy::default()
    };
    lane.schedule = AttemptSchedule {
        temperature: model.temperature_schedule.clone(),
    };
    lane.validator = model
        .schema
        .clone()
        .map(|schema| schema as Arc<dyn pacer_engine::Validator>);
    lane
}

fn report_journal(done: &pacer_batch::Done, quiet: bool) {
    if quiet {
        return;
    }
    if let Some(repaired) = done.repaired() {
        eprintln!(
            "pacer: dropped a torn last line ({} bytes at line {}) left by an interrupted run; its job runs again",
            repaired.dropped_bytes, repaired.line
        );
    }
    if let Some(aside) = done.moved_aside() {
        eprintln!("pacer: moved the earlier results to {}", aside.display());
    }
    if !done.is_empty() {
        eprintln!(
            "pacer: resuming: {} jobs already done ({} ok, {} failed)",
            done.len(),
            done.succeeded(),
            done.failed()
        );
    }
}

/// Lists the invalid prompts skipped with `--skip-invalid`; each run's scan finds them all
/// again, so the list is rewritten, not appended to.
fn write_invalid(dir: &Path, invalid: &[InputError]) -> anyhow::Result<()> {
    if invalid.is_empty() {
        return Ok(());
    }
    use std::io::Write;
    let path = dir.join("invalid_inputs.jsonl");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    for error in invalid {
        let line = serde_json::json!({
            "file": error.path.display().to_string(),
            "line": error.line,
            "index": error.index,
            "field": error.field,
            "error": error.to_string(),
        });
        writeln!(file, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
    }
    file.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "pacer: skipped {} invalid prompts, listed in {}",
        invalid.len(),
        path.display()
    );
    Ok(())
}
