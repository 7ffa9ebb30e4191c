//! What tokens cost, and so what a request cost.

use serde::{Deserialize, Serialize};

use crate::Usage;

/// A model's prices in US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Per million prompt tokens.
    pub input: f64,
    /// Per million completion tokens (reasoning tokens included).
    pub output: f64,
    /// Per million prompt tokens read from the provider's cache; the input price when the
    /// provider gives no discount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
}

impl Price {
    /// A price without a cache discount.
    pub const fn new(input: f64, output: f64) -> Self {
        Self {
            input,
            output,
            cached_input: None,
        }
    }

    /// A price with a cache discount.
    pub const fn with_cache(input: f64, output: f64, cached_input: f64) -> Self {
        Self {
            input,
            output,
            cached_input: Some(cached_input),
        }
    }

    /// What `usage` cost in US dollars.
    ///
    /// ```
    /// use pacer_core::{Price, Usage};
    ///
    /// let price = Price::with_cache(2.5, 10.0, 1.25);
    /// let usage = Usage { input_tokens: 1_000, output_tokens: 500, cached_input_tokens: 400, ..Usage::default() };
    /// // 600 fresh input tokens, 400 cached, 500 output.
    /// let expected = (600.0 * 2.5 + 400.0 * 1.25 + 500.0 * 10.0) / 1e6;
    /// assert!((price.cost(&usage) - expected).abs() < 1e-12);
    /// ```
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        let fresh = usage.input_tokens - cached;
        (fresh as f64 * self.input
            + cached as f64 * self.cached_input.unwrap_or(self.input)
            + usage.output_tokens as f64 * self.output)
            / 1e6
    }

    /// The most a request could cost: `input_tokens` at the full input price and
    /// `max_output_tokens` all written.
    pub fn worst_case(&self, input_tokens: u64, max_output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input + max_output_tokens as f64 * self.output) / 1e6
    }

    /// Whether every price is a finite number ≥ 0.
    pub fn is_valid(&self) -> bool {
        let ok = |p: f64| p.is_finite() && p >= 0.0;
        ok(self.input) && ok(self.output) && self.cached_input.is_none_or(ok)
    }
}
