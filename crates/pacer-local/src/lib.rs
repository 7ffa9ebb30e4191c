//! The `local` provider: a model run in-process on the CPU, from a GGUF file or a Hugging Face
//! model folder. Built only with the `local` cargo feature.
//!
//! - Architectures: `llama` (SmolLM2, Llama 3, ...), `qwen2` and `qwen3`.
//! - Weights: **exact** (every tensor expanded to F32, as an exact-dequantizing reference such
//!   as transformers computes) where they fit [`LocalConfig::exact_limit_bytes`], else **fast**
//!   (quantized blocks through candle's kernels, activations rounded to 8 bits as llama.cpp
//!   does); `precision` in the config chooses.
//! - Batched: a lane's requests decode together, one forward pass per step over every active
//!   sequence, each with its own KV cache (`batch.rs`, `net.rs`).
//! - Tokenizer: Hugging Face's `tokenizers`, from the GGUF's `tokenizer.ggml.*` metadata or the
//!   folder's `tokenizer.json`; `tokens_used` is counted by it.
//! - Chat template: the GGUF's `tokenizer.chat_template` or the folder's, rendered by
//!   minijinja.

mod batch;
mod generate;
mod gguf;
mod hf;
mod kernel;
mod model;
mod net;
mod template;
mod tokenizer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use pacer_core::{
    Accounting, Choice, ErrorKind, Provider, ProviderError, Request, Response, Usage,
};
use tokio::sync::oneshot;

use batch::{Batcher, Job};
use generate::Sampling;
use model::Model;

/// Log-probabilities are recorded for the first this many generated tokens.
pub const LOGPROB_TOKENS: usize = 50;
/// `max_tokens` when the request gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 256;
/// Sequences decoded together by default: the lane's concurrency for a local model. On the
/// 2-core reference machine SmolLM2-135M (exact) gives the most tokens per second at 16
/// (`bench/local.sh`).
pub const DEFAULT_BATCH: usize = 16;
/// The F32 weights' size up to which a model runs exact by default: 2 GiB, models of up to
/// about 500M weights.
pub const DEFAULT_EXACT_LIMIT_BYTES: u64 = 2 << 30;

/// How the weights are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Every tensor expanded to F32 exactly: the numbers of an exact-dequantizing reference.
    Exact,
    /// Quantized blocks as the file has them (Q4_1, Q5_0, Q5_1 and plain weights requantized
    /// to Q8_0), activations rounded to 8 bits: less memory, faster for one sequence, logprobs
    /// off by a few hundredths.
    Fast,
}

impl Precision {
    /// `"exact"` or `"fast"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Exact => "exact",
            Precision::Fast => "fast",
        }
    }

    /// Reads `"exact"` or `"fast"`.
    pub fn parse(s: &str) -> Option<Precision> {
        match s {
            "exact" => Some(Precision::Exact),
            "fast" => Some(Precision::Fast),
            _ => None,
        }
    }
}

/// Where the model is and what runs it.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// A `.gguf` file, a folder holding exactly one, or a Hugging Face model folder
    /// (`config.json`, `*.safetensors`, `tokenizer.json`, `tokenizer_config.json`).
    pub model_path: PathBuf,
    /// `"cpu"` (the only device of this build).
    pub device: String,
    /// `None`: exact where the F32 weights fit `exact_limit_bytes`, else fast.
    pub precision: Option<Precision>,
    /// See [`DEFAULT_EXACT_LIMIT_BYTES`].
    pub exact_limit_bytes: u64,
    /// The most sequences decoded together; more requests wait their turn.
    pub batch: usize,
}

impl LocalConfig {
    /// The model at `model_path`, on the CPU, with the defaults.
    pub fn new(model_path: impl Into<PathBuf>) -> LocalConfig {
        LocalConfig {
            model_path: model_path.into(),
            device: "cpu".into(),
            precision: None,
            exact_limit_bytes: DEFAULT_EXACT_LIMIT_BYTES,
            batch: DEFAULT_BATCH,
        }
    }
}

/// Why a model could not be loaded; the message names the path.
#[derive(Debug, thiserror::Error)]
#[error("local model {path}: {reason}")]
pub struct LoadError {
    /// The path as configured, or the file in it that is wrong.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// A model in-process.
pub struct LocalProvider {
    model: Arc<Model>,
    batcher: Batcher,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("path", &self.model.source)
            .field("precision", &self.model.precision)
            .finish_non_exhaustive()
    }
}

impl LocalProvider {
    /// Loads the model and starts its thread; every failure names the path.
    pub fn load(config: &LocalConfig) -> Result<Self, LoadError> {
        if !matches!(config.device.as_str(), "" | "cpu") {
            return Err(LoadError {
                path: config.model_path.clone(),
                reason: format!(
                    "device {:?} is not supported: this build runs models on \"cpu\"",
                    config.device
                ),
            });
        }
        let model = Arc::new(model::load(config)?);
        let batcher = Batcher::start(Arc::clone(&model), config.batch).map_err(|e| LoadError {
            path: config.model_path.clone(),
            reason: format!("cannot start its thread: {e}"),
        })?;
        Ok(LocalProvider { model, batcher })
    }

    /// The `.gguf` file or Hugging Face folder the model came from.
    pub fn path(&self) -> &Path {
        &self.model.source
    }

    /// How the weights are held.
    pub fn precision(&self) -> Precision {
        self.model.precision
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
            // An empty stop string would end every answer before it begins.
            stop: p.stop.iter().filter(|s| !s.is_empty()).cloned().collect(),
            top_logprobs: p
                .logprobs
                .then(|| usize::from(p.top_logprobs.unwrap_or(5)).clamp(1, 20)),
            seed: p.seed.unwrap_or_else(|| fastrand::u64(..)),
        };
        let prompt =
            self.model.template.render(&request.messages).map_err(|e| {
                ProviderError::new(ErrorKind::BadRequest, format!("local model: {e}"))
            })?;
        let prompt_ids = self.model.prompt_ids(&prompt);
        if prompt_ids.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::BadRequest,
                "local model: the prompt is empty (the chat template wrote no tokens)",
            ));
        }
        let vocab = self.model.net.shape.vocab;
        if let Some(id) = prompt_ids.iter().find(|id| **id as usize >= vocab) {
            return Err(ProviderError::new(
                ErrorKind::BadRequest,
                format!(
                    "local model: the tokenizer gave id {id}, past the model's {vocab} embeddings"
                ),
            ));
        }
        let context = self.model.context_length;
        if prompt_ids.len() + sampling.max_tokens > context {
            return Err(ProviderError::new(
                ErrorKind::ContextLength,
                format!(
                    "{} prompt tokens + max_tokens {} exceed the model's context of {context}",
                    prompt_ids.len(),
                    sampling.max_tokens,
                ),
            ));
        }
        // Dropping this future (a timeout) sets the flag, and the sequence leaves the batch
        // at its next step instead of decoding an answer nobody awaits.
        let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
        let (reply, answer) = oneshot::channel();
        self.batcher.submit(Job {
            prompt_ids,
            sampling,
            cancelled: Arc::clone(&cancel.0),
            reply,
            sent: std::time::Instant::now(),
        })?;
        let g = answer.await.map_err(|_| {
            ProviderError::new(ErrorKind::Server, "local model: its thread has stopped")
        })??;
        Ok(Response {
            // For the record: which weights answered, and how they were computed.
            model_version: self.model.source.file_name().map(|name| {
                format!(
                    "{} ({})",
                    name.to_string_lossy(),
                    self.model.precision.as_str()
                )
            }),
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
            first_token: g.first_token,
            embeddings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod folder_tests;
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
