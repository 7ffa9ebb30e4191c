//! The real `pacer` binary on the `openai` provider against `pacer mock` started in-process on
//! loopback: request shapes the mock checks as the real API does, `n` sampling, reasoning
//! models, limits learned from headers, and the errors that stop a lane.

use std::path::Path;

use crate::common::*;
use pacer_mock::{MockServer, MockServerConfig};

const KEY: &str = "sk-test-key-0123456789";

/// Runs `pacer ARGS` from `dir` with the OpenAI settings pointing at `server`.
async fn run_against(server: &MockServer, key: &str, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = command(dir);
    cmd.env("OPENAI_BASE_URL", server.url())
        .env("OPENAI_API_KEY", key)
        .args(args);
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

async fn server(config: MockServerConfig) -> MockServer {
    MockServer::start(config).await.expect("the mock binds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_go_out_as_n_in_one_call_and_come_back_one_record_each() {
    let mock = server(MockServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(12));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "openai:gpt-4o-mini",
        "--samples",
        "3",
        "--max-tokens",
        "24",
        "-o",
        "out",
        "--quiet",
    ];
    run_against(&mock, KEY, dir.path(), &args)
        .await
        .expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(12), &[("gpt-4o-mini", 3)]);
    assert_eq!(mock.stats().requests, 12, "one call per prompt, n = 3");
    for record in &records {
        assert_eq!(record["status"], "ok", "{record}");
        assert_eq!(record["provider"], "openai");
        assert_eq!(record["model_version"], "gpt-4o-mini-mock-1");
    }
    // The three samples of a prompt are three different completions.
    let texts: std::collections::BTreeSet<_> = records
        .iter()
        .filter(|r| r["prompt_id"] == "q000")
        .map(|r| r["full_response"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    // The records' tokens add up to what the server billed.
    let billed: u64 = records
        .iter()
        .map(|r| r["tokens_used"]["total"].as_u64().unwrap())
        .sum();
    let stats = mock.stats();
    assert_eq!(billed, stats.prompt_tokens + stats.completion_tokens);
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_models_get_max_completion_tokens_and_one_sample_per_call() {
    // The mock refuses max_tokens, temperature, stop and n > 1 for o-series models, as
    // OpenAI does: every record ok means none were sent.
    let mock = server(MockServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(5));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "openai:o3-mini",
        "--samples",
        "2",
        "--max-tokens",
        "40",
        "--temperature",
        "0.7",
        "-o",
        "out",
        "--quiet",
    ];
    run_against(&mock, KEY, dir.path(), &args)
        .await
        .expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(5), &[("o3-mini", 2)]);
    assert_eq!(mock.stats().requests, 10, "samples one call each");
    assert_eq!(mock.stats().bad_requests, 0);
    for record in &records {
        assert_eq!(record["status"], "ok", "{record}");
        assert!(record["usage_all_attempts"]["reasoning"].as_u64().unwrap() > 0);
    }
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_nobody_configured_are_learned_from_the_headers() {
    let mock = server(MockServerConfig {
        rpm: Some(600),
        ..MockServerConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(30));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "openai:gpt-4o-mini",
        "--concurrency",
        "16",
        "-o",
        "out",
        "--quiet",
        "--max-tokens",
        "8",
    ];
    run_against(&mock, KEY, dir.path(), &args)
        .await
        .expect_code(0);
    assert_eq!(records(&dir.path().join("out")).len(), 30);
    let stats = mock.stats();
    // Unpaced, 16 requests at once would meet a bucket of 20 and then a 10/s refill.
    assert_eq!((stats.requests, stats.rate_limited), (30, 0), "{stats:?}");
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_stops_the_lane_and_is_never_printed() {
    let mock = server(MockServerConfig {
        api_key: Some("the-right-key".into()),
        ..MockServerConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(6));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "openai:gpt-4o-mini",
        "-o",
        "out",
        "--quiet",
    ];
    let run = run_against(&mock, KEY, dir.path(), &args).await;
    run.expect_code(3).expect_stderr(&["Auth", "API key"]);
    assert!(!run.stderr.contains(KEY), "{}", run.stderr);
    let out = dir.path().join("out");
    let journal = std::fs::read_to_string(out.join("results.jsonl")).unwrap_or_default();
    assert!(!journal.contains(KEY));
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_quota_stops_the_lane_leaving_the_rest_pending() {
    let mock = server(MockServerConfig {
        quota_tokens: Some(200),
        ..MockServerConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(20));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "openai:gpt-4o-mini",
        "--max-tokens",
        "16",
        "--concurrency",
        "1",
        "-o",
        "out",
        "--quiet",
    ];
    let run = run_against(&mock, KEY, dir.path(), &args).await;
    run.expect_code(3)
        .expect_stderr(&["QuotaExhausted", "--resume"]);
    let done = records(&dir.path().join("out")).len();
    assert!(done < 20, "{done} records");
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limits_file_tier_that_does_not_exist_is_a_clear_error() {
    let mock = server(MockServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
    write(
        dir.path(),
        "rate_config.json",
        r#"{"models": {"gpt-4o-mini": {"1": {"rpm": 500, "tpm": 200000}}}}"#,
    );
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "openai:gpt-4o-mini",
        "--limits",
        "rate_config.json",
        "--tier",
        "4",
        "-o",
        "out",
        "--quiet",
    ];
    run_against(&mock, KEY, dir.path(), &args)
        .await
        .expect_code(2)
        .expect_stderr(&["rate_config.json", "models.gpt-4o-mini", "no tier 4"]);
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "openai:gpt-4o-mini",
        "--limits",
        "rate_config.json",
        "--tier",
        "1",
        "-o",
        "out2",
        "--quiet",
    ];
    run_against(&mock, KEY, dir.path(), &args)
        .await
        .expect_code(0);
    mock.shutdown().await;
}
