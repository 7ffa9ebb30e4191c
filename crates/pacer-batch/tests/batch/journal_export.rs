//! Export to seed 003's combined `results.json`: metadata, then one run per label with its
//! model config and its records in journal order.

use std::fs;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use pacer_batch::{
    Journal, LaneReport, Manifest, OpenMode, Record, RecordStatus, Summary, TokenCounts,
    UsageTotals, export, summarize,
};
use serde_json::{Map, Value, json};

fn record(label: &str, prompt_id: &str, second: i64) -> Record {
    let mut metadata = Map::new();
    metadata.insert("prompt_category".into(), "cve_existence".into());
    Record {
        run_id: "a1b2c3d4".into(),
        prompt_id: prompt_id.into(),
        model: format!("{label}-model"),
        model_version: None,
        full_response: Some(format!("{label} on {prompt_id}")),
        tokens_used: TokenCounts::default(),
        token_logprobs: None,
        sampling_params: Map::new(),
        timestamp: DateTime::<Utc>::from_timestamp(1_800_000_000 + second, 0).unwrap(),
        elapsed_seconds: 1.0,
        error: None,
        retry_count: 0,
        metadata,
        provider: "mock".into(),
        label: label.into(),
        sample: 0,
        status: RecordStatus::Ok,
        finish_reason: None,
        truncated: false,
        parsed: None,
        attempts: 1,
        latency_seconds: None,
        queue_seconds: None,
        first_token_seconds: None,
        usage_all_attempts: UsageTotals::default(),
        cost_usd: None,
        mode: pacer_batch::SendMode::Live,
        batch_id: None,
        deployment: None,
        embedding: None,
        embedding_index: None,
        tool_calls: None,
    }
}

fn config() -> Value {
    json!({
        "prompts_file": "bench.json",
        "models": [
            {"name": "claude-3-5-sonnet-20241022", "type": "claude", "temperature": 0.0},
            {"name": "gpt-4o", "label": "gpt-hot", "type": "openai", "temperature": 1.0},
        ]
    })
}

/// Three labels interleaved in the journal, as concurrent lanes write them.
fn run_folder(dir: &Path) -> Vec<Record> {
    let records = vec![
        record("claude-3-5-sonnet-20241022", "p1", 1),
        record("gpt-hot", "p1", 2),
        record("claude-3-5-sonnet-20241022", "p2", 3),
        record("local", "p3", 4),
        record("gpt-hot", "p2", 5),
    ];
    let (mut journal, _) = Journal::open(dir, OpenMode::New).unwrap();
    for record in &records {
        journal.append(record).unwrap();
    }
    records
}

#[test]
fn export_groups_records_by_label_with_their_model_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let records = run_folder(dir);
    let manifest = Manifest::new(Some("bench.json".into()), config());
    manifest.write(dir).unwrap();
    let per_label = summarize(&dir.join("results.jsonl")).unwrap();
    let lanes = [LaneReport {
        label: "gpt-hot".into(),
        ..LaneReport::default()
    }];
    let mut summary = Summary::new(&manifest, per_label, &lanes);
    summary.resumed = true;
    summary.write(dir).unwrap();
    // A torn last line is left out of the export.
    fs::OpenOptions::new()
        .append(true)
        .open(dir.join("results.jsonl"))
        .unwrap()
        .write_all(b"{\"run_id\":")
        .unwrap();

    let out = tmp.path().join("combined.json");
    let stats = export(dir, &out).unwrap();
    assert_eq!((stats.runs, stats.records, stats.total_prompts), (3, 5, 3));

    let json: Value = serde_json::from_slice(&fs::read(&out).unwrap()).unwrap();
    let top: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, ["metadata", "runs"]);
    let metadata = &json["metadata"];
    let keys: Vec<&str> = metadata
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "start_time",
            "end_time",
            "config",
            "total_prompts",
            "prompts_file",
            "resumed",
            "run_id"
        ]
    );
    assert_eq!(metadata["start_time"], summary.started_at.as_str());
    assert_eq!(metadata["end_time"], summary.ended_at.as_str());
    assert_eq!(metadata["config"], config());
    assert_eq!(metadata["total_prompts"], 3);
    assert_eq!(metadata["prompts_file"], "bench.json");
    assert_eq!(metadata["resumed"], true);
    assert_eq!(metadata["run_id"], manifest.run_id.as_str());

    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    // Labels in order of first appearance; configs by name, by label, or made up.
    assert_eq!(runs[0]["model_config"], config()["models"][0]);
    assert_eq!(runs[1]["model_config"], config()["models"][1]);
    assert_eq!(
        runs[2]["model_config"],
        json!({"name": "local-model", "label": "local"})
    );
    let results =
        |run: &Value| -> Vec<Record> { serde_json::from_value(run["results"].clone()).unwrap() };
    assert_eq!(results(&runs[0]), [records[0].clone(), records[2].clone()]);
    assert_eq!(results(&runs[1]), [records[1].clone(), records[4].clone()]);
    assert_eq!(results(&runs[2]), [records[3].clone()]);
    assert_eq!(runs[0]["completed_at"], "2027-01-15T08:00:03.000000Z");
    assert_eq!(runs[1]["completed_at"], "2027-01-15T08:00:05.000000Z");
    // Seed 003's record fields are there for its tools.
    assert_eq!(runs[0]["results"][0]["prompt_category"], "cve_existence");
    assert_eq!(runs[0]["results"][0]["tokens_used"]["total"], 0);

    // Round trip: the file re-serialized by serde_json reads back the same.
    let again: Value = serde_json::from_str(&serde_json::to_string(&json).unwrap()).unwrap();
    assert_eq!(again, json);
    assert!(!tmp.path().join("combined.json.tmp").exists());
}

#[test]
fn export_without_summary_uses_the_manifest_and_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run_folder(dir);
    let manifest = Manifest::new(
        None,
        json!({"models": {"local": {"name": "qwen", "device": "cuda"}}}),
    );
    manifest.write(dir).unwrap();

    let out = dir.join("export.json");
    export(dir, &out).unwrap();
    let json: Value = serde_json::from_slice(&fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["metadata"]["start_time"], manifest.started_at.as_str());
    assert_eq!(json["metadata"]["end_time"], "2027-01-15T08:00:05.000000Z");
    assert_eq!(json["metadata"]["resumed"], false);
    assert_eq!(json["metadata"]["prompts_file"], Value::Null);
    assert_eq!(
        json["runs"][2]["model_config"],
        json!({"name": "qwen", "device": "cuda"})
    );
}

#[test]
fn export_of_an_empty_journal_has_no_runs() {
    let tmp = tempfile::tempdir().unwrap();
    Journal::open(tmp.path(), OpenMode::New).unwrap();
    let out = tmp.path().join("export.json");
    let stats = export(tmp.path(), &out).unwrap();
    assert_eq!(stats.runs, 0);
    let json: Value = serde_json::from_slice(&fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["runs"], json!([]));
    assert_eq!(json["metadata"]["run_id"], Value::Null);
}

#[test]
fn export_refuses_to_overwrite_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    run_folder(tmp.path());
    let journal = tmp.path().join("results.jsonl");
    let before = fs::read(&journal).unwrap();
    let err = export(tmp.path(), &journal).unwrap_err();
    assert!(err.to_string().contains("is the run's journal"), "{err}");
    assert_eq!(fs::read(&journal).unwrap(), before);
}
