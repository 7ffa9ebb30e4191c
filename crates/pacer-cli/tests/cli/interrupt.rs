//! Interrupted runs of the real `pacer` binary: `kill -9` (with and without a torn last
//! line) or Ctrl-C, then `--resume` to the end with exactly one record per job.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::Duration;

use crate::common::*;

/// 300 prompts on two mock models (4 and 8 requests in flight, 20 ms each): about 1.5 s.
const SLOW_PROMPTS: usize = 300;
const SLOW_CONFIG: &str = r#"
prompts_file = "prompts.jsonl"
output_dir = "out"

[[models]]
name = "one"
type = "mock"
latency_ms = 20
concurrency = 4

[[models]]
name = "two"
type = "mock"
samples = 2
latency_ms = 20
concurrency = 8
"#;

fn spawn_run(dir: &Path, resume: bool) -> Child {
    let mut cmd: Command = command(dir);
    cmd.args(["run", "--config", "run.toml", "--quiet"]);
    if resume {
        cmd.arg("--resume");
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("pacer starts")
}

/// Cuts `bytes` off the end of `path` (when it holds that much): a torn last line.
fn tear(path: &Path, bytes: u64) {
    let Ok(file) = OpenOptions::new().write(true).open(path) else {
        return;
    };
    let len = file.metadata().unwrap().len();
    if len > 0 {
        file.set_len(len.saturating_sub(bytes)).unwrap();
    }
}

/// Runs the slow config, `kill -9`s it after each of `kill_after_ms` (each later start a
/// resume), optionally tearing the journal's last line after each kill, then resumes to the
/// end and checks that every job has exactly one valid record.
fn kill_and_resume(kill_after_ms: &[u64], tear_bytes: Option<u64>) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(SLOW_PROMPTS));
    write(dir.path(), "run.toml", SLOW_CONFIG);
    let journal = dir.path().join("out/results.jsonl");
    for (i, ms) in kill_after_ms.iter().enumerate() {
        let mut child = spawn_run(dir.path(), i > 0);
        sleep(Duration::from_millis(*ms));
        child.kill().expect("kill -9"); // SIGKILL on unix
        child.wait().unwrap();
        if let Some(bytes) = tear_bytes {
            tear(&journal, bytes + 17 * i as u64);
        }
    }
    let resumed = pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--resume", "--quiet"],
    );
    resumed.expect_code(0);

    let out = dir.path().join("out");
    let records = records(&out);
    assert_one_per_key(
        &records,
        &prompt_ids(SLOW_PROMPTS),
        &[("one", 1), ("two", 2)],
    );
    assert!(records.iter().all(|r| r["status"] == "ok"));
    let run_id = read_json(&out.join("run.json"))["run_id"].clone();
    assert!(
        records.iter().all(|r| r["run_id"] == run_id),
        "a resumed run keeps its run id"
    );
    assert_summary_matches(&read_json(&out.join("summary.json")), &records);
}

#[test]
fn kill_9_twice_then_resume_gives_exactly_one_record_per_job() {
    kill_and_resume(&[250, 500], None);
}

#[test]
fn kill_9_at_other_instants_then_resume_gives_exactly_one_record_per_job() {
    kill_and_resume(&[100, 300, 400], None);
}

#[test]
fn kill_9_with_a_torn_last_line_then_resume_drops_it_and_reruns_its_job() {
    // The first cut takes the last newline only: the line left is valid JSON, still torn.
    kill_and_resume(&[400, 350], Some(1));
}

#[test]
fn a_torn_line_cut_mid_record_is_repaired_on_resume() {
    kill_and_resume(&[600], Some(40));
}

#[cfg(unix)]
#[test]
fn ctrl_c_exits_130_and_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &jsonl_prompts(SLOW_PROMPTS));
    write(dir.path(), "run.toml", SLOW_CONFIG);
    let child = command(dir.path())
        .args(["run", "--config", "run.toml", "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once it is under way: its first records are written.
    let journal = dir.path().join("out/results.jsonl");
    let under_way = std::time::Instant::now();
    while std::fs::metadata(&journal).map_or(0, |m| m.len()) == 0 {
        assert!(
            under_way.elapsed() < Duration::from_secs(30),
            "the run never started"
        );
        sleep(Duration::from_millis(10)); // a poll, not a wait that makes the test pass
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Unless it had already finished, which its first record on a 1.5 s run should not allow.
    if out.status.code() != Some(0) {
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("--resume"), "{stderr}");
    }
    pacer(
        dir.path(),
        &["run", "--config", "run.toml", "--resume", "--quiet"],
    )
    .expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_one_per_key(
        &records,
        &prompt_ids(SLOW_PROMPTS),
        &[("one", 1), ("two", 2)],
    );
}
