//! Between Pacer's [`Request`]/[`Response`] and Gemini's wire types.

use serde_json::{Map, Value};

use super::wire::{
    Candidate, Content, GenerateContentRequest, GenerateContentResponse, GenerationConfig,
    LogprobsResult, UsageMetadata,
};
use super::{tools, turns};
use pacer_core::{
    Choice, ErrorKind, FinishReason, ProviderError, Request, Response, Role, TokenLogprob,
    ToolCall, Usage,
};

/// Alternatives per token when logprobs are asked for without a count.
const DEFAULT_TOP_LOGPROBS: u8 = 5;

/// The request fields that live beside `contents`, not in `generationConfig`.
const TOP_LEVEL: [&str; 6] = [
    "safetySettings",
    "tools",
    "toolConfig",
    "cachedContent",
    "labels",
    "systemInstruction",
];

/// The `generateContent` body for `request`. System messages become the
/// `systemInstruction` (blank-line separated); the other turns are written by
/// [`turns::contents`] (a tool result that names no earlier call is a
/// [`ErrorKind::BadRequest`]), the tools by [`tools`]. `extra` parameters go where Gemini
/// reads them: the fields of [`TOP_LEVEL`] beside `contents`, the entries of an object under
/// `generationConfig` into it, and every other key (`responseMimeType`, `thinkingConfig`,
/// ...) into `generationConfig` as well.
///
/// An output schema goes into `generationConfig` as `responseMimeType: "application/json"`
/// and `responseJsonSchema` (the field that takes JSON Schema; the older `responseSchema`
/// takes only an OpenAPI subset and must then be absent, so an `extra` one is dropped).
pub(crate) fn request(request: &Request) -> Result<GenerateContentRequest, ProviderError> {
    let p = &request.params;
    let system: Vec<std::borrow::Cow<'_, str>> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.text())
        .collect();
    let mut config = GenerationConfig {
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        max_output_tokens: p.max_tokens,
        candidate_count: (p.n > 1).then_some(p.n),
        seed: p.seed,
        stop_sequences: (!p.stop.is_empty()).then(|| p.stop.clone()),
        response_logprobs: p.logprobs.then_some(true),
        logprobs: p
            .logprobs
            .then(|| p.top_logprobs.unwrap_or(DEFAULT_TOP_LOGPROBS)),
        ..GenerationConfig::default()
    };
    let mut extra = p.extra.clone();
    let mut body = GenerateContentRequest {
        contents: turns::contents(&request.messages)?,
        system_instruction: (!system.is_empty()).then(|| Content::text(None, system.join("\n\n"))),
        tools: tools::tools(p, &mut extra),
        tool_config: tools::tool_config(p, &mut extra),
        ..GenerateContentRequest::default()
    };
    for (key, value) in &extra {
        match (key.as_str(), value) {
            ("generationConfig", Value::Object(entries)) => config
                .extra
                .extend(entries.iter().map(|(k, v)| (k.clone(), v.clone()))),
            (key, _) if TOP_LEVEL.contains(&key) => {
                body.extra.insert(key.to_owned(), value.clone());
            }
            (key, _) => {
                config.extra.insert(key.to_owned(), value.clone());
            }
        }
    }
    if let Some(schema) = &p.schema {
        config.extra.remove("responseSchema");
        config
            .extra
            .insert("responseMimeType".into(), "application/json".into());
        config
            .extra
            .insert("responseJsonSchema".into(), Value::clone(schema));
    }
    if config != GenerationConfig::default() {
        body.generation_config = Some(config);
    }
    Ok(body)
}

/// Why a candidate stopped, in Pacer's words.
pub(crate) fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        None | Some("STOP") => FinishReason::Stop,
        Some("MAX_TOKENS") => FinishReason::Length,
        Some(
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY",
        ) => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

/// Gemini's usage in Pacer's terms: thinking counts as output, and as reasoning.
pub(crate) fn usage(wire: UsageMetadata) -> Usage {
    Usage {
        input_tokens: wire.prompt_token_count,
        output_tokens: wire.candidates_token_count + wire.thoughts_token_count,
        reasoning_tokens: wire.thoughts_token_count,
        cached_input_tokens: wire.cached_content_token_count,
    }
}

fn logprobs(result: LogprobsResult) -> Vec<TokenLogprob> {
    let mut tops = result.top_candidates.into_iter();
    result
        .chosen_candidates
        .into_iter()
        .enumerate()
        .map(|(i, chosen)| {
            let mut alternatives = tops.next().map(|t| t.candidates).unwrap_or_default();
            alternatives.sort_by(|a, b| b.log_probability.total_cmp(&a.log_probability));
            TokenLogprob {
                token_position: i,
                token: chosen.token,
                logprob: chosen.log_probability,
                top_tokens: alternatives.iter().map(|a| a.token.clone()).collect(),
                top_logprobs: alternatives.iter().map(|a| a.log_probability).collect(),
            }
        })
        .collect()
}

/// The id of the `n`th call of the candidate at `position`: the part's `id`, else
/// `call_{position}_{n}` (Gemini gives none before its newer models).
pub(crate) fn call_id(id: Option<String>, position: usize, n: usize) -> String {
    id.unwrap_or_else(|| format!("call_{position}_{n}"))
}

/// Why a candidate stopped, a `STOP` after calls read as [`FinishReason::ToolCalls`].
pub(crate) fn candidate_finish(reason: Option<&str>, called: bool) -> FinishReason {
    match finish_reason(reason) {
        FinishReason::Stop if called => FinishReason::ToolCalls,
        other => other,
    }
}

/// The candidate at `position` as a choice: its text parts (thoughts left out) joined, its
/// `functionCall` parts as tool calls (id: the part's, else `call_{position}_{n}`), and a
/// `STOP` that made calls read as [`FinishReason::ToolCalls`].
fn choice(position: usize, candidate: Candidate) -> Choice {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
        if let Some(call) = part.function_call {
            let n = tool_calls.len();
            tool_calls.push(ToolCall {
                id: call_id(call.id, position, n),
                name: call.name,
                arguments: call.args.unwrap_or_else(|| Value::Object(Map::new())),
            });
        } else if part.thought != Some(true)
            && let Some(part_text) = part.text
        {
            text.push_str(&part_text);
        }
    }
    Choice {
        finish_reason: candidate_finish(candidate.finish_reason.as_deref(), !tool_calls.is_empty()),
        text,
        logprobs: candidate.logprobs_result.map(logprobs),
        parsed: None,
        tool_calls,
    }
}

/// A prompt blocked for `reason` before any candidate, `usage` billed.
pub(crate) fn blocked_prompt(reason: &str, usage: Usage) -> ProviderError {
    ProviderError::new(
        ErrorKind::ContentFiltered,
        format!("the prompt was blocked: {reason}"),
    )
    .with_usage(usage)
}

/// Reads a reply: one choice per candidate, in index order. A prompt blocked before any
/// candidate is a [`ErrorKind::ContentFiltered`] error carrying the usage billed.
pub(crate) fn response(body: &[u8]) -> Result<Response, ProviderError> {
    let reply: GenerateContentResponse = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(ErrorKind::InvalidResponse, format!("unreadable reply: {e}"))
    })?;
    let usage = usage(reply.usage_metadata.unwrap_or_default());
    let mut candidates = reply.candidates;
    if candidates.is_empty() {
        let blocked = reply.prompt_feedback.and_then(|f| f.block_reason);
        return Err(match blocked {
            Some(reason) => blocked_prompt(&reason, usage),
            None => ProviderError::new(
                ErrorKind::InvalidResponse,
                "unreadable reply: no candidates",
            ),
        });
    }
    candidates.sort_by_key(|c| c.index.unwrap_or(0));
    Ok(Response {
        model_version: reply.model_version,
        choices: candidates
            .into_iter()
            .enumerate()
            .map(|(position, candidate)| choice(position, candidate))
            .collect(),
        usage,
        rate_limits: None,
        first_token: None,
        embeddings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_parameters_go_where_gemini_reads_them() {
        let mut request = Request::text("gemini-x", None, "Hi");
        let extra = &mut request.params.extra;
        extra.insert("responseMimeType".into(), json!("application/json"));
        extra.insert(
            "generationConfig".into(),
            json!({"thinkingConfig": {"thinkingBudget": 0}}),
        );
        extra.insert(
            "safetySettings".into(),
            json!([{"category": "X", "threshold": "BLOCK_NONE"}]),
        );
        let body = serde_json::to_value(super::request(&request).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "thinkingConfig": {"thinkingBudget": 0}
                },
                "safetySettings": [{"category": "X", "threshold": "BLOCK_NONE"}]
            })
        );
        let bare =
            serde_json::to_value(super::request(&Request::text("g", None, "Hi")).unwrap()).unwrap();
        assert!(bare.get("generationConfig").is_none(), "{bare}");
    }

    #[test]
    fn finish_reasons_and_usage() {
        assert_eq!(finish_reason(Some("STOP")), FinishReason::Stop);
        assert_eq!(finish_reason(Some("MAX_TOKENS")), FinishReason::Length);
        for filtered in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
        ] {
            assert_eq!(finish_reason(Some(filtered)), FinishReason::ContentFilter);
        }
        assert_eq!(
            finish_reason(Some("MALFORMED_FUNCTION_CALL")),
            FinishReason::Other("malformed_function_call".into())
        );
        let wire = UsageMetadata {
            prompt_token_count: 100,
            candidates_token_count: 20,
            thoughts_token_count: 30,
            cached_content_token_count: 64,
            total_token_count: 150,
        };
        assert_eq!(
            usage(wire),
            Usage {
                input_tokens: 100,
                output_tokens: 50,
                reasoning_tokens: 30,
                cached_input_tokens: 64,
            }
        );
    }
}
