//! API keys through the real `pacer` binary on the mock provider: a key from the config or
//! the environment never reaches a file it writes or a message it prints.

use std::fs;
use std::path::Path;

use crate::common::*;

/// Every file under `dir`, recursively, with its text.
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else {
            let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
            files.push((path.display().to_string(), text));
        }
    }
    files
}

#[test]
fn an_api_key_in_the_config_never_reaches_a_file_or_a_message() {
    const SECRET: &str = "sk-test-SECRET123";
    const ENV_SECRET: &str = "sk-env-OTHERSECRET456";
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(3));
    let config = |out: &str, fail: &str| {
        format!(
            r#"
prompts_file = "prompts.jsonl"
output_dir = "{out}"

[[models]]
name = "keyed"
type = "mock"
api_key = "{SECRET}"
samples = 2
{fail}

[[models]]
name = "from-env"
type = "mock"
api_key = "${{PACER_E2E_TEST_KEY}}"
"#
        )
    };
    write(dir.path(), "run.toml", &config("out", ""));
    let run = command(dir.path())
        .args(["run", "--config", "run.toml", "--export"])
        .env("PACER_E2E_TEST_KEY", ENV_SECRET)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut messages = vec![String::from_utf8_lossy(&run.stderr).into_owned()];
    messages.push(String::from_utf8_lossy(&run.stdout).into_owned());
    let export = pacer(dir.path(), &["export", "out", "--out", "out/copy.json"]);
    export.expect_code(0);
    messages.push(export.stderr);

    // A lane that stops on an auth error explains itself without the key.
    write(
        dir.path(),
        "auth.toml",
        &config("auth-out", "fail_rate = 1.0\nfail_kind = \"Auth\""),
    );
    let auth = command(dir.path())
        .args(["run", "--config", "auth.toml"])
        .env("PACER_E2E_TEST_KEY", ENV_SECRET)
        .output()
        .unwrap();
    assert_eq!(auth.status.code(), Some(3));
    messages.push(String::from_utf8_lossy(&auth.stderr).into_owned());

    let out = dir.path().join("out");
    for name in [
        "results.jsonl",
        "summary.json",
        "run.json",
        "results.json",
        "copy.json",
    ] {
        assert!(out.join(name).exists(), "{name} was written");
    }
    let mut texts = all_files(&out);
    texts.extend(all_files(&dir.path().join("auth-out")));
    texts.extend(
        messages
            .into_iter()
            .map(|m| ("stderr or stdout".to_owned(), m)),
    );
    for (what, text) in &texts {
        assert!(!text.contains(SECRET), "{what} holds the config's API key");
        assert!(
            !text.contains(ENV_SECRET),
            "{what} holds the API key from the environment"
        );
    }
    // The manifest says a key was given, redacted.
    let manifest = read_json(&out.join("run.json"));
    assert_eq!(manifest["config"]["models"][0]["api_key"], "<redacted>");
    assert_eq!(manifest["config"]["models"][1]["api_key"], "<redacted>");
}
