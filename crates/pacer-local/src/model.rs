//! A loaded model: the network's weights (from a GGUF file or a Hugging Face folder), its
//! tokenizer, chat template and stop tokens; and how its weights are held (exact or fast).

use std::path::{Path, PathBuf};

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};

use super::net::{Layer, Linear, Net, Shape};
use super::template::ChatTemplate;
use super::tokenizer::Tokenizer;
use super::{LoadError, LocalConfig, Precision};

/// A loaded model: its weights and what reads and writes its text.
pub(super) struct Model {
    pub(super) net: Net,
    pub(super) tokenizer: Tokenizer,
    pub(super) template: ChatTemplate,
    /// The BOS id, when the model asks for it before every prompt and the template does not
    /// write it.
    pub(super) bos_id: Option<u32>,
    /// Ids that end the answer: EOS and the templates' end-of-turn tokens.
    pub(super) stop_ids: Vec<u32>,
    pub(super) context_length: usize,
    /// How the weights are held.
    pub(super) precision: Precision,
    /// The file (GGUF) or folder (Hugging Face) the weights came from.
    pub(super) source: PathBuf,
}

impl Model {
    /// The prompt's ids: the rendered template, with BOS first where the model asks for it.
    pub(super) fn prompt_ids(&self, prompt: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let bos = self.template.bos_token();
        if let Some(id) = self.bos_id
            && (bos.is_empty() || !prompt.starts_with(bos))
        {
            ids.push(id);
        }
        ids.extend(self.tokenizer.encode(prompt));
        ids
    }
}

/// Loads the model at `config.model_path`: a `.gguf` file, a folder holding one, or a Hugging
/// Face model folder (`config.json`).
pub(super) fn load(config: &LocalConfig) -> Result<Model, LoadError> {
    let path = &config.model_path;
    let fail = |path: &Path, reason: String| LoadError {
        path: path.to_path_buf(),
        reason,
    };
    if path.is_dir() && path.join("config.json").is_file() {
        return super::hf::load(path, config).map_err(|e| fail(path, e));
    }
    let file = super::gguf::file(path).map_err(|e| fail(path, e))?;
    super::gguf::load(&file, config).map_err(|e| fail(&file, e))
}

/// One tensor as the file holds it.
pub(super) enum Stored {
    /// GGUF: quantized blocks, or F32/F16.
    Blocks(QTensor),
    /// safetensors: F32, F16 or BF16.
    Plain(Tensor),
}

impl Stored {
    fn dims(&self) -> Vec<usize> {
        match self {
            Stored::Blocks(t) => t.shape().dims().to_vec(),
            Stored::Plain(t) => t.dims().to_vec(),
        }
    }

    /// Every value as F32, exactly (a block's `d · q + m` as the file means it).
    fn values(&self) -> candle_core::Result<Vec<f32>> {
        let t = match self {
            Stored::Blocks(t) => t.dequantize(&Device::Cpu)?,
            Stored::Plain(t) => t.to_dtype(DType::F32)?,
        };
        t.flatten_all()?.to_vec1::<f32>()
    }

    /// For `precision = "fast"`: blocks candle has SIMD kernels for (Q4_0, Q8_0, K-quants) as
    /// they are; Q4_1, Q5_0, Q5_1 (which candle computes one value at a time) and plain
    /// F32/F16/BF16 requantized to Q8_0.
    fn fast(self) -> candle_core::Result<(QMatMul, usize)> {
        let dims = self.dims();
        let (out, k) = (dims[0], dims.get(1).copied().unwrap_or(1));
        let q = match self {
            Stored::Blocks(t)
                if !matches!(
                    t.dtype(),
                    GgmlDType::Q4_1
                        | GgmlDType::Q5_0
                        | GgmlDType::Q5_1
                        | GgmlDType::F32
                        | GgmlDType::F16
                        | GgmlDType::BF16
                ) =>
            {
                t
            }
            other if k.is_multiple_of(32) => {
                let t = Tensor::from_vec(other.values()?, (out, k), &Device::Cpu)?;
                QTensor::quantize(&t, GgmlDType::Q8_0)?
            }
            other => {
                let t = Tensor::from_vec(other.values()?, (out, k), &Device::Cpu)?;
                QTensor::quantize(&t, GgmlDType::F32)?
            }
        };
        Ok((QMatMul::from_qtensor(q)?, out))
    }
}

/// Where a model's tensors come from, by their role in the network.
pub(super) trait Tensors {
    /// The tensor of `role` (GGUF's names: `attn_q.weight`, `token_embd.weight`, ...) in layer
    /// `layer` (or outside the layers), if the file has it.
    fn get(&mut self, layer: Option<usize>, role: &str) -> Result<Option<Stored>, String>;

    /// Whether the file has that tensor (without reading it).
    fn has(&self, layer: Option<usize>, role: &str) -> bool;

    /// The file's own name of that tensor, for messages.
    fn name(&self, layer: Option<usize>, role: &str) -> String;

    /// Tensors of the file never asked for: weights this build would silently leave out.
    fn unused(&self) -> Vec<String>;

    /// Total values of every tensor: their size as F32 is four bytes each.
    fn elements(&self) -> usize;
}

/// Decides the precision: the configured one, else exact where the F32 weights fit the budget.
pub(super) fn precision(config: &LocalConfig, elements: usize) -> Precision {
    config.precision.unwrap_or({
        if (elements as u64).saturating_mul(4) <= config.exact_limit_bytes {
            Precision::Exact
        } else {
            Precision::Fast
        }
    })
}

/// Reads tensors by role, checking each one's shape, into the network's parts.
struct Reader<'a> {
    tensors: &'a mut dyn Tensors,
    precision: Precision,
}

fn read_error(e: candle_core::Error) -> String {
    format!("cannot read the weights: {e}")
}

impl Reader<'_> {
    fn maybe(
        &mut self,
        layer: Option<usize>,
        role: &str,
        dims: &[usize],
    ) -> Result<Option<Stored>, String> {
        let Some(t) = self.tensors.get(layer, role)? else {
            return Ok(None);
        };
        if t.dims() != dims {
            return Err(format!(
                "tensor {} is {:?}; the configured sizes need {dims:?}",
                self.tensors.name(layer, role),
                t.dims()
            ));
        }
        Ok(Some(t))
    }

    fn need(&mut self, layer: Option<usize>, role: &str, dims: &[usize]) -> Result<Stored, String> {
        self.maybe(layer, role, dims)?
            .ok_or_else(|| format!("it lacks the tensor {}", self.tensors.name(layer, role)))
    }

    fn vector(&mut self, layer: Option<usize>, role: &str, n: usize) -> Result<Vec<f32>, String> {
        self.need(layer, role, &[n])?.values().map_err(read_error)
    }

    /// The matrices of `roles`, each `[out, k]`, fused one after another.
    fn linear(
        &mut self,
        layer: Option<usize>,
        roles: &[(&str, usize)],
        k: usize,
    ) -> Result<Linear, String> {
        let mut parts = Vec::new();
        for (role, out) in roles {
            parts.push((self.need(layer, role, &[*out, k])?, *out));
        }
        match self.precision {
            Precision::Exact => {
                let mut w = Vec::new();
                for (part, _) in &parts {
                    w.extend(part.values().map_err(read_error)?);
                }
                let out = roles.iter().map(|(_, n)| n).sum();
                Ok(Linear::Exact { w, out, k })
            }
            Precision::Fast => Ok(Linear::Quantized {
                parts: parts
                    .into_iter()
                    .map(|(t, _)| t.fast())
                    .collect::<candle_core::Result<_>>()
                    .map_err(read_error)?,
                k,
            }),
        }
    }
}

/// The network from `tensors`, its weights held as `precision` says; `tied`: the output head
/// is the token embedding when the file has no head of its own.
pub(super) fn build(
    tensors: &mut dyn Tensors,
    shape: Shape,
    layers: usize,
    precision: Precision,
    tied: bool,
) -> Result<Net, String> {
    let s = &shape;
    let (dim, hd) = (s.dim, s.head_dim);
    let (q, kv) = (s.heads * hd, s.kv_heads * hd);
    let mut r = Reader { tensors, precision };
    let embed = r
        .need(None, "token_embd.weight", &[s.vocab, dim])?
        .values()
        .map_err(read_error)?;
    let mut built = Vec::with_capacity(layers);
    for l in 0..layers {
        let at = Some(l);
        let biases = [("attn_q.bias", q), ("attn_k.bias", kv), ("attn_v.bias", kv)];
        let mut found = Vec::new();
        for (role, n) in biases {
            found.push(r.maybe(at, role, &[n])?);
        }
        let qkv_bias = match found.iter().filter(|b| b.is_some()).count() {
            0 => None,
            3 => {
                let mut b = Vec::new();
                for t in found.into_iter().flatten() {
                    b.extend(t.values().map_err(read_error)?);
                }
                Some(b)
            }
            _ => {
                return Err(format!(
                    "layer {l} has biases for some of q, k and v but not all ({})",
                    r.tensors.name(at, "attn_q.bias")
                ));
            }
        };
        let q_norm = r.maybe(at, "attn_q_norm.weight", &[hd])?;
        let k_norm = r.maybe(at, "attn_k_norm.weight", &[hd])?;
        built.push(Layer {
            attn_norm: r.vector(at, "attn_norm.weight", dim)?,
            qkv: r.linear(
                at,
                &[
                    ("attn_q.weight", q),
                    ("attn_k.weight", kv),
                    ("attn_v.weight", kv),
                ],
                dim,
            )?,
            qkv_bias,
            q_norm: q_norm.map(|t| t.values()).transpose().map_err(read_error)?,
            k_norm: k_norm.map(|t| t.values()).transpose().map_err(read_error)?,
            o: r.linear(at, &[("attn_output.weight", dim)], q)?,
            ffn_norm: r.vector(at, "ffn_norm.weight", dim)?,
            gate_up: r.linear(
                at,
                &[("ffn_gate.weight", s.ff), ("ffn_up.weight", s.ff)],
                dim,
            )?,
            down: r.linear(at, &[("ffn_down.weight", dim)], s.ff)?,
        });
    }
    let norm = r.vector(None, "output_norm.weight", dim)?;
    let head = if r.tensors.has(None, "output.weight") {
        Some(r.linear(None, &[("output.weight", s.vocab)], dim)?)
    } else if !tied {
        return Err(format!(
            "it lacks the tensor {} (and does not tie it to the token embedding)",
            r.tensors.name(None, "output.weight")
        ));
    } else if precision == Precision::Exact {
        // The token embedding's F32 copy serves as the head too (`Net::forward`).
        None
    } else {
        Some(r.linear(None, &[("token_embd.weight", s.vocab)], dim)?)
    };
    let unused = r.tensors.unused();
    if !unused.is_empty() {
        return Err(format!(
            "tensors this build does not know what to do with (it would leave them out and \
             compute something else): {}",
            unused.join(", ")
        ));
    }
    Ok(Net {
        shape,
        embed,
        layers: built,
        norm,
        head,
    })
}
