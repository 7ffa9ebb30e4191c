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

fn need(tensors: &mut dyn Tensors, layer: Option<usize>, role: &str) -> Result<Stored, String> {
    tensors.get(layer, role)?.ok_or_else(|| match layer {
        Some(l) => format!("layer {l} lacks its {role} tensor"),
        None => format!("it lacks the {role} tensor"),
    })
}

/// The network from `tensors`, its weights held as `precision` says.
pub(super) fn build(
    tensors: &mut dyn Tensors,
    shape: Shape,
    layers: usize,
    precision: Precision,
) -> Result<Net, String> {
    let err = |e: candle_core::Error| format!("cannot read the weights: {e}");
    let vector = |t: Stored| t.values().map_err(err);
    let linear = |parts: Vec<Stored>| -> Result<Linear, String> {
        let k = parts[0].dims().get(1).copied().unwrap_or(1);
        match precision {
            Precision::Exact => {
                let mut w = Vec::new();
                let mut out = 0;
                for part in parts {
                    out += part.dims()[0];
                    w.extend(part.values().map_err(err)?);
                }
                Ok(Linear::Exact { w, out, k })
            }
            Precision::Fast => Ok(Linear::Quantized {
                parts: parts
                    .into_iter()
                    .map(Stored::fast)
                    .collect::<candle_core::Result<_>>()
                    .map_err(err)?,
                k,
            }),
        }
    };
    let embed_stored = need(tensors, None, "token_embd.weight")?;
    let embed = vector(embed_stored)?;
    if embed.len() != shape.vocab * shape.dim {
        return Err(format!(
            "token_embd holds {} values, not vocabulary {} × width {}",
            embed.len(),
            shape.vocab,
            shape.dim
        ));
    }
    let mut built = Vec::with_capacity(layers);
    for l in 0..layers {
        let at = Some(l);
        let biases: Vec<Option<Stored>> = ["attn_q.bias", "attn_k.bias", "attn_v.bias"]
            .iter()
            .map(|role| tensors.get(at, role))
            .collect::<Result<_, _>>()?;
        let qkv_bias = if biases.iter().all(Option::is_some) {
            let mut b = Vec::new();
            for t in biases.into_iter().flatten() {
                b.extend(vector(t)?);
            }
            Some(b)
        } else {
            None
        };
        let q_norm = tensors
            .get(at, "attn_q_norm.weight")?
            .map(vector)
            .transpose()?;
        let k_norm = tensors
            .get(at, "attn_k_norm.weight")?
            .map(vector)
            .transpose()?;
        let mut need = |role: &str| need(tensors, at, role);
        let layer = Layer {
            attn_norm: vector(need("attn_norm.weight")?)?,
            qkv: linear(vec![
                need("attn_q.weight")?,
                need("attn_k.weight")?,
                need("attn_v.weight")?,
            ])?,
            qkv_bias,
            q_norm,
            k_norm,
            o: linear(vec![need("attn_output.weight")?])?,
            ffn_norm: vector(need("ffn_norm.weight")?)?,
            gate_up: linear(vec![need("ffn_gate.weight")?, need("ffn_up.weight")?])?,
            down: linear(vec![need("ffn_down.weight")?])?,
        };
        let width = (shape.heads + 2 * shape.kv_heads) * shape.head_dim;
        if layer.qkv.out() != width || layer.gate_up.out() != 2 * shape.ff {
            return Err(format!(
                "layer {l}'s attention or feed-forward weights do not match the configured sizes"
            ));
        }
        built.push(layer);
    }
    let norm = vector(need(tensors, None, "output_norm.weight")?)?;
    // Tied embeddings: the output head is the token embedding, read from the same F32 copy
    // when exact (none: `Net::forward` uses `embed`).
    let head = match tensors.get(None, "output.weight")? {
        Some(t) => Some(linear(vec![t])?),
        None if precision == Precision::Exact => None,
        None => Some(linear(vec![need(tensors, None, "token_embd.weight")?])?),
    };
    Ok(Net {
        shape,
        embed,
        layers: built,
        norm,
        head,
    })
}
