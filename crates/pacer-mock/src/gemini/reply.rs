//! How Gemini says things: its reply (candidates, usage, log-probabilities) and its
//! `google.rpc.Status` error bodies. It sends no rate-limit headers: a 429 says how long to
//! wait in its body's `RetryInfo`, and which quota ran out in its `QuotaFailure`.

use hyper::StatusCode;
use pacer_core::{FinishReason, Response, TokenLogprob};
use pacer_providers::gemini::wire::{
    Candidate, Content, ErrorDetail, ErrorReply, ErrorStatus, GenerateContentResponse,
    LogprobCandidate, LogprobsResult, Part, QuotaViolation, TopCandidates, UsageMetadata,
};
use serde_json::{Map, Value};

use crate::complete::{Protocol, Rendered};
use crate::limiter::{Dimension, Limited, Readings};
use crate::replies::{first_stop, word_count};
use crate::respond::{Reply, json_value, serialize};
use crate::timefmt::ceil_seconds;

const TYPE_PREFIX: &str = "type.googleapis.com/google.rpc.";

/// The metric of the free tier's request quotas.
const REQUESTS_METRIC: &str =
    "generativelanguage.googleapis.com/generate_content_free_tier_requests";

/// The metric of the free tier's token quota.
const TOKENS_METRIC: &str =
    "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count";

/// A Gemini error reply: `{"error": {"code", "message", "status", "details"}}`.
pub(super) fn error(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    details: Vec<ErrorDetail>,
) -> Reply {
    json_value(
        status,
        &ErrorReply {
            error: ErrorStatus {
                code: status.as_u16(),
                message: message.into(),
                status: code.into(),
                details,
            },
        },
    )
}

/// A typed detail of `kind` (`RetryInfo`, `QuotaFailure`, `ErrorInfo`).
fn detail(kind: &str) -> ErrorDetail {
    ErrorDetail {
        type_url: format!("{TYPE_PREFIX}{kind}"),
        ..ErrorDetail::default()
    }
}

/// The 400 for a key that is not the server's.
pub(super) fn invalid_key() -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        vec![ErrorDetail {
            reason: Some("API_KEY_INVALID".into()),
            ..detail("ErrorInfo")
        }],
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
fn exhausted(
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
    let mut dimensions = Map::new();
    dimensions.insert("model".into(), Value::from(model));
    dimensions.insert("location".into(), Value::from("global"));
    let mut details = vec![ErrorDetail {
        violations: vec![QuotaViolation {
            quota_metric: Some(metric.into()),
            quota_id: Some(quota_id.into()),
            quota_value: limit.map(|l| l.to_string()),
            extra: Map::from_iter([("quotaDimensions".into(), Value::Object(dimensions))]),
        }],
        ..detail("QuotaFailure")
    }];
    if let Some(seconds) = retry {
        message += &format!("\nPlease retry in {seconds}s.");
        details.push(ErrorDetail {
            retry_delay: Some(format!("{seconds}s")),
            ..detail("RetryInfo")
        });
    }
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "RESOURCE_EXHAUSTED",
        message,
        details,
    )
}

/// One `generateContent` request, for its reply.
pub(super) struct Generate {
    /// Its prompt tokens.
    pub(super) prompt_tokens: u64,
    /// Its stop sequences.
    pub(super) stop: Vec<String>,
    /// Alternatives per token when log-probabilities were asked for.
    pub(super) logprobs: Option<usize>,
    /// The server's token quota, named in the daily quota's 429.
    pub(super) quota: Option<u64>,
}

/// The token chosen at one step.
fn chosen(lp: &TokenLogprob) -> LogprobCandidate {
    LogprobCandidate {
        token: lp.token.clone(),
        token_id: None,
        log_probability: lp.logprob,
    }
}

/// The `logprobsResult` of the first `tokens` tokens, `k` alternatives each.
fn logprobs_result(lps: &[TokenLogprob], tokens: usize, k: usize) -> LogprobsResult {
    let lps = &lps[..tokens.min(lps.len())];
    LogprobsResult {
        top_candidates: if k == 0 {
            Vec::new()
        } else {
            lps.iter()
                .map(|lp| TopCandidates {
                    candidates: lp
                        .top_tokens
                        .iter()
                        .zip(&lp.top_logprobs)
                        .take(k)
                        .map(|(token, logprob)| LogprobCandidate {
                            token: token.clone(),
                            token_id: None,
                            log_probability: *logprob,
                        })
                        .collect(),
                })
                .collect()
        },
        chosen_candidates: lps.iter().map(chosen).collect(),
    }
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
        let mut output_tokens = 0;
        let candidates = response
            .choices
            .into_iter()
            .enumerate()
            .map(|(index, choice)| {
                let mut text = choice.text;
                let mut finish = match choice.finish_reason {
                    FinishReason::Length => "MAX_TOKENS",
                    _ => "STOP",
                };
                if let Some((at, _)) = first_stop(&text, &self.stop) {
                    text.truncate(at);
                    finish = "STOP";
                }
                let tokens = word_count(&text);
                output_tokens += tokens;
                let result = self.logprobs.map(|k| {
                    logprobs_result(
                        choice.logprobs.as_deref().unwrap_or(&[]),
                        tokens as usize,
                        k,
                    )
                });
                let avg_logprobs = result.as_ref().and_then(|r| {
                    let chosen = &r.chosen_candidates;
                    let sum: f64 = chosen.iter().map(|c| c.log_probability).sum();
                    (!chosen.is_empty()).then(|| sum / chosen.len() as f64)
                });
                Candidate {
                    content: Some(Content {
                        role: Some("model".into()),
                        parts: vec![Part {
                            text: Some(text),
                            ..Part::default()
                        }],
                    }),
                    finish_reason: Some(finish.into()),
                    index: Some(index as u32),
                    avg_logprobs,
                    logprobs_result: result,
                }
            })
            .collect();
        let wire = GenerateContentResponse {
            candidates,
            prompt_feedback: None,
            usage_metadata: Some(UsageMetadata {
                prompt_token_count: self.prompt_tokens,
                candidates_token_count: output_tokens,
                total_token_count: self.prompt_tokens + output_tokens,
                ..UsageMetadata::default()
            }),
            model_version: response.model_version,
            response_id: Some(format!("mock-{id}")),
        };
        Rendered {
            body: serialize(&wire),
            prompt_tokens: self.prompt_tokens,
            output_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_keep_k_alternatives_of_the_tokens_kept() {
        let lp = |token: &str| TokenLogprob {
            token_position: 0,
            token: token.into(),
            logprob: -0.25,
            top_tokens: vec![token.into(), "b".into(), "c".into()],
            top_logprobs: vec![-0.25, -1.0, -2.5],
        };
        let lps = [lp("a"), lp("d"), lp("e")];
        let result = logprobs_result(&lps, 2, 2);
        assert_eq!(result.chosen_candidates.len(), 2);
        assert_eq!(result.chosen_candidates[1].token, "d");
        assert_eq!(result.top_candidates.len(), 2);
        let top = &result.top_candidates[0].candidates;
        assert_eq!(top.len(), 2);
        assert_eq!((top[0].token.as_str(), top[1].log_probability), ("a", -1.0));
        assert!(logprobs_result(&lps, 5, 0).top_candidates.is_empty());
        assert_eq!(logprobs_result(&lps, 5, 0).chosen_candidates.len(), 3);
    }
}
