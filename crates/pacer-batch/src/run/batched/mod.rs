//! Batch mode: a model's jobs sent through its provider's batch API (half price, answered
//! within a day) instead of one request each, with the same prompts, records, journal and
//! summary as a live run.
//!
//! A batch lane takes the same jobs a live lane would, writes them as lines of batches
//! (split by the provider's limits, `batch_size` and the enqueued-token limit), journals each
//! batch in the [ledger](ledger) before anything is sent, submits them as the queue allows,
//! polls them, and turns each result line into the job's record. Lines that expired or failed
//! for a passing reason go into a later batch (up to `max_retries`), or to the live lane with
//! [`BatchSettings::fallback_live`].

mod build;
mod collect;
mod intake;
mod lane;
pub(crate) mod ledger;
mod submit;
mod watch;

use std::time::Duration;

use pacer_core::Price;

pub(crate) use lane::{BatchLane, Numbers};
pub use ledger::{BATCH_LINES_DIR, BATCHES_FILE, LedgerBatch, read_ledger};

/// How a model's jobs go through its provider's batch API.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSettings {
    /// The most requests in one batch (the provider's own limit applies too: 50,000 at
    /// OpenAI, 100,000 at Anthropic).
    pub size: usize,
    /// Send lines that failed in a batch for a passing reason (expired, a server error) as
    /// live requests instead of in a later batch.
    pub fallback_live: bool,
    /// The prices in batch mode; `None`: half the live prices.
    pub price: Option<Price>,
    /// The provider's enqueued-token limit for this model: batches not yet ended may hold
    /// at most this many tokens (prompts and output caps); later batches wait their turn.
    pub queue_tokens: Option<u64>,
    /// How often the batches are polled.
    pub poll: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            size: 50_000,
            fallback_live: false,
            price: None,
            queue_tokens: None,
            poll: Duration::from_secs(30),
        }
    }
}

impl BatchSettings {
    /// The batch prices: the configured ones, else half of `live`.
    pub fn price_over(&self, live: Option<Price>) -> Option<Price> {
        self.price.or_else(|| {
            live.map(|p| Price {
                input: p.input / 2.0,
                output: p.output / 2.0,
                cached_input: p.cached_input.map(|c| c / 2.0),
            })
        })
    }
}

/// Where one batch stands, as the run's progress shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchProgress {
    /// The model's label.
    pub label: String,
    /// The batch's tag in the run.
    pub tag: String,
    /// Its id at the provider, once created.
    pub id: Option<String>,
    /// The provider's word for its state (or Pacer's: `building`, `queued`, `refused`).
    pub state: String,
    /// Requests answered.
    pub succeeded: u64,
    /// Requests failed.
    pub failed: u64,
    /// Requests in it.
    pub total: u64,
    /// Since it was submitted.
    pub since_submit: Option<Duration>,
}

/// A custom id: the run's id and the job's number in the run, valid at every provider
/// (`[a-zA-Z0-9_-]{1,64}`) and the same in every batch the job goes into.
pub(crate) fn custom_id(run_id: &str, number: u64) -> String {
    format!("{run_id}-{number}")
}

/// The job number a custom id of this run holds.
pub(crate) fn job_number(run_id: &str, custom_id: &str) -> Option<u64> {
    custom_id
        .strip_prefix(run_id)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// A batch's tag: the run's id and the batch's number in the run.
pub(crate) fn batch_tag(run_id: &str, number: u64) -> String {
    format!("pacer-{run_id}-{number}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_ids_read_back_only_for_their_run() {
        let id = custom_id("a1b2c3d4", 17);
        assert_eq!(job_number("a1b2c3d4", &id), Some(17));
        assert_eq!(job_number("ffffffff", &id), None);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn batch_prices_are_half_unless_set() {
        let settings = BatchSettings::default();
        let live = Price::with_cache(2.0, 8.0, 0.5);
        let half = settings.price_over(Some(live)).unwrap();
        assert_eq!(
            (half.input, half.output, half.cached_input),
            (1.0, 4.0, Some(0.25))
        );
        let set = BatchSettings {
            price: Some(Price::new(1.5, 6.0)),
            ..BatchSettings::default()
        };
        assert_eq!(set.price_over(Some(live)), Some(Price::new(1.5, 6.0)));
        assert_eq!(settings.price_over(None), None);
    }
}
