//! How Gemini says things: its reply (candidates, with `functionCall` parts for tool calls,
//! usage, log-probabilities; or embeddings) and its `google.rpc.Status` error bodies. A
//! refusal is text ending `STOP`, as Gemini words its own; a tool call ends `STOP` too. It sends no rate-limit headers: a 429 says how long to
//! wait in its body's `RetryInfo`, and which quota ran out in its `QuotaFailure`.

use hyper::StatusCode;
use pacer_core::{Choice, FinishReason, Response, TokenLogprob};
use pacer_providers::mock::output_tokens;
use serde_json::{Value, json};

use crate::complete::{Protocol, Rendered};
use crate::limiter::{Dimension, Limited, Readings};
use crate::replies::first_stop;
use crate::respond::{Reply, json_value, serialize};
use crate::timefmt::ceil_seconds;

const TYPE_PREFIX: &str = "type.googleapis.com/google.rpc.";

/// The metric of the free tier's request quotas.
const REQUESTS_METRIC: &str =
    "generativelanguage.googleapis.com/generate_content_free_tier_requests";

/// The metric of the free tier's token quota.
const TOKENS_METRIC: &str =
    "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count";

/// A Gemini error reply: `{"error": {"code", "message", "status", "details"}}`, a
/// `google.rpc.Status`; `details` is left out when there are none.
pub(crate) fn error(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    details: Vec<Value>,
) -> Reply {
    let mut error = json!({
        "code": status.as_u16(),
        "message": message.into(),
        "status": code,
    });
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    json_value(status, &json!({ "error": error }))
}

/// A typed detail of `kind` (`RetryInfo`, `QuotaFailure`, `ErrorInfo`) holding `field`.
fn detail(kind: &str, field: &str, value: Value) -> Value {
    json!({
        "@type": format!("{TYPE_PREFIX}{kind}"),
        field: value,
    })
}

/// The 400 for a key that is not the server's.
pub(super) fn invalid_key() -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        vec![detail("ErrorInfo", "reason", json!("API_KEY_INVALID"))],
    )
}

/// The 403 for a request with no key.
pub(super) fn missing_key() -> Reply {
    error(
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). \
         Please use API Key or other form of API consumer identity to call this API.",
        Vec::new(),
    )
}

/// A 429 `RESOURCE_EXHAUSTED` for the quota `quota_id` of `metric`, at `limit`.
pub(crate) fn exhausted(
    metric: &str,
    quota_id: &str,
    limit: Option<u64>,
    model: &str,
    retry: Option<u64>,
) -> Reply {
    let limit_text = limit.map_or_else(|| "unlimited".to_owned(), |l| l.to_string());
    let mut message = format!(
        "You exceeded your current quota, please check your plan and billing details. For more \
         information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n\
         * Quota exceeded for metric: {metric}, limit: {limit_text}, model: {model}"
    );
    let mut violation = json!({"quotaMetric": metric, "quotaId": quota_id});
    if let Some(limit) = limit {
        // Google writes the limit as a string (an int64 in proto3's JSON).
        violation["quotaValue"] = Value::from(limit.to_string());
    }
    violation["quotaDimensions"] = json!({"model": model, "location": "global"});
    let mut details = vec![detail("QuotaFailure", "violations", json!([violation]))];
    if let Some(seconds) = retry {
        message += &format!("\nPlease retry in {seconds}s.");
        details.push(detail(
            "RetryInfo",
            "retryDelay",
            json!(format!("{seconds}s")),
        ));
    }
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "RESOURCE_EXHAUSTED",
        message,
        details,
    )
}

/// One `generateContent` or embedding request, for its reply.
#[derive(Debug)]
pub(crate) struct Generate {
    /// Its prompt tokens.
    pub(super) prompt_tokens: u64,
    /// The server's token quota, named in the daily quota's 429.
    pub(super) quota: Option<u64>,
    /// What it asks for.
    pub(super) output: Output,
}

/// What a Gemini request asks for.
#[derive(Debug)]
pub(super) enum Output {
    /// Candidates (`generateContent`).
    Content {
        /// The stop sequences.
        stop: Vec<String>,
        /// Alternatives per token when log-probabilities were asked for.
        logprobs: Option<usize>,
    },
    /// Vectors (`embedContent`, `batchEmbedContents`).
    Embedding(super::embed::Shape),
}

/// A candidate's parts: its text (when it has some or calls nothing), then its calls.
fn parts(choice: &Choice) -> Vec<Value> {
    let mut parts = Vec::new();
    if !choice.text.is_empty() || choice.tool_calls.is_empty() {
        parts.push(json!({"text": choice.text}));
    }
    parts.extend(
        choice
            .tool_calls
            .iter()
            .map(|call| json!({"functionCall": {"name": call.name, "args": call.arguments}})),
    );
    parts
}

/// A token and its log-probability, as `logprobsResult` lists them.
fn logprob_candidate(token: &str, logprob: f64) -> Value {
    json!({"token": token, "logProbability": logprob})
}

/// The `logprobsResult` of the first `tokens` tokens, `k` alternatives each (none at all
/// when `k` is 0), and the mean log-probability of those tokens, `None` when there are none.
fn logprobs_result(lps: &[TokenLogprob], tokens: usize, k: usize) -> (Value, Option<f64>) {
    let lps = &lps[..tokens.min(lps.len())];
    let top: Vec<Value> = if k == 0 {
        Vec::new()
    } else {
        lps.iter()
            .map(|lp| {
                let candidates: Vec<Value> = lp
                    .top_tokens
                    .iter()
                    .zip(&lp.top_logprobs)
                    .take(k)
                    .map(|(token, logprob)| logprob_candidate(token, *logprob))
                    .collect();
                json!({ "candidates": candidates })
            })
            .collect()
    };
    let chosen: Vec<Value> = lps
        .iter()
        .map(|lp| logprob_candidate(&lp.token, lp.logprob))
        .collect();
    let sum: f64 = lps.iter().map(|lp| lp.logprob).sum();
    let mean = (!lps.is_empty()).then(|| sum / lps.len() as f64);
    let result = json!({"topCandidates": top, "chosenCandidates": chosen});
    (result, mean)
}

impl Protocol for Generate {
    const SETTLES: bool = true;

    fn quota(&self, model: &str) -> Reply {
        exhausted(
            REQUESTS_METRIC,
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            self.quota,
            model,
            None,
        )
    }

    fn limited(&self, limited: &Limited, model: &str) -> Reply {
        let (metric, quota_id) = match limited.dimension {
            Dimension::Requests => (
                REQUESTS_METRIC,
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            ),
            _ => (
                TOKENS_METRIC,
                "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            ),
        };
        let seconds = ceil_seconds(limited.retry_after);
        exhausted(metric, quota_id, Some(limited.limit), model, Some(seconds))
    }

    fn server_error(&self) -> Reply {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in \
             https://developers.generativeai.google/guide/troubleshooting",
            Vec::new(),
        )
    }

    fn busy(&self, _model: &str) -> Reply {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
            Vec::new(),
        )
    }

    fn overloaded(&self) -> Reply {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            Vec::new(),
        )
    }

    fn rate_headers(&self, _reply: &mut Reply, _readings: &Readings) {
        // Gemini sends none.
    }

    fn render(&self, id: u64, response: Response) -> Rendered {
        match &self.output {
            Output::Content { stop, logprobs } => self.content(id, response, stop, *logprobs),
            Output::Embedding(shape) => shape.render(response, self.prompt_tokens),
        }
    }
}

impl Generate {
    /// The reply of `generateContent`: a candidate per choice, cut at the first stop
    /// sequence, with `k` alternatives per token when log-probabilities were asked for.
    fn content(
        &self,
        id: u64,
        response: Response,
        stop: &[String],
        logprobs: Option<usize>,
    ) -> Rendered {
        let mut total = 0;
        let candidates: Vec<Value> = response
            .choices
            .into_iter()
            .enumerate()
            .map(|(index, mut choice)| {
                let mut finish = match choice.finish_reason {
                    FinishReason::Length => "MAX_TOKENS",
                    FinishReason::Stop
                    | FinishReason::ContentFilter
                    | FinishReason::ToolCalls
                    | FinishReason::Refusal
                    | FinishReason::Other(_) => "STOP",
                };
                if let Some((at, _)) = first_stop(&choice.text, stop) {
                    choice.text.truncate(at);
                    finish = "STOP";
                }
                let tokens = output_tokens(&choice);
                total += tokens;
                let mut candidate = json!({
                    "content": {"role": "model", "parts": parts(&choice)},
                    "finishReason": finish,
                    "index": index,
                });
                if let Some(k) = logprobs {
                    let lps = choice.logprobs.as_deref().unwrap_or(&[]);
                    let (result, mean) = logprobs_result(lps, tokens as usize, k);
                    if let Some(mean) = mean {
                        candidate["avgLogprobs"] = Value::from(mean);
                    }
                    candidate["logprobsResult"] = result;
                }
                candidate
            })
            .collect();
        let mut body = serde_json::Map::new();
        // Gemini leaves out what it has not got: no candidates when a prompt is blocked.
        if !candidates.is_empty() {
            body.insert("candidates".into(), Value::Array(candidates));
        }
        body.insert(
            "usageMetadata".into(),
            json!({
                "promptTokenCount": self.prompt_tokens,
                "candidatesTokenCount": total,
                "thoughtsTokenCount": 0,
                "cachedContentTokenCount": 0,
                "totalTokenCount": self.prompt_tokens + total,
            }),
        );
        if let Some(version) = response.model_version {
            body.insert("modelVersion".into(), Value::from(version));
        }
        body.insert("responseId".into(), Value::from(format!("mock-{id}")));
        Rendered {
            body: serialize(&body),
            prompt_tokens: self.prompt_tokens,
            output_tokens: total,
            embedded: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::TokenLogprob;
    use serde_json::json;

    use super::logprobs_result;

    #[test]
    fn logprobs_keep_k_alternatives_of_the_tokens_kept() {
        let lp = |token: &str, logprob: f64| TokenLogprob {
            token_position: 0,
            token: token.into(),
            logprob,
            top_tokens: vec![token.into(), "b".into(), "c".into()],
            top_logprobs: vec![logprob, -1.0, -2.5],
        };
        let lps = [lp("a", -0.25), lp("d", -0.75), lp("e", -0.25)];
        let (result, mean) = logprobs_result(&lps, 2, 2);
        assert_eq!(
            result,
            json!({
                "topCandidates": [
                    {"candidates": [
                        {"token": "a", "logProbability": -0.25},
                        {"token": "b", "logProbability": -1.0},
                    ]},
                    {"candidates": [
                        {"token": "d", "logProbability": -0.75},
                        {"token": "b", "logProbability": -1.0},
                    ]},
                ],
                "chosenCandidates": [
                    {"token": "a", "logProbability": -0.25},
                    {"token": "d", "logProbability": -0.75},
                ],
            })
        );
        assert_eq!(mean, Some(-0.5));
        let (result, _) = logprobs_result(&lps, 5, 0);
        assert_eq!(result["topCandidates"], json!([]));
        assert_eq!(result["chosenCandidates"].as_array().map(Vec::len), Some(3));
        assert_eq!(logprobs_result(&lps, 0, 2).1, None);
    }
}
