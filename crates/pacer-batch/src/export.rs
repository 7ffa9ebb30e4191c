//! Export to seed 003's combined `results.json`: `{"metadata": {…}, "runs": [{"model_config",
//! "results", "completed_at"}, …]}`, one run per model label, so that the tools written for
//! `run_pilot.py` read a Pacer run as they are.
//!
//! Memory stays bounded by one line of the journal: the JSON is written by hand around each
//! record's line, copied as it is, and the journal is read once to list the labels, then once
//! per label.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::journal::{
    JournalError, KeyHashing, PreHashed, RESULTS_FILE, scan_lines, write_atomically,
};
use crate::manifest::Manifest;
use crate::summary::Summary;

/// What [`export`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Runs (model labels).
    pub runs: usize,
    /// Records over every run.
    pub records: u64,
    /// Distinct prompt ids.
    pub total_prompts: u64,
}

#[derive(Deserialize)]
struct IndexLine {
    label: String,
    #[serde(default)]
    model: String,
    prompt_id: String,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct LabelLine {
    label: String,
}

struct Run {
    label: String,
    model: String,
    records: u64,
    completed_at: Option<String>,
}

/// Writes the run in `dir` (its journal, `summary.json` or else `run.json`) to `out` in seed
/// 003's combined format, replacing `out` whole. A torn last journal line is left out.
pub fn export(dir: &Path, out: &Path) -> Result<ExportStats, JournalError> {
    let results = dir.join(RESULTS_FILE);
    let same =
        |a: io::Result<PathBuf>, b: io::Result<PathBuf>| matches!((a, b), (Ok(a), Ok(b)) if a == b);
    if same(results.canonicalize(), out.canonicalize()) {
        return Err(JournalError::ExportOverJournal { path: results });
    }
    let hashing = KeyHashing::new();
    let mut prompts = HashSet::<u128, BuildHasherDefault<PreHashed>>::default();
    let mut runs = Vec::<Run>::new();
    let mut index = HashMap::<String, usize>::new();
    scan_lines(&results, |_, _, line: IndexLine| {
        prompts.insert(hashing.hash("", &line.prompt_id, 0));
        let i = *index.entry(line.label.clone()).or_insert_with(|| {
            runs.push(Run {
                label: line.label,
                model: line.model,
                records: 0,
                completed_at: None,
            });
            runs.len() - 1
        });
        let run = &mut runs[i];
        run.records += 1;
        if line.timestamp > run.completed_at {
            run.completed_at = line.timestamp;
        }
        Ok(())
    })?;
    let stats = ExportStats {
        runs: runs.len(),
        records: runs.iter().map(|run| run.records).sum(),
        total_prompts: prompts.len() as u64,
    };
    let metadata = metadata(dir, &runs, stats.total_prompts)?;
    let write_err = JournalError::io("write", out);
    write_atomically(out, |file| {
        write_runs(file, &results, &metadata, &runs).map_err(|err| match err {
            Written::Io(err) => write_err(err),
            Written::Journal(err) => err,
        })
    })?;
    Ok(stats)
}

enum Written {
    Io(io::Error),
    Journal(JournalError),
}

impl From<io::Error> for Written {
    fn from(err: io::Error) -> Self {
        Written::Io(err)
    }
}

fn write_runs(
    out: &mut impl Write,
    results: &Path,
    metadata: &Value,
    runs: &[Run],
) -> Result<(), Written> {
    let config = &metadata["config"];
    out.write_all(b"{\"metadata\": ")?;
    serde_json::to_writer(&mut *out, metadata).map_err(io::Error::from)?;
    out.write_all(b",\n\"runs\": [")?;
    for (i, run) in runs.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        out.write_all(b"{\"model_config\": ")?;
        let model_config = model_config(config, &run.label, &run.model);
        serde_json::to_writer(&mut *out, &model_config).map_err(io::Error::from)?;
        out.write_all(b", \"results\": [")?;
        let mut first = true;
        scan_lines(results, |_, raw, line: LabelLine| {
            if line.label == run.label {
                let sep: &[u8] = if first { b"\n" } else { b",\n" };
                first = false;
                out.write_all(sep)
                    .and_then(|()| out.write_all(raw))
                    .map_err(JournalError::io("write", results))?;
            }
            Ok(())
        })
        .map_err(Written::Journal)?;
        out.write_all(b"\n], \"completed_at\": ")?;
        serde_json::to_writer(&mut *out, &run.completed_at).map_err(io::Error::from)?;
        out.write_all(b"}")?;
    }
    out.write_all(b"\n]}\n")?;
    Ok(())
}

/// Seed 003's metadata, from `summary.json` when the run wrote one, else from `run.json` and
/// the journal.
fn metadata(dir: &Path, runs: &[Run], total_prompts: u64) -> Result<Value, JournalError> {
    let last_record = runs.iter().filter_map(|run| run.completed_at.clone()).max();
    let value = if let Some(summary) = Summary::read(dir)? {
        json!({
            "start_time": summary.started_at,
            "end_time": summary.ended_at,
            "config": summary.config,
            "total_prompts": total_prompts,
            "prompts_file": summary.prompts_file,
            "resumed": summary.resumed,
            "run_id": summary.run_id,
        })
    } else {
        let manifest = Manifest::read(dir)?;
        let manifest = manifest.as_ref();
        json!({
            "start_time": manifest.map(|m| &m.started_at),
            "end_time": last_record,
            "config": manifest.map_or(&Value::Null, |m| &m.config),
            "total_prompts": total_prompts,
            "prompts_file": manifest.and_then(|m| m.prompts_file.as_ref()),
            "resumed": false,
            "run_id": manifest.map(|m| &m.run_id),
        })
    };
    Ok(value)
}

/// The model's entry in `config.models`: the one whose `label` is `label`, else the one with
/// no label whose `name` is; `config.models` may also be a table keyed by label. Else
/// `{name, label}`.
fn model_config(config: &Value, label: &str, model: &str) -> Value {
    let found = match config.get("models") {
        Some(Value::Array(models)) => {
            let is = |entry: &Value, key| entry.get(key).and_then(Value::as_str) == Some(label);
            (models.iter().find(|entry| is(entry, "label")))
                .or_else(|| (models.iter()).find(|e| e.get("label").is_none() && is(e, "name")))
        }
        Some(Value::Object(models)) => models.get(label),
        _ => None,
    };
    found
        .cloned()
        .unwrap_or_else(|| json!({"name": model, "label": label}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_config_prefers_label_then_name() {
        let config = json!({"models": [
            {"name": "gpt", "temperature": 1.0},
            {"name": "claude", "label": "gpt", "temperature": 0.0},
        ]});
        assert_eq!(model_config(&config, "gpt", "x")["name"], "claude");
        assert_eq!(
            model_config(&config, "claude", "x"),
            json!({"name": "x", "label": "claude"})
        );
        assert_eq!(
            model_config(&config, "other", "o-1"),
            json!({"name": "o-1", "label": "other"})
        );
    }
}
