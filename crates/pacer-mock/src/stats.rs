//! What the server has seen: one counter per outcome, read as a [`Stats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// A snapshot of the server's counters, as `GET /stats` returns it. Every request
        /// but those to `/stats` counts in `requests`; a live one counts in exactly one
        /// outcome too, and a request to a batch or file endpoint in `batch_requests` only,
        /// its batch's lines in the `batch_*` counters, never in the live outcomes or tokens.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct Stats {
            $($(#[$doc])* pub $name: u64,)*
            /// Seconds since the server started.
            pub uptime_seconds: f64,
        }

        /// The live counters.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        impl Counters {
            /// Their values now.
            pub(crate) fn snapshot(&self, uptime_seconds: f64) -> Stats {
                Stats {
                    $($name: self.$name.load(Relaxed),)*
                    uptime_seconds,
                }
            }

            /// Sets every counter to zero.
            pub(crate) fn reset(&self) {
                $(self.$name.store(0, Relaxed);)*
            }
        }
    };
}

counters! {
    /// Requests received (all but `/stats`).
    requests,
    /// Of those, requests to OpenAI's endpoints (`/v1/chat/completions`, `/v1/completions`,
    /// `/v1/embeddings`, `/v1/responses`, `/v1/models`).
    openai_requests,
    /// Requests to Anthropic's `/v1/messages`.
    anthropic_requests,
    /// Requests to Gemini's `models/{model}:generateContent`, `:embedContent` and
    /// `:batchEmbedContents`.
    gemini_requests,
    /// Of the requests to OpenAI's and Gemini's endpoints, those to their embedding
    /// endpoints (`/v1/embeddings`, `:embedContent`, `:batchEmbedContents`).
    embedding_requests,
    /// Inputs embedded: the vectors of the embedding requests replied to.
    embedding_inputs,
    /// Of the requests to OpenAI's endpoints, those to the Responses API (`/v1/responses`).
    responses_requests,
    /// Full 200 replies (completions, responses, embeddings and model lists).
    ok,
    /// 429s for a request or token limit.
    rate_limited,
    /// Refusals for the spent token quota (429s; Anthropic's are 400s).
    quota_exceeded,
    /// Injected 500s.
    server_errors,
    /// Injected 503s (529s on Anthropic's endpoint).
    overloaded,
    /// Connections closed without a reply.
    dropped,
    /// 200s with half a body.
    truncated,
    /// Replies held back for `slow_for` (counted when the wait starts).
    slow,
    /// Injected 429s that came while the limits had room (`--fail-429`).
    busy,
    /// 400s (and 413s): malformed JSON, missing fields, parameters the model refuses.
    bad_requests,
    /// 401s (and Gemini's 400 and 403 for a wrong or missing key).
    unauthorized,
    /// 404s: unknown paths and models.
    not_found,
    /// Prompt (input) tokens of the completions (and responses and embeddings) replied to.
    prompt_tokens,
    /// Completion (output) tokens, reasoning included, of the completions replied to.
    completion_tokens,
    /// Tokens charged to the token limit and quota per admitted completion request: the
    /// prompt plus the output cap, corrected to the output used on Anthropic's and Gemini's
    /// endpoints.
    tokens_charged,
    /// Requests to the batch and file endpoints (OpenAI's `/v1/files` and `/v1/batches`,
    /// Anthropic's `/v1/messages/batches`, Gemini's `batchGenerateContent` and `batches`).
    batch_requests,
    /// Files uploaded to OpenAI's `POST /v1/files`.
    files_uploaded,
    /// Batches accepted (OpenAI's failed at validation or refused are not).
    batches_created,
    /// Batches refused for the enqueued-token limit (`queue_tokens`).
    batches_refused,
    /// Lines of the batches accepted: the requests they hold.
    batch_lines_submitted,
    /// Lines of the batches ended that came out as errors: drawn to fail
    /// (`line_failure`) or refused as the live endpoint would refuse them. Counted when
    /// their batch ends (seen by any request or `/stats`).
    batch_lines_failed,
    /// Lines of the batches ended that expired unprocessed (all lines of a Gemini batch
    /// that expired, as it returns none). Counted when their batch ends.
    batch_lines_expired,
    /// Batches cancelled before they ended.
    batches_cancelled,
}

impl Counters {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Takes `n` from `counter`, stopping at zero (a reset may have come in between).
    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        let _ = counter.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(n)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_reset() {
        let counters = Counters::default();
        Counters::bump(&counters.requests);
        Counters::add(&counters.prompt_tokens, 7);
        let stats = counters.snapshot(1.5);
        assert_eq!((stats.requests, stats.prompt_tokens), (1, 7));
        assert_eq!(stats.uptime_seconds, 1.5);
        counters.reset();
        assert_eq!(counters.snapshot(0.0), Stats::default());
    }
}
