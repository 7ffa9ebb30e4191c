//! `pacer`: send prompts × models × samples to language models, paced under every limit,
//! retried, journalled and resumable.

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

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PACER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
