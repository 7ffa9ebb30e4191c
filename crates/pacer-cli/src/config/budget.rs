//! Prices and the run's budget: each model's price from its entry or the built-in table, and
//! the `--budget-usd` / `--budget-tokens` caps, checked against them.

use pacer_core::Price;

use super::file::{FileConfig, ModelEntry};
use super::{ConfigError, ModelSpec, Overrides};

/// The run's spending caps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BudgetCaps {
    /// At most this many US dollars over the whole run (resumes included).
    pub usd: Option<f64>,
    /// At most this many tokens over the whole run.
    pub tokens: Option<u64>,
}

impl BudgetCaps {
    /// Whether any cap is set.
    pub fn any(&self) -> bool {
        self.usd.is_some() || self.tokens.is_some()
    }
}

/// The price of `entry`: its `price`, else the built-in table's by name; `None` when neither
/// knows it (the mock, local servers, unlisted models).
pub(super) fn price(
    entry: &ModelEntry,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Option<Price>, ConfigError> {
    match entry.price {
        Some(price) if !price.is_valid() => Err(at(
            "price",
            "expected prices of 0 or more US dollars per million tokens, e.g. { input = 2.5, output = 10.0 }".into(),
        )),
        Some(price) => Ok(Some(price)),
        None => Ok(pacer_providers::prices::lookup(&entry.name)),
    }
}

/// The caps from the flags, else the file; a dollar cap needs every model's price.
pub(super) fn caps(
    config: &FileConfig,
    o: &Overrides,
    models: &[(String, bool)],
    specs: &[ModelSpec],
    err: &dyn Fn(&str, String) -> ConfigError,
    cli: &dyn Fn(&str, String) -> ConfigError,
) -> Result<BudgetCaps, ConfigError> {
    let blame = |flag: &str, key: &str, from_cli: bool, message: String| {
        if from_cli {
            cli(flag, message)
        } else {
            err(key, message)
        }
    };
    let usd = o.budget_usd.or(config.budget_usd);
    if let Some(usd) = usd
        && !(usd.is_finite() && usd > 0.0)
    {
        let message = format!("expected a positive number of US dollars, found {usd}");
        return Err(blame(
            "--budget-usd",
            "budget_usd",
            o.budget_usd.is_some(),
            message,
        ));
    }
    let tokens = o.budget_tokens.or(config.budget_tokens);
    if tokens == Some(0) {
        let message = "expected a positive number of tokens".to_owned();
        return Err(blame(
            "--budget-tokens",
            "budget_tokens",
            o.budget_tokens.is_some(),
            message,
        ));
    }
    if usd.is_some() {
        for ((key, from_cli), spec) in models.iter().zip(specs) {
            if spec.price.is_none() {
                let message = format!(
                    "no price is known for `{}`, and a budget in dollars needs one: set `price = {{ input = …, output = … }}` (US dollars per million tokens) in its entry, or cap tokens with --budget-tokens",
                    spec.name
                );
                return Err(if *from_cli {
                    cli(&format!("{key}.price"), message)
                } else {
                    err(&format!("{key}.price"), message)
                });
            }
        }
    }
    Ok(BudgetCaps { usd, tokens })
}
