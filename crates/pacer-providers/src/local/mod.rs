//! The `local` provider: a GGUF model run in-process through candle's quantized models, on
//! the CPU. Built only with the `local` cargo feature.
//!
//! - Architectures: `llama` (SmolLM2, Llama 3, ...), `qwen2` and `qwen3`.
//! - Tokenizer: byte-level BPE built from the GGUF's own `tokenizer.ggml.*` metadata
//!   ([`tokenizer`]); `tokens_used` is counted by it.
//! - Chat template: read from `tokenizer.chat_template`; ChatML (SmolLM2, Qwen) and Llama 3
//!   templates are recognised and rendered natively (with the template's default system
//!   prompt); any other template is refused when the model loads.
//! - The model is loaded once per provider and shared by the lane behind a mutex: requests
//!   run one after another on a blocking thread, each from a fresh KV cache. candle already
//!   spreads one forward pass over the CPU's cores.

pub mod tokenizer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2, quantized_qwen3};
use pacer_core::{
    Accounting, Choice, ErrorKind, FinishReason, Message, Provider, ProviderError, Request,
    Response, Role, TokenLogprob, Usage,
};

pub use tokenizer::Tokenizer;

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

enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
}

impl Weights {
    fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::Llama(m) => m.forward(x, pos),
            Weights::Qwen2(m) => m.forward(x, pos),
            Weights::Qwen3(m) => m.forward(x, pos),
        }
    }

    fn clear_kv_cache(&mut self) {
        match self {
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Qwen2(m) => m.clear_kv_cache(),
            Weights::Qwen3(m) => m.clear_kv_cache(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Template {
    /// `<|im_start|>role\ncontent<|im_end|>\n`, with the template's default system prompt.
    ChatMl { default_system: Option<String> },
    /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`.
    Llama3,
}

impl Template {
    fn from_source(source: &str) -> Result<Self, String> {
        if source.contains("<|im_start|>") {
            Ok(Template::ChatMl {
                default_system: default_system(source),
            })
        } else if source.contains("<|start_header_id|>") {
            Ok(Template::Llama3)
        } else {
            Err(
                "its chat template is neither ChatML nor Llama 3's, the two this build renders"
                    .into(),
            )
        }
    }

    fn render(&self, messages: &[Message]) -> String {
        let mut out = String::new();
        match self {
            Template::ChatMl { default_system } => {
                if let Some(system) = default_system
                    && messages.first().is_none_or(|m| m.role != Role::System)
                {
                    out.push_str(&format!("<|im_start|>system\n{system}<|im_end|>\n"));
                }
                for m in messages {
                    out.push_str(&format!(
                        "<|im_start|>{}\n{}<|im_end|>\n",
                        m.role.as_str(),
                        m.content
                    ));
                }
                out.push_str("<|im_start|>assistant\n");
            }
            Template::Llama3 => {
                out.push_str("<|begin_of_text|>");
                for m in messages {
                    out.push_str(&format!(
                        "<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>",
                        m.role.as_str(),
                        m.content.trim()
                    ));
                }
                out.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
        }
        out
    }
}

/// The default system prompt a ChatML template writes when the first message is not a
/// system one (SmolLM2's "You are a helpful AI assistant named SmolLM, ...").
fn default_system(source: &str) -> Option<String> {
    for marker in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
        if let Some(at) = source.find(marker) {
            let rest = &source[at + marker.len()..];
            let end = rest.find("<|im_end|>")?;
            let text = &rest[..end];
            if !text.contains(['{', '}', '\'', '"']) {
                return Some(text.to_string());
            }
        }
    }
    None
}

struct Model {
    weights: Mutex<Weights>,
    tokenizer: Tokenizer,
    template: Template,
    stop_ids: Vec<u32>,
    context_length: usize,
    device: Device,
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

/// The `.gguf` file at `path`, or the one `.gguf` in the folder `path`.
fn gguf_file(path: &Path) -> Result<PathBuf, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_dir() {
        return Ok(path.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot list the folder: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
        })
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err("the folder holds no .gguf file".into()),
        _ => Err(format!(
            "the folder holds {} .gguf files; name one: {}",
            found.len(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn metadata_u32(ct: &gguf_file::Content, key: &str) -> Option<u32> {
    ct.metadata.get(key).and_then(|v| v.to_u32().ok())
}

fn metadata_strings(ct: &gguf_file::Content, key: &str) -> Result<Vec<String>, String> {
    let v = ct
        .metadata
        .get(key)
        .ok_or_else(|| format!("its metadata lacks {key}"))?;
    v.to_vec()
        .map_err(|e| format!("{key}: {e}"))?
        .iter()
        .map(|s| s.to_string().cloned().map_err(|e| format!("{key}: {e}")))
        .collect()
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
        let file_path = gguf_file(&config.model_path).map_err(&fail)?;
        let mut file = File::open(&file_path)
            .map_err(|e| fail(format!("cannot open {}: {e}", file_path.display())))?;
        let ct = gguf_file::Content::read(&mut file)
            .map_err(|e| fail(format!("not a readable GGUF file: {e}")))?;
        let model = load_content(ct, &mut file, device).map_err(fail)?;
        Ok(LocalProvider {
            model: Arc::new(model),
            path: file_path,
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

fn load_content(ct: gguf_file::Content, file: &mut File, device: Device) -> Result<Model, String> {
    let arch = ct
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    let tokenizer_model = ct
        .metadata
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if tokenizer_model != "gpt2" {
        return Err(format!(
            "its tokenizer is {tokenizer_model:?}; this build reads byte-level BPE (\"gpt2\") ones"
        ));
    }
    let tokens = metadata_strings(&ct, "tokenizer.ggml.tokens")?;
    let merges = metadata_strings(&ct, "tokenizer.ggml.merges")?;
    let types: Vec<i32> = match ct.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|t| t.to_i32().unwrap_or(1))
            .collect(),
        None => Vec::new(),
    };
    let pre = ct
        .metadata
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    let split_digits = pre != "gpt2" && !pre.is_empty();
    let tokenizer = Tokenizer::new(tokens, &merges, &types, split_digits)?;
    let template_source = ct
        .metadata
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .ok_or("its metadata lacks tokenizer.chat_template")?;
    let template = Template::from_source(&template_source)?;
    let mut stop_ids: Vec<u32> = [
        "<|im_end|>",
        "<|eot_id|>",
        "<|endoftext|>",
        "<|end_of_text|>",
    ]
    .iter()
    .filter_map(|t| tokenizer.token_id(t))
    .collect();
    stop_ids.extend(metadata_u32(&ct, "tokenizer.ggml.eos_token_id"));
    let context_length = metadata_u32(&ct, &format!("{arch}.context_length")).unwrap_or(2048);
    let weights = match arch.as_str() {
        "llama" => quantized_llama::ModelWeights::from_gguf(ct, file, &device).map(Weights::Llama),
        "qwen2" => quantized_qwen2::ModelWeights::from_gguf(ct, file, &device).map(Weights::Qwen2),
        "qwen3" => quantized_qwen3::ModelWeights::from_gguf(ct, file, &device).map(Weights::Qwen3),
        other => {
            return Err(format!(
                "its architecture {other:?} is not one of llama, qwen2, qwen3"
            ));
        }
    }
    .map_err(|e| format!("cannot load the weights: {e}"))?;
    Ok(Model {
        weights: Mutex::new(weights),
        tokenizer,
        template,
        stop_ids,
        context_length: context_length as usize,
        device,
    })
}

/// What one generation produced.
struct Generated {
    text: String,
    finish: FinishReason,
    logprobs: Vec<TokenLogprob>,
    input_tokens: usize,
    output_tokens: usize,
}

/// Sampling settings of one request.
struct Sampling {
    temperature: f64,
    top_p: f64,
    top_k: usize,
    max_tokens: usize,
    stop: Vec<String>,
    top_logprobs: Option<usize>,
    seed: u64,
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    let log_sum = sum.ln() + max;
    logits.iter().map(|l| l - log_sum).collect()
}

/// The `k` most likely ids, most likely first.
fn top_k_ids(logprobs: &[f32], k: usize) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..logprobs.len()).collect();
    let k = k.min(ids.len());
    let by = |a: &usize, b: &usize| logprobs[*b].total_cmp(&logprobs[*a]).then(a.cmp(b));
    if k < ids.len() && k > 0 {
        ids.select_nth_unstable_by(k - 1, by);
        ids.truncate(k);
    }
    ids.sort_by(by);
    ids
}

fn sample(logits: &[f32], s: &Sampling, rng: &mut fastrand::Rng) -> usize {
    if s.temperature <= 0.0 {
        return top_k_ids(logits, 1)[0];
    }
    let scaled: Vec<f32> = logits
        .iter()
        .map(|l| (f64::from(*l) / s.temperature) as f32)
        .collect();
    let lp = log_softmax(&scaled);
    let k = if s.top_k == 0 { lp.len() } else { s.top_k };
    let ranked = top_k_ids(&lp, k);
    let mut kept = Vec::with_capacity(ranked.len());
    let mut mass = 0.0f64;
    for id in ranked {
        let p = f64::from(lp[id]).exp();
        kept.push((id, p));
        mass += p;
        if mass >= s.top_p {
            break;
        }
    }
    let mut draw = rng.f64() * mass;
    for (id, p) in &kept {
        if draw < *p {
            return *id;
        }
        draw -= p;
    }
    kept.last().map_or(0, |(id, _)| *id)
}

fn candle_error(e: candle_core::Error) -> ProviderError {
    ProviderError::new(ErrorKind::Server, format!("local model: {e}"))
}

impl Model {
    fn generate(&self, prompt: &str, s: &Sampling) -> Result<Generated, ProviderError> {
        let prompt_ids = self.tokenizer.encode(prompt);
        if prompt_ids.len() + s.max_tokens > self.context_length {
            return Err(ProviderError::new(
                ErrorKind::ContextLength,
                format!(
                    "{} prompt tokens + max_tokens {} exceed the model's context of {}",
                    prompt_ids.len(),
                    s.max_tokens,
                    self.context_length
                ),
            ));
        }
        let mut weights = self
            .weights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        weights.clear_kv_cache();
        let mut rng = fastrand::Rng::with_seed(s.seed);
        let mut generated: Vec<u32> = Vec::new();
        let mut logprobs = Vec::new();
        let mut finish = FinishReason::Length;
        let mut text = String::new();
        let mut input = prompt_ids.clone();
        let mut pos = 0;
        while generated.len() < s.max_tokens {
            let x = Tensor::new(input.as_slice(), &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(candle_error)?;
            let logits = weights
                .forward(&x, pos)
                .and_then(|l| l.squeeze(0))
                .and_then(|l| l.to_dtype(candle_core::DType::F32))
                .and_then(|l| l.to_vec1::<f32>())
                .map_err(candle_error)?;
            pos += input.len();
            let next = sample(&logits, s, &mut rng) as u32;
            if let Some(top) = s.top_logprobs
                && generated.len() < LOGPROB_TOKENS
            {
                let lp = log_softmax(&logits);
                let best = top_k_ids(&lp, top);
                logprobs.push(TokenLogprob {
                    token_position: generated.len(),
                    token: self.tokenizer.token_text(next),
                    logprob: f64::from(lp[next as usize]),
                    top_tokens: best
                        .iter()
                        .map(|&i| self.tokenizer.token_text(i as u32))
                        .collect(),
                    top_logprobs: best.iter().map(|&i| f64::from(lp[i])).collect(),
                });
            }
            if self.stop_ids.contains(&next) {
                finish = FinishReason::Stop;
                logprobs.truncate(generated.len());
                break;
            }
            generated.push(next);
            input = vec![next];
            text = self.tokenizer.decode(&generated);
            if let Some(cut) = s
                .stop
                .iter()
                .filter_map(|stop| text.find(stop.as_str()))
                .min()
            {
                text.truncate(cut);
                finish = FinishReason::Stop;
                break;
            }
        }
        Ok(Generated {
            text,
            finish,
            logprobs,
            input_tokens: prompt_ids.len(),
            output_tokens: generated.len(),
        })
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
        let prompt = self.model.template.render(&request.messages);
        self.model.tokenizer.encode(&prompt).len() as u64
    }

    fn max_samples_per_call(&self, _model: &str) -> u32 {
        1
    }

    async fn send(&self, request: &Request) -> Result<Response, ProviderError> {
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
        let prompt = self.model.template.render(&request.messages);
        let model = Arc::clone(&self.model);
        let g = tokio::task::spawn_blocking(move || model.generate(&prompt, &sampling))
            .await
            .map_err(|e| ProviderError::new(ErrorKind::Server, format!("local model: {e}")))??;
        Ok(Response {
            model_version: None,
            choices: vec![Choice {
                text: g.text,
                finish_reason: g.finish,
                logprobs: p.logprobs.then_some(g.logprobs),
                parsed: None,
            }],
            usage: Usage {
                input_tokens: g.input_tokens as u64,
                output_tokens: g.output_tokens as u64,
                ..Usage::default()
            },
            rate_limits: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_template_keeps_the_default_system_prompt() {
        let src = "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are SmolLM<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role']}}";
        let t = Template::from_source(src).unwrap();
        let prompt = t.render(&[Message::new(Role::User, "Hi")]);
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are SmolLM<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let own = t.render(&[
            Message::new(Role::System, "Be brief."),
            Message::new(Role::User, "Hi"),
        ]);
        assert!(own.starts_with("<|im_start|>system\nBe brief.<|im_end|>"));
        assert!(Template::from_source("[INST] {{ m }} [/INST]").is_err());
    }

    #[test]
    fn sampling_is_greedy_at_zero_and_seeded_otherwise() {
        let logits = [0.1f32, 2.0, 1.9, -1.0];
        let mut s = Sampling {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            max_tokens: 1,
            stop: vec![],
            top_logprobs: None,
            seed: 7,
        };
        assert_eq!(sample(&logits, &s, &mut fastrand::Rng::with_seed(1)), 1);
        s.temperature = 1.0;
        let draws = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..20)
                .map(|_| sample(&logits, &s, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        s.top_p = 0.1;
        let mut rng = fastrand::Rng::with_seed(3);
        assert!((0..20).all(|_| sample(&logits, &s, &mut rng) == 1));
        let lp = log_softmax(&logits);
        assert_eq!(top_k_ids(&lp, 3), [1, 2, 0]);
        assert!(lp.iter().all(|l| *l <= 0.0));
    }

    #[test]
    fn a_missing_or_corrupt_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.gguf");
        let err = LocalProvider::load(&LocalConfig {
            model_path: missing.clone(),
            device: "cpu".into(),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");
        let corrupt = dir.path().join("bad.gguf");
        std::fs::write(&corrupt, b"this is not a gguf file at all").unwrap();
        let err = LocalProvider::load(&LocalConfig {
            model_path: corrupt.clone(),
            device: "cpu".into(),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains(&corrupt.display().to_string()), "{err}");
        assert!(err.contains("GGUF"), "{err}");
        let empty = LocalProvider::load(&LocalConfig {
            model_path: dir.path().join("sub"),
            device: "gpu".into(),
        })
        .unwrap_err()
        .to_string();
        assert!(empty.contains("cpu"), "{empty}");
    }
}
