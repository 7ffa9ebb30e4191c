//! A Hugging Face model folder: `config.json`, the weights in `*.safetensors` (F32, F16 or
//! BF16), `tokenizer.json`, and `tokenizer_config.json` (or `chat_template.jinja`) with the
//! chat template.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use super::LocalConfig;
use super::model::{self, Model, Stored, Tensors};
use super::net::Shape;
use super::template::ChatTemplate;
use super::tokenizer::Tokenizer;

/// The architectures (`model_type`) this build runs.
const ARCHITECTURES: &str = "llama, qwen2, qwen3";

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not valid JSON: {e}", path.display()))
}

/// The weights: every tensor of every `.safetensors` file, by name.
struct Folder {
    /// Each tensor and the file that holds it.
    tensors: HashMap<String, (Tensor, PathBuf)>,
    asked: std::collections::HashSet<String>,
}

impl Folder {
    fn open(dir: &Path) -> Result<Folder, String> {
        // The shards the index names, else every .safetensors file of the folder.
        let index = dir.join("model.safetensors.index.json");
        let mut files: Vec<PathBuf> = if index.is_file() {
            let map = read_json(&index)?;
            let shards = map
                .get("weight_map")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("{}: no weight_map", index.display()))?;
            let mut names: Vec<&str> = shards.values().filter_map(Value::as_str).collect();
            names.sort_unstable();
            names.dedup();
            names.into_iter().map(|n| dir.join(n)).collect()
        } else {
            std::fs::read_dir(dir)
                .map_err(|e| format!("cannot list the folder: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect()
        };
        files.sort();
        if files.is_empty() {
            return Err("the folder has config.json but no .safetensors weights".into());
        }
        let mut tensors = HashMap::new();
        for file in files {
            let read = candle_core::safetensors::load(&file, &Device::Cpu)
                .map_err(|e| format!("{}: cannot read the weights: {e}", file.display()))?;
            for (name, tensor) in read {
                if !matches!(tensor.dtype(), DType::F32 | DType::F16 | DType::BF16) {
                    return Err(format!(
                        "{}: tensor {name} is {:?}; this build reads F32, F16 and BF16 weights",
                        file.display(),
                        tensor.dtype()
                    ));
                }
                if let Some((_, earlier)) = tensors.insert(name.clone(), (tensor, file.clone())) {
                    return Err(format!(
                        "tensor {name} is in both {} and {}",
                        earlier.display(),
                        file.display()
                    ));
                }
            }
        }
        Ok(Folder {
            tensors,
            asked: Default::default(),
        })
    }
}

/// Hugging Face's name for a tensor of GGUF's `role`.
pub(super) fn hf_name(layer: Option<usize>, role: &str) -> Option<String> {
    let name = match role {
        "token_embd.weight" => "model.embed_tokens.weight",
        "output_norm.weight" => "model.norm.weight",
        "output.weight" => "lm_head.weight",
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_q.bias" => "self_attn.q_proj.bias",
        "attn_k.bias" => "self_attn.k_proj.bias",
        "attn_v.bias" => "self_attn.v_proj.bias",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "attn_q_norm.weight" => "self_attn.q_norm.weight",
        "attn_k_norm.weight" => "self_attn.k_norm.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(match layer {
        Some(l) => format!("model.layers.{l}.{name}"),
        None => name.to_string(),
    })
}

impl Tensors for Folder {
    fn get(&mut self, layer: Option<usize>, role: &str) -> Result<Option<Stored>, String> {
        let Some(name) = hf_name(layer, role) else {
            return Ok(None);
        };
        self.asked.insert(name.clone());
        Ok(self
            .tensors
            .get(&name)
            .map(|(t, _)| Stored::Plain(t.clone())))
    }

    fn has(&self, layer: Option<usize>, role: &str) -> bool {
        hf_name(layer, role).is_some_and(|n| self.tensors.contains_key(&n))
    }

    fn name(&self, layer: Option<usize>, role: &str) -> String {
        let name = hf_name(layer, role).unwrap_or_else(|| role.to_string());
        match self.tensors.get(&name) {
            Some((_, file)) => format!("{name} (in {})", file.display()),
            None => name,
        }
    }

    fn unused(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tensors
            .iter()
            .filter(|(n, _)| !self.asked.contains(*n) && !n.ends_with("rotary_emb.inv_freq"))
            .map(|(n, (_, file))| format!("{n} (in {})", file.display()))
            .collect();
        names.sort();
        names
    }

    fn elements(&self) -> usize {
        self.tensors.values().map(|(t, _)| t.elem_count()).sum()
    }
}

/// A number from config.json.
fn field<T: serde::de::DeserializeOwned>(config: &Value, key: &str) -> Result<Option<T>, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| format!("config.json: field {key}: {e}")),
    }
}

/// The rotary frequencies, with Llama 3's long-context scaling where config.json asks for it.
fn rotary(config: &Value, head_dim: usize) -> Result<Vec<f32>, String> {
    // transformers 5 writes `rope_parameters`, earlier versions `rope_theta`/`rope_scaling`.
    let params = config.get("rope_parameters").filter(|v| v.is_object());
    let base = params
        .and_then(|p| p.get("rope_theta"))
        .or_else(|| config.get("rope_theta"))
        .and_then(Value::as_f64)
        .unwrap_or(10_000.0);
    let mut inv_freq = Shape::rope(base as f32, head_dim);
    let scaling = params.or(config.get("rope_scaling").filter(|v| v.is_object()));
    let kind = scaling
        .and_then(|s| s.get("rope_type").or_else(|| s.get("type")))
        .and_then(Value::as_str)
        .unwrap_or("default");
    match kind {
        "default" => {}
        "llama3" => {
            let s = scaling.unwrap_or(&Value::Null);
            let number = |key: &str| {
                s.get(key).and_then(Value::as_f64).ok_or_else(|| {
                    format!("config.json: rope_scaling (llama3) lacks the number {key}")
                })
            };
            let factor = number("factor")?;
            let low = number("low_freq_factor")?;
            let high = number("high_freq_factor")?;
            let original = number("original_max_position_embeddings")?;
            let (low_wavelen, high_wavelen) = (original / low, original / high);
            for f in inv_freq.iter_mut() {
                let freq = f64::from(*f);
                let wavelen = 2.0 * std::f64::consts::PI / freq;
                *f = if wavelen < high_wavelen {
                    freq
                } else if wavelen > low_wavelen {
                    freq / factor
                } else {
                    let smooth = (original / wavelen - low) / (high - low);
                    (1.0 - smooth) * freq / factor + smooth * freq
                } as f32;
            }
        }
        other => {
            return Err(format!(
                "config.json: rope scaling {other:?} is not supported (default and llama3 are)"
            ));
        }
    }
    Ok(inv_freq)
}

/// A special token as tokenizer_config.json writes it: a string, or `{"content": ...}`.
fn special(config: &Value, key: &str) -> String {
    match config.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

/// The chat template: `chat_template.jinja`, else tokenizer_config.json's `chat_template` (a
/// string, or a list of named ones of which `default` is taken).
fn chat_source(dir: &Path, config: &Value) -> Result<(String, PathBuf), String> {
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        let source = std::fs::read_to_string(&jinja)
            .map_err(|e| format!("cannot read {}: {e}", jinja.display()))?;
        return Ok((source, jinja));
    }
    let from = dir.join("tokenizer_config.json");
    let source = match config.get("chat_template") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(named)) => named
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template"))
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| format!("{}: chat_template has no \"default\" entry", from.display())),
        _ => Err(format!(
            "{}: no chat_template (nor a chat_template.jinja beside it)",
            from.display()
        )),
    }?;
    Ok((source, from))
}

/// Loads the folder `dir`.
pub(super) fn load(dir: &Path, config: &LocalConfig) -> Result<Model, String> {
    let json = read_json(&dir.join("config.json"))?;
    let kind = json
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(kind, "llama" | "qwen2" | "qwen3") {
        return Err(format!(
            "config.json: model_type {kind:?} is not one of {ARCHITECTURES}"
        ));
    }
    if let Some(act) = field::<String>(&json, "hidden_act")?
        && act != "silu"
    {
        return Err(format!(
            "config.json: hidden_act {act:?} is not supported (silu is)"
        ));
    }
    let required = |key: &str| -> Result<usize, String> {
        field::<usize>(&json, key)?.ok_or_else(|| format!("config.json lacks {key}"))
    };
    let dim = required("hidden_size")?;
    let heads = required("num_attention_heads")?;
    let kv_heads = field::<usize>(&json, "num_key_value_heads")?.unwrap_or(heads);
    let head_dim = field::<usize>(&json, "head_dim")?.unwrap_or(dim / heads.max(1));
    if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
        return Err(format!(
            "config.json: {heads} attention heads over {kv_heads} key/value heads is not a \
             grouping this build runs"
        ));
    }
    let tokenizer_path = dir.join("tokenizer.json");
    if !tokenizer_path.is_file() {
        return Err(format!(
            "{} is missing: this build reads Hugging Face tokenizer.json files (not \
             tokenizer.model)",
            tokenizer_path.display()
        ));
    }
    let tokenizer = Tokenizer::from_file(&tokenizer_path)?;
    let tok_config_path = dir.join("tokenizer_config.json");
    let tok_config = if tok_config_path.is_file() {
        read_json(&tok_config_path)?
    } else {
        Value::Null
    };
    let (bos, eos) = (
        special(&tok_config, "bos_token"),
        special(&tok_config, "eos_token"),
    );
    let (source, from) = chat_source(dir, &tok_config)?;
    let template = ChatTemplate::new(source, bos, eos.clone())
        .map_err(|e| format!("{}: {e}", from.display()))?;
    let mut stop_ids = tokenizer.end_of_turn_ids();
    stop_ids.extend(tokenizer.token_id(&eos));
    let generation = dir.join("generation_config.json");
    if generation.is_file() {
        match read_json(&generation)?.get("eos_token_id") {
            Some(Value::Number(n)) => stop_ids.extend(n.as_u64().map(|n| n as u32)),
            Some(Value::Array(ids)) => {
                stop_ids.extend(ids.iter().filter_map(Value::as_u64).map(|n| n as u32));
            }
            _ => {}
        }
    }
    let mut folder = Folder::open(dir)?;
    let vocab = folder
        .tensors
        .get("model.embed_tokens.weight")
        .map(|(t, _)| t.dims()[0])
        .ok_or("the weights lack model.embed_tokens.weight")?;
    let shape = Shape {
        dim,
        heads,
        kv_heads,
        head_dim,
        ff: required("intermediate_size")?,
        vocab,
        eps: field::<f32>(&json, "rms_norm_eps")?.unwrap_or(1e-6),
        inv_freq: rotary(&json, head_dim)?,
        interleaved: false,
    };
    let layers = required("num_hidden_layers")?;
    let precision = model::precision(config, folder.elements());
    let tied = field::<bool>(&json, "tie_word_embeddings")?.unwrap_or(true);
    let net = model::build(&mut folder, shape, layers, precision, tied)?;
    Ok(Model {
        net,
        tokenizer,
        template,
        // The template writes BOS where the model wants it; the prompt is tokenized without
        // adding special tokens, as transformers' apply_chat_template does.
        bos_id: None,
        stop_ids,
        context_length: field::<usize>(&json, "max_position_embeddings")?.unwrap_or(2048),
        precision,
        source: dir.to_path_buf(),
    })
}
