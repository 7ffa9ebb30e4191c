//! `pacer run` with a model's several deployments: the jobs spread over them in proportion
//! to their limits, each record names the one that answered, keys stay out of the results,
//! and a deployment's bad key is an error naming its place in the file.

use std::collections::BTreeMap;

use crate::common::{jsonl_prompts, pacer, read_json, records, write};

#[test]
fn a_models_jobs_spread_over_its_deployments_by_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(120));
    let config = r#"
prompts_file = "prompts.jsonl"
output_dir = "out"

[[models]]
name = "mock-small"
type = "mock"
latency_ms = 5
deployments = [
  { id = "east", rpm = 600 },
  { id = "west", rpm = 1200, api_key = "sk-west-secret", price = { input = 1.0, output = 2.0 } },
]
"#;
    write(dir.path(), "pacer.toml", config);
    pacer(dir.path(), &["run", "--config", "pacer.toml", "-q"]).expect_code(0);
    let out = dir.path().join("out");
    let records = records(&out);
    assert_eq!(records.len(), 120);
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for record in &records {
        assert_eq!(record["label"], "mock-small");
        assert_eq!(record["status"], "ok");
        let deployment = record["deployment"].as_str().unwrap().to_owned();
        // West's price is its own.
        assert_eq!(
            record["cost_usd"].is_number(),
            deployment == "west",
            "{record}"
        );
        *by.entry(deployment).or_default() += 1;
    }
    let east = by["east"];
    assert!(
        (28..=52).contains(&east),
        "east (600 rpm) took {east} of 120: {by:?}"
    );
    let everything = std::fs::read_to_string(out.join("run.json")).unwrap()
        + &std::fs::read_to_string(out.join("results.jsonl")).unwrap()
        + &std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(!everything.contains("sk-west-secret"));
    let run = read_json(&out.join("run.json"));
    assert_eq!(
        run["config"]["models"][0]["deployments"][1]["api_key"],
        "<redacted>"
    );
}

#[test]
fn a_deployment_key_it_cannot_take_names_its_place() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
    let config = "prompts_file = \"prompts.jsonl\"\n\n[[models]]\nname = \"m\"\ntype = \"mock\"\ndeployments = [{ rpm = 10 }, { rpm = 20, samples = 3 }]\n";
    write(dir.path(), "pacer.toml", config);
    pacer(dir.path(), &["run", "--config", "pacer.toml"])
        .expect_code(2)
        .expect_stderr(&[
            "pacer.toml",
            "models[0].deployments[1].samples",
            "not a deployment's key",
        ]);
}

#[test]
fn a_deployment_whose_key_is_refused_stops_alone() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(60));
    let config = r#"
prompts_file = "prompts.jsonl"
output_dir = "out"

[[models]]
name = "mock-small"
type = "mock"
latency_ms = 5
deployments = [
  { id = "refused", rpm = 600, fail_rate = 1.0, fail_kind = "Auth" },
  { id = "good", rpm = 6000 },
]
"#;
    write(dir.path(), "pacer.toml", config);
    pacer(dir.path(), &["run", "--config", "pacer.toml", "-q"])
        .expect_code(3)
        .expect_stderr(&[
            "mock-small@refused stopped",
            "its other deployments went on",
        ]);
    let first = records(&dir.path().join("out"));
    assert!(
        first.len() > 30,
        "the good deployment went on: {}",
        first.len()
    );
    assert!(
        first
            .iter()
            .all(|r| r["deployment"] == "good" && r["status"] == "ok")
    );
    // A resume, the refused deployment taken out, finishes what it held.
    let fixed = config.replace(
        "  { id = \"refused\", rpm = 600, fail_rate = 1.0, fail_kind = \"Auth\" },\n",
        "",
    );
    write(dir.path(), "pacer.toml", &fixed);
    pacer(
        dir.path(),
        &["run", "--config", "pacer.toml", "-q", "--resume"],
    )
    .expect_code(0);
    assert_eq!(records(&dir.path().join("out")).len(), 60);
}
