//! Helpers shared by the end-to-end tests: running the real `pacer` binary in a temporary
//! folder and reading what it wrote.
//!
//! Each test module uses only part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The `pacer` binary built by Cargo for these tests.
pub const PACER: &str = env!("CARGO_BIN_EXE_pacer");

/// What one run of the binary did.
#[derive(Debug)]
pub struct Output {
    /// The exit status (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Panics with both streams unless the exit status is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit status {code}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless standard error holds every one of `needles`.
    #[track_caller]
    pub fn expect_stderr(&self, needles: &[&str]) -> &Self {
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}:\n{}",
                self.stderr
            );
        }
        self
    }
}

/// A `pacer` command run from `dir`, with a clean log filter.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(PACER);
    cmd.current_dir(dir)
        .env_remove("PACER_LOG")
        .stdin(Stdio::null());
    cmd
}

/// Runs `pacer ARGS` from `dir` to its end.
pub fn pacer(dir: &Path, args: &[&str]) -> Output {
    let out = command(dir)
        .args(args)
        .output()
        .expect("the pacer binary starts");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `pacer ARGS` from `dir` with `env` set, off the test's runtime.
pub async fn run_with(dir: &Path, env: Vec<(&str, String)>, args: &[&str]) -> Output {
    let mut cmd = command(dir);
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.args(args);
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().expect("the pacer binary starts");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, text).unwrap();
    path
}

/// A JSONL prompts file's text: `n` prompts `q000`, `q001`, … with a category and a flag.
pub fn jsonl_prompts(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let line = serde_json::json!({
            "prompt_id": format!("q{i:03}"),
            "prompt": format!("Question number {i}: does it exist?"),
            "category": format!("cat{}", i % 3),
            "is_synthetic_probe": i.is_multiple_of(2),
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    text
}

/// A TOML config with two mock models (`mock-small` with 2 samples, `mock-large` labelled
/// `large-hot`) reading `prompts.jsonl` and writing to `out`.
pub const TWO_MODELS: &str = r#"
prompts_file = "prompts.jsonl"
output_dir = "out"
seed = 7
max_retries = 2

[[models]]
name = "mock-small"
type = "mock"
samples = 2
temperature = 0.0
max_tokens = 32

[[models]]
name = "mock-large"
type = "mock"
label = "large-hot"
temperature = 0.7
"#;

/// Every line of a JSON-lines file parsed; panics naming the line that is not a JSON object
/// or that lacks its newline.
#[track_caller]
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} does not end with a newline",
        path.display()
    );
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "{} line {}: not valid JSON ({e}): {line}",
                    path.display(),
                    i + 1
                )
            });
            assert!(
                value.is_object(),
                "{} line {}: not an object",
                path.display(),
                i + 1
            );
            value
        })
        .collect()
}

/// The records of the run in `out` (its `results.jsonl`).
#[track_caller]
pub fn records(out: &Path) -> Vec<Value> {
    read_jsonl(&out.join("results.jsonl"))
}

/// Reads a JSON file.
#[track_caller]
pub fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// A record's job key: (label, prompt_id, sample).
pub fn key(record: &Value) -> (String, String, u64) {
    (
        record["label"]
            .as_str()
            .expect("label is a string")
            .to_owned(),
        record["prompt_id"]
            .as_str()
            .expect("prompt_id is a string")
            .to_owned(),
        record["sample"].as_u64().expect("sample is a number"),
    )
}

/// Records per label.
pub fn count_by_label(records: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for record in records {
        *counts
            .entry(record["label"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

/// Panics unless `records` hold exactly one record for every (label, prompt, sample) of
/// `prompt_ids` × `labels` (each label with its number of samples), and nothing else.
#[track_caller]
pub fn assert_one_per_key(records: &[Value], prompt_ids: &[String], labels: &[(&str, u64)]) {
    let mut seen = HashMap::<(String, String, u64), usize>::new();
    for record in records {
        *seen.entry(key(record)).or_insert(0) += 1;
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "jobs recorded more than once: {duplicates:?}"
    );
    let mut missing = Vec::new();
    for (label, samples) in labels {
        for id in prompt_ids {
            for sample in 0..*samples {
                let key = ((*label).to_owned(), id.clone(), sample);
                if seen.remove(&key).is_none() {
                    missing.push(key);
                }
            }
        }
    }
    assert!(missing.is_empty(), "jobs without a record: {missing:?}");
    assert!(seen.is_empty(), "records for unexpected jobs: {seen:?}");
    let expected: u64 = labels.iter().map(|(_, s)| s).sum::<u64>() * prompt_ids.len() as u64;
    assert_eq!(records.len() as u64, expected);
}

/// `q000` … for `n` prompts, as written by [`jsonl_prompts`].
pub fn prompt_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("q{i:03}")).collect()
}

/// Panics unless `summary.json`'s per-label and overall totals agree with `records`.
#[track_caller]
pub fn assert_summary_matches(summary: &Value, records: &[Value]) {
    let mut by_label = BTreeMap::<String, [u64; 6]>::new();
    for record in records {
        let entry = by_label
            .entry(record["label"].as_str().unwrap().to_owned())
            .or_default();
        entry[0] += 1;
        match record["status"].as_str().unwrap() {
            "ok" => entry[1] += 1,
            "error" => entry[2] += 1,
            other => panic!("unknown status {other}"),
        }
        let usage = &record["usage_all_attempts"];
        entry[3] += usage["input"].as_u64().unwrap();
        entry[4] += usage["output"].as_u64().unwrap();
        entry[5] += usage["total"].as_u64().unwrap();
    }
    let models = summary["models"].as_object().expect("summary.models");
    for (label, [n, ok, failed, input, output, total]) in &by_label {
        let model = models
            .get(label)
            .unwrap_or_else(|| panic!("summary has no entry for {label}: {summary:#}"));
        assert_eq!(model["records"], *n, "{label} records");
        assert_eq!(model["succeeded"], *ok, "{label} succeeded");
        assert_eq!(model["failed"], *failed, "{label} failed");
        assert_eq!(model["tokens"]["input"], *input, "{label} input tokens");
        assert_eq!(model["tokens"]["output"], *output, "{label} output tokens");
        assert_eq!(model["tokens"]["total"], *total, "{label} total tokens");
    }
    let sum = |i: usize| by_label.values().map(|v| v[i]).sum::<u64>();
    let totals = &summary["totals"];
    assert_eq!(totals["records"], sum(0), "total records");
    assert_eq!(totals["succeeded"], sum(1), "total succeeded");
    assert_eq!(totals["failed"], sum(2), "total failed");
    assert_eq!(totals["tokens"]["total"], sum(5), "total tokens");
}
