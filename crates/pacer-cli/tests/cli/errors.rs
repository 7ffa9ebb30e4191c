//! End-to-end errors of the real `pacer` binary: bad prompt files and bad configs end with
//! exit status 2 and a message naming the file, the line or key, and what was expected.

use std::path::Path;

use crate::common::*;

const THREE_WITH_A_BAD_LINE: &str = concat!(
    "{\"prompt_id\": \"a\", \"prompt\": \"first\"}\n",
    "{\"prompt_id\": \"b\", \"prompt\": \"second\"}\n",
    "{\"prompt_id\": \"c\", \"prompt\": \n",
    "{\"prompt_id\": \"d\", \"prompt\": \"fourth\"}\n",
);

fn run_on(dir: &Path, prompts: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", prompts, "-m", "mock:m", "-o", "out", "--quiet"];
    args.extend_from_slice(extra);
    pacer(dir, &args)
}

#[test]
fn a_malformed_jsonl_line_stops_the_run_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", THREE_WITH_A_BAD_LINE);
    let run = run_on(dir.path(), "prompts.jsonl", &[]);
    run.expect_code(2)
        .expect_stderr(&["prompts.jsonl", "line 3", "--skip-invalid"]);
    assert!(
        !dir.path().join("out/results.jsonl").exists(),
        "nothing runs before the input is known to be good"
    );
}

#[test]
fn skip_invalid_lists_the_bad_line_and_runs_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", THREE_WITH_A_BAD_LINE);
    run_on(dir.path(), "prompts.jsonl", &["--skip-invalid"]).expect_code(0);
    let out = dir.path().join("out");
    let invalid = read_jsonl(&out.join("invalid_inputs.jsonl"));
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert_eq!(invalid[0]["line"], 3);
    assert!(
        invalid[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("prompts.jsonl"),
        "{:?}",
        invalid[0]
    );
    assert!(invalid[0]["error"].as_str().unwrap().contains("line 3"));
    let records = records(&out);
    let ids: Vec<String> = ["a", "b", "d"].iter().map(|s| (*s).to_owned()).collect();
    assert_one_per_key(&records, &ids, &[("m", 1)]);
}

#[test]
fn duplicate_ids_are_an_error_naming_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "prompts.jsonl",
        "{\"id\": \"x\", \"prompt\": \"1\"}\n{\"id\": \"y\", \"prompt\": \"2\"}\n{\"id\": \"x\", \"prompt\": \"3\"}\n",
    );
    run_on(dir.path(), "prompts.jsonl", &[])
        .expect_code(2)
        .expect_stderr(&["prompts.jsonl", "line 3", "line 1", "`x`"]);
}

#[test]
fn an_empty_prompts_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "empty.jsonl", "");
    run_on(dir.path(), "empty.jsonl", &[])
        .expect_code(2)
        .expect_stderr(&["empty.jsonl", "no prompts"]);
    assert!(!dir.path().join("out/results.jsonl").exists());
}

#[test]
fn a_missing_prompts_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    run_on(dir.path(), "nowhere/missing-prompts.jsonl", &[])
        .expect_code(2)
        .expect_stderr(&["nowhere/missing-prompts.jsonl", "cannot open"]);
}

#[test]
fn a_missing_prompts_file_named_in_a_config_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "run.toml",
        "prompts_file = \"gone.jsonl\"\n[[models]]\nname = \"m\"\ntype = \"mock\"\n",
    );
    pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"])
        .expect_code(2)
        .expect_stderr(&["gone.jsonl"]);
}

/// Runs `config` (a TOML file with a valid prompts file beside it) and returns the result.
fn run_config(name: &str, config: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
    write(dir.path(), name, config);
    let out = pacer(dir.path(), &["run", "--config", name, "--quiet"]);
    assert!(
        !dir.path().join("out/results.jsonl").exists()
            && !dir.path().join("pacer-results").exists(),
        "a bad config runs nothing"
    );
    out
}

const HEAD: &str = "prompts_file = \"prompts.jsonl\"\noutput_dir = \"out\"\n";

#[test]
fn temperature_out_of_range_names_the_file_the_key_and_the_range() {
    let config = format!("{HEAD}[[models]]\nname = \"m\"\ntype = \"mock\"\ntemperature = 3.5\n");
    run_config("bad-temp.toml", &config)
        .expect_code(2)
        .expect_stderr(&["bad-temp.toml", "models[0].temperature", "0", "2", "3.5"]);
    // The second entry is named by its own index.
    let config = format!(
        "{HEAD}[[models]]\nname = \"a\"\ntype = \"mock\"\n[[models]]\nname = \"b\"\ntype = \"mock\"\ntemperature = -1\n"
    );
    run_config("second.toml", &config)
        .expect_code(2)
        .expect_stderr(&["second.toml", "models[1].temperature"]);
}

#[test]
fn an_unknown_top_level_key_is_named() {
    let config = format!("{HEAD}bogus_setting = 1\n[[models]]\nname = \"m\"\ntype = \"mock\"\n");
    run_config("unknown.toml", &config)
        .expect_code(2)
        .expect_stderr(&["unknown.toml", "bogus_setting"]);
}

#[cfg(not(feature = "local"))]
#[test]
fn a_provider_not_in_this_build_says_so() {
    let config = format!("{HEAD}[[models]]\nname = \"smol\"\ntype = \"local\"\n");
    run_config("local.toml", &config)
        .expect_code(2)
        .expect_stderr(&[
            "local.toml",
            "models[0].type",
            "local",
            "not part of this build",
            "--features local",
            "openai, anthropic, gemini, mock",
        ]);
}

#[test]
fn claude_and_gemini_without_a_key_name_the_variables_to_set() {
    let cases = [
        ("claude", "claude-sonnet-4-5", &["ANTHROPIC_API_KEY"][..]),
        (
            "gemini",
            "gemini-2.5-flash",
            &["GEMINI_API_KEY", "GOOGLE_API_KEY"][..],
        ),
    ];
    for (kind, name, variables) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
        let config = format!("{HEAD}[[models]]\nname = \"{name}\"\ntype = \"{kind}\"\n");
        write(dir.path(), "hosted.toml", &config);
        let out = command(dir.path())
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("ANTHROPIC_BASE_URL")
            .env_remove("GEMINI_API_KEY")
            .env_remove("GOOGLE_API_KEY")
            .env_remove("GEMINI_BASE_URL")
            .args(["run", "--config", "hosted.toml", "--quiet"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        for needle in ["hosted.toml", "models[0].api_key"].iter().chain(variables) {
            assert!(stderr.contains(needle), "{needle} not in {stderr}");
        }
    }
}

#[test]
fn openai_without_a_key_names_the_variable_to_set() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
    let config = format!("{HEAD}[[models]]\nname = \"gpt-4o\"\ntype = \"openai\"\n");
    write(dir.path(), "openai.toml", &config);
    let out = command(dir.path())
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .args(["run", "--config", "openai.toml", "--quiet"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in ["openai.toml", "models[0].api_key", "OPENAI_API_KEY"] {
        assert!(stderr.contains(needle), "{needle} not in {stderr}");
    }
}

#[test]
fn a_base_url_that_is_not_http_is_named() {
    let config = format!(
        "{HEAD}[[models]]\nname = \"m\"\ntype = \"openai\"\nbase_url = \"localhost:8000/v1\"\n"
    );
    run_config("url.toml", &config)
        .expect_code(2)
        .expect_stderr(&["url.toml", "models[0].base_url", "http://"]);
}

#[test]
fn an_unset_environment_variable_names_the_variable_and_the_key() {
    let config = format!(
        "{HEAD}[[models]]\nname = \"m\"\ntype = \"mock\"\napi_key = \"${{NOPE_UNSET_VAR}}\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
    write(dir.path(), "env.toml", &config);
    let out = command(dir.path())
        .args(["run", "--config", "env.toml", "--quiet"])
        .env_remove("NOPE_UNSET_VAR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in ["env.toml", "NOPE_UNSET_VAR", "models[0].api_key"] {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    }
}

#[test]
fn a_toml_syntax_error_names_the_line() {
    let config = format!("{HEAD}[[models]]\nname = \"m\"\ntype = \"mock\"\ntemperature = = 1\n");
    run_config("syntax.toml", &config)
        .expect_code(2)
        .expect_stderr(&["syntax.toml", "line 6"]);
}

#[test]
fn a_json_syntax_error_names_the_line() {
    run_config(
        "broken.json",
        "{\n  \"prompts_file\": \"prompts.jsonl\",\n  \"models\": [\n}\n",
    )
    .expect_code(2)
    .expect_stderr(&["broken.json", "line 4"]);
}

#[test]
fn the_same_model_twice_without_a_label_asks_for_a_distinct_label() {
    let config = format!(
        "{HEAD}[[models]]\nname = \"m\"\ntype = \"mock\"\n[[models]]\nname = \"m\"\ntype = \"mock\"\ntemperature = 1.0\n"
    );
    run_config("twice.toml", &config)
        .expect_code(2)
        .expect_stderr(&["twice.toml", "models[1].label", "distinct", "label"]);
}

#[test]
fn other_config_mistakes_are_named() {
    let cases = [
        ("fail_kind = \"Nope\"", "models[0].fail_kind"),
        ("samples = 0", "models[0].samples"),
        ("temperature = \"hot\"", "models[0].temperature"),
        ("concurrency = 0", "models[0].concurrency"),
        ("top_p = 1.5", "models[0].top_p"),
    ];
    for (line, key) in cases {
        let config = format!("{HEAD}[[models]]\nname = \"m\"\ntype = \"mock\"\n{line}\n");
        run_config("c.toml", &config)
            .expect_code(2)
            .expect_stderr(&["c.toml", key]);
    }
    run_config("none.toml", HEAD)
        .expect_code(2)
        .expect_stderr(&["none.toml", "models"]);
}

#[test]
fn command_line_mistakes_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
    pacer(
        dir.path(),
        &["run", "prompts.jsonl", "-m", "nocolon", "-o", "out"],
    )
    .expect_code(2)
    .expect_stderr(&["nocolon", "TYPE:NAME"]);
    pacer(dir.path(), &["run", "-m", "mock:m", "-o", "out"])
        .expect_code(2)
        .expect_stderr(&["prompts"]);
    pacer(dir.path(), &["run", "prompts.jsonl", "-o", "out"])
        .expect_code(2)
        .expect_stderr(&["models"]);
    pacer(
        dir.path(),
        &[
            "run",
            "prompts.jsonl",
            "-m",
            "mock:m",
            "--resume",
            "--fresh",
        ],
    )
    .expect_code(2);
    pacer(dir.path(), &["export", "no-such-run"])
        .expect_code(2)
        .expect_stderr(&["no-such-run"]);
}

// Regression: the error used to point at an invalid_inputs.jsonl that was never written.
#[test]
fn when_every_prompt_is_invalid_the_error_shows_the_first_problem() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "prompts.jsonl",
        "{\"prompt_id\": \"a\", \"prompt\": \n{\"prompt_id\": \"b\"}\n",
    );
    let run = run_on(dir.path(), "prompts.jsonl", &["--skip-invalid"]);
    run.expect_code(2)
        .expect_stderr(&["no valid prompts", "all 2 are invalid", "line 1"]);
    assert!(
        !run.stderr.contains("see invalid_inputs.jsonl"),
        "{}",
        run.stderr
    );
}

#[test]
// Regression: a bad --temperature / --samples / --concurrency is blamed on the config file's models[0] key.
fn a_bad_command_line_override_is_blamed_on_the_command_line() {
    let config = format!("{HEAD}[[models]]\nname = \"m\"\ntype = \"mock\"\n");
    let cases = [
        ("--temperature", "3.5", "models[0].temperature"),
        ("--samples", "0", "models[0].samples"),
        ("--concurrency", "0", "models[0].concurrency"),
    ];
    for (flag, value, file_key) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "prompts.jsonl", &jsonl_prompts(2));
        write(dir.path(), "run.toml", &config);
        let run = pacer(
            dir.path(),
            &["run", "--config", "run.toml", flag, value, "--quiet"],
        );
        run.expect_code(2);
        assert!(
            !run.stderr.contains(&format!("run.toml: {file_key}")),
            "run.toml has no `{file_key}`; the value came from {flag}: {}",
            run.stderr
        );
        run.expect_stderr(&[flag]);
    }
}
