//! Cost and budgets through the real binary on the mock provider: every record priced, the
//! run stopped before its budget would be passed with the rest pending, and a resume with a
//! larger budget finishing it.

use crate::common::*;
use serde_json::Value;

/// Ten-word replies at $1 / $2 per million input / output tokens.
const CONFIG: &str = r#"
prompts_file = "prompts.jsonl"
output_dir = "out"
max_tokens = 50
concurrency = 2

[[models]]
name = "priced"
type = "mock"
price = { input = 1.0, output = 2.0 }
"#;

#[test]
fn a_dollar_budget_stops_the_run_and_a_larger_one_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(40));
    write(dir.path(), "run.toml", CONFIG);
    // A request may cost its prompt plus 50 output tokens: about $0.0001 each.
    pacer(
        dir.path(),
        &[
            "run",
            "--config",
            "run.toml",
            "--budget-usd",
            "0.001",
            "--quiet",
        ],
    )
    .expect_code(3)
    .expect_stderr(&["BudgetExhausted", "--resume"]);
    let out = dir.path().join("out");
    let first = records(&out);
    assert!(
        !first.is_empty() && first.len() < 40,
        "{} records",
        first.len()
    );
    let spent: f64 = first.iter().map(|r| r["cost_usd"].as_f64().unwrap()).sum();
    assert!(spent > 0.0 && spent <= 0.001, "{spent}");
    for record in &first {
        let tokens = &record["usage_all_attempts"];
        let expected = (tokens["input"].as_f64().unwrap() * 1.0
            + tokens["output"].as_f64().unwrap() * 2.0)
            / 1e6;
        let cost = record["cost_usd"].as_f64().unwrap();
        assert!((cost - expected).abs() < 1e-12, "{record}");
    }
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["budget_exhausted"], true);
    assert!(summary["models"]["priced"]["pending"].as_u64().unwrap() > 0);
    assert_summary_matches(&summary, &first);

    pacer(
        dir.path(),
        &[
            "run",
            "--config",
            "run.toml",
            "--resume",
            "--budget-usd",
            "1",
            "--quiet",
        ],
    )
    .expect_code(0);
    let all = records(&out);
    assert_one_per_key(&all, &prompt_ids(40), &[("priced", 1)]);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["budget_exhausted"], false);
    let total: f64 = all.iter().map(|r| r["cost_usd"].as_f64().unwrap()).sum();
    let reported = summary["totals"]["cost_usd"].as_f64().unwrap();
    assert!((total - reported).abs() < 1e-9, "{total} vs {reported}");
}

#[test]
fn a_token_budget_needs_no_prices() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(30));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "mock:free",
        "--max-tokens",
        "20",
        "-o",
        "out",
        "--budget-tokens",
        "300",
        "--quiet",
    ];
    pacer(dir.path(), &args).expect_code(3);
    let first = records(&dir.path().join("out"));
    let tokens: u64 = first
        .iter()
        .map(|r| r["usage_all_attempts"]["total"].as_u64().unwrap())
        .sum();
    assert!(tokens <= 300 && !first.is_empty(), "{tokens}");
    assert!(first.iter().all(|r| r["cost_usd"].is_null()));
    // events.jsonl says when and where the budget was reached.
    let events = read_jsonl(&dir.path().join("out/events.jsonl"));
    let budget: Vec<&Value> = events.iter().filter(|e| e["event"] == "budget").collect();
    assert_eq!(budget.len(), 1, "{events:?}");
    assert_eq!(budget[0]["lane"], "free");
    assert!(budget[0]["time"].is_string());
}

#[test]
fn a_dollar_budget_without_a_price_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(3));
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "mock:free",
        "-o",
        "out",
        "--budget-usd",
        "5",
    ];
    pacer(dir.path(), &args)
        .expect_code(2)
        .expect_stderr(&["-m mock:free.price", "no price is known for `free`"]);
    assert!(!dir.path().join("out").join("results.jsonl").exists());
}

#[test]
fn failures_moved_aside_by_retry_failed_still_count_against_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(10));
    write(
        dir.path(),
        "answer.schema.json",
        r#"{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}"#,
    );
    // Every reply is broken JSON: billed, then recorded as InvalidOutput.
    let config = "prompts_file = \"prompts.jsonl\"\noutput_dir = \"out\"\nmax_tokens = 20\nmax_retries = 0\n\
                  [[models]]\nname = \"broken\"\ntype = \"mock\"\nschema = \"answer.schema.json\"\ninvalid_json_rate = 1.0\n";
    write(dir.path(), "run.toml", config);
    pacer(dir.path(), &["run", "--config", "run.toml", "--quiet"]).expect_code(0);
    let first = records(&dir.path().join("out"));
    let billed: u64 = first
        .iter()
        .map(|r| r["usage_all_attempts"]["total"].as_u64().unwrap())
        .sum();
    assert!(first.iter().all(|r| r["error"]["kind"] == "InvalidOutput"));
    assert!(billed > 0);
    // Retrying them under a budget only a little above what they already cost: not one
    // request fits, because the failures moved aside still count.
    let budget = (billed + 5).to_string();
    let args = [
        "run",
        "--config",
        "run.toml",
        "--resume",
        "--retry-failed",
        "--budget-tokens",
        &budget,
        "--quiet",
    ];
    pacer(dir.path(), &args)
        .expect_code(3)
        .expect_stderr(&["BudgetExhausted"]);
    let summary = read_json(&dir.path().join("out").join("summary.json"));
    assert_eq!(summary["budget_exhausted"], true);
    assert_eq!(summary["models"]["broken"]["completed"], 0);
}
