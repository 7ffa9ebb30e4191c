//! The real `pacer` binary on the `local` provider (built with `--features local`): a missing
//! or corrupt model file stops the run before it starts, naming the path; with
//! `PACER_SMOLLM2` set to SmolLM2's .gguf (`scripts/fetch-smollm2.sh`), one prompt runs
//! through `-m local:PATH` and its record carries top-5 logprobs.
#![cfg(feature = "local")]

use crate::common::{self, *};

#[test]
fn a_missing_or_corrupt_model_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
    let missing = dir.path().join("absent.gguf");
    let model = format!("local:{}", missing.display());
    pacer(
        dir.path(),
        &["run", "prompts.jsonl", "-m", &model, "-o", "out", "--quiet"],
    )
    .expect_code(2)
    .expect_stderr(&["absent.gguf", "local model"]);
    write(dir.path(), "corrupt.gguf", "GGUF but not really");
    let config = "prompts_file = \"prompts.jsonl\"\noutput_dir = \"out\"\n[[models]]\nname = \"smol\"\ntype = \"local\"\nmodel_path = \"corrupt.gguf\"\ndevice = \"cpu\"\n";
    write(dir.path(), "local.toml", config);
    pacer(dir.path(), &["run", "--config", "local.toml", "--quiet"])
        .expect_code(2)
        .expect_stderr(&["corrupt.gguf", "GGUF"]);
    // A precision it does not know: the field and what it takes.
    write(
        dir.path(),
        "precise.toml",
        &format!("{config}precision = \"perfect\"\n"),
    );
    pacer(dir.path(), &["run", "--config", "precise.toml", "--quiet"])
        .expect_code(2)
        .expect_stderr(&["precision", "\"exact\" or \"fast\"", "perfect"]);
    // A relative `model_path` is read from the config's folder, not the current one.
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    std::fs::rename(
        dir.path().join("corrupt.gguf"),
        dir.path().join("conf/model.gguf"),
    )
    .unwrap();
    write(
        dir.path(),
        "conf/local.toml",
        &config
            .replace("corrupt.gguf", "model.gguf")
            .replace("prompts.jsonl", "../prompts.jsonl"),
    );
    pacer(
        dir.path(),
        &["run", "--config", "conf/local.toml", "--quiet"],
    )
    .expect_code(2)
    .expect_stderr(&["conf/model.gguf", "not a readable GGUF"]);
}

#[test]
fn smollm2_answers_through_the_cli_with_logprobs() {
    let Some(path) = std::env::var_os("PACER_SMOLLM2") else {
        eprintln!("skipped: set PACER_SMOLLM2 to SmolLM2's .gguf (scripts/fetch-smollm2.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "prompts.jsonl",
        "{\"prompt_id\": \"p1\", \"prompt\": \"Say hello.\"}\n",
    );
    let config = format!(
        "prompts_file = \"prompts.jsonl\"\noutput_dir = \"out\"\n[[models]]\nname = \"smol\"\ntype = \"local\"\nmodel_path = {:?}\ntemperature = 0.0\nmax_tokens = 8\nlogprobs = true\n",
        path.to_string_lossy()
    );
    write(dir.path(), "local.toml", &config);
    let args = ["run", "--config", "local.toml", "--quiet"];
    pacer(dir.path(), &args).expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert!(!r["full_response"].as_str().unwrap().is_empty(), "{r}");
    assert!(r["tokens_used"]["input"].as_u64().unwrap() > 0, "{r}");
    // The weights' file and how they were computed: every tensor F32 (SmolLM2 is small).
    assert_eq!(
        r["model_version"], "SmolLM2-135M-Instruct.Q4_1.gguf (exact)",
        "{r}"
    );
    // In-process: nothing billed.
    assert_eq!(r["cost_usd"].as_f64(), Some(0.0), "{r}");
    let lps = r["token_logprobs"].as_array().unwrap();
    assert!(!lps.is_empty(), "{r}");
    for lp in lps {
        assert_eq!(lp["top_logprobs"].as_array().unwrap().len(), 5, "{lp}");
    }
    // The same from flags alone: `-m local:PATH --logprobs`.
    let model = format!("local:{}", path.to_string_lossy());
    let flags = [
        "run",
        "prompts.jsonl",
        "-m",
        &model,
        "--temperature",
        "0",
        "--max-tokens",
        "8",
        "--logprobs",
        "-o",
        "flags",
        "--quiet",
    ];
    pacer(dir.path(), &flags).expect_code(0);
    let again = common::records(&dir.path().join("flags"));
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0]["full_response"], r["full_response"]);
    assert_eq!(again[0]["token_logprobs"], r["token_logprobs"]);
}
