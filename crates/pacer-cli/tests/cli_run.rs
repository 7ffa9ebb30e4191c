//! End-to-end runs of the real `pacer` binary on the mock provider: the records it writes,
//! the summary, CLI-only models, seed 003's JSON config, export, input formats, rate limits,
//! and keeping API keys out of every file and message.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use common::*;
use serde_json::{Value, json};

/// Every field a record must carry.
const RECORD_FIELDS: [&str; 17] = [
    "run_id",
    "prompt_id",
    "model",
    "full_response",
    "tokens_used",
    "sampling_params",
    "timestamp",
    "elapsed_seconds",
    "error",
    "retry_count",
    "provider",
    "label",
    "sample",
    "status",
    "attempts",
    "usage_all_attempts",
    "is_synthetic_probe",
];

const TWO_MODELS: &str = r#"
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

/// Checks one successful record against the prompt it came from.
#[track_caller]
fn check_ok_record(record: &Value, run_id: &str) {
    for field in RECORD_FIELDS {
        assert!(
            record.get(field).is_some(),
            "record lacks `{field}`: {record}"
        );
    }
    assert_eq!(record["run_id"], run_id);
    assert_eq!(record["provider"], "mock");
    assert_eq!(record["status"], "ok");
    assert_eq!(record["error"], Value::Null);
    assert_eq!(record["retry_count"], 0);
    assert_eq!(record["attempts"], 1);
    let response = record["full_response"]
        .as_str()
        .expect("full_response is text");
    assert!(!response.is_empty());
    let tokens = &record["tokens_used"];
    let (input, output) = (
        tokens["input"].as_u64().unwrap(),
        tokens["output"].as_u64().unwrap(),
    );
    assert!(input > 0 && output > 0, "{tokens}");
    assert_eq!(tokens["total"].as_u64().unwrap(), input + output);
    let all = &record["usage_all_attempts"];
    assert_eq!(
        all["total"], tokens["total"],
        "one attempt: all attempts = the last one"
    );
    assert!(record["sampling_params"].is_object());
    let timestamp = record["timestamp"].as_str().expect("timestamp is text");
    assert!(
        timestamp.contains('T') && timestamp.ends_with('Z'),
        "{timestamp}"
    );
    assert!(
        record["elapsed_seconds"]
            .as_f64()
            .expect("elapsed is a number")
            >= 0.0
    );

    // The prompt's metadata: `category` arrives as `prompt_category`, the rest as is.
    let id = record["prompt_id"].as_str().unwrap();
    let i: usize = id[1..].parse().unwrap();
    assert_eq!(
        record["prompt_category"],
        format!("cat{}", i % 3),
        "{record}"
    );
    assert_eq!(
        record["is_synthetic_probe"],
        i.is_multiple_of(2),
        "{record}"
    );
    assert!(
        record.get("category").is_none(),
        "`category` must be renamed: {record}"
    );
}

#[test]
fn two_models_from_toml_write_one_full_record_per_job_and_a_matching_summary() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(4));
    write(dir.path(), "run.toml", TWO_MODELS);

    pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"]).expect_code(0);

    let out = dir.path().join("out");
    let records = records(&out);
    assert_eq!(
        count_by_label(&records),
        BTreeMap::from([("large-hot".to_owned(), 4), ("mock-small".to_owned(), 8)])
    );
    assert_one_per_key(
        &records,
        &prompt_ids(4),
        &[("mock-small", 2), ("large-hot", 1)],
    );

    let manifest = read_json(&out.join("run.json"));
    let run_id = manifest["run_id"].as_str().expect("run.json has a run_id");
    for record in &records {
        check_ok_record(record, run_id);
        let params = &record["sampling_params"];
        assert_eq!(params["seed"], 7);
        match record["label"].as_str().unwrap() {
            "mock-small" => {
                assert_eq!(record["model"], "mock-small");
                assert_eq!(params["temperature"], 0.0);
                assert_eq!(params["max_tokens"], 32);
            }
            "large-hot" => {
                assert_eq!(record["model"], "mock-large");
                assert_eq!(params["temperature"], 0.7);
            }
            other => panic!("unexpected label {other}"),
        }
    }

    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["run_id"], run_id);
    assert_eq!(summary["resumed"], false);
    assert_summary_matches(&summary, &records);
    for label in ["mock-small", "large-hot"] {
        let model = &summary["models"][label];
        assert_eq!(model["provider"], "mock");
        assert_eq!(model["failed"], 0);
        assert_eq!(model["pending"], 0);
        assert_eq!(model["stopped"], Value::Null);
    }
}

#[test]
fn models_given_only_on_the_command_line_run_with_samples() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(5));

    let run = pacer(
        dir.path(),
        &[
            "run",
            "prompts.jsonl",
            "-m",
            "mock:a",
            "-m",
            "mock:b",
            "-o",
            "cli-out",
            "--samples",
            "3",
            "--quiet",
        ],
    );
    run.expect_code(0);
    assert!(
        run.stderr.trim().is_empty(),
        "--quiet prints nothing: {}",
        run.stderr
    );

    let out = dir.path().join("cli-out");
    let records = records(&out);
    assert_one_per_key(&records, &prompt_ids(5), &[("a", 3), ("b", 3)]);
    for record in &records {
        assert_eq!(record["provider"], "mock");
        assert_eq!(record["model"], record["label"]);
        assert_eq!(record["status"], "ok");
    }
    assert_summary_matches(&read_json(&out.join("summary.json")), &records);
}

#[test]
fn seed_003_json_config_runs_as_is_and_honours_num_prompts() {
    let dir = tempfile::tempdir().unwrap();
    // The prompts sit beside the config, not in the current folder: `prompts_file` is taken
    // from the config's folder.
    write(dir.path(), "configs/prompts.jsonl", &jsonl_prompts(12));
    let config = json!({
        "description": "Seed 003's config format, read as is",
        "prompts_file": "prompts.jsonl",
        "output_dir": "results/seed003",
        "num_prompts": 5,
        "seed": 42,
        "max_retries": 3,
        "requests_per_minute": 600,
        "models": [
            {"name": "mock-claude", "type": "mock", "temperature": 0.0,
             "notes": "stands in for a hosted model", "latency_ms": 5},
            {"name": "mock-claude", "label": "mock-claude_temp0.7", "type": "mock",
             "temperature": 0.7, "latency_ms": 5}
        ]
    });
    write(dir.path(), "configs/seed003.json", &config.to_string());

    pacer(
        dir.path(),
        &["run", "--config", "configs/seed003.json", "--quiet"],
    )
    .expect_code(0);

    let out = dir.path().join("results/seed003");
    let records = records(&out);
    assert_one_per_key(
        &records,
        &prompt_ids(5),
        &[("mock-claude", 1), ("mock-claude_temp0.7", 1)],
    );
    for record in &records {
        assert_eq!(record["model"], "mock-claude");
        assert_eq!(record["sampling_params"]["seed"], 42);
        let temperature = if record["label"] == "mock-claude" {
            0.0
        } else {
            0.7
        };
        assert_eq!(record["sampling_params"]["temperature"], temperature);
    }
    let summary = read_json(&out.join("summary.json"));
    assert_summary_matches(&summary, &records);
    assert_eq!(summary["config"]["description"], config["description"]);
    assert_eq!(
        summary["config"]["models"][0]["notes"],
        "stands in for a hosted model"
    );
}

/// Checks `results.json` in seed 003's combined format against the journal in `out`.
#[track_caller]
fn check_export(path: &Path, out: &Path) {
    let export = read_json(path);
    let journal = records(out);
    let metadata = &export["metadata"];
    assert!(metadata.is_object(), "metadata: {export}");
    assert_eq!(
        metadata["run_id"],
        read_json(&out.join("run.json"))["run_id"]
    );
    assert!(metadata["config"]["models"].is_array(), "{metadata}");
    let prompts: BTreeSet<_> = journal.iter().map(|r| r["prompt_id"].to_string()).collect();
    assert_eq!(metadata["total_prompts"], prompts.len());

    let runs = export["runs"].as_array().expect("runs is an array");
    let per_label = count_by_label(&journal);
    assert_eq!(runs.len(), per_label.len(), "one run per label");
    let mut exported = Vec::new();
    for run in runs {
        let label = run["model_config"]["label"]
            .as_str()
            .expect("model_config.label");
        let results = run["results"].as_array().expect("results is an array");
        assert_eq!(results.len(), per_label[label], "{label}");
        assert!(results.iter().all(|r| r["label"] == label));
        assert!(run["completed_at"].is_string(), "{label} completed_at");
        exported.extend(results.iter().cloned());
    }
    let key = |v: &Value| v.to_string();
    let mut a: Vec<_> = exported.iter().map(key).collect();
    let mut b: Vec<_> = journal.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the export holds the journal's records as they are");
}

#[test]
fn export_writes_seed_003_results_json_one_run_per_label() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(3));
    write(dir.path(), "run.toml", TWO_MODELS);
    pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"]).expect_code(0);
    let out = dir.path().join("out");
    assert!(!out.join("results.json").exists(), "no export unless asked");

    pacer(dir.path(), &["export", "out"]).expect_code(0);
    check_export(&out.join("results.json"), &out);
    let export = read_json(&out.join("results.json"));
    let small = export["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["model_config"]["label"] == "mock-small")
        .expect("a run for mock-small");
    assert_eq!(small["model_config"]["name"], "mock-small");
    assert_eq!(small["model_config"]["samples"], 2);

    // --out writes elsewhere.
    pacer(dir.path(), &["export", "out", "--out", "elsewhere.json"]).expect_code(0);
    check_export(&dir.path().join("elsewhere.json"), &out);
}

#[test]
fn run_with_export_also_writes_results_json() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(3));
    write(dir.path(), "run.toml", TWO_MODELS);
    pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--quiet", "--export"],
    )
    .expect_code(0);
    let out = dir.path().join("out");
    check_export(&out.join("results.json"), &out);
}

/// Every file under `dir`, recursively, with its text.
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else {
            let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
            files.push((path.display().to_string(), text));
        }
    }
    files
}

#[test]
fn an_api_key_in_the_config_never_reaches_a_file_or_a_message() {
    const SECRET: &str = "sk-test-SECRET123";
    const ENV_SECRET: &str = "sk-env-OTHERSECRET456";
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(3));
    let config = |out: &str, fail: &str| {
        format!(
            r#"
prompts_file = "prompts.jsonl"
output_dir = "{out}"

[[models]]
name = "keyed"
type = "mock"
api_key = "{SECRET}"
samples = 2
{fail}

[[models]]
name = "from-env"
type = "mock"
api_key = "${{PACER_E2E_TEST_KEY}}"
"#
        )
    };
    write(dir.path(), "run.toml", &config("out", ""));
    let run = command(dir.path())
        .args(["run", "--config", "run.toml", "--export"])
        .env("PACER_E2E_TEST_KEY", ENV_SECRET)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut messages = vec![String::from_utf8_lossy(&run.stderr).into_owned()];
    messages.push(String::from_utf8_lossy(&run.stdout).into_owned());
    let export = pacer(dir.path(), &["export", "out", "--out", "out/copy.json"]);
    export.expect_code(0);
    messages.push(export.stderr);

    // A lane that stops on an auth error explains itself without the key.
    write(
        dir.path(),
        "auth.toml",
        &config("auth-out", "fail_rate = 1.0\nfail_kind = \"Auth\""),
    );
    let auth = command(dir.path())
        .args(["run", "--config", "auth.toml"])
        .env("PACER_E2E_TEST_KEY", ENV_SECRET)
        .output()
        .unwrap();
    assert_eq!(auth.status.code(), Some(3));
    messages.push(String::from_utf8_lossy(&auth.stderr).into_owned());

    let out = dir.path().join("out");
    for name in [
        "results.jsonl",
        "summary.json",
        "run.json",
        "results.json",
        "copy.json",
    ] {
        assert!(out.join(name).exists(), "{name} was written");
    }
    let mut texts = all_files(&out);
    texts.extend(all_files(&dir.path().join("auth-out")));
    texts.extend(
        messages
            .into_iter()
            .map(|m| ("stderr or stdout".to_owned(), m)),
    );
    for (what, text) in &texts {
        assert!(!text.contains(SECRET), "{what} holds the config's API key");
        assert!(
            !text.contains(ENV_SECRET),
            "{what} holds the API key from the environment"
        );
    }
    // The manifest says a key was given, redacted.
    let manifest = read_json(&out.join("run.json"));
    assert_eq!(manifest["config"]["models"][0]["api_key"], "<redacted>");
    assert_eq!(manifest["config"]["models"][1]["api_key"], "<redacted>");
}

#[test]
fn csv_and_json_array_prompt_files_run_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "prompts.csv",
        "prompt_id,prompt,category\nc1,hello there,alpha\nc2,\"a, quoted, prompt\",beta\nc3,third,gamma\n",
    );
    let array = json!([
        {"id": "j1", "prompt": "plain text prompt", "topic": "x"},
        {"id": "j2", "system": "be brief", "messages": [{"role": "user", "content": "hi"}]},
    ]);
    write(dir.path(), "prompts.json", &array.to_string());
    let wrapped = json!({"prompts": [{"prompt": "first"}, {"prompt": "second"}]});
    write(dir.path(), "wrapped.json", &wrapped.to_string());

    let cases: [(&str, &[&str]); 3] = [
        ("prompts.csv", &["c1", "c2", "c3"]),
        ("prompts.json", &["j1", "j2"]),
        ("wrapped.json", &["prompt_0001", "prompt_0002"]),
    ];
    for (file, ids) in cases {
        let out = format!("out-{file}");
        pacer(
            dir.path(),
            &[
                "run",
                file,
                "-m",
                "mock:m",
                "-o",
                &out,
                "--samples",
                "2",
                "--quiet",
            ],
        )
        .expect_code(0);
        let records = records(&dir.path().join(&out));
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        assert_one_per_key(&records, &ids, &[("m", 2)]);
        assert!(records.iter().all(|r| r["status"] == "ok"), "{file}");
    }
    let csv = records(&dir.path().join("out-prompts.csv"));
    let c2 = csv.iter().find(|r| r["prompt_id"] == "c2").unwrap();
    assert_eq!(c2["prompt_category"], "beta");
    let json = records(&dir.path().join("out-prompts.json"));
    let j1 = json.iter().find(|r| r["prompt_id"] == "j1").unwrap();
    assert_eq!(j1["topic"], "x");
}

#[test]
fn rate_limits_are_waited_out_without_using_error_retries() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(10));
    write(
        dir.path(),
        "run.toml",
        r#"
prompts_file = "prompts.jsonl"
output_dir = "out"
max_retries = 0

[[models]]
name = "limited"
type = "mock"
samples = 2
rate_limit_every = 5
retry_after_ms = 20
"#,
    );
    pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"]).expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(10), &[("limited", 2)]);
    assert!(
        records.iter().all(|r| r["status"] == "ok"),
        "a 429 never uses up the item's error retries"
    );
    assert!(
        records.iter().any(|r| r["attempts"].as_u64().unwrap() > 1),
        "some calls were refused and sent again"
    );
}

#[test]
// Regression: a relative prompts_file is read from the current folder when a file of that name exists there, not from the config's folder.
fn a_relative_prompts_file_is_read_from_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "configs/prompts.jsonl", &jsonl_prompts(3));
    // Another file of the same name in the current folder must not be picked up instead.
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(1));
    write(
        dir.path(),
        "configs/run.toml",
        "prompts_file = \"prompts.jsonl\"   # relative to this file\noutput_dir = \"out\"\n\n[[models]]\nname = \"m\"\ntype = \"mock\"\n",
    );
    pacer(
        dir.path(),
        &["run", "--config", "configs/run.toml", "--quiet"],
    )
    .expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_eq!(
        records.len(),
        3,
        "ran ./prompts.jsonl (1 prompt) instead of configs/prompts.jsonl (3 prompts)"
    );
    assert_one_per_key(&records, &prompt_ids(3), &[("m", 1)]);
}
