//! The real `pacer` binary on the `anthropic` and `gemini` providers against `pacer mock`
//! started in-process on loopback: records, limits that meet no 429, and the errors that stop
//! a lane.

use crate::common::*;
use pacer_mock::{MockServer, MockServerConfig};

fn anthropic_env(mock: &MockServer, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_BASE_URL", mock.anthropic_url()),
        ("ANTHROPIC_API_KEY", key.to_owned()),
    ]
}

fn gemini_env(mock: &MockServer, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GEMINI_BASE_URL", mock.gemini_url()),
        ("GEMINI_API_KEY", key.to_owned()),
        ("GOOGLE_API_KEY", String::new()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_under_input_and_output_limits_meets_no_429() {
    let mock = MockServer::start(MockServerConfig {
        rpm: Some(600),
        itpm: Some(6_000),
        otpm: Some(3_000),
        api_key: Some("sk-ant-test-key-0123".into()),
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(20));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "claude:claude-haiku-4-5",
        "--max-tokens",
        "16",
        "--rpm",
        "600",
        "--itpm",
        "6000",
        "--otpm",
        "3000",
        "-o",
        "out",
        "--quiet",
    ];
    run_with(
        dir.path(),
        anthropic_env(&mock, "sk-ant-test-key-0123"),
        &args,
    )
    .await
    .expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(20), &[("claude-haiku-4-5", 1)]);
    let stats = mock.stats();
    assert_eq!(stats.rate_limited, 0);
    assert_eq!(stats.anthropic_requests, 20);
    for record in &records {
        assert_eq!(record["status"], "ok", "{record}");
        assert_eq!(record["provider"], "anthropic");
        assert!(
            record["cost_usd"].as_f64().unwrap() > 0.0,
            "priced from the table"
        );
        assert!(!record["full_response"].as_str().unwrap().is_empty());
    }
    let billed: u64 = records
        .iter()
        .map(|r| r["tokens_used"]["total"].as_u64().unwrap())
        .sum();
    assert_eq!(billed, stats.prompt_tokens + stats.completion_tokens);
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_samples_go_out_as_candidates() {
    let mock = MockServer::start(MockServerConfig {
        api_key: Some("gemini-test-key".into()),
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(6));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "gemini:gemini-2.5-flash",
        "--samples",
        "3",
        "--max-tokens",
        "16",
        "-o",
        "out",
        "--quiet",
    ];
    run_with(dir.path(), gemini_env(&mock, "gemini-test-key"), &args)
        .await
        .expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(&records, &prompt_ids(6), &[("gemini-2.5-flash", 3)]);
    assert_eq!(
        mock.stats().gemini_requests,
        6,
        "one call per prompt, 3 candidates"
    );
    assert!(records.iter().all(|r| r["provider"] == "gemini"));
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_stops_each_lane_and_never_shows() {
    let mock = MockServer::start(MockServerConfig {
        api_key: Some("the-right-key".into()),
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(4));
    let wrong = "sk-ant-wrong-key-9876543210";
    let mut env = anthropic_env(&mock, wrong);
    env.extend(gemini_env(&mock, "AIzaWrongKey9876543210"));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "anthropic:claude-haiku-4-5",
        "-m",
        "gemini:gemini-2.5-flash",
        "-o",
        "out",
    ];
    let out = run_with(dir.path(), env, &args).await;
    out.expect_code(3).expect_stderr(&[
        "claude-haiku-4-5 stopped: Auth",
        "gemini-2.5-flash stopped: Auth",
    ]);
    assert!(!out.stderr.contains(wrong) && !out.stderr.contains("AIzaWrongKey"));
    mock.shutdown().await;
}
