//! The run summary computed from a hand-built journal, and its table.

use std::path::Path;

use chrono::Utc;
use pacer_batch::{
    Journal, LaneReport, Manifest, OpenMode, Record, RecordError, RecordStatus, Summary, Tally,
    TokenCounts, UsageTotals, summarize, table,
};
use pacer_core::ErrorKind;
use serde_json::{Map, json};

fn record(label: &str, n: u32, elapsed_seconds: f64, error: Option<ErrorKind>) -> Record {
    Record {
        run_id: "a1b2c3d4".into(),
        prompt_id: format!("p{n}"),
        model: format!("{label}-model"),
        model_version: None,
        full_response: error.is_none().then(|| "ok".into()),
        tokens_used: TokenCounts {
            input: 10,
            output: 5,
            total: 15,
        },
        token_logprobs: None,
        sampling_params: Map::new(),
        timestamp: Utc::now(),
        elapsed_seconds,
        error: error.map(|kind| RecordError {
            kind,
            status: None,
            message: "failed".into(),
        }),
        retry_count: 0,
        metadata: Map::new(),
        provider: "mock".into(),
        label: label.into(),
        sample: 0,
        status: if error.is_none() {
            RecordStatus::Ok
        } else {
            RecordStatus::Error
        },
        finish_reason: None,
        truncated: false,
        parsed: None,
        attempts: 1,
        // A quarter of the job at the provider (when it answered), half waiting for capacity.
        latency_seconds: error.is_none().then_some(elapsed_seconds * 0.25),
        queue_seconds: Some(elapsed_seconds * 0.5),
        first_token_seconds: None,
        usage_all_attempts: UsageTotals {
            input: 20,
            output: 7,
            total: 27,
            reasoning: 0,
            cached_input: 0,
        },
        cost_usd: None,
        mode: pacer_batch::SendMode::Live,
        batch_id: None,
        deployment: None,
        embedding: None,
        embedding_index: None,
        tool_calls: None,
    }
}

fn write(dir: &Path, records: &[Record]) {
    let (mut journal, _) = Journal::open(dir, OpenMode::New).unwrap();
    for record in records {
        journal.append(record).unwrap();
    }
}

fn hand_built_records() -> Vec<Record> {
    // "fast": 20 successes taking 1 s, 2 s, … 20 s.
    let mut records: Vec<Record> = (1..=20)
        .map(|n| record("fast", n, f64::from(n), None))
        .collect();
    // "slow": one success, three failures, retries and some known costs.
    let mut ok = record("slow", 1, 3.0, None);
    ok.cost_usd = Some(0.25);
    let mut timeout = record("slow", 2, 60.0, Some(ErrorKind::Timeout));
    timeout.retry_count = 3;
    timeout.cost_usd = Some(0.5);
    let mut server = record("slow", 3, 30.0, Some(ErrorKind::Server));
    server.retry_count = 1;
    let timeout_again = record("slow", 4, 61.0, Some(ErrorKind::Timeout));
    records.extend([ok, timeout, server, timeout_again]);
    records
}

fn hand_built_journal(dir: &Path) {
    write(dir, &hand_built_records());
}

#[test]
fn a_tally_kept_while_writing_equals_the_journal_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let records = hand_built_records();
    let (first, rest) = records.split_at(10);
    write(tmp.path(), first);
    let path = tmp.path().join("results.jsonl");
    // A resumed run: the records already there are read, the new ones counted as written.
    let (mut journal, _) = Journal::open(
        tmp.path(),
        OpenMode::Resume {
            retry_failed: false,
        },
    )
    .unwrap();
    let mut tally = Tally::read(&path).unwrap();
    for record in rest {
        journal.append(record).unwrap();
        tally.add(record);
    }
    drop(journal);
    assert_eq!(tally.finish(), summarize(&path).unwrap());
    assert!(
        Tally::read(&tmp.path().join("missing.jsonl"))
            .unwrap()
            .finish()
            .is_empty()
    );
}

#[test]
fn summarize_counts_failures_by_kind_tokens_and_latency() {
    let tmp = tempfile::tempdir().unwrap();
    hand_built_journal(tmp.path());
    let per_label = summarize(&tmp.path().join("results.jsonl")).unwrap();
    assert_eq!(per_label.keys().collect::<Vec<_>>(), ["fast", "slow"]);

    let fast = &per_label["fast"];
    assert_eq!(
        (fast.model.as_str(), fast.provider.as_str()),
        ("fast-model", "mock")
    );
    assert_eq!((fast.records, fast.succeeded, fast.failed), (20, 20, 0));
    assert!(fast.failed_by_kind.is_empty());
    assert_eq!(
        fast.tokens,
        TokenCounts {
            input: 400,
            output: 140,
            total: 540
        },
        "tokens over every attempt"
    );
    let (p50, p95) = (
        fast.latency_p50_seconds.unwrap(),
        fast.latency_p95_seconds.unwrap(),
    );
    // latency_seconds, not elapsed_seconds: 0.25 s … 5 s.
    assert!((p50 - 2.5).abs() < 0.003, "p50 {p50}");
    assert!((p95 - 4.75).abs() < 0.005, "p95 {p95}");
    let p99 = fast.latency_p99_seconds.unwrap();
    assert!((p99 - 5.0).abs() < 0.005, "p99 {p99}");
    let (q50, q95) = (
        fast.queue_p50_seconds.unwrap(),
        fast.queue_p95_seconds.unwrap(),
    );
    assert!((q50 - 5.0).abs() < 0.005, "queue p50 {q50}");
    assert!((q95 - 9.5).abs() < 0.01, "queue p95 {q95}");
    assert_eq!(fast.retries, 0);
    assert_eq!(fast.cost_usd, None);

    let slow = &per_label["slow"];
    assert_eq!((slow.records, slow.succeeded, slow.failed), (4, 1, 3));
    let kinds: Vec<(&str, u64)> = slow
        .failed_by_kind
        .iter()
        .map(|(kind, n)| (kind.as_str(), *n))
        .collect();
    assert_eq!(kinds, [("Server", 1), ("Timeout", 2)]);
    assert_eq!(slow.retries, 4);
    assert_eq!(slow.cost_usd, Some(0.75));
    // Latency counts the one success only (0.75 s); the wait counts every record.
    assert!((slow.latency_p50_seconds.unwrap() - 0.75).abs() < 0.001);
    assert!((slow.latency_p95_seconds.unwrap() - 0.75).abs() < 0.001);
    assert!((slow.queue_p50_seconds.unwrap() - 15.0).abs() < 0.02);
    assert!((slow.queue_p95_seconds.unwrap() - 30.5).abs() < 0.05);
}

#[test]
fn summary_adds_lane_reports_totals_and_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    hand_built_journal(dir);
    let manifest = Manifest::new(Some("prompts.json".into()), json!({"seed": 42}));
    let per_label = summarize(&dir.join("results.jsonl")).unwrap();
    let lanes = [
        LaneReport {
            label: "fast".into(),
            elapsed_seconds: 10.0,
            completed: 20,
            pending: 0,
            stopped: None,
        },
        LaneReport {
            label: "broken".into(),
            elapsed_seconds: 0.5,
            completed: 0,
            pending: 7,
            stopped: Some("Auth: check the API key".into()),
        },
    ];
    let mut summary = Summary::new(&manifest, per_label, &lanes);
    summary.resumed = true;

    assert_eq!(summary.run_id, manifest.run_id);
    assert_eq!(summary.models.len(), 3);
    assert_eq!(summary.models["broken"].pending, 7);
    assert_eq!(summary.models["broken"].totals.records, 0);
    assert_eq!(summary.models["fast"].elapsed_seconds, 10.0);
    assert_eq!(
        (
            summary.totals.records,
            summary.totals.succeeded,
            summary.totals.failed
        ),
        (24, 21, 3)
    );
    assert_eq!(summary.totals.tokens.total, 24 * 27);
    assert_eq!(summary.totals.cost_usd, Some(0.75));

    summary.write(dir).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["models"]["slow"]["failed_by_kind"]["Timeout"], 2);
    assert_eq!(json["models"]["fast"]["pending"], 0);
    assert_eq!(Summary::read(dir).unwrap(), Some(summary.clone()));

    let table = table(&summary);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("label") && lines[0].ends_with("rate"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("fast ") && lines[2].ends_with("2.00/s"),
        "{table}"
    );
    assert!(
        lines[3].starts_with("slow ") && lines[3].contains(" 3 "),
        "{table}"
    );
    assert!(
        table.contains("total: 21 ok, 3 failed, 648 tokens, $0.7500"),
        "{table}"
    );
    assert!(
        table.contains("broken: stopped with 7 pending: Auth: check the API key"),
        "{table}"
    );
}
