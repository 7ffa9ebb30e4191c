//! `pacer run`: the config and flags checked, then a [`Batch`] from `pacer-batch` runs it,
//! with a progress display, Ctrl-C to stop and resume later, the table and the exit status.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pacer_batch::{Batch, BatchDeployment, BatchModel, Notice, OpenMode};
use pacer_engine::{AttemptSchedule, LaneConfig, RetryPolicy};

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
    // A config given in memory is named so in its errors; its paths are from here.
    let in_memory = Path::new("config");
    let file = match (&args.config, &args.config_value) {
        (_, Some(value)) => Some((in_memory, config::from_value(value.clone(), in_memory)?)),
        (Some(path), None) => Some((path.as_path(), config::load(path)?)),
        (None, None) => None,
    };
    let overrides = Overrides {
        prompts: args.prompts_arg.clone().or(args.prompts.clone()),
        output: args.output.clone(),
        num_prompts: args.num_prompts,
        samples: args.samples,
        temperature: args.temperature,
        seed: args.seed,
        logprobs: args.logprobs,
        schema: args.schema.clone(),
        batch: args.batch,
        ..args.model.overrides()
    };
    Ok(config::resolve(file, &overrides)?)
}

pub(crate) async fn run(config: RunConfig, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut models = Vec::with_capacity(config.models.len());
    for model in &config.models {
        let provider = providers::build(model)
            .map_err(|e| anyhow::anyhow!("model {}: {}", model.label, e.message))?;
        let lane = lane_config(config.max_retries, model);
        let mut deployments = Vec::with_capacity(model.deployments.len());
        for d in &model.deployments {
            let id = d.deployment.clone().unwrap_or_default();
            let provider = providers::build(d).map_err(|e| {
                anyhow::anyhow!("model {}, deployment {id}: {}", model.label, e.message)
            })?;
            deployments.push(BatchDeployment {
                id,
                name: d.name.clone(),
                provider,
                // The entry's checks and schedule, the deployment's limits and price.
                lane: LaneConfig {
                    limits: d.limits,
                    concurrency: d.concurrency,
                    timeout: d.timeout,
                    price: d.price,
                    ..lane.clone()
                },
            });
        }
        models.push(BatchModel {
            label: model.label.clone(),
            name: model.name.clone(),
            provider,
            samples: model.samples,
            params: model.params.clone(),
            lane,
            batch: model.batch.clone(),
            embed: model.embed.clone(),
            deployments,
        });
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
    let quiet = args.quiet;
    // The display starts once the run has said what it found in its folder.
    let display = Arc::new(Mutex::new(None));
    let shown = display.clone();
    let batch = Batch::new(&config.prompts, &config.output)
        .models(models)
        .mode(mode)
        .num_prompts(config.num_prompts)
        .skip_invalid(args.skip_invalid)
        .budget(config.budget.usd, config.budget.tokens)
        .config(config.redacted.clone());
    let batch = match args.redis.as_ref().or(config.redis.as_ref()) {
        Some(url) => {
            let redis = crate::cluster::open(url, "--redis (or the config's `redis`)")?;
            if !args.quiet {
                eprintln!(
                    "pacer: coordinating through {}: start workers with `pacer worker --redis {}`",
                    redis.shown(),
                    redis.shown()
                );
            }
            let spec = crate::cluster::spec(&config);
            batch.queue(pacer_batch::queue::Queue { redis, spec })
        }
        None => batch,
    };
    let progress = Progress::new(batch.counters(), Mode::detect(args.quiet));
    let batch = batch.on_notice(move |notice| match notice {
        Notice::Running => {
            *shown.lock().unwrap_or_else(|e| e.into_inner()) = Some(progress.start());
        }
        // A batch's progress goes above the bars, if they are shown.
        Notice::Batch(batch) if !quiet => {
            let line = format!("pacer: {}", batch_line(batch));
            match shown.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                Some(display) => display.say(&line),
                None => eprintln!("{line}"),
            }
        }
        _ => notify(notice, quiet),
    });
    let stopper = batch.stopper();
    let interrupt = args.interrupt.clone();
    let ctrl_c = tokio::spawn(async move {
        if let Some(interrupt) = interrupt {
            // Embedded: the host keeps its Ctrl-C and says when to stop.
            interrupt.notified().await;
            stopper.stop("interrupted: finished work is saved; run again to continue");
            return;
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            stopper
                .stop("interrupted: finished work is saved; run again with --resume to continue");
        }
        // A second Ctrl-C ends at once (waiting on Redis, say): the journal holds only
        // whole records, and --resume goes on from them.
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("pacer: stopped at once; run again with --resume to continue");
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    });
    let report = batch.run().await;
    ctrl_c.abort();
    if let Some(display) = display.lock().unwrap_or_else(|e| e.into_inner()).take() {
        display.finish();
    }
    let report = report?;

    for (_, reason) in &report.stopped {
        eprintln!("pacer: {}", reason.message);
    }
    if !report.batches_in_flight.is_empty() {
        eprintln!(
            "pacer: {} batches keep running at the provider ({}): run again with --resume to collect their results, or `pacer batches {} --cancel` to cancel them",
            report.batches_in_flight.len(),
            report.batches_in_flight.join(", "),
            config.output.display()
        );
    }
    if !args.quiet {
        eprintln!("{}", pacer_batch::table(&report.summary));
        eprintln!(
            "pacer: results in {} ({:.1} s)",
            report.results.display(),
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
    if args.report {
        let out = config.output.join("report.html");
        // The run's records are written whatever happens here: its exit status stays its own.
        if let Err(err) = crate::export::write_report(
            std::slice::from_ref(&config.output),
            &out,
            pacer_report::DEFAULT_PROMPTS,
            args.quiet,
        ) {
            eprintln!(
                "pacer: no report: {err:#}; `pacer report {}` tries again",
                config.output.display()
            );
        }
    }
    Ok(if report.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if report.pending > 0 {
        eprintln!("pacer: some items are still pending; run again with --resume to finish them");
        ExitCode::from(EXIT_PENDING)
    } else {
        ExitCode::SUCCESS
    })
}

/// The lane of `model`: its limits, concurrency, timeout, price, retries, temperature
/// schedule and output schema.
pub(crate) fn lane_config(max_retries: u32, model: &config::ModelSpec) -> LaneConfig {
    let mut lane = LaneConfig::new(model.label.clone());
    lane.limits = model.limits;
    lane.concurrency = model.concurrency;
    lane.timeout = model.timeout;
    lane.price = model.price;
    lane.retry = RetryPolicy {
        max_retries,
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

/// What the run says as it opens its folder.
fn notify(notice: &Notice<'_>, quiet: bool) {
    match notice {
        // Always said: the list of skipped prompts is where the user must look.
        Notice::SkippedInvalid { count, listed_in } => eprintln!(
            "pacer: skipped {count} invalid prompts, listed in {}",
            listed_in.display()
        ),
        Notice::Untaken { count } => eprintln!(
            "pacer: {count} prompts are for no model of this run (embedding lines with no embedding model, chat lines or conversations with no chat model): they get no record"
        ),
        _ if quiet => {}
        Notice::TornLineDropped { bytes, line } => eprintln!(
            "pacer: dropped a torn last line ({bytes} bytes at line {line}) left by an interrupted run; its job runs again"
        ),
        Notice::MovedAside(aside) => {
            eprintln!("pacer: moved the earlier results to {}", aside.display())
        }
        Notice::Resuming {
            done,
            succeeded,
            failed,
        } => {
            eprintln!("pacer: resuming: {done} jobs already done ({succeeded} ok, {failed} failed)")
        }
        Notice::Batch(_) | Notice::Running => {}
    }
}

/// One line on a batch: `gpt-4o-mini batch pacer-1a2b3c4d-0 (batch_abc): in_progress, 120/500
/// done, 3 failed, 2m10s since submit`.
fn batch_line(batch: &pacer_batch::BatchProgress) -> String {
    let mut line = format!("{} batch {}", batch.label, batch.tag);
    if let Some(id) = &batch.id {
        line.push_str(&format!(" ({id})"));
    }
    line.push_str(&format!(
        ": {}, {}/{} done, {} failed",
        batch.state, batch.succeeded, batch.total, batch.failed
    ));
    if let Some(since) = batch.since_submit {
        let secs = since.as_secs();
        line.push_str(&format!(", {}m{:02}s since submit", secs / 60, secs % 60));
    }
    line
}
