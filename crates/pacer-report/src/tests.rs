//! The aggregates of hand-built folders against values computed by hand.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;

/// A record of `label` for `prompt`, ended `end` seconds after 2026-01-01T00:00:00Z.
fn line(label: &str, prompt: &str, end: f64, ok: bool) -> Value {
    let micros = (end * 1e6).round() as i64;
    let time = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap()
        + chrono::Duration::microseconds(micros);
    json!({
        "run_id": "a1b2c3d4",
        "prompt_id": prompt,
        "model": format!("{label}-model"),
        "full_response": ok.then(|| format!("answer of {label} to {prompt}")),
        "tokens_used": {"input": 10, "output": 4, "total": 14},
        "timestamp": time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "elapsed_seconds": 0.25,
        "error": if ok { Value::Null } else { json!({"kind": "Timeout", "status": null, "message": "no reply"}) },
        "retry_count": 0,
        "prompt_category": "cve",
        "is_synthetic_probe": false,
        "provider": "mock",
        "label": label,
        "sample": 0,
        "status": if ok { "ok" } else { "error" },
        "finish_reason": if ok { json!("stop") } else { Value::Null },
        "truncated": false,
        "attempts": 1,
        "latency_seconds": if ok { json!(0.5) } else { Value::Null },
        "queue_seconds": 0.25,
        "usage_all_attempts": {"input": 10, "output": 4, "total": 14},
        "cost_usd": 0.002,
    })
}

fn write_lines(dir: &Path, lines: &[Value], tail: &str) {
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str(tail);
    std::fs::write(dir.join("results.jsonl"), text).unwrap();
}

/// Model `a`: 4 successes at 0.5 s … 2.0 s of latency and 1 timeout; model `b`: 2
/// successes, one refused, one truncated, in category `web` (a probe).
fn folder(dir: &Path) {
    let mut lines = Vec::new();
    for (i, latency) in [0.5, 1.0, 1.5, 2.0].into_iter().enumerate() {
        let mut l = line("a", &format!("p{i}"), i as f64 + 0.5, true);
        l["latency_seconds"] = json!(latency);
        l["tokens_used"]["output"] = json!(10);
        l["usage_all_attempts"]["output"] = json!(10);
        lines.push(l);
    }
    lines.push(line("a", "p4", 4.5, false));
    let mut refused = line("b", "p0", 2.2, true);
    refused["finish_reason"] = json!("refusal");
    let mut cut = line("b", "p1", 2.7, true);
    cut["truncated"] = json!(true);
    cut["finish_reason"] = json!("length");
    for l in [&mut refused, &mut cut] {
        l["prompt_category"] = json!("web");
        l["is_synthetic_probe"] = json!("true");
    }
    lines.extend([refused, cut]);
    // A torn last line: a run killed mid-write.
    write_lines(dir, &lines, "{\"run_id\": \"a1b2");
    let manifest = json!({
        "run_id": "a1b2c3d4",
        "started_at": "2026-01-01T00:00:00.000000Z",
        "prompts_file": "prompts.jsonl",
        "config": {"requests_per_minute": 60, "models": [
            {"name": "a-model", "label": "a", "rpm": 600, "tpm": 9000},
            {"name": "b-model", "label": "b"}
        ]}
    });
    std::fs::write(dir.join("run.json"), manifest.to_string()).unwrap();
    let events = [
        r#"{"time":"2026-01-01T00:00:00.000000Z","event":"session","run_id":"a1b2c3d4","resumed":false}"#,
        r#"{"time":"2026-01-01T00:00:03.000000Z","lane":"a","event":"cooldown","seconds":1.5,"status":429,"cause":"slow down"}"#,
        r#"{"time":"yesterday","lane":"a","event":"retry","item":"p1","kind":"Server","retry":1,"delay_seconds":1.0}"#,
        r#"{"time":"2026-01-01T00:00:03.500000Z","lane":"a","event":"limit","dimension":"rpm","from":600,"to":300}"#,
        r#"{"time":"2026-01-01T00:00:04.000000Z","event":"session","run_id":"a1b2c3d4","resumed":true}"#,
    ];
    std::fs::write(dir.join("events.jsonl"), events.join("\n") + "\n").unwrap();
    std::fs::write(
        dir.join("prompts.jsonl"),
        (0..5)
            .map(|i| format!("{{\"prompt_id\": \"p{i}\", \"prompt\": \"question {i}\"}}\n"))
            .collect::<String>(),
    )
    .unwrap();
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3 * b.abs().max(1e-3)
}

#[test]
fn aggregates_match_hand_computed_values() {
    let tmp = tempfile::tempdir().unwrap();
    folder(tmp.path());
    let data = build(&[tmp.path().to_path_buf()], &Options::default()).unwrap();
    let run = &data.runs[0];
    assert_eq!((run.records, run.ok, run.failed), (7, 6, 1));
    assert_eq!((run.sessions, run.resumes), (2, 1));
    assert_eq!(run.t0, 1_767_225_600.0);
    assert!(close(run.wall_seconds, 4.5), "{}", run.wall_seconds);
    assert_eq!(run.bucket_seconds, 1.0);
    assert_eq!(run.tokens.input, 70);
    assert!(close(run.cost_usd.unwrap(), 0.014));

    let a = &run.models[0];
    assert_eq!(a.label, "a");
    assert_eq!((a.records, a.ok, a.failed), (5, 4, 1));
    assert!(close(a.success_rate.unwrap(), 0.8));
    assert_eq!(a.failures.get("Timeout"), Some(&1));
    // Latency over the four successes only: 0.5, 1.0, 1.5, 2.0.
    let latency = a.latency.unwrap();
    assert_eq!(latency.count, 4);
    assert!(close(latency.mean, 1.25), "{latency:?}");
    assert!(close(latency.p50, 1.0), "{latency:?}");
    assert!(close(latency.p95, 2.0), "{latency:?}");
    // The wait counts every record.
    let queue = a.queue.unwrap();
    assert_eq!(queue.count, 5);
    assert!(close(queue.p50, 0.25));
    // 40 output tokens in 5 s of latency.
    assert!(close(a.output_tokens_per_second.unwrap(), 8.0));
    assert!(close(a.cost_per_1000_prompts.unwrap(), 2.0));
    assert_eq!(a.limits.rpm, Some(600));
    assert_eq!(a.limits.tpm, Some(9000));
    // Ended at 0.5, 1.5, 2.5, 3.5 (ok) and 4.5 (failed): one a second.
    assert_eq!(a.timeline.completions, [1, 1, 1, 1, 0]);
    assert_eq!(a.timeline.failures, [0, 0, 0, 0, 1]);
    assert_eq!(a.timeline.output_tokens, [10, 10, 10, 10, 4]);
    assert_eq!(a.latency_histogram.counts.iter().sum::<u64>(), 4);
    assert_eq!(a.latency_histogram.edges.len(), 31);

    let b = &run.models[1];
    assert_eq!(b.limits.rpm, Some(60), "the config's top level");
    assert_eq!(b.timeline.completions, [0, 0, 2, 0, 0]);
    assert_eq!(b.categories.len(), 1);
    let web = &b.categories[0];
    assert_eq!(web.category.as_deref(), Some("web"));
    assert_eq!(web.probe, Some(true));
    assert_eq!(
        (web.records, web.ok, web.refusals, web.truncated),
        (2, 2, 1, 1)
    );

    let kinds: Vec<&str> = run.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["session", "cooldown", "limit", "session"]);
    assert!(close(run.events[1].t, 3.0));
    assert_eq!(run.events[1].seconds, Some(1.5));
    assert_eq!(run.events[2].to, Some(300));
    // The event whose time does not read is left out alone.
    assert_eq!(run.events_left_out, 1);

    // Every prompt is in the browser, with its text from the prompts file.
    assert_eq!(data.prompts.len(), 5);
    assert_eq!(data.prompts_seen, 5);
    let p0 = &data.prompts[0];
    assert_eq!(p0.prompt.as_deref(), Some("question 0"));
    assert_eq!(p0.answers.len(), 2);
    assert_eq!(p0.answers[0].text.as_deref(), Some("answer of a to p0"));
    let p4 = &data.prompts[4];
    assert_eq!(p4.answers[0].status, "error");
    assert_eq!(p4.answers[0].error.as_deref(), Some("Timeout: no reply"));
}

#[test]
fn the_sample_is_the_same_prompts_in_every_run() {
    let tmp = tempfile::tempdir().unwrap();
    // Run x answers p0…p39 twice each; run y answers p20…p59 once, in the other order.
    let dirs: Vec<PathBuf> = ["x/run", "y/run"]
        .iter()
        .map(|d| {
            let dir = tmp.path().join(d);
            std::fs::create_dir_all(&dir).unwrap();
            let mut lines: Vec<Value> = Vec::new();
            let range = if d.starts_with('x') { 0..40 } else { 20..60 };
            for i in range {
                let mut l = line("m", &format!("p{i}"), f64::from(i), true);
                if d.starts_with('x') {
                    let mut second = l.clone();
                    second["sample"] = json!(1);
                    lines.push(second);
                }
                l["sample"] = json!(0);
                lines.push(l);
            }
            if d.starts_with('y') {
                lines.reverse();
            }
            write_lines(&dir, &lines, "");
            dir
        })
        .collect();
    let data = build(&dirs, &Options { prompts: 7 }).unwrap();
    // The 7 smallest hashes of all 60 ids, whichever run holds them.
    let hash = |id: &String| {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        h.finish()
    };
    let mut ids: Vec<String> = (0..60).map(|i| format!("p{i}")).collect();
    ids.sort_by_key(hash);
    let mut want: Vec<String> = ids[..7].to_vec();
    want.sort();
    let got: Vec<String> = data.prompts.iter().map(|p| p.prompt_id.clone()).collect();
    assert_eq!(got, want);
    for prompt in &data.prompts {
        let n: usize = prompt.prompt_id[1..].parse().unwrap();
        let runs: Vec<usize> = prompt.answers.iter().map(|a| a.run).collect();
        let expected = match n {
            0..20 => vec![0, 0],
            20..40 => vec![0, 0, 1],
            _ => vec![1],
        };
        assert_eq!(runs, expected, "{}", prompt.prompt_id);
    }
    let names: Vec<&str> = data.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["run", "run (2)"]);
    // Cost per prompt: both samples of it ($0.002 each) over 40 prompts.
    let x = &data.runs[0].models[0];
    assert_eq!(x.records, 80);
    assert!(close(x.cost_per_1000_prompts.unwrap(), 4.0));
    assert_eq!(data.prompts_seen, 40);
}

#[test]
fn a_bad_line_is_named_and_seed_003_records_read() {
    let tmp = tempfile::tempdir().unwrap();
    let good = line("a", "p0", 1.0, true);
    write_lines(tmp.path(), &[good], "{\"prompt_id\": 5}\n");
    let err = build(&[tmp.path().to_path_buf()], &Options::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("results.jsonl line 2"), "{message}");
    assert!(message.contains("prompt_id"), "{message}");

    // run_pilot.py's record: an error string, no status, no label.
    let seed = json!({
        "prompt_id": "prompt_0001", "model": "claude", "full_response": null,
        "tokens_used": {"input": 1, "output": 0, "total": 1},
        "timestamp": "2025-11-12T10:01:23.456789", "elapsed_seconds": 2.34,
        "run_id": "a1b2c3d4", "error": "overloaded", "prompt_category": "cve_existence",
        "is_synthetic_probe": false, "retry_count": 2
    });
    write_lines(tmp.path(), &[seed], "");
    let data = build(&[tmp.path().to_path_buf()], &Options::default()).unwrap();
    let model = &data.runs[0].models[0];
    assert_eq!((model.label.as_str(), model.failed), ("claude", 1));
    assert_eq!(model.failures.get("error"), Some(&1));
    assert_eq!(model.latency, None);
    assert!(close(model.elapsed.unwrap().p50, 2.34));
    assert_eq!(data.runs[0].sessions, 1);

    let missing = build(&[tmp.path().join("nope")], &Options::default()).unwrap_err();
    assert!(missing.to_string().contains("holds no results.jsonl"));
}

#[test]
fn the_browser_keeps_to_its_share_of_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines: Vec<Value> = (0..50)
        .map(|i| line("m", &format!("p{i:02}"), f64::from(i), true))
        .collect();
    for l in &mut lines {
        l["full_response"] = json!("x".repeat(10_000));
    }
    write_lines(tmp.path(), &lines, "");
    let mut sampler = sample::Sampler::new(50, 45_000);
    let read = folder::read(0, tmp.path(), &mut sampler).unwrap();
    assert_eq!(read.run.records, 50);
    // While reading, prompts are reckoned at ~8.7 kB (their text unknown yet, the answer
    // clipped to 4,000 characters): past twice 45 kB, the largest hashes go, leaving 10.
    let (kept, shrunk) = sampler.finish();
    assert!(shrunk);
    assert_eq!(kept.len(), 10);
    // The final cut counts the JSON itself, ~4.1 kB a prompt: 4 fit 20 kB.
    let (kept, cut) = sample::fit(kept, 20_000);
    assert!(cut);
    assert_eq!(kept.len(), 4);
    assert!(kept.iter().all(|p| p.answers[0].clipped));
    assert_eq!(
        kept[0].answers[0].text.as_ref().unwrap().len(),
        sample::MAX_TEXT
    );
}
