//! A results line as the report reads it: only the fields it counts, parsed leniently so that
//! seed 003's records (an `error` string, no `status`) and older Pacer journals (no
//! `latency_seconds`) read too. The answer's text and logprobs are parsed only for the
//! prompts the browser keeps ([`AnswerLine`]).

use serde::Deserialize;
use serde_json::Value;

/// The fields the aggregates need; the rest of the line is skipped unparsed.
#[derive(Debug, Deserialize)]
pub(crate) struct Line {
    #[serde(default)]
    pub run_id: Option<String>,
    pub prompt_id: String,
    /// Seed 003's records have no label: the model is the lane.
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub sample: u32,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub elapsed_seconds: Option<f64>,
    #[serde(default)]
    pub latency_seconds: Option<f64>,
    #[serde(default)]
    pub queue_seconds: Option<f64>,
    #[serde(default)]
    pub first_token_seconds: Option<f64>,
    #[serde(default)]
    pub retry_count: u64,
    #[serde(default)]
    pub usage_all_attempts: Option<TokensLine>,
    #[serde(default)]
    pub tokens_used: Option<TokensLine>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub truncated: bool,
    #[serde(default)]
    pub prompt_category: Option<Value>,
    #[serde(default)]
    pub is_synthetic_probe: Option<Value>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub(crate) struct TokensLine {
    #[serde(default)]
    pub input: u64,
    #[serde(default)]
    pub output: u64,
}

/// The answer of a line the browser keeps.
#[derive(Debug, Deserialize)]
pub(crate) struct AnswerLine {
    #[serde(default)]
    pub full_response: Option<String>,
    #[serde(default)]
    pub token_logprobs: Option<Vec<TokenLine>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenLine {
    pub token: String,
    /// `null` where the provider's was not finite (serde_json writes -inf so).
    #[serde(default)]
    pub logprob: Option<f64>,
}

impl Line {
    /// The model label: `label`, else the model's name.
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.model)
    }

    /// Whether the job succeeded: `status`, else no `error`.
    pub fn ok(&self) -> bool {
        match self.status.as_deref() {
            Some(status) => status == "ok",
            None => self.error.as_ref().is_none_or(Value::is_null),
        }
    }

    /// The failure's kind (`Timeout`, …), or `error` for seed 003's message-only errors.
    pub fn error_kind(&self) -> String {
        match &self.error {
            Some(Value::Object(error)) => error
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
            Some(Value::String(_)) => "error".to_owned(),
            _ => "unknown".to_owned(),
        }
    }

    /// The failure in words: `kind: message`.
    pub fn error_text(&self) -> Option<String> {
        match &self.error {
            Some(Value::Object(error)) => {
                let message = error.get("message").and_then(Value::as_str).unwrap_or("");
                Some(format!("{}: {message}", self.error_kind()))
            }
            Some(Value::String(message)) => Some(message.clone()),
            _ => None,
        }
    }

    /// Tokens billed over every attempt: `usage_all_attempts`, else `tokens_used`.
    pub fn tokens(&self) -> TokensLine {
        self.usage_all_attempts
            .or(self.tokens_used)
            .unwrap_or_default()
    }

    /// The prompt's category, as text.
    pub fn category(&self) -> Option<String> {
        match &self.prompt_category {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        }
    }

    /// `is_synthetic_probe`, from a boolean or a CSV's `true` / `false` / `1` / `0`.
    pub fn probe(&self) -> Option<bool> {
        match &self.is_synthetic_probe {
            Some(Value::Bool(probe)) => Some(*probe),
            Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
            Some(Value::Number(n)) => n.as_u64().map(|n| n != 0),
            _ => None,
        }
    }

    /// Whether the model declined or a filter cut it off.
    pub fn refused(&self) -> bool {
        matches!(
            self.finish_reason.as_deref(),
            Some("refusal" | "content_filter")
        )
    }

    /// When the job ended, in Unix seconds.
    pub fn ended(&self) -> Option<f64> {
        let text = self.timestamp.as_deref()?;
        let parsed = chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .or_else(|_| {
                // Seed 003 wrote local times without an offset: read as UTC.
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|naive| naive.and_utc())
            })
            .ok()?;
        Some(parsed.timestamp_micros() as f64 / 1e6)
    }
}

/// Seconds that are a time at all.
pub(crate) fn seconds(value: Option<f64>) -> Option<f64> {
    value.filter(|s| s.is_finite() && *s >= 0.0)
}
