//! Structured output end to end, with the real `pacer` binary: `--schema` and a model's
//! `schema` key, every record's `parsed` value, invalid replies retried and recorded as
//! `InvalidOutput`, and schema files that cannot be used refused before anything runs.

use std::path::Path;

use crate::common::*;
use serde_json::Value;

/// The example schema shipped in `examples/`, used by the README's command.
const EXAMPLE_SCHEMA: &str = include_str!("../../../../examples/answer.schema.json");

/// Checks that `record` is a success whose `parsed` value fits the example schema and is
/// its `full_response` read as JSON.
#[track_caller]
fn assert_parsed_answer(record: &Value) {
    assert_eq!(record["status"], "ok", "{record}");
    let parsed = &record["parsed"];
    assert!(parsed["answer"].is_string(), "{record}");
    assert!(
        ["yes", "no", "unsure"].contains(&parsed["verdict"].as_str().unwrap()),
        "{record}"
    );
    let confidence = parsed["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence), "{record}");
    let text: Value = serde_json::from_str(record["full_response"].as_str().unwrap()).unwrap();
    assert_eq!(&text, parsed);
    // The schema is no sampling parameter.
    assert!(
        record["sampling_params"].get("schema").is_none(),
        "{record}"
    );
}

#[test]
fn schema_flag_gives_every_record_a_parsed_value() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(8));
    write(dir.path(), "answer.schema.json", EXAMPLE_SCHEMA);
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "mock:m",
        "--samples",
        "2",
        "--schema",
        "answer.schema.json",
        "-o",
        "out",
        "--quiet",
    ];
    pacer(dir.path(), &args).expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(8), &[("m", 2)]);
    records.iter().for_each(assert_parsed_answer);
    // The manifest says which schema the run used.
    let manifest = read_json(&dir.path().join("out/run.json"));
    let shown = manifest.to_string();
    assert!(shown.contains("answer.schema.json"), "{shown}");
}

/// The openai provider sends the schema as `response_format`; `pacer mock` answers with JSON
/// that fits it; each of the `n` completions of a call is checked and parsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_against_pacer_mock_gets_json_for_every_sample() {
    let mock = pacer_mock::MockServer::start(pacer_mock::MockServerConfig::default())
        .await
        .expect("the mock binds");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(4));
    write(dir.path(), "answer.schema.json", EXAMPLE_SCHEMA);
    let mut cmd = command(dir.path());
    cmd.env("OPENAI_BASE_URL", mock.url())
        .env("OPENAI_API_KEY", "sk-test-key-0123456789")
        .args([
            "run",
            "prompts.jsonl",
            "-m",
            "openai:gpt-4o-mini",
            "--samples",
            "3",
        ])
        .args(["--schema", "answer.schema.json", "-o", "out", "--quiet"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(4), &[("gpt-4o-mini", 3)]);
    records.iter().for_each(assert_parsed_answer);
    assert_eq!(mock.stats().requests, 4, "one call per prompt, n = 3");
}

#[test]
fn without_a_schema_parsed_is_null() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
    pacer(
        dir.path(),
        &[
            "run",
            "prompts.jsonl",
            "-m",
            "mock:m",
            "-o",
            "out",
            "--quiet",
        ],
    )
    .expect_code(0);
    for record in records(&dir.path().join("out")) {
        assert_eq!(record["status"], "ok");
        assert_eq!(record.get("parsed"), Some(&Value::Null), "{record}");
    }
}

/// A config in `conf/` whose models name their schema relative to it: one whose replies
/// are sometimes broken (fixed by retries), one whose replies always are.
const CONFIG: &str = r#"
prompts_file = "../prompts.jsonl"
output_dir = "out"
max_retries = 2

[[models]]
name = "flaky"
type = "mock"
schema = "schemas/answer.json"
invalid_json_rate = 0.3
concurrency = 1

[[models]]
name = "broken"
type = "mock"
schema = "schemas/answer.json"
invalid_json_rate = 1.0
"#;

#[test]
fn invalid_replies_are_retried_then_recorded_as_invalid_output() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(6));
    write(dir.path(), "conf/schemas/answer.json", EXAMPLE_SCHEMA);
    write(dir.path(), "conf/run.toml", CONFIG);
    pacer(dir.path(), &["run", "--config", "conf/run.toml", "--quiet"]).expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(6), &[("flaky", 1), ("broken", 1)]);

    let flaky: Vec<&Value> = records.iter().filter(|r| r["label"] == "flaky").collect();
    // One call at a time: the mock's draws, and so the retries, are the same every run.
    flaky.iter().for_each(|r| assert_parsed_answer(r));
    assert!(
        flaky.iter().any(|r| r["retry_count"].as_u64().unwrap() > 0),
        "some replies were broken and retried: {flaky:?}"
    );

    for record in records.iter().filter(|r| r["label"] == "broken") {
        assert_eq!(record["status"], "error", "{record}");
        assert_eq!(record["error"]["kind"], "InvalidOutput", "{record}");
        let message = record["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("not JSON: "), "{message}");
        assert!(
            message.contains("the reply began \"Sure, here it is: "),
            "{message}"
        );
        assert_eq!(record["attempts"], 3, "the first try and 2 retries");
        assert_eq!(record["parsed"], Value::Null);
        assert_eq!(record["full_response"], Value::Null);
        // The refused replies were billed, and counted.
        assert!(record["usage_all_attempts"]["output"].as_u64().unwrap() > 0);
    }
    let summary = read_json(&dir.path().join("out/summary.json")).to_string();
    assert!(summary.contains("InvalidOutput"), "{summary}");
}

/// Runs with `args` in a folder holding prompts and the given files; nothing may run.
fn refused(files: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    let out = pacer(dir.path(), args);
    assert!(
        !dir.path().join("out/results.jsonl").exists(),
        "a bad schema runs nothing"
    );
    out
}

#[test]
fn a_schema_file_that_cannot_be_used_is_a_config_error_naming_it() {
    let flag = |file: &str| {
        [
            "run",
            "prompts.jsonl",
            "-m",
            "mock:m",
            "-o",
            "out",
            "--quiet",
            "--schema",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([file.to_owned()])
        .collect::<Vec<_>>()
    };
    let args = flag("missing.json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&[], &args).expect_code(2).expect_stderr(&[
        "command line: --schema",
        "cannot read the schema file missing.json",
    ]);

    let args = flag("broken.json");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&[("broken.json", "{\"type\": \"object\",")], &args)
        .expect_code(2)
        .expect_stderr(&["--schema", "broken.json is not valid JSON at line 1"]);

    let config = "prompts_file = \"prompts.jsonl\"\noutput_dir = \"out\"\n\n\
                  [[models]]\nname = \"m\"\ntype = \"mock\"\nschema = \"odd.json\"\n";
    refused(
        &[("run.toml", config), ("odd.json", r#"{"type": "obj"}"#)],
        &["run", "--config", "run.toml", "--quiet"],
    )
    .expect_code(2)
    .expect_stderr(&[
        "run.toml: models[0].schema",
        "odd.json is not a valid JSON Schema",
    ]);
}

#[test]
fn invalid_json_rate_out_of_range_is_named() {
    let config = "prompts_file = \"prompts.jsonl\"\noutput_dir = \"out\"\n\n\
                  [[models]]\nname = \"m\"\ntype = \"mock\"\ninvalid_json_rate = 2.0\n";
    refused(
        &[("run.toml", config)],
        &["run", "--config", "run.toml", "--quiet"],
    )
    .expect_code(2)
    .expect_stderr(&["run.toml: models[0].invalid_json_rate", "from 0 to 1"]);
}

#[test]
fn the_example_config_runs_with_its_schema() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let config = examples.join("structured.toml");
    let dir = tempfile::tempdir().unwrap();
    let config = config.to_str().unwrap();
    pacer(
        dir.path(),
        &["run", "--config", config, "-o", "out", "--quiet"],
    )
    .expect_code(0);
    let records = records(&dir.path().join("out"));
    assert!(!records.is_empty());
    for record in &records {
        // Broken replies are retried 3 times: one still broken after that is possible, if
        // unlikely (0.2 to the 4th), and is then recorded as such.
        if record["status"] == "error" {
            assert_eq!(record["error"]["kind"], "InvalidOutput", "{record}");
        } else {
            assert_parsed_answer(record);
        }
    }
}
