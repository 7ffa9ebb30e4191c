//! Loading a GGUF file: the weights through candle's quantized models, the tokenizer and the
//! chat template from its metadata.

use std::fs::File;
use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2, quantized_qwen3};

use super::template::ChatTemplate;
use super::tokenizer::{Tokenizer, Vocabulary};

/// The weights of one of the architectures this build runs.
pub(super) enum Weights {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
    Qwen3(quantized_qwen3::ModelWeights),
}

impl Weights {
    /// The logits after `x`, the tokens from position `pos` on.
    pub(super) fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::Llama(m) => m.forward(x, pos),
            Weights::Qwen2(m) => m.forward(x, pos),
            Weights::Qwen3(m) => m.forward(x, pos),
        }
    }

    pub(super) fn clear_kv_cache(&mut self) {
        match self {
            Weights::Llama(m) => m.clear_kv_cache(),
            Weights::Qwen2(m) => m.clear_kv_cache(),
            Weights::Qwen3(m) => m.clear_kv_cache(),
        }
    }
}

/// A loaded model: its weights (one generation at a time) and what reads and writes its text.
pub(super) struct Model {
    pub(super) weights: Mutex<Weights>,
    pub(super) tokenizer: Tokenizer,
    pub(super) template: ChatTemplate,
    /// The BOS id, when the GGUF asks for it before every prompt and the template does not
    /// write it.
    pub(super) bos_id: Option<u32>,
    /// Ids that end the answer: EOS and the templates' end-of-turn tokens.
    pub(super) stop_ids: Vec<u32>,
    pub(super) context_length: usize,
    pub(super) device: Device,
}

/// The `.gguf` file at `path`, or the one `.gguf` in the folder `path`.
pub(super) fn gguf_file(path: &Path) -> Result<PathBuf, String> {
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
        n => {
            let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            Err(format!(
                "the folder holds {n} .gguf files; name one: {}",
                names.join(", ")
            ))
        }
    }
}

fn string(ct: &gguf_file::Content, key: &str) -> Option<String> {
    ct.metadata.get(key)?.to_string().ok().cloned()
}

fn number(ct: &gguf_file::Content, key: &str) -> Option<u32> {
    ct.metadata.get(key)?.to_u32().ok()
}

fn strings(ct: &gguf_file::Content, key: &str) -> Result<Vec<String>, String> {
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

/// The tokenizer, from `tokenizer.ggml.*`.
fn tokenizer(ct: &gguf_file::Content) -> Result<Tokenizer, String> {
    let model = string(ct, "tokenizer.ggml.model").unwrap_or_default();
    if model != "gpt2" {
        return Err(format!(
            "its tokenizer is {model:?}; this build reads byte-level BPE (\"gpt2\") ones"
        ));
    }
    let types = match ct.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()
            .map_err(|e| format!("tokenizer.ggml.token_type: {e}"))?
            .iter()
            .map(|t| t.to_i32().unwrap_or(1))
            .collect(),
        None => Vec::new(),
    };
    Tokenizer::new(&Vocabulary {
        tokens: strings(ct, "tokenizer.ggml.tokens")?,
        merges: strings(ct, "tokenizer.ggml.merges")?,
        types,
        pre: string(ct, "tokenizer.ggml.pre").unwrap_or_default(),
    })
}

/// Reads the file's metadata and weights.
pub(super) fn load(file_path: &Path, device: Device) -> Result<Model, String> {
    let mut file =
        File::open(file_path).map_err(|e| format!("cannot open {}: {e}", file_path.display()))?;
    let ct = gguf_file::Content::read(&mut file)
        .map_err(|e| format!("not a readable GGUF file: {e}"))?;
    let arch = string(&ct, "general.architecture").unwrap_or_default();
    if !matches!(arch.as_str(), "llama" | "qwen2" | "qwen3") {
        return Err(format!(
            "its architecture {arch:?} is not one of llama, qwen2, qwen3"
        ));
    }
    let tokenizer = tokenizer(&ct)?;
    let token = |key: &str| {
        number(&ct, key)
            .map(|id| tokenizer.token_text(id))
            .unwrap_or_default()
    };
    let (bos, eos) = (
        token("tokenizer.ggml.bos_token_id"),
        token("tokenizer.ggml.eos_token_id"),
    );
    let source = string(&ct, "tokenizer.chat_template")
        .ok_or("its metadata lacks tokenizer.chat_template")?;
    let template = ChatTemplate::new(source, bos, eos)?;
    let add_bos = ct
        .metadata
        .get("tokenizer.ggml.add_bos_token")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(false);
    let bos_id = number(&ct, "tokenizer.ggml.bos_token_id").filter(|_| add_bos);
    let mut stop_ids: Vec<u32> = [
        "<|im_end|>",
        "<|eot_id|>",
        "<|endoftext|>",
        "<|end_of_text|>",
    ]
    .iter()
    .filter_map(|t| tokenizer.token_id(t))
    .collect();
    stop_ids.extend(number(&ct, "tokenizer.ggml.eos_token_id"));
    let context_length = number(&ct, &format!("{arch}.context_length")).unwrap_or(2048);
    let weights =
        match expanded(&ct, &mut file).map_err(|e| format!("cannot expand the weights: {e}"))? {
            Some((ct, mut buffer)) => weights(&arch, ct, &mut buffer, &device),
            None => weights(&arch, ct, &mut file, &device),
        }
        .map_err(|e| format!("cannot load the weights: {e}"))?;
    Ok(Model {
        weights: Mutex::new(weights),
        tokenizer,
        template,
        bos_id,
        stop_ids,
        context_length: context_length as usize,
        device,
    })
}

fn weights<R: Read + Seek>(
    arch: &str,
    ct: gguf_file::Content,
    reader: &mut R,
    device: &Device,
) -> candle_core::Result<Weights> {
    Ok(match arch {
        "llama" => Weights::Llama(quantized_llama::ModelWeights::from_gguf(
            ct, reader, device,
        )?),
        "qwen2" => Weights::Qwen2(quantized_qwen2::ModelWeights::from_gguf(
            ct, reader, device,
        )?),
        _ => Weights::Qwen3(quantized_qwen3::ModelWeights::from_gguf(
            ct, reader, device,
        )?),
    })
}

/// Whether candle computes this type's dot products one value at a time: it has SIMD kernels
/// for Q4_0, Q8_0 and the K-quants, not for Q4_1, Q5_0 and Q5_1.
fn slow_kernel(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

/// The most memory the F32 copies of slow-kernel tensors may take (a model of about 250M
/// weights in those types); larger models keep them as they are.
const F32_LIMIT_BYTES: usize = 1 << 30;

/// The model with its Q4_1/Q5_0/Q5_1 tensors expanded to F32, in memory; `None` when it has
/// none, or when they would take more than [`F32_LIMIT_BYTES`]. The expansion is exact (each
/// weight is its block's `d * q + m`, as the file means it), and the products then run as F32
/// matrix products (gemm, SIMD) instead of candle's one-value-at-a-time Q4_1 loop, which also
/// rounds the activations to 8 bits: SmolLM2-135M Q4_1 goes from about 10 to 28 tokens/s on
/// two cores, for 6.4 times the memory of those tensors (106M weights: 66 MB → 425 MB).
pub(super) fn expanded(
    ct: &gguf_file::Content,
    file: &mut File,
) -> candle_core::Result<Option<(gguf_file::Content, Cursor<Vec<u8>>)>> {
    let slow: usize = ct
        .tensor_infos
        .values()
        .filter(|t| slow_kernel(t.ggml_dtype))
        .map(|t| t.shape.elem_count() * 4)
        .sum();
    if slow == 0 || slow > F32_LIMIT_BYTES {
        return Ok(None);
    }
    let mut names: Vec<&String> = ct.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let tensor = ct.tensor(file, name, &Device::Cpu)?;
        let tensor = if slow_kernel(tensor.dtype()) {
            QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::F32)?
        } else {
            tensor
        };
        tensors.push((name.as_str(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> =
        ct.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (*k, v)).collect();
    let mut buffer = Cursor::new(Vec::new());
    gguf_file::write(&mut buffer, &metadata, &tensors)?;
    buffer.set_position(0);
    let content = gguf_file::Content::read(&mut buffer)?;
    Ok(Some((content, buffer)))
}
