//! `pacer run --report` and `pacer report` through the real binary on the mock provider: the
//! report's data matches the journal, the records carry their times, `events.jsonl` its
//! sessions. (The page itself is checked in headless Chromium by `scripts/check-report.sh`.)

use std::path::Path;

use crate::common::*;
use serde_json::Value;

/// The JSON the page embeds.
fn report_data(path: &Path) -> Value {
    let page = std::fs::read_to_string(path).expect("the report is written");
    let start = page.find("id=\"report-data\">").expect("the data element") + 17;
    let end = start + page[start..].find("</script>").expect("its end");
    serde_json::from_str(&page[start..end]).expect("the data is JSON")
}

#[test]
fn run_report_and_a_resume_show_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(3));
    write(dir.path(), "run.toml", TWO_MODELS);
    pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--quiet", "--report"],
    )
    .expect_code(0);
    let out = dir.path().join("out");
    let journal = records(&out);
    for record in &journal {
        let elapsed = record["elapsed_seconds"].as_f64().unwrap();
        let latency = record["latency_seconds"].as_f64().expect("latency_seconds");
        let queue = record["queue_seconds"].as_f64().expect("queue_seconds");
        assert!(latency + queue <= elapsed + 1e-6, "{record}");
    }
    let data = report_data(&out.join("report.html"));
    let run = &data["runs"][0];
    assert_eq!(run["records"], journal.len());
    assert_eq!(
        (run["sessions"].as_u64(), run["resumes"].as_u64()),
        (Some(1), Some(0))
    );
    let labels: Vec<&str> = run["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["large-hot", "mock-small"]);
    // Every prompt is browsable, with its text and both models' answers (3 records each).
    let prompts = data["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 3);
    assert!(
        prompts.iter().all(|p| p["prompt"].is_string()),
        "{prompts:?}"
    );
    assert!(
        prompts
            .iter()
            .all(|p| p["answers"].as_array().unwrap().len() == 3)
    );

    // A resume is a second session; `pacer report` of two folders shows both.
    pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--quiet", "--resume"],
    )
    .expect_code(0);
    let events = read_jsonl(&out.join("events.jsonl"));
    let sessions: Vec<bool> = events
        .iter()
        .filter(|e| e["event"] == "session")
        .map(|e| e["resumed"].as_bool().unwrap())
        .collect();
    assert_eq!(sessions, [false, true]);
    pacer(
        dir.path(),
        &["report", "out", "out", "-o", "both.html", "--prompts", "2"],
    )
    .expect_code(0)
    .expect_stderr(&["both.html", "2 prompts in the browser"]);
    let data = report_data(&dir.path().join("both.html"));
    assert_eq!(data["runs"][0]["resumes"], 1);
    assert_eq!(data["runs"][1]["name"], "out (2)");
    assert_eq!(data["prompts"].as_array().unwrap().len(), 2);

    // A folder that is not a run's says so (an input error), and writes nothing.
    pacer(dir.path(), &["report", "nowhere", "-o", "x.html"])
        .expect_code(2)
        .expect_stderr(&["nowhere holds no results.jsonl"]);
    assert!(!dir.path().join("x.html").exists());
}
