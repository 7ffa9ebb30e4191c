//! `pacer export`: seed 003's combined results.json, or OpenAI batch output lines.

use std::process::ExitCode;

use crate::cli::{ExportArgs, ExportFormat};

/// Writes the run's results in the asked format.
pub fn main(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let out = match (&args.out, args.format) {
        (Some(out), _) => out.clone(),
        (None, ExportFormat::Seed003) => args.dir.join("results.json"),
        (None, ExportFormat::OpenaiBatch) => args.dir.join("batch_output.jsonl"),
    };
    let stats = match args.format {
        ExportFormat::Seed003 => {
            if args.label.is_some() {
                anyhow::bail!("--label applies to --format openai-batch only");
            }
            pacer_batch::export(&args.dir, &out)?
        }
        ExportFormat::OpenaiBatch => {
            pacer_batch::export_openai_batch(&args.dir, &out, args.label.as_deref())?
        }
    };
    eprintln!("pacer: wrote {} ({} records)", out.display(), stats.records);
    Ok(ExitCode::SUCCESS)
}
