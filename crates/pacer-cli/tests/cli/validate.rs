//! `pacer validate` through the real binary: each check passing and failing, the run's
//! estimate, and `--ping` against `pacer mock` on loopback.

use std::path::Path;

use crate::common::*;
use pacer_mock::{MockServer, MockServerConfig};

const KEY: &str = "sk-validate-key-0123456789";

fn config(dir: &Path, extra_model_lines: &str) {
    write(dir, "prompts.jsonl", &jsonl_prompts(10));
    let text = format!(
        "prompts_file = \"prompts.jsonl\"\noutput_dir = \"out\"\nmax_tokens = 64\n\
         [[models]]\nname = \"priced\"\ntype = \"mock\"\nprice = {{ input = 1.0, output = 2.0 }}\n{extra_model_lines}"
    );
    write(dir, "run.toml", &text);
}

#[test]
fn a_good_setup_is_ready_and_the_run_is_estimated() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), "samples = 2\nrpm = 60\n");
    let out = pacer(dir.path(), &["validate", "--config", "run.toml"]);
    out.expect_code(0);
    for needle in [
        "ok   prompts: 10 valid",
        "output folder out: will be created",
        "priced: limits 60 rpm",
        "20 jobs in 10 calls",
        // 20 samples × 64 output tokens at $2 per million, plus the prompts at $1.
        "at most 1280 output tokens",
        "at least 0.2 min at these limits",
        "pacer validate: ready",
    ] {
        assert!(
            out.stdout.contains(needle),
            "{needle} not in {}",
            out.stdout
        );
    }
    assert!(!dir.path().join("out").exists(), "validate writes nothing");
}

#[test]
fn failed_checks_are_named_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    // A tokens limit smaller than one request's output allowance, and an output "folder"
    // that is a file.
    config(dir.path(), "tpm = 50\n");
    write(dir.path(), "out", "not a folder");
    let out = pacer(dir.path(), &["validate", "--config", "run.toml"]);
    out.expect_code(1);
    for needle in [
        "FAIL output folder out: exists and is not a folder",
        "FAIL priced: limits 50 tpm: the largest request cannot pass",
        "some checks failed",
    ] {
        assert!(
            out.stdout.contains(needle),
            "{needle} not in {}",
            out.stdout
        );
    }
}

#[test]
fn config_errors_are_reported_as_by_run() {
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), "temperature = 9\n");
    pacer(dir.path(), &["validate", "--config", "run.toml"])
        .expect_code(2)
        .expect_stderr(&["run.toml", "models[0].temperature"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_sends_one_tiny_request_per_model() {
    let mock = MockServer::start(MockServerConfig {
        api_key: Some(KEY.into()),
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(3));
    for (key, code, needle) in [
        (KEY, 0, "ok   gpt-4o-mini: ping ok in"),
        (
            "sk-wrong-key-000000000000",
            1,
            "FAIL gpt-4o-mini: ping Auth (HTTP 401)",
        ),
    ] {
        let mut cmd = command(dir.path());
        cmd.env("OPENAI_BASE_URL", mock.url())
            .env("OPENAI_API_KEY", key)
            .args([
                "validate",
                "prompts.jsonl",
                "-m",
                "openai:gpt-4o-mini",
                "--ping",
            ]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{stdout}");
        assert!(stdout.contains(needle), "{needle} not in {stdout}");
        assert!(!stdout.contains(key), "the key leaked: {stdout}");
    }
    assert_eq!(mock.stats().requests, 2, "one request per ping");
}
