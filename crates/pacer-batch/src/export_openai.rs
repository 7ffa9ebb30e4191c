//! Export as OpenAI Batch API output lines (`{id, custom_id, response: {status_code,
//! request_id, body}, error}`), so that pipelines built on batch outputs read Pacer's results
//! unchanged: a chat record's body is a `chat.completion` (a `response` object for a model
//! on the Responses API), an embedding record's an embeddings `list`.
//!
//! Streamed: one journal line in memory at a time (and one record's vectors, read back from
//! the side file where they were kept there).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::journal::{JournalError, RESULTS_FILE, scan_lines, write_atomically};
use crate::manifest::Manifest;
use crate::{Embedding, ExportStats, Record, RecordStatus};

/// Writes the records of the run in `dir` (of the model labelled `label` only, when given)
/// to `out` as OpenAI batch output lines, replacing `out` whole.
///
/// `custom_id` is the prompt's id (a batch input line's own `custom_id`) when the lines
/// hold one record per prompt; where a prompt has several (models, samples) it is
/// `<prompt id>/<label>#<sample>`, so that ids stay unique.
pub fn export_openai_batch(
    dir: &Path,
    out: &Path,
    label: Option<&str>,
) -> Result<ExportStats, JournalError> {
    let results = dir.join(RESULTS_FILE);
    let same =
        |a: io::Result<PathBuf>, b: io::Result<PathBuf>| matches!((a, b), (Ok(a), Ok(b)) if a == b);
    if same(results.canonicalize(), out.canonicalize()) {
        return Err(JournalError::ExportOverJournal { path: results });
    }
    let keep = |record: &Record| label.is_none_or(|label| record.label == label);
    let mut labels = std::collections::BTreeSet::new();
    let mut several_samples = false;
    scan_lines(&results, |_, _, record: Record| {
        if keep(&record) {
            labels.insert(record.label);
            several_samples |= record.sample > 0;
        }
        Ok(())
    })?;
    let plain_ids = labels.len() <= 1 && !several_samples;
    let responses = responses_labels(dir)?;
    let mut vectors = None;
    let mut stats = ExportStats {
        runs: labels.len(),
        ..ExportStats::default()
    };
    write_atomically(out, |file| {
        scan_lines(&results, |_, _, record: Record| {
            if !keep(&record) {
                return Ok(());
            }
            stats.records += 1;
            let line = line_for(&record, plain_ids, &responses, dir, &mut vectors)
                .map_err(JournalError::io("read", &dir.join(crate::EMBEDDINGS_FILE)))?;
            serde_json::to_writer(&mut *file, &line)
                .map_err(io::Error::from)
                .and_then(|()| file.write_all(b"\n"))
                .map_err(JournalError::io("write", out))?;
            Ok(())
        })?;
        Ok(())
    })?;
    Ok(stats)
}

/// The labels of models on the Responses API (`api = "responses"` in the kept config).
fn responses_labels(dir: &Path) -> Result<Vec<String>, JournalError> {
    let manifest = Manifest::read(dir)?;
    let models = manifest
        .as_ref()
        .and_then(|m| m.config.get("models"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(models
        .iter()
        .filter(|entry| {
            entry
                .get("api")
                .and_then(Value::as_str)
                .is_some_and(|api| api.eq_ignore_ascii_case("responses"))
        })
        .filter_map(|entry| {
            entry
                .get("label")
                .or_else(|| entry.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect())
}

/// One output line for `record`.
fn line_for(
    record: &Record,
    plain_ids: bool,
    responses: &[String],
    dir: &Path,
    vectors: &mut Option<File>,
) -> io::Result<Value> {
    let custom_id = if plain_ids {
        record.prompt_id.clone()
    } else {
        format!("{}/{}#{}", record.prompt_id, record.label, record.sample)
    };
    let id = format!("batch_req_{}_{}", record.run_id, custom_id);
    if record.status == RecordStatus::Error {
        let error = record.error.as_ref();
        let message = error.map_or("", |e| e.message.as_str());
        let code = error.map_or("error", |e| e.kind.as_str());
        return Ok(match error.and_then(|e| e.status) {
            Some(status) => json!({
                "id": id, "custom_id": custom_id,
                "response": {"status_code": status, "request_id": null,
                             "body": {"error": {"message": message, "type": code, "code": null}}},
                "error": null,
            }),
            None => json!({
                "id": id, "custom_id": custom_id, "response": null,
                "error": {"code": code, "message": message},
            }),
        });
    }
    let body = if record.embedding.is_some() || record.embedding_index.is_some() {
        embedding_body(record, dir, vectors)?
    } else if responses.contains(&record.label) {
        response_body(record)
    } else {
        chat_body(record)
    };
    Ok(json!({
        "id": id, "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": null, "body": body},
        "error": null,
    }))
}

/// Whether the model declined to answer.
fn is_refusal(record: &Record) -> bool {
    record.finish_reason == Some(pacer_core::FinishReason::Refusal)
}

fn created(record: &Record) -> i64 {
    record.timestamp.timestamp()
}

/// A `chat.completion` body.
fn chat_body(record: &Record) -> Value {
    let tokens = &record.tokens_used;
    let tool_calls: Option<Vec<Value>> = record.tool_calls.as_ref().map(|calls| {
        calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function",
                       "function": {"name": call.name, "arguments": call.arguments_text()}})
            })
            .collect()
    });
    let refused = is_refusal(record);
    let mut message = match refused {
        // OpenAI's refusal: no content, the text in `refusal`, and the call ended as `stop`.
        true => json!({"role": "assistant", "content": null, "refusal": record.full_response}),
        false => json!({"role": "assistant", "content": record.full_response}),
    };
    if let Some(calls) = tool_calls {
        message["tool_calls"] = Value::Array(calls);
    }
    let finish = match refused {
        true => Some("stop"),
        false => record.finish_reason.as_ref().map(|f| f.as_str()),
    };
    let logprobs = record.token_logprobs.as_ref().map(|tokens| {
        json!({"content": tokens.iter().map(|t| json!({
            "token": t.token, "logprob": t.logprob,
            "top_logprobs": t.top_tokens.iter().zip(&t.top_logprobs)
                .map(|(token, logprob)| json!({"token": token, "logprob": logprob}))
                .collect::<Vec<_>>(),
        })).collect::<Vec<_>>()})
    });
    json!({
        "id": format!("chatcmpl-{}-{}", record.run_id, record.prompt_id),
        "object": "chat.completion",
        "created": created(record),
        "model": record.model_version.as_deref().unwrap_or(&record.model),
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": logprobs,
            "finish_reason": finish,
        }],
        "usage": {
            "prompt_tokens": tokens.input,
            "completion_tokens": tokens.output,
            "total_tokens": tokens.input + tokens.output,
        },
    })
}

/// A Responses API `response` body.
fn response_body(record: &Record) -> Value {
    let tokens = &record.tokens_used;
    let mut output = Vec::new();
    if let Some(text) = &record.full_response
        && record.tool_calls.is_none()
    {
        let part = match is_refusal(record) {
            true => json!({"type": "refusal", "refusal": text}),
            false => json!({"type": "output_text", "text": text, "annotations": []}),
        };
        output.push(json!({
            "type": "message", "role": "assistant", "status": "completed", "content": [part],
        }));
    }
    for call in record.tool_calls.iter().flatten() {
        output.push(
            json!({"type": "function_call", "call_id": call.id, "name": call.name,
                           "arguments": call.arguments_text(), "status": "completed"}),
        );
    }
    let incomplete = match record.finish_reason.as_ref().map(|f| f.as_str()) {
        Some("length") => Some("max_output_tokens"),
        Some("content_filter") => Some("content_filter"),
        _ => None,
    };
    json!({
        "id": format!("resp_{}_{}", record.run_id, record.prompt_id),
        "object": "response",
        "created_at": created(record),
        "status": if incomplete.is_some() { "incomplete" } else { "completed" },
        "incomplete_details": incomplete.map(|reason| json!({"reason": reason})),
        "model": record.model_version.as_deref().unwrap_or(&record.model),
        "output": output,
        "usage": {
            "input_tokens": tokens.input,
            "output_tokens": tokens.output,
            "total_tokens": tokens.input + tokens.output,
        },
    })
}

/// An embeddings `list` body, the vectors read back from the side file where they are kept
/// there.
fn embedding_body(record: &Record, dir: &Path, file: &mut Option<File>) -> io::Result<Value> {
    let vectors: Vec<Vec<f32>> = match (&record.embedding, &record.embedding_index) {
        (Some(Embedding::One(vector)), _) => vec![vector.clone()],
        (Some(Embedding::Many(vectors)), _) => vectors.clone(),
        (None, Some(index)) => {
            let file = match file {
                Some(file) => file,
                None => file.insert(File::open(dir.join(&index.file))?),
            };
            file.seek(SeekFrom::Start(index.offset))?;
            let mut bytes = vec![0; index.count as usize * index.dimensions as usize * 4];
            file.read_exact(&mut bytes)?;
            let floats: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            floats
                .chunks(index.dimensions.max(1) as usize)
                .map(<[f32]>::to_vec)
                .collect()
        }
        (None, None) => Vec::new(),
    };
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| {
            let embedding: Vec<f64> = embedding.into_iter().map(shortest).collect();
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": record.model_version.as_deref().unwrap_or(&record.model),
        "usage": {"prompt_tokens": record.tokens_used.input, "total_tokens": record.tokens_used.input},
    }))
}

/// `value` as the double whose shortest text is the float's own: JSON numbers are doubles,
/// and a float widened as it is would print as `0.004038154613226652` for `0.0040381546`.
fn shortest(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(finish: pacer_core::FinishReason) -> Record {
        let line = json!({
            "run_id": "r", "prompt_id": "p", "model": "m", "model_version": null,
            "full_response": "I can't help with that.", "tokens_used": {"input": 3, "output": 5, "total": 8},
            "token_logprobs": null, "sampling_params": {}, "timestamp": "2026-12-02T10:00:00Z",
            "elapsed_seconds": 0.1, "error": null, "retry_count": 0, "provider": "openai",
            "label": "m", "sample": 0, "status": "ok", "finish_reason": finish.as_str(),
            "truncated": false, "parsed": null, "attempts": 1,
            "usage_all_attempts": {"input": 3, "output": 5, "total": 8}, "cost_usd": null,
        });
        serde_json::from_value(line).unwrap()
    }

    #[test]
    fn a_refusal_is_written_as_openai_writes_one() {
        let refused = record(pacer_core::FinishReason::Refusal);
        let chat = chat_body(&refused);
        let choice = &chat["choices"][0];
        assert_eq!(choice["message"]["content"], Value::Null);
        assert_eq!(choice["message"]["refusal"], "I can't help with that.");
        assert_eq!(choice["finish_reason"], "stop");
        let response = response_body(&refused);
        assert_eq!(
            response["output"][0]["content"][0],
            json!({"type": "refusal", "refusal": "I can't help with that."})
        );
        let answered = chat_body(&record(pacer_core::FinishReason::Stop));
        assert_eq!(
            answered["choices"][0]["message"]["content"],
            "I can't help with that."
        );
    }
}
