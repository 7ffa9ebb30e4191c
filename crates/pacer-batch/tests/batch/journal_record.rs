//! The result record's JSON: seed 003's fields first, in order, then the prompt's metadata,
//! then Pacer's own fields; and it reads back as it was written.

use chrono::DateTime;
use pacer_batch::{Record, RecordError, RecordStatus, TokenCounts, UsageTotals};
use pacer_core::{ErrorKind, FinishReason, TokenLogprob, Usage};
use serde_json::{Map, Value, json};

fn failed_record() -> Record {
    let mut metadata = Map::new();
    metadata.insert("prompt_category".into(), "cve_existence".into());
    metadata.insert("is_synthetic_probe".into(), false.into());
    metadata.insert("source".into(), "nvd".into());
    let mut sampling_params = Map::new();
    sampling_params.insert("temperature".into(), json!(0.0));
    sampling_params.insert("seed".into(), json!(42));
    sampling_params.insert("max_tokens".into(), json!(2048));
    Record {
        run_id: "a1b2c3d4".into(),
        prompt_id: "prompt_0042".into(),
        model: "claude-3-5-sonnet-20241022".into(),
        model_version: None,
        full_response: None,
        tokens_used: TokenCounts::default(),
        token_logprobs: None,
        sampling_params,
        timestamp: DateTime::parse_from_rfc3339("2026-11-23T10:01:23.456789Z")
            .unwrap()
            .into(),
        elapsed_seconds: 7.25,
        error: Some(RecordError {
            kind: ErrorKind::Server,
            status: Some(503),
            message: "upstream unavailable".into(),
        }),
        retry_count: 3,
        metadata,
        provider: "anthropic".into(),
        label: "claude".into(),
        sample: 1,
        status: RecordStatus::Error,
        finish_reason: None,
        truncated: false,
        parsed: None,
        attempts: 4,
        latency_seconds: None,
        queue_seconds: None,
        first_token_seconds: None,
        usage_all_attempts: UsageTotals::default(),
        cost_usd: None,
        mode: pacer_batch::SendMode::Live,
        batch_id: None,
        deployment: None,
        embedding: None,
        embedding_index: None,
        tool_calls: None,
    }
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn record_json_field_order_is_seed_fields_metadata_then_pacer_fields() {
    let line = serde_json::to_string(&failed_record()).unwrap();
    let value: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        keys(&value),
        [
            "run_id",
            "prompt_id",
            "model",
            "model_version",
            "full_response",
            "tokens_used",
            "token_logprobs",
            "sampling_params",
            "timestamp",
            "elapsed_seconds",
            "error",
            "retry_count",
            "prompt_category",
            "is_synthetic_probe",
            "source",
            "provider",
            "label",
            "sample",
            "status",
            "finish_reason",
            "truncated",
            "parsed",
            "attempts",
            "latency_seconds",
            "queue_seconds",
            "usage_all_attempts",
            "cost_usd",
            "mode",
            "batch_id",
        ]
    );
    assert_eq!(keys(&value["tokens_used"]), ["input", "output", "total"]);
    assert_eq!(
        keys(&value["usage_all_attempts"]),
        ["input", "output", "total", "reasoning", "cached_input"]
    );
    assert_eq!(
        value["error"],
        json!({"kind": "Server", "status": 503, "message": "upstream unavailable"})
    );
    assert_eq!(value["timestamp"], "2026-11-23T10:01:23.456789Z");
    assert_eq!(value["status"], "error");
    assert_eq!(value["full_response"], Value::Null);
    assert!(!line.contains('\n'));
}

#[test]
fn record_reads_back_with_unknown_fields_in_metadata() {
    let mut record = failed_record();
    record.status = RecordStatus::Ok;
    record.error = None;
    record.full_response = Some("CVE-2021-44228 exists…".into());
    record.finish_reason = Some(FinishReason::Length);
    record.truncated = true;
    record.token_logprobs = Some(vec![TokenLogprob {
        token_position: 0,
        token: "Yes".into(),
        logprob: -0.12,
        top_tokens: vec!["Yes".into(), "No".into()],
        top_logprobs: vec![-0.12, -2.45],
    }]);
    let usage = Usage {
        input_tokens: 42,
        output_tokens: 156,
        reasoning_tokens: 10,
        cached_input_tokens: 8,
    };
    record.tokens_used = usage.into();
    record.usage_all_attempts = usage.into();
    record.cost_usd = Some(0.0012);
    record.parsed = Some(json!({"exists": true, "year": 2021}));

    let line = serde_json::to_string(&record).unwrap();
    let back: Record = serde_json::from_str(&line).unwrap();
    assert_eq!(back, record);
    assert_eq!(back.tokens_used.total, 198);
    assert_eq!(back.key().to_string(), "claude/prompt_0042#1");
    let keys: Vec<&str> = back.metadata.keys().map(String::as_str).collect();
    assert_eq!(keys, ["prompt_category", "is_synthetic_probe", "source"]);
}
