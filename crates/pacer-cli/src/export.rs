//! `pacer export`.

use std::process::ExitCode;

use crate::cli::ExportArgs;

/// Writes seed 003's combined results.json.
pub fn main(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let out = args.out.unwrap_or_else(|| args.dir.join("results.json"));
    pacer_batch::export(&args.dir, &out)?;
    eprintln!("pacer: wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
