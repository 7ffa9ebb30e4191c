//! `pacer`: send prompts × models × samples to language models, paced under every limit,
//! retried, journalled and resumable. The command's whole work is here, so that the `pacer`
//! binary and the Python package's `pacer` command (crates/pacer-py) are one program.

mod batches;
mod cli;
mod cluster;
mod config;
mod export;
mod mock;
mod progress;
mod providers;
mod run;
mod serve;
mod validate;

use std::process::ExitCode;

use clap::Parser;

/// An exit status as its number (0 to 255).
pub fn exit_number(code: ExitCode) -> u8 {
    (0..=u8::MAX)
        .find(|n| ExitCode::from(*n) == code)
        .unwrap_or(1)
}

/// What a `pacer run` started by [`run_with`] left.
#[derive(Debug)]
pub struct RunDone {
    /// Its exit status: 0 done, 3 jobs still pending (a model stopped), 130 interrupted.
    pub exit: u8,
    /// Its output folder (`results.jsonl`, `summary.json`, ...).
    pub output: std::path::PathBuf,
}

/// Runs `pacer run` with the flags `args` (what follows `run` on a command line) and, where
/// given, `config` in the config file's form (a TOML table or seed 003's JSON, as JSON)
/// instead of a `--config` file; its relative paths are from the current folder. `Err`:
/// the flags or the config are wrong, or the run could not start (the message names the
/// file, the key and what was expected).
///
/// `interrupt`, where given, stops the run as a first Ctrl-C would (what is finished is
/// saved, the rest stays for the next run); the process's own Ctrl-C is then left alone.
pub fn run_with(
    args: &[String],
    config: Option<serde_json::Value>,
    interrupt: Option<std::sync::Arc<tokio::sync::Notify>>,
) -> anyhow::Result<RunDone> {
    let mut run_args = run_args(args, config)?;
    run_args.interrupt = interrupt;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let config = run::load(&run_args)?;
    let output = config.output.clone();
    let exit = runtime.block_on(run::run(config, &run_args))?;
    Ok(RunDone {
        exit: exit_number(exit),
        output,
    })
}

/// The output folder a `pacer run` with these `args` and `config` (as for [`run_with`])
/// would write to, its config checked, nothing run.
pub fn output_of(
    args: &[String],
    config: Option<serde_json::Value>,
) -> anyhow::Result<std::path::PathBuf> {
    Ok(run::load(&run_args(args, config)?)?.output)
}

fn run_args(args: &[String], config: Option<serde_json::Value>) -> anyhow::Result<cli::RunArgs> {
    let argv = ["pacer".to_owned(), "run".to_owned()]
        .into_iter()
        .chain(args.iter().cloned());
    let cli::Command::Run(mut run_args) = cli::Cli::try_parse_from(argv)?.command else {
        anyhow::bail!("not a `pacer run` command");
    };
    run_args.config_value = config;
    Ok(run_args)
}

/// One model entry of a config, checked, with what a lane of it needs: for a library that
/// drives the engine itself (the Python package's `Processor`).
pub struct ModelLane {
    /// Its label (the entry's `label`, else its name).
    pub label: String,
    /// Its name at the provider.
    pub name: String,
    /// Its provider, built as `pacer run` builds it.
    pub provider: std::sync::Arc<dyn pacer_core::Provider>,
    /// Its request parameters (temperature, max_tokens, ...).
    pub params: pacer_core::Params,
    /// Its lane: limits, concurrency, timeout, price, retries, temperature schedule.
    pub lane: pacer_engine::LaneConfig,
}

/// The model `entry` describes (one `[[models]]` entry of a config, as JSON), with
/// `max_retries` error retries (default 3); `Err` names the key that is wrong.
pub fn model_lane(entry: serde_json::Value, max_retries: Option<u32>) -> anyhow::Result<ModelLane> {
    let origin = std::path::Path::new("model");
    let file = config::from_value(
        serde_json::json!({"models": [entry], "max_retries": max_retries}),
        origin,
    )?;
    let models = config::resolve_serve(Some(origin), &file, &config::Overrides::default())?;
    let spec = models
        .models
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no model"))?;
    let provider = providers::build(&spec).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    Ok(ModelLane {
        lane: run::lane_config(models.max_retries, &spec),
        label: spec.label,
        name: spec.name,
        provider,
        params: spec.params,
    })
}

/// Runs the `pacer` command with `args` (the program's name first) and returns its exit
/// status: what `pacer` does, for a caller of its own (the Python package's command).
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = match cli::Cli::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            // Help and version are printed to standard output and succeed; mistakes fail.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PACER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    // A lane keeps as many requests in flight as its limit admits (up to 1,024), each on a
    // connection of its own; the common soft limit of 1,024 open files would cut that short.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!("cannot raise the open-files limit: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            cli::Command::Run(run) => run::main(run).await,
            cli::Command::Export(export) => export::main(export),
            cli::Command::Report(args) => export::report(args),
            cli::Command::Mock(args) => mock::run(args).await.map(|()| ExitCode::SUCCESS),
            cli::Command::Validate(validate) => validate::main(validate).await,
            cli::Command::Serve(serve) => serve::main(serve).await,
            cli::Command::Batches(args) => batches::main(args).await,
            cli::Command::Worker(args) => cluster::main(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
