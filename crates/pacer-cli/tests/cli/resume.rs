//! End-to-end runs of the real `pacer` binary into a folder that already holds results:
//! refusing a second plain run, `--resume`, `--fresh`, `--retry-failed`, a lane stopped on an
//! auth error, a corrupt journal line, and `--skip-invalid` on resume.

use std::collections::HashSet;
use std::fs;

use crate::common::*;
use serde_json::Value;

/// A one-model TOML config writing to `out`.
fn one_model(prompts: &str, extra_top: &str, model: &str) -> String {
    format!(
        "prompts_file = \"{prompts}\"\noutput_dir = \"out\"\n{extra_top}\n\n[[models]]\n{model}\n"
    )
}

#[test]
fn a_second_plain_run_refuses_then_resume_adds_nothing_and_fresh_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(4));
    write(
        dir.path(),
        "run.toml",
        &one_model(
            "prompts.jsonl",
            "",
            "name = \"m\"\ntype = \"mock\"\nsamples = 2",
        ),
    );
    let out = dir.path().join("out");
    pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"]).expect_code(0);
    let first = fs::read(out.join("results.jsonl")).unwrap();
    let first_manifest = fs::read(out.join("run.json")).unwrap();
    let first_run_id = read_json(&out.join("run.json"))["run_id"].clone();

    // A plain run refuses and leaves everything as it was.
    let again = pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"]);
    again.expect_code(2).expect_stderr(&["--resume", "--fresh"]);
    assert_eq!(fs::read(out.join("results.jsonl")).unwrap(), first);
    assert_eq!(fs::read(out.join("run.json")).unwrap(), first_manifest);

    // Resuming a finished run adds nothing.
    pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--resume", "--quiet"],
    )
    .expect_code(0);
    assert_eq!(fs::read(out.join("results.jsonl")).unwrap(), first);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["resumed"], true);
    assert_eq!(summary["run_id"], first_run_id);
    assert_summary_matches(&summary, &records(&out));

    // --fresh moves the old results aside and writes a whole new set.
    pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--fresh", "--quiet"],
    )
    .expect_code(0);
    let previous: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        previous.len(),
        1,
        "one folder of earlier results: {previous:?}"
    );
    let name = previous[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("previous-"), "{name}");
    assert_eq!(fs::read(previous[0].join("results.jsonl")).unwrap(), first);
    let records = records(&out);
    assert_one_per_key(&records, &prompt_ids(4), &[("m", 2)]);
    let run_id = read_json(&out.join("run.json"))["run_id"].clone();
    assert_ne!(run_id, first_run_id, "a fresh run is a new run");
    assert!(records.iter().all(|r| r["run_id"] == run_id));

    // A second --fresh right away keeps both earlier sets apart.
    pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--fresh", "--quiet"],
    )
    .expect_code(0);
    let previous: HashSet<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(previous.len(), 2, "{previous:?}");
    for folder in &previous {
        assert_eq!(read_jsonl(&folder.join("results.jsonl")).len(), 8);
    }
}

#[test]
fn retry_failed_reruns_the_failures_and_keeps_them_aside() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(5));
    let config = |fail_rate: &str| {
        one_model(
            "prompts.jsonl",
            "max_retries = 0",
            &format!(
                "name = \"m\"\ntype = \"mock\"\nsamples = 2\ntemperature = 0.3\nfail_rate = {fail_rate}\nfail_kind = \"Server\""
            ),
        )
    };
    write(dir.path(), "run.toml", &config("1.0"));
    pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"]).expect_code(0);
    let out = dir.path().join("out");
    let failed = records(&out);
    assert_one_per_key(&failed, &prompt_ids(5), &[("m", 2)]);
    for record in &failed {
        assert_eq!(record["status"], "error");
        assert_eq!(record["error"]["kind"], "Server", "{record}");
        assert_eq!(record["full_response"], Value::Null);
        assert_eq!(record["attempts"], 1, "max_retries = 0");
    }
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["models"]["m"]["failed"], 10);
    assert_eq!(summary["models"]["m"]["failed_by_kind"]["Server"], 10);

    // A plain resume leaves failures alone.
    pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--resume", "--quiet"],
    )
    .expect_code(0);
    assert_eq!(records(&out), failed);

    write(dir.path(), "run.toml", &config("0.0"));
    pacer(
        dir.path(),
        &[
            "run",
            "--config",
            "run.toml",
            "--resume",
            "--retry-failed",
            "--quiet",
        ],
    )
    .expect_code(0);
    let records = records(&out);
    assert_one_per_key(&records, &prompt_ids(5), &[("m", 2)]);
    assert!(records.iter().all(|r| r["status"] == "ok"), "{records:?}");
    assert!(records.iter().all(|r| r["run_id"] == failed[0]["run_id"]));
    let mut aside = read_jsonl(&out.join("retried-failures.jsonl"));
    let mut expected = failed.clone();
    let order = |v: &Value| format!("{:?}", key(v));
    aside.sort_by_key(order);
    expected.sort_by_key(order);
    assert_eq!(
        aside, expected,
        "retried-failures.jsonl holds the old failures"
    );
    assert_summary_matches(&read_json(&out.join("summary.json")), &records);
}

#[test]
fn an_auth_error_stops_its_lane_with_exit_3_and_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(4));
    let config = |fail_rate: &str| {
        format!(
            r#"
prompts_file = "prompts.jsonl"
output_dir = "out"

[[models]]
name = "locked"
type = "mock"
samples = 2
fail_rate = {fail_rate}
fail_kind = "Auth"

[[models]]
name = "open"
type = "mock"
"#
        )
    };
    write(dir.path(), "run.toml", &config("1.0"));
    let run = pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"]);
    run.expect_code(3)
        .expect_stderr(&["locked", "stopped", "API key", "--resume"]);
    let out = dir.path().join("out");
    let records_now = records(&out);
    assert!(
        records_now.iter().all(|r| r["label"] == "open"),
        "no record for the stopped lane's jobs: {records_now:?}"
    );
    assert_one_per_key(&records_now, &prompt_ids(4), &[("open", 1)]);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["models"]["locked"]["pending"], 8, "{summary:#}");
    let stopped = summary["models"]["locked"]["stopped"]
        .as_str()
        .expect("why it stopped");
    assert!(stopped.contains("Auth"), "{stopped}");
    assert_eq!(summary["models"]["open"]["pending"], 0);

    write(dir.path(), "run.toml", &config("0.0"));
    pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--resume", "--quiet"],
    )
    .expect_code(0);
    let records = records(&out);
    assert_one_per_key(&records, &prompt_ids(4), &[("locked", 2), ("open", 1)]);
    assert!(records.iter().all(|r| r["status"] == "ok"));
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["models"]["locked"]["pending"], 0);
    assert_summary_matches(&summary, &records);
}

#[test]
fn a_corrupt_line_before_the_end_stops_a_resume_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(3));
    write(
        dir.path(),
        "run.toml",
        &one_model("prompts.jsonl", "", "name = \"m\"\ntype = \"mock\""),
    );
    pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"]).expect_code(0);
    let journal = dir.path().join("out/results.jsonl");
    let text = fs::read_to_string(&journal).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "{\"this is\": not a record";
    let broken = lines.join("\n") + "\n";
    fs::write(&journal, &broken).unwrap();

    let resumed = pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--resume", "--quiet"],
    );
    resumed
        .expect_code(2)
        .expect_stderr(&["results.jsonl", "line 2"]);
    assert_eq!(
        fs::read_to_string(&journal).unwrap(),
        broken,
        "nothing is rewritten"
    );
}

#[test]
// Regression: resuming with --skip-invalid appends the same invalid prompts to invalid_inputs.jsonl again.
fn resuming_with_skip_invalid_lists_each_invalid_prompt_once() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "prompts.jsonl",
        "{\"prompt_id\": \"a\", \"prompt\": \"x\"}\n{\"prompt_id\": \"b\", \"prompt\": \n{\"prompt_id\": \"c\", \"prompt\": \"z\"}\n",
    );
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "mock:m",
        "-o",
        "out",
        "--skip-invalid",
        "--quiet",
    ];
    pacer(dir.path(), &args).expect_code(0);
    let invalid = dir.path().join("out/invalid_inputs.jsonl");
    assert_eq!(read_jsonl(&invalid).len(), 1);

    let mut resume = args.to_vec();
    resume.push("--resume");
    pacer(dir.path(), &resume).expect_code(0);
    assert_eq!(
        read_jsonl(&invalid).len(),
        1,
        "the same invalid line is listed again after a resume"
    );
}
