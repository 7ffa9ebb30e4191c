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

/// `pacer report`: the HTML report of the folders.
pub fn report(args: crate::cli::ReportArgs) -> anyhow::Result<ExitCode> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.dirs[0].join("report.html"));
    write_report(&args.dirs, &out, args.prompts, false)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the report of `dirs` to `out` and, unless `quiet`, says where.
pub fn write_report(
    dirs: &[std::path::PathBuf],
    out: &std::path::Path,
    prompts: usize,
    quiet: bool,
) -> anyhow::Result<()> {
    let options = pacer_report::Options { prompts };
    let written = pacer_report::write(dirs, out, &options)?;
    if quiet {
        return Ok(());
    }
    if written.prompts_left_out > 0 {
        eprintln!(
            "pacer: {} prompts left out of the prompt browser to keep the file under about 20 MB",
            written.prompts_left_out
        );
    }
    eprintln!(
        "pacer: wrote {} ({} records, {} prompts in the browser, {:.1} MB)",
        out.display(),
        written.records,
        written.prompts,
        written.bytes as f64 / 1e6
    );
    Ok(())
}
