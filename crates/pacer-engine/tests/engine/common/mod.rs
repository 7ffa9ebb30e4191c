//! Helpers shared by the lane's tests: a scripted provider, a lane config and work items.

// Each test module uses its own share of these helpers.
#![allow(dead_code)]

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pacer_core::{
    Accounting, Choice, FinishReason, Provider, ProviderError, Request, Response, Usage,
};
use pacer_engine::{LaneConfig, WorkItem};

/// A one-choice reply saying `text`, with 10 input and 5 output tokens.
pub fn ok(text: &str) -> Response {
    Response {
        model_version: None,
        choices: vec![Choice {
            text: text.into(),
            finish_reason: FinishReason::Stop,
            logprobs: None,
            parsed: None,
            tool_calls: Vec::new(),
        }],
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            ..Usage::default()
        },
        rate_limits: None,
        first_token: None,
        embeddings: Vec::new(),
    }
}

/// A provider whose answer is scripted by a closure over (call number, request).
pub struct Scripted<F>(pub F, pub AtomicU64);

impl<F> Scripted<F>
where
    F: Fn(u64, &Request) -> Result<Response, ProviderError> + Send + Sync,
{
    /// The provider; each call takes 100 ms.
    pub fn new(f: F) -> Arc<Self> {
        Arc::new(Self(f, AtomicU64::new(0)))
    }
}

#[async_trait]
impl<F> Provider for Scripted<F>
where
    F: Fn(u64, &Request) -> Result<Response, ProviderError> + Send + Sync,
{
    fn kind(&self) -> &'static str {
        "scripted"
    }
    fn accounting(&self) -> Accounting {
        Accounting::Actual
    }
    async fn send(&self, request: &Request) -> Result<Response, ProviderError> {
        let call = self.1.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        (self.0)(call, request)
    }
}

/// A lane config with `concurrency` workers and a fixed jitter seed.
pub fn config(concurrency: usize) -> LaneConfig {
    let mut config = LaneConfig::new("test");
    config.concurrency = NonZeroUsize::new(concurrency);
    config.jitter_seed = Some(7);
    config
}

/// `n` one-prompt work items, `item-0` …, each with its index as context.
pub fn items(n: usize) -> Vec<WorkItem<usize>> {
    (0..n)
        .map(|i| {
            WorkItem::prompt(
                format!("item-{i}"),
                Request::text("m", None, &format!("prompt {i}")),
                i,
            )
        })
        .collect()
}
