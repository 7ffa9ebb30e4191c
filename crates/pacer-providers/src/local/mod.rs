//! The `local` provider: a GGUF model run in-process through candle's quantized models, on
//! the CPU. Built only with the `local` cargo feature.
//!
//! - Architectures: `llama` (SmolLM2, Llama 3, ...), `qwen2` and `qwen3`.
//! - Tokenizer: Hugging Face's byte-level BPE built from the GGUF's own `tokenizer.ggml.*`
//!   metadata; `tokens_used` is counted by it.
//! - Chat template: the GGUF's `tokenizer.chat_template`, rendered by minijinja.
//! - The model is loaded once per provider and shared by the lane behind a mutex: requests
//!   run one after another on a blocking thread, each from a fresh KV cache. candle already
//!   spreads one forward pass over the CPU's cores.

mod generate;
mod model;
mod template;
mod tokenizer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use candle_core::Device;
use pacer_core::{
    Accounting, Choice, ErrorKind, Provider, ProviderError, Request, Response, Usage,
};

use generate::Sampling;
use model::Model;

/// Log-probabilities are recorded for the first this many generated tokens.
pub const LOGPROB_TOKENS: usize = 50;
/// `max_tokens` when the request gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// Where the model is and what runs it.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// A `.gguf` file, or a folder holding exactly one.
    pub model_path: PathBuf,
    /// `"cpu"` (the only device of this build).
    pub device: String,
}

/// Why a model could not be loaded; the message names the path.
#[derive(Debug, thiserror::Error)]
#[error("local model {path}: {reason}")]
pub struct LoadError {
    /// The path as configured.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// A GGUF model in-process.
pub struct LocalProvider {
    model: Arc<Model>,
    path: PathBuf,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LocalProvider {
    /// Loads the model; every failure names the path.
    pub fn load(config: &LocalConfig) -> Result<Self, LoadError> {
        let fail = |reason: String| LoadError {
            path: config.model_path.clone(),
            reason,
        };
        let device = match config.device.as_str() {
            "" | "cpu" => Device::Cpu,
            other => {
                return Err(fail(format!(
                    "device {other:?} is not supported: this build runs models on \"cpu\""
                )));
            }
        };
        let path = model::gguf_file(&config.model_path).map_err(&fail)?;
        let model = model::load(&path, device).map_err(fail)?;
        Ok(LocalProvider {
            model: Arc::new(model),
            path,
        })
    }

    /// The `.gguf` file the model came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tokens in `text` by the model's own tokenizer.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.model.tokenizer.encode(text).len()
    }
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn accounting(&self) -> Accounting {
        Accounting::Actual
    }

    fn estimate_input_tokens(&self, request: &Request) -> u64 {
        // A template that refuses the messages fails the request when it is sent.
        match self.model.template.render(&request.messages) {
            Ok(prompt) => self.model.prompt_ids(&prompt).len() as u64,
            Err(_) => 0,
        }
    }

    fn max_samples_per_call(&self, _model: &str) -> u32 {
        1
    }

    fn default_max_tokens(&self) -> u32 {
        // What `send` generates at most when the request sets no cap.
        DEFAULT_MAX_TOKENS
    }

    async fn send(&self, request: &Request) -> Result<Response, ProviderError> {
        refuse_what_it_cannot_take(request)?;
        let p = &request.params;
        let sampling = Sampling {
            temperature: p.temperature.unwrap_or(1.0),
            top_p: p.top_p.unwrap_or(1.0),
            top_k: p.top_k.unwrap_or(0) as usize,
            max_tokens: p.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS) as usize,
            stop: p.stop.clone(),
            top_logprobs: p
                .logprobs
                .then(|| usize::from(p.top_logprobs.unwrap_or(5)).clamp(1, 20)),
            seed: p.seed.unwrap_or_else(|| fastrand::u64(..)),
        };
        let prompt =
            self.model.template.render(&request.messages).map_err(|e| {
                ProviderError::new(ErrorKind::BadRequest, format!("local model: {e}"))
            })?;
        let model = Arc::clone(&self.model);
        // Dropping this future (a timeout) sets the flag, and the blocking generation stops at
        // its next token instead of holding the model for an answer nobody awaits.
        let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
        let cancelled = Arc::clone(&cancel.0);
        let g = tokio::task::spawn_blocking(move || model.generate(&prompt, &sampling, &cancelled))
            .await
            .map_err(|e| ProviderError::new(ErrorKind::Server, format!("local model: {e}")))??;
        Ok(Response {
            // The weights' file, for the record: which quantization answered.
            model_version: self
                .path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned()),
            choices: vec![Choice {
                text: g.text,
                finish_reason: g.finish,
                logprobs: p.logprobs.then_some(g.logprobs),
                parsed: None,
                tool_calls: Vec::new(),
            }],
            usage: Usage {
                input_tokens: g.input_tokens as u64,
                output_tokens: g.output_tokens as u64,
                ..Usage::default()
            },
            rate_limits: None,
            embeddings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;

/// Refuses what a local text model cannot take: images, tools, embeddings. A bad request:
/// never retried, and the record says why.
fn refuse_what_it_cannot_take(request: &Request) -> Result<(), ProviderError> {
    let refusal = if request.is_embedding() {
        Some("embeddings")
    } else if request.has_images() {
        Some("images")
    } else if !request.params.tools.is_empty()
        || request
            .messages
            .iter()
            .any(|m| m.role == pacer_core::Role::Tool)
    {
        Some("tools")
    } else {
        None
    };
    match refusal {
        Some(what) => Err(ProviderError::new(
            ErrorKind::BadRequest,
            format!("the local provider takes text conversations only, not {what}"),
        )),
        None => Ok(()),
    }
}
