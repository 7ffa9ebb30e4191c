//! An input file read into a batch's lines, checked as OpenAI checks it when a batch is
//! created: each line must be `{"custom_id", "method": "POST", "url": <the batch's
//! endpoint>, "body"}`, its `custom_id` unique, its body not streaming, with a model the
//! server serves. Every line at fault is listed, as `errors.data` lists them, with OpenAI's
//! codes and words.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::Endpoint;
use super::files::file_number;
use crate::batch::lines::Sent;
use crate::handler::Shared;

/// The most lines a batch may have.
pub(super) const MAX_LINES: usize = 50_000;

/// One entry of a failed batch's `errors.data`.
fn fault(
    code: &str,
    message: impl Into<String>,
    param: Option<&str>,
    line: Option<usize>,
) -> Value {
    json!({"code": code, "message": message.into(), "param": param, "line": line})
}

/// The lines of the uploaded file `file_id` for a batch of `endpoint`, or why the batch
/// fails.
pub(super) fn read(
    shared: &Shared,
    file_id: &str,
    endpoint: Endpoint,
) -> Result<Vec<Sent>, Vec<Value>> {
    let Some(file) = file_number(file_id).and_then(|n| shared.batches.file(n)) else {
        return Err(vec![fault(
            "invalid_request",
            format!(
                "Cannot find file {file_id}, or organization org-mock does not have access to it."
            ),
            Some("file_id"),
            None,
        )]);
    };
    let lines: Vec<(usize, &[u8])> = file
        .bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.trim_ascii().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    if lines.len() > MAX_LINES {
        return Err(vec![fault(
            "too_many_requests",
            format!(
                "The batch input file has {} requests, more than the {MAX_LINES} a batch may hold.",
                lines.len()
            ),
            None,
            None,
        )]);
    }
    let mut seen = HashSet::new();
    let mut sent = Vec::with_capacity(lines.len());
    let mut faults = Vec::new();
    for (no, text) in lines {
        match check(shared, endpoint, text, &mut seen) {
            Ok(line) => sent.push(line),
            Err((code, message, param)) => {
                faults.push(fault(code, message, param.as_deref(), Some(no)))
            }
        }
    }
    if faults.is_empty() {
        Ok(sent)
    } else {
        Err(faults)
    }
}

/// A line's fault: its code, message and parameter.
type Fault = (&'static str, String, Option<String>);

/// The fault of a line without the field `name`.
fn missing(name: &str) -> Fault {
    (
        "missing_required_parameter",
        format!("Missing required parameter: '{name}'."),
        Some(name.to_owned()),
    )
}

/// One line checked, or its fault.
fn check(
    shared: &Shared,
    endpoint: Endpoint,
    text: &[u8],
    seen: &mut HashSet<String>,
) -> Result<Sent, Fault> {
    let Ok(Value::Object(line)) = serde_json::from_slice::<Value>(text) else {
        return Err((
            "invalid_json_line",
            "This line is not parseable as valid JSON.".into(),
            None,
        ));
    };
    for name in ["custom_id", "method", "url", "body"] {
        if line.get(name).is_none_or(Value::is_null) {
            return Err(missing(name));
        }
    }
    let Some(custom_id) = line["custom_id"].as_str() else {
        return Err((
            "invalid_request",
            "Invalid type for 'custom_id': expected a string.".into(),
            Some("custom_id".into()),
        ));
    };
    if line["method"] != "POST" {
        return Err((
            "invalid_request",
            "The method provided for this request is not supported. Only POST is supported.".into(),
            Some("method".into()),
        ));
    }
    if line["url"] != endpoint.path() {
        return Err((
            "invalid_url",
            "The URL provided for this request does not match the batch endpoint.".into(),
            Some("url".into()),
        ));
    }
    let Value::Object(body) = &line["body"] else {
        return Err((
            "invalid_request",
            "Invalid type for 'body': expected an object.".into(),
            Some("body".into()),
        ));
    };
    if !seen.insert(custom_id.to_owned()) {
        return Err((
            "duplicate_custom_id",
            "The custom_id for this request is a duplicate of another request. The custom_id \
             parameter must be unique for each request in a batch."
                .into(),
            Some("custom_id".into()),
        ));
    }
    check_body(shared, endpoint, body)?;
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let cost = endpoint
        .prepare(shared, &bytes)
        .ok()
        .map(|p| (p.job.request.model.clone(), p.job.cost.tokens));
    Ok(Sent {
        key: custom_id.to_owned(),
        body: bytes,
        metadata: None,
        cost,
    })
}

/// What OpenAI checks of a line's body when the batch is created; the rest is checked
/// when the line is processed, as the live endpoint checks it.
fn check_body(shared: &Shared, endpoint: Endpoint, body: &Map<String, Value>) -> Result<(), Fault> {
    if body.get("stream") == Some(&Value::Bool(true)) {
        return Err((
            "streaming_unsupported",
            format!(
                "{}: Streaming is not supported in the Batch API.",
                endpoint.name()
            ),
            Some("body.stream".into()),
        ));
    }
    let (field, name) = endpoint.required();
    for (field, name) in [("model", "Model"), (field, name)] {
        if body.get(field).is_none_or(Value::is_null) {
            return Err((
                "invalid_request",
                format!("{name} parameter is required."),
                Some(format!("body.{field}")),
            ));
        }
    }
    let model = body["model"].as_str();
    if !model.is_some_and(|m| shared.serves(m)) {
        let shown = model.map_or_else(|| body["model"].to_string(), str::to_owned);
        return Err((
            "model_not_found",
            format!("The provided model '{shown}' is not supported by the Batch API."),
            Some("body.model".into()),
        ));
    }
    Ok(())
}
