//! End-to-end runs of the real `pacer` binary on the mock provider: the records it writes,
//! the summary, CLI-only models, seed 003's JSON config, a relative `prompts_file`, input
//! formats and rate limits.

use std::collections::BTreeMap;

use crate::common::*;
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
