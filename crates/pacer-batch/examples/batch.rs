//! A batch from Rust: the prompts of `examples/prompts.jsonl` on an OpenAI-compatible model
//! (three samples each) and the in-process mock, into `pacer-results/library`, resumable.
//!
//! ```sh
//! pacer mock --port 8000 &                     # or a real key and no OPENAI_BASE_URL
//! OPENAI_BASE_URL=http://127.0.0.1:8000/v1 cargo run -p pacer-batch --example batch
//! ```

use std::sync::Arc;

use pacer_batch::{Batch, BatchModel, OpenMode};
use pacer_providers::MockProvider;
use pacer_providers::openai::{OpenAiConfig, OpenAiProvider};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = OpenAiConfig::new(std::env::var("OPENAI_API_KEY").ok());
    if let Ok(url) = std::env::var("OPENAI_BASE_URL") {
        config.base_url = url;
    }
    let mut gpt = BatchModel::new("gpt-4o-mini", Arc::new(OpenAiProvider::new(config)?)).samples(3);
    gpt.lane.limits.rpm = std::num::NonZeroU64::new(500); // or leave it: learned from headers
    let report = Batch::new("examples/prompts.jsonl", "pacer-results/library")
        .model(gpt)
        .model(BatchModel::new("mock", Arc::new(MockProvider::default())))
        .mode(OpenMode::Resume {
            retry_failed: false,
        }) // skips what the folder already holds
        .budget(None, Some(2_000_000)) // tokens, over every session
        .run()
        .await?;
    println!("{}", pacer_batch::table(&report.summary));
    Ok(())
}
