//! A GGUF file: the weights, and the tokenizer and chat template from its metadata.

use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_core::quantized::gguf_file;

use super::LocalConfig;
use super::model::{self, Model, Stored, Tensors};
use super::net::Shape;
use super::template::ChatTemplate;
use super::tokenizer::{Tokenizer, Vocabulary};

/// The `.gguf` file at `path`, or the one `.gguf` in the folder `path`.
pub(super) fn file(path: &Path) -> Result<PathBuf, String> {
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
        0 => Err("the folder holds no .gguf file (nor a Hugging Face model's config.json)".into()),
        n => {
            let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            Err(format!(
                "the folder holds {n} .gguf files; name one: {}",
                names.join(", ")
            ))
        }
    }
}

pub(super) fn string(ct: &gguf_file::Content, key: &str) -> Option<String> {
    ct.metadata.get(key)?.to_string().ok().cloned()
}

pub(super) fn number(ct: &gguf_file::Content, key: &str) -> Option<u32> {
    ct.metadata.get(key)?.to_u32().ok()
}

pub(super) fn float(ct: &gguf_file::Content, key: &str) -> Option<f32> {
    ct.metadata.get(key)?.to_f32().ok()
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
    Tokenizer::new(&vocabulary(ct)?)
}

/// What `tokenizer.ggml.*` says.
pub(super) fn vocabulary(ct: &gguf_file::Content) -> Result<Vocabulary, String> {
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
    Ok(Vocabulary {
        tokens: strings(ct, "tokenizer.ggml.tokens")?,
        merges: strings(ct, "tokenizer.ggml.merges")?,
        types,
        pre: string(ct, "tokenizer.ggml.pre").unwrap_or_default(),
    })
}

/// The file's tensors, read when asked for.
struct GgufTensors {
    content: gguf_file::Content,
    file: File,
    asked: std::collections::HashSet<String>,
}

impl Tensors for GgufTensors {
    fn get(&mut self, layer: Option<usize>, role: &str) -> Result<Option<Stored>, String> {
        let name = self.name(layer, role);
        self.asked.insert(name.clone());
        if !self.content.tensor_infos.contains_key(&name) {
            return Ok(None);
        }
        self.content
            .tensor(&mut self.file, &name, &Device::Cpu)
            .map(|t| Some(Stored::Blocks(t)))
            .map_err(|e| format!("cannot read tensor {name}: {e}"))
    }

    fn has(&self, layer: Option<usize>, role: &str) -> bool {
        self.content
            .tensor_infos
            .contains_key(&self.name(layer, role))
    }

    fn name(&self, layer: Option<usize>, role: &str) -> String {
        match layer {
            Some(l) => format!("blk.{l}.{role}"),
            None => role.to_string(),
        }
    }

    fn unused(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .content
            .tensor_infos
            .keys()
            .filter(|n| !self.asked.contains(*n))
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn elements(&self) -> usize {
        self.content
            .tensor_infos
            .values()
            .map(|t| t.shape.elem_count())
            .sum()
    }
}

/// Reads the file's metadata and weights.
pub(super) fn load(path: &Path, config: &LocalConfig) -> Result<Model, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
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
    let mut stop_ids = tokenizer.end_of_turn_ids();
    stop_ids.extend(number(&ct, "tokenizer.ggml.eos_token_id"));
    let key = |name: &str| format!("{arch}.{name}");
    let required = |name: &str| {
        number(&ct, &key(name)).ok_or_else(|| format!("its metadata lacks {}", key(name)))
    };
    let dim = required("embedding_length")? as usize;
    let heads = required("attention.head_count")? as usize;
    let kv_heads = number(&ct, &key("attention.head_count_kv")).map_or(heads, |n| n as usize);
    let head_dim =
        number(&ct, &key("attention.key_length")).map_or(dim / heads.max(1), |n| n as usize);
    let rotary = number(&ct, &key("rope.dimension_count")).map_or(head_dim, |n| n as usize);
    if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) || rotary != head_dim {
        return Err(format!(
            "its attention ({heads} heads, {kv_heads} key/value heads, rotary over {rotary} of \
             {head_dim} dimensions) is not one this build runs: whole-head rotary, heads a \
             multiple of key/value heads"
        ));
    }
    let base = float(&ct, &key("rope.freq_base")).unwrap_or(10_000.0);
    let ff = required("feed_forward_length")? as usize;
    let layers = required("block_count")? as usize;
    let mut tensors = GgufTensors {
        content: ct,
        file,
        asked: Default::default(),
    };
    let mut inv_freq = Shape::rope(base, head_dim);
    // Llama 3.1's long-context scaling, written by llama.cpp as a tensor of divisors.
    if let Some(factors) = tensors.get(None, "rope_freqs.weight")? {
        let factors = factors_of(factors)?;
        if factors.len() != inv_freq.len() {
            return Err("rope_freqs.weight does not match the head size".into());
        }
        inv_freq.iter_mut().zip(factors).for_each(|(f, d)| *f /= d);
    }
    let ct = &tensors.content;
    let vocab = ct
        .tensor_infos
        .get("token_embd.weight")
        .map(|t| t.shape.dims()[0])
        .ok_or("it lacks the token_embd.weight tensor")?;
    let shape = Shape {
        dim,
        heads,
        kv_heads,
        head_dim,
        ff,
        vocab,
        eps: float(ct, &key("attention.layer_norm_rms_epsilon")).unwrap_or(1e-5),
        inv_freq,
        // llama.cpp's converter permutes llama's q and k rows for neighbouring pairs; qwen2 and
        // qwen3 keep Hugging Face's halves.
        interleaved: arch == "llama",
    };
    let context_length = number(ct, &key("context_length")).unwrap_or(2048) as usize;
    let precision = model::precision(config, tensors.elements());
    // llama.cpp leaves `output.weight` out when the head is the token embedding.
    let net = model::build(&mut tensors, shape, layers, precision, true)?;
    Ok(Model {
        net,
        tokenizer,
        template,
        bos_id,
        stop_ids,
        context_length,
        precision,
        source: path.to_path_buf(),
    })
}

fn factors_of(t: Stored) -> Result<Vec<f32>, String> {
    match t {
        Stored::Blocks(q) => q
            .dequantize(&Device::Cpu)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| format!("rope_freqs.weight: {e}")),
        Stored::Plain(_) => Err("rope_freqs.weight: not a GGUF tensor".into()),
    }
}
