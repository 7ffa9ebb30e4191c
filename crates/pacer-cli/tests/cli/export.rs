//! `pacer export` and `pacer run --export` through the real binary on the mock provider:
//! seed 003's combined `results.json`, one run per label, holding the journal's records.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;
use serde_json::Value;

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
