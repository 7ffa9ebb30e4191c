//! List prices of well-known hosted models, in US dollars per million tokens, as their
//! providers published them (standard tier, prompts under any long-context threshold). A
//! model is matched by the longest name prefix, so dated versions
//! (`gpt-4o-mini-2024-07-18`, `claude-sonnet-4-5-20250929`) find their family. Prices
//! change: a model entry's `price` in the config wins over this table.

use pacer_core::Price;

/// `(model name prefix, price)`.
const TABLE: &[(&str, Price)] = &[
    // OpenAI.
    ("gpt-5", Price::with_cache(1.25, 10.0, 0.125)),
    ("gpt-5-mini", Price::with_cache(0.25, 2.0, 0.025)),
    ("gpt-5-nano", Price::with_cache(0.05, 0.40, 0.005)),
    ("gpt-4.1", Price::with_cache(2.0, 8.0, 0.50)),
    ("gpt-4.1-mini", Price::with_cache(0.40, 1.60, 0.10)),
    ("gpt-4.1-nano", Price::with_cache(0.10, 0.40, 0.025)),
    ("gpt-4o", Price::with_cache(2.50, 10.0, 1.25)),
    ("gpt-4o-mini", Price::with_cache(0.15, 0.60, 0.075)),
    ("gpt-4-turbo", Price::new(10.0, 30.0)),
    ("gpt-3.5-turbo", Price::new(0.50, 1.50)),
    ("o1", Price::with_cache(15.0, 60.0, 7.50)),
    ("o1-mini", Price::with_cache(1.10, 4.40, 0.55)),
    ("o3", Price::with_cache(2.0, 8.0, 0.50)),
    ("o3-mini", Price::with_cache(1.10, 4.40, 0.55)),
    ("o4-mini", Price::with_cache(1.10, 4.40, 0.275)),
    // OpenAI embeddings: input only.
    ("text-embedding-3-small", Price::new(0.02, 0.0)),
    ("text-embedding-3-large", Price::new(0.13, 0.0)),
    ("text-embedding-ada-002", Price::new(0.10, 0.0)),
    // Anthropic (cache reads; cache writes are billed as input here).
    ("claude-opus-4-5", Price::with_cache(5.0, 25.0, 0.50)),
    ("claude-opus-4", Price::with_cache(15.0, 75.0, 1.50)),
    ("claude-sonnet-4", Price::with_cache(3.0, 15.0, 0.30)),
    ("claude-3-7-sonnet", Price::with_cache(3.0, 15.0, 0.30)),
    ("claude-3-5-sonnet", Price::with_cache(3.0, 15.0, 0.30)),
    ("claude-haiku-4-5", Price::with_cache(1.0, 5.0, 0.10)),
    ("claude-3-5-haiku", Price::with_cache(0.80, 4.0, 0.08)),
    ("claude-3-haiku", Price::with_cache(0.25, 1.25, 0.03)),
    // Google.
    ("gemini-2.5-pro", Price::with_cache(1.25, 10.0, 0.31)),
    ("gemini-2.5-flash", Price::with_cache(0.30, 2.50, 0.075)),
    (
        "gemini-2.5-flash-lite",
        Price::with_cache(0.10, 0.40, 0.025),
    ),
    ("gemini-2.0-flash", Price::with_cache(0.10, 0.40, 0.025)),
    ("gemini-2.0-flash-lite", Price::new(0.075, 0.30)),
    ("gemini-1.5-pro", Price::new(1.25, 5.0)),
    ("gemini-1.5-flash", Price::new(0.075, 0.30)),
    ("gemini-embedding-001", Price::new(0.15, 0.0)),
];

/// The listed price of `model`, by its longest matching prefix (a leading `models/`, as
/// Gemini names them, is ignored); `None` for models not listed.
///
/// ```
/// use pacer_providers::prices::lookup;
///
/// assert_eq!(lookup("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
/// assert_eq!(lookup("gpt-4o-2024-08-06").unwrap().input, 2.50);
/// assert_eq!(lookup("models/gemini-2.5-flash").unwrap().output, 2.50);
/// assert!(lookup("my-local-model").is_none());
/// ```
pub fn lookup(model: &str) -> Option<Price> {
    let model = model.strip_prefix("models/").unwrap_or(model);
    TABLE
        .iter()
        .filter(|(prefix, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, price)| *price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_price_is_valid_and_every_prefix_unique() {
        for (i, (prefix, price)) in TABLE.iter().enumerate() {
            assert!(price.is_valid(), "{prefix}");
            assert!(
                TABLE[i + 1..].iter().all(|(other, _)| other != prefix),
                "{prefix} listed twice"
            );
        }
    }

    #[test]
    fn the_longest_prefix_wins() {
        assert_eq!(lookup("o3-mini-2025-01-31").unwrap().input, 1.10);
        assert_eq!(lookup("o3-2025-04-16").unwrap().input, 2.0);
        assert_eq!(lookup("gemini-2.5-flash-lite-preview").unwrap().input, 0.10);
        assert_eq!(lookup("claude-opus-4-1-20250805").unwrap().output, 75.0);
        assert_eq!(lookup("claude-opus-4-5-20251101").unwrap().output, 25.0);
    }
}
