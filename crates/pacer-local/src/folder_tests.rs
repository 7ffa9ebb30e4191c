//! Hugging Face folders: a GGUF converted into one (every tensor dequantized, llama's q and k
//! rows put back in Hugging Face's order, as transformers' GGUF loader does) answers as the
//! GGUF does: the tiny models the tests write (llama, qwen2, qwen3) and, where
//! `PACER_SMOLLM2` names it, SmolLM2-135M. And what a folder may get wrong is refused naming
//! the file.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use pacer_core::{Provider, Request, Response};
use serde_json::json;

use super::Precision;
use super::gguf::{float, number, string, vocabulary};
use super::hf::hf_name;
use super::template::tests::SMOLLM2;
use super::tests::{ask, load, write_model};
use super::tokenizer::Tokenizer;

/// Writes the GGUF `gguf` as a Hugging Face folder `dir`, its weights in `dtype`.
fn to_folder(gguf: &Path, dir: &Path, dtype: DType) {
    let mut file = std::fs::File::open(gguf).unwrap();
    let ct = gguf_file::Content::read(&mut file).unwrap();
    let arch = string(&ct, "general.architecture").unwrap();
    let key = |name: &str| format!("{arch}.{name}");
    let dim = number(&ct, &key("embedding_length")).unwrap() as usize;
    let heads = number(&ct, &key("attention.head_count")).unwrap() as usize;
    let kv_heads = number(&ct, &key("attention.head_count_kv")).unwrap() as usize;
    let head_dim = number(&ct, &key("attention.key_length")).map_or(dim / heads, |n| n as usize);
    let mut tensors = HashMap::new();
    let names: Vec<String> = ct.tensor_infos.keys().cloned().collect();
    for name in names {
        let (layer, role) = match name.strip_prefix("blk.") {
            Some(rest) => {
                let (l, role) = rest.split_once('.').unwrap();
                (Some(l.parse::<usize>().unwrap()), role.to_string())
            }
            None => (None, name.clone()),
        };
        let Some(hf) = hf_name(layer, &role) else {
            continue;
        };
        let t = ct
            .tensor(&mut file, &name, &Device::Cpu)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap();
        // llama.cpp's converter interleaves each head's rows of q and k for its rotary
        // pairs: row 2j+s of a head was Hugging Face's row s·(head_dim/2)+j.
        let t = match (arch.as_str(), role.as_str()) {
            ("llama", "attn_q.weight" | "attn_k.weight") => {
                let n = if role == "attn_q.weight" {
                    heads
                } else {
                    kv_heads
                };
                let cols = t.dims()[1];
                t.reshape((n, head_dim / 2, 2, cols))
                    .unwrap()
                    .transpose(1, 2)
                    .unwrap()
                    .contiguous()
                    .unwrap()
                    .reshape((n * head_dim, cols))
                    .unwrap()
            }
            _ => t,
        };
        tensors.insert(hf, t.to_dtype(dtype).unwrap());
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    let config = json!({
        "model_type": arch,
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": dim,
        "intermediate_size": number(&ct, &key("feed_forward_length")),
        "num_hidden_layers": number(&ct, &key("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "rms_norm_eps": float(&ct, &key("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(&ct, &key("rope.freq_base")).unwrap_or(10_000.0),
        "max_position_embeddings": number(&ct, &key("context_length")),
        "tie_word_embeddings": !ct.tensor_infos.contains_key("output.weight"),
        "hidden_act": "silu",
        "torch_dtype": format!("{dtype:?}").to_lowercase(),
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let vocab = vocabulary(&ct).unwrap();
    let spec = Tokenizer::spec(&vocab).unwrap();
    std::fs::write(dir.join("tokenizer.json"), spec.to_string()).unwrap();
    let token = |key: &str| {
        number(&ct, key)
            .map(|id| vocab.tokens[id as usize].clone())
            .unwrap_or_default()
    };
    let tokenizer_config = json!({
        "chat_template": string(&ct, "tokenizer.chat_template"),
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": {"content": token("tokenizer.ggml.eos_token_id"), "special": true},
    });
    std::fs::write(
        dir.join("tokenizer_config.json"),
        tokenizer_config.to_string(),
    )
    .unwrap();
}

/// The largest difference of the two answers' top logprobs, rank by rank (the tiny vocabulary
/// has many byte tokens that all read "�"), after checking that they chose the same tokens
/// and wrote the same text.
fn difference(a: &Response, b: &Response) -> f64 {
    assert_eq!(a.choices[0].text, b.choices[0].text);
    assert_eq!(a.usage, b.usage);
    let (la, lb) = (
        a.choices[0].logprobs.as_ref().unwrap(),
        b.choices[0].logprobs.as_ref().unwrap(),
    );
    assert_eq!(la.len(), lb.len());
    let mut worst = 0f64;
    for (x, y) in la.iter().zip(lb) {
        assert_eq!(x.token, y.token);
        for (l, m) in x.top_logprobs.iter().zip(&y.top_logprobs) {
            worst = worst.max((l - m).abs());
        }
    }
    worst
}

fn greedy(mut request: Request, max_tokens: u32) -> Request {
    request.params.max_tokens = Some(max_tokens);
    request.params.temperature = Some(0.0);
    request.params.logprobs = true;
    request
}

#[tokio::test]
async fn a_folder_answers_as_its_gguf_in_every_family() {
    for arch in ["llama", "qwen2", "qwen3"] {
        let dir = tempfile::tempdir().unwrap();
        let gguf = dir.path().join("tiny.gguf");
        write_model(&gguf, arch, Some(SMOLLM2));
        let folder = dir.path().join("hf");
        std::fs::create_dir(&folder).unwrap();
        to_folder(&gguf, &folder, DType::F32);
        let (a, b) = (load(&gguf).unwrap(), load(&folder).unwrap());
        assert_eq!(b.path(), folder);
        assert_eq!(b.precision(), Precision::Exact);
        let request = greedy(ask(40), 40);
        let (ra, rb) = (
            a.send(&request).await.unwrap(),
            b.send(&request).await.unwrap(),
        );
        assert!(ra.usage.output_tokens > 0);
        let worst = difference(&ra, &rb);
        assert!(worst < 1e-3, "{arch}: {worst}");
        assert!(rb.model_version.unwrap().starts_with("hf ("));
    }
}

#[tokio::test]
async fn half_precision_folders_load_too() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    write_model(&gguf, "qwen3", Some(SMOLLM2));
    let f32s = load(&gguf).unwrap();
    let request = greedy(ask(3), 3);
    let want = f32s.send(&request).await.unwrap();
    for dtype in [DType::BF16, DType::F16] {
        let folder = dir.path().join(format!("{dtype:?}"));
        std::fs::create_dir(&folder).unwrap();
        to_folder(&gguf, &folder, dtype);
        let model = load(&folder).unwrap();
        let got = model.send(&request).await.unwrap();
        // The weights rounded to 8 (BF16) or 11 (F16) bits: close, not equal.
        let (a, b) = (
            &want.choices[0].logprobs.as_ref().unwrap()[0],
            &got.choices[0].logprobs.as_ref().unwrap()[0],
        );
        assert!(
            (a.top_logprobs[0] - b.top_logprobs[0]).abs() < 0.05,
            "{dtype:?}: {a:?} {b:?}"
        );
    }
}

#[test]
fn what_a_folder_gets_wrong_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    write_model(&gguf, "llama", Some(SMOLLM2));
    let folder = dir.path().join("hf");
    std::fs::create_dir(&folder).unwrap();
    to_folder(&gguf, &folder, DType::F32);
    let edit = |file: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let path = folder.join(file);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, v.to_string()).unwrap();
    };
    // An architecture this build does not run.
    edit("config.json", &|v| v["model_type"] = json!("mistral"));
    let err = load(&folder).unwrap_err();
    assert!(
        err.contains("config.json")
            && err.contains("\"mistral\"")
            && err.contains("llama, qwen2, qwen3"),
        "{err}"
    );
    edit("config.json", &|v| v["model_type"] = json!("llama"));
    // A rope scaling it does not know.
    edit("config.json", &|v| {
        v["rope_scaling"] = json!({"rope_type": "yarn", "factor": 4.0})
    });
    let err = load(&folder).unwrap_err();
    assert!(
        err.contains("config.json") && err.contains("\"yarn\""),
        "{err}"
    );
    edit("config.json", &|v| {
        v["rope_scaling"] = serde_json::Value::Null
    });
    assert!(load(&folder).is_ok());
    // Weights in a type it does not read.
    let weights = folder.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    let ints = Tensor::new(&[1i64, 2], &Device::Cpu).unwrap();
    tensors.insert("model.extra".into(), ints);
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let err = load(&folder).unwrap_err();
    assert!(
        err.contains("model.safetensors") && err.contains("I64") && err.contains("BF16"),
        "{err}"
    );
    tensors.remove("model.extra");
    // A weight the network has no place for (llama's attention_bias = true): refused, not
    // left out.
    let bias = Tensor::zeros(32, DType::F32, &Device::Cpu).unwrap();
    tensors.insert("model.layers.0.self_attn.o_proj.bias".into(), bias);
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let err = load(&folder).unwrap_err();
    assert!(
        err.contains("model.layers.0.self_attn.o_proj.bias") && err.contains("does not know"),
        "{err}"
    );
    tensors.remove("model.layers.0.self_attn.o_proj.bias");
    // A tensor of the wrong shape, named with its file.
    let norm = tensors.insert(
        "model.norm.weight".into(),
        Tensor::ones(31, DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    let err = load(&folder).unwrap_err();
    assert!(
        err.contains("model.norm.weight")
            && err.contains("[31]")
            && err.contains("[32]")
            && err.contains("model.safetensors"),
        "{err}"
    );
    tensors.insert("model.norm.weight".into(), norm.unwrap());
    // No head, and not tied to the embedding.
    let head = tensors.remove("lm_head.weight").unwrap();
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    edit("config.json", &|v| v["tie_word_embeddings"] = json!(false));
    let err = load(&folder).unwrap_err();
    assert!(
        err.contains("lm_head.weight") && err.contains("does not tie"),
        "{err}"
    );
    tensors.insert("lm_head.weight".into(), head);
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    assert!(load(&folder).is_ok());
    // A tokenizer it cannot read, then none.
    let tokenizer = folder.join("tokenizer.json");
    let good = std::fs::read_to_string(&tokenizer).unwrap();
    std::fs::write(&tokenizer, r#"{"model": {"type": "SentencePieceV9"}}"#).unwrap();
    let err = load(&folder).unwrap_err();
    assert!(
        err.contains("tokenizer.json") && err.contains("not a tokenizer this build reads"),
        "{err}"
    );
    std::fs::remove_file(&tokenizer).unwrap();
    let err = load(&folder).unwrap_err();
    assert!(
        err.contains("tokenizer.json") && err.contains("missing"),
        "{err}"
    );
    std::fs::write(&tokenizer, good).unwrap();
    // No chat template.
    edit("tokenizer_config.json", &|v| {
        v.as_object_mut().unwrap().remove("chat_template");
    });
    let err = load(&folder).unwrap_err();
    assert!(
        err.contains("tokenizer_config.json") && err.contains("chat_template"),
        "{err}"
    );
}

/// SmolLM2-135M converted from its GGUF: the same answers, logprobs within 1e-3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smollm2_as_a_folder_answers_as_its_gguf() {
    let Some(gguf) = std::env::var_os("PACER_SMOLLM2") else {
        eprintln!("skipped: set PACER_SMOLLM2 to SmolLM2's .gguf (scripts/fetch-smollm2.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    to_folder(Path::new(&gguf), dir.path(), DType::F32);
    let (a, b) = (load(Path::new(&gguf)).unwrap(), load(dir.path()).unwrap());
    for (system, prompt) in [
        (None, "What is the capital of France?"),
        (
            Some("You are a helpful assistant."),
            "Count from one to five.",
        ),
    ] {
        let request = greedy(Request::text("local", system, prompt), 24);
        let (ra, rb) = (
            a.send(&request).await.unwrap(),
            b.send(&request).await.unwrap(),
        );
        let worst = difference(&ra, &rb);
        eprintln!("{prompt:?}: largest logprob difference, folder against GGUF: {worst:.2e}");
        assert!(worst < 1e-3, "{prompt:?}: {worst}");
    }
}
