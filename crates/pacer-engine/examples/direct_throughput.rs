//! Direct-call items through one lane, each call returning at once: the engine's cost per
//! item, the figure `bench/python.sh` sets beside the same through the Python package.
//!
//!     cargo run --release -p pacer-engine --example direct_throughput [ITEMS] [WORKERS]

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use pacer_core::{Choice, FinishReason, Response, Usage};
use pacer_engine::{Lane, LaneConfig, WorkItem};
use pacer_providers::MockProvider;

fn main() {
    let mut args = std::env::args().skip(1);
    let items: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let config = LaneConfig {
            concurrency: NonZeroUsize::new(workers),
            ..LaneConfig::new("direct")
        };
        let lane = Lane::builder(config, Arc::new(MockProvider::default())).build();
        let work = (0..items).map(|i| {
            WorkItem::direct(
                format!("item-{i}"),
                |_attempt| {
                    Box::pin(async {
                        Ok(Response {
                            model_version: None,
                            choices: vec![Choice::text("ok", FinishReason::Stop)],
                            embeddings: Vec::new(),
                            usage: Usage {
                                input_tokens: 1,
                                output_tokens: 1,
                                ..Usage::default()
                            },
                            rate_limits: None,
                            first_token: None,
                        })
                    })
                },
                (),
            )
        });
        let started = Instant::now();
        let mut ok = 0;
        let stats = lane
            .process_all(work, |outcome| ok += usize::from(outcome.is_ok()))
            .await;
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!((stats.total as usize, ok), (items, items));
        println!(
            "rust library: {items} direct-call items on {workers} workers in {seconds:.3} s: {:.0} items/s",
            items as f64 / seconds
        );
    });
}
