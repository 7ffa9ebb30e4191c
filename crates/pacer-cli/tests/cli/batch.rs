//! Batch mode end to end: the real `pacer` binary against `pacer mock`'s batch APIs on
//! loopback. One record per job at the batch price; failed and expired lines in later
//! batches; the enqueued-token limit; all three providers; `kill -9` at every step of a
//! batch's life then `--resume`, each job submitted exactly once; Ctrl-C, `pacer batches`
//! and `--cancel`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{self, *};
use pacer_mock::{MockBatchConfig, MockServer, MockServerConfig};
use serde_json::Value;

/// Runs `pacer ARGS` from `dir` with `env` set.
async fn run_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let env = env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    common::run_with(dir, env, args).await
}

async fn mock(batch: MockBatchConfig) -> MockServer {
    MockServer::start(MockServerConfig {
        batch,
        api_key: Some("sk-test-batch-0123".into()),
        ..MockServerConfig::default()
    })
    .await
    .unwrap()
}

fn quick() -> MockBatchConfig {
    MockBatchConfig {
        processing: Duration::from_millis(300),
        ..MockBatchConfig::default()
    }
}

/// A config of one OpenAI model in batch mode on `mock`, with `extra` lines in its entry.
fn openai_config(mock: &MockServer, extra: &str) -> String {
    format!(
        r#"
prompts_file = "prompts.jsonl"
output_dir = "out"
max_retries = 3

[[models]]
name = "gpt-4o-mini"
type = "openai"
base_url = "{}"
api_key = "sk-test-batch-0123"
mode = "batch"
batch_poll_secs = 0.1
max_tokens = 16
{extra}
"#,
        mock.url()
    )
}

fn setup(n: usize, config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(n));
    write(dir.path(), "pacer.toml", config);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_batches_record_each_job_once_at_half_price() {
    let mock = mock(quick()).await;
    let dir = setup(20, &openai_config(&mock, "batch_size = 8"));
    let out = run_with(dir.path(), &[], &["run", "-c", "pacer.toml"]).await;
    out.expect_code(0)
        .expect_stderr(&["batch pacer-", "completed"]);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(20), &[("gpt-4o-mini", 1)]);
    let live = pacer_providers::prices::lookup("gpt-4o-mini").unwrap();
    for record in &records {
        assert_eq!(record["mode"], "batch", "{record}");
        assert!(record["batch_id"].as_str().unwrap().starts_with("batch_"));
        assert_eq!(record["status"], "ok");
        let usage = &record["tokens_used"];
        let expected = (usage["input"].as_f64().unwrap() * live.input
            + usage["output"].as_f64().unwrap() * live.output)
            / 2e6;
        let cost = record["cost_usd"].as_f64().unwrap();
        assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    }
    let stats = mock.stats();
    assert_eq!(stats.batches_created, 3, "20 jobs in batches of 8");
    assert_eq!(stats.batch_lines_submitted, 20);
    assert_eq!(stats.files_uploaded, 3);
    assert_eq!(stats.openai_requests, 0, "nothing was sent live");

    let listed = run_with(dir.path(), &[], &["batches", "out", "-c", "pacer.toml"]).await;
    listed.expect_code(0);
    assert_eq!(
        listed.stdout.matches("completed").count(),
        3,
        "{}",
        listed.stdout
    );

    let validate = run_with(dir.path(), &[], &["validate", "-c", "pacer.toml"]).await;
    assert!(
        validate.stdout.contains(" batch (") && validate.stdout.contains(" live)"),
        "validate shows both costs:\n{}",
        validate.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_expired_lines_go_into_later_batches_or_live() {
    let flaky = MockBatchConfig {
        line_failure: 0.2,
        line_expiry: 0.2,
        ..quick()
    };
    let mock = mock(flaky.clone()).await;
    let dir = setup(30, &openai_config(&mock, "batch_size = 10"));
    let out = run_with(
        dir.path(),
        &[],
        &["run", "-c", "pacer.toml", "--max-retries", "12"],
    )
    .await;
    out.expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(30), &[("gpt-4o-mini", 1)]);
    assert!(
        records.iter().all(|r| r["status"] == "ok"),
        "every job got through"
    );
    let stats = mock.stats();
    assert!(stats.batch_lines_failed + stats.batch_lines_expired > 0);
    assert_eq!(
        stats.batch_lines_submitted,
        30 + stats.batch_lines_failed + stats.batch_lines_expired,
        "each failed line was submitted once more, nothing else"
    );
    let retried = records.iter().filter(|r| r["attempts"] != 1).count();
    assert!(retried > 0, "some jobs needed a second batch");

    // With `batch_fallback = "live"`, those lines go live instead.
    let mock = self::mock(flaky).await;
    let dir = setup(
        30,
        &openai_config(&mock, "batch_size = 10\nbatch_fallback = \"live\""),
    );
    let out = run_with(dir.path(), &[], &["run", "-c", "pacer.toml"]).await;
    out.expect_code(0);
    let records = common::records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(30), &[("gpt-4o-mini", 1)]);
    let live: Vec<&Value> = records.iter().filter(|r| r["mode"] == "live").collect();
    let stats = mock.stats();
    assert_eq!(
        live.len() as u64,
        stats.batch_lines_failed + stats.batch_lines_expired
    );
    assert!(
        live.iter()
            .all(|r| r["batch_id"].is_null() && r["status"] == "ok")
    );
    assert_eq!(stats.batch_lines_submitted, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_for_the_queue_limit_waits_and_goes_again() {
    // Each line holds ~30 tokens (prompt + 16): the queue takes one batch of 10 at a time.
    let mock = mock(MockBatchConfig {
        queue_tokens: Some(450),
        ..quick()
    })
    .await;
    let dir = setup(30, &openai_config(&mock, "batch_size = 10"));
    let out = run_with(dir.path(), &[], &["run", "-c", "pacer.toml"]).await;
    out.expect_code(0)
        .expect_stderr(&["refused, waiting for the queue"]);
    assert_one_per_key(
        &records(&dir.path().join("out")),
        &prompt_ids(30),
        &[("gpt-4o-mini", 1)],
    );
    let stats = mock.stats();
    assert!(stats.batches_refused > 0);
    assert_eq!(
        stats.batch_lines_submitted, 30,
        "refused batches ran nothing"
    );

    // Told the limit, Pacer queues its batches itself and is never refused.
    let mock = self::mock(MockBatchConfig {
        queue_tokens: Some(450),
        ..quick()
    })
    .await;
    let dir = setup(
        30,
        &openai_config(&mock, "batch_size = 10\nbatch_queue_tokens = 450"),
    );
    run_with(dir.path(), &[], &["run", "-c", "pacer.toml"])
        .await
        .expect_code(0);
    let stats = mock.stats();
    assert_eq!(stats.batches_refused, 0);
    assert_eq!(stats.batch_lines_submitted, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_and_gemini_batches() {
    let mock = mock(quick()).await;
    let config = format!(
        r#"
prompts_file = "prompts.jsonl"
output_dir = "out"

[[models]]
name = "claude-haiku-4-5"
type = "anthropic"
base_url = "{anthropic}"
api_key = "sk-test-batch-0123"
mode = "batch"
batch_poll_secs = 0.1
max_tokens = 16

[[models]]
name = "gemini-2.5-flash"
type = "gemini"
base_url = "{gemini}"
api_key = "sk-test-batch-0123"
mode = "batch"
batch_poll_secs = 0.1
max_tokens = 16
"#,
        anthropic = mock.anthropic_url(),
        gemini = mock.gemini_url()
    );
    let dir = setup(12, &config);
    let out = run_with(dir.path(), &[], &["run", "-c", "pacer.toml"]).await;
    out.expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(
        &records,
        &prompt_ids(12),
        &[("claude-haiku-4-5", 1), ("gemini-2.5-flash", 1)],
    );
    for record in &records {
        assert_eq!(record["mode"], "batch");
        assert_eq!(record["status"], "ok", "{record}");
        let id = record["batch_id"].as_str().unwrap();
        match record["provider"].as_str().unwrap() {
            "anthropic" => assert!(id.starts_with("msgbatch_"), "{id}"),
            "gemini" => assert!(id.starts_with("batches/"), "{id}"),
            other => panic!("unexpected provider {other}"),
        }
        assert!(
            record["full_response"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
    }
    let stats = mock.stats();
    assert_eq!(stats.batch_lines_submitted, 24);
    assert_eq!(stats.anthropic_requests + stats.gemini_requests, 0);
}

/// `kill -9` at `step` of the first batch, then `--resume`: one record per job, and the mock
/// saw each job's line exactly once.
async fn kill_then_resume(step: &str, config: impl Fn(&MockServer) -> String) {
    let mock = mock(quick()).await;
    let dir = setup(12, &config(&mock));
    let killed = run_with(
        dir.path(),
        &[("PACER_TEST_KILL_AT", step)],
        &["run", "-c", "pacer.toml"],
    )
    .await;
    assert_eq!(
        killed.code, None,
        "{step}: killed by its signal\n{}",
        killed.stderr
    );
    let resumed = run_with(dir.path(), &[], &["run", "-c", "pacer.toml", "--resume"]).await;
    resumed.expect_code(0);
    let records = records(&dir.path().join("out"));
    let label = records[0]["label"].as_str().unwrap().to_owned();
    assert_one_per_key(&records, &prompt_ids(12), &[(&label, 1)]);
    let stats = mock.stats();
    assert_eq!(
        stats.batch_lines_submitted, 12,
        "{step}: every job submitted exactly once ({stats:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_every_step_then_resume_pays_for_each_job_once() {
    for step in [
        "before-upload",
        "after-upload",
        "after-create",
        "polling",
        "downloading",
    ] {
        kill_then_resume(step, |mock| openai_config(mock, "batch_size = 5")).await;
    }
    let anthropic = |mock: &MockServer| {
        format!(
            r#"
prompts_file = "prompts.jsonl"
output_dir = "out"
[[models]]
name = "claude-haiku-4-5"
type = "anthropic"
base_url = "{}"
api_key = "sk-test-batch-0123"
mode = "batch"
batch_size = 5
batch_poll_secs = 0.1
max_tokens = 16
"#,
            mock.anthropic_url()
        )
    };
    let gemini = |mock: &MockServer| {
        format!(
            r#"
prompts_file = "prompts.jsonl"
output_dir = "out"
[[models]]
name = "gemini-2.5-flash"
type = "gemini"
base_url = "{}"
api_key = "sk-test-batch-0123"
mode = "batch"
batch_size = 5
batch_poll_secs = 0.1
max_tokens = 16
"#,
            mock.gemini_url()
        )
    };
    // Neither takes a file upload: the lines go with the creation.
    for step in ["before-upload", "after-create", "polling", "downloading"] {
        kill_then_resume(step, anthropic).await;
        kill_then_resume(step, gemini).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_cancelled_while_pacer_was_down_is_submitted_again_on_resume() {
    let mock = mock(MockBatchConfig {
        processing: Duration::from_secs(8),
        ..MockBatchConfig::default()
    })
    .await;
    let dir = setup(6, &openai_config(&mock, ""));
    let killed = run_with(
        dir.path(),
        &[("PACER_TEST_KILL_AT", "polling")],
        &["run", "-c", "pacer.toml"],
    )
    .await;
    assert_eq!(killed.code, None, "{}", killed.stderr);
    run_with(
        dir.path(),
        &[],
        &["batches", "out", "--cancel", "-c", "pacer.toml"],
    )
    .await
    .expect_code(0);
    assert_eq!(mock.stats().batches_cancelled, 1);
    run_with(dir.path(), &[], &["run", "-c", "pacer.toml", "--resume"])
        .await
        .expect_code(0);
    let records = common::records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(6), &[("gpt-4o-mini", 1)]);
    let ids: std::collections::BTreeSet<_> =
        records.iter().map(|r| r["batch_id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "answered by the second batch only: {ids:?}");
    let stats = mock.stats();
    assert_eq!(stats.batches_created, 2);
    assert_eq!(
        stats.batch_lines_submitted, 12,
        "the cancelled batch ran nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_holds_each_batch_at_its_worst_case() {
    let mock = mock(quick()).await;
    // Batches of 5 lines, each line at most ~30 + 16 tokens: a batch's worst case is about
    // $0.0003 at $2 per million tokens: the budget fits one batch, not two.
    let dir = setup(
        15,
        &openai_config(
            &mock,
            "batch_size = 5\nbatch_price = { input = 2.0, output = 2.0 }",
        ),
    );
    let out = run_with(
        dir.path(),
        &[],
        &["run", "-c", "pacer.toml", "--budget-usd", "0.0005"],
    )
    .await;
    out.expect_code(3).expect_stderr(&["budget"]);
    let records = common::records(&dir.path().join("out"));
    assert!(
        !records.is_empty() && records.len() < 15,
        "some batches ran, not all: {}",
        records.len()
    );
    let spent: f64 = records
        .iter()
        .map(|r| r["cost_usd"].as_f64().unwrap())
        .sum();
    assert!(spent <= 0.0005, "{spent}");
    assert_eq!(mock.stats().batch_lines_submitted, records.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_leaves_batches_running_and_cancel_stops_them() {
    let mock = mock(MockBatchConfig {
        processing: Duration::from_secs(30),
        ..MockBatchConfig::default()
    })
    .await;
    let dir = setup(6, &openai_config(&mock, ""));
    let child = command(dir.path())
        .args(["run", "-c", "pacer.toml"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ledger = dir.path().join("out/batches.jsonl");
    let started = Instant::now();
    while !std::fs::read_to_string(&ledger).is_ok_and(|t| t.contains("\"created\"")) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no batch was created"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("keep running at the provider"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");

    // A new run in the folder would submit the same jobs again: refused.
    let again = run_with(dir.path(), &[], &["run", "-c", "pacer.toml"]).await;
    again
        .expect_code(2)
        .expect_stderr(&["holds 1 batches of an earlier run", "--resume"]);

    let listed = run_with(dir.path(), &[], &["batches", "out", "-c", "pacer.toml"]).await;
    listed.expect_code(0);
    assert!(
        listed.stdout.contains("in_progress") || listed.stdout.contains("validating"),
        "{}",
        listed.stdout
    );
    let cancelled = run_with(
        dir.path(),
        &[],
        &["batches", "out", "--cancel", "-c", "pacer.toml"],
    )
    .await;
    cancelled.expect_code(0);
    assert!(
        cancelled.stdout.contains("cancelling") || cancelled.stdout.contains("cancelled"),
        "{}",
        cancelled.stdout
    );
    assert_eq!(mock.stats().batches_cancelled, 1);
    assert!(
        !dir.path().join("out/results.jsonl").exists()
            || records(&dir.path().join("out")).is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_sends_failed_jobs_in_a_new_batch() {
    let mock = mock(MockBatchConfig {
        line_failure: 0.5,
        ..quick()
    })
    .await;
    let dir = setup(12, &openai_config(&mock, ""));
    let first = run_with(
        dir.path(),
        &[],
        &["run", "-c", "pacer.toml", "--max-retries", "0"],
    )
    .await;
    first.expect_code(0);
    let records = common::records(&dir.path().join("out"));
    let failed: Vec<String> = records
        .iter()
        .filter(|r| r["status"] == "error")
        .map(|r| r["prompt_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!failed.is_empty(), "half the lines fail");
    assert!(
        records
            .iter()
            .filter(|r| r["status"] == "error")
            .all(|r| r["error"]["kind"] == "Server")
    );
    let first_batch = records[0]["batch_id"].clone();

    run_with(
        dir.path(),
        &[],
        &[
            "run",
            "-c",
            "pacer.toml",
            "--retry-failed",
            "--max-retries",
            "0",
        ],
    )
    .await
    .expect_code(0);
    let records = common::records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(12), &[("gpt-4o-mini", 1)]);
    for record in records
        .iter()
        .filter(|r| failed.contains(&r["prompt_id"].as_str().unwrap().to_owned()))
    {
        assert_ne!(
            record["batch_id"], first_batch,
            "retried in a new batch: {record}"
        );
    }
    assert_eq!(
        mock.stats().batch_lines_submitted,
        12 + failed.len() as u64,
        "only the failed jobs went again"
    );
}
