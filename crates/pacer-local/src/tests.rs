//! The provider end to end on a tiny llama the test writes itself (one layer, 32 wide, fixed
//! weights, its blocks in Q4_1 as SmolLM2's are), so that loading, generation, seeds, stops and log-probabilities are checked
//! without real weights. SmolLM2 itself: `tests/local_smollm2.rs`.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use pacer_core::{ErrorKind, Provider, Request};

use super::net::Linear;
use super::template::tests::SMOLLM2;
use super::tokenizer::tests::tiny;
use super::{LocalConfig, LocalProvider, Precision};

const DIM: usize = 32;
const FF: usize = 64;
const CONTEXT: u32 = 512;

/// A tensor of `shape` filled with small fixed values, different per `salt`, in `dtype`.
fn weights_in(dtype: GgmlDType, shape: &[usize], salt: u64) -> QTensor {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n as u64)
        .map(|i| {
            let h = (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.wrapping_mul(0xbf58_476d);
            ((h >> 40) % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let t = Tensor::from_vec(values, shape, &Device::Cpu).unwrap();
    QTensor::quantize(&t, dtype).unwrap()
}

fn weights(shape: &[usize], salt: u64) -> QTensor {
    weights_in(GgmlDType::F32, shape, salt)
}

/// A block's weights: Q4_1, which the provider expands to F32 when it loads.
fn block(shape: &[usize], salt: u64) -> QTensor {
    weights_in(GgmlDType::Q4_1, shape, salt)
}

fn ones(n: usize) -> QTensor {
    let t = Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).unwrap();
    QTensor::quantize(&t, GgmlDType::F32).unwrap()
}

/// Writes a one-layer llama of architecture `arch` with the tiny vocabulary to `path`;
/// `template` is its chat template (none: left out). A qwen2 has q, k and v biases, a qwen3
/// per-head norms of q and k.
pub(super) fn write_model(path: &Path, arch: &str, template: Option<&str>) {
    let mut vocab = tiny("smollm");
    vocab.tokens.push("<|im_start|>".into());
    vocab.types.push(3);
    let n_vocab = vocab.tokens.len();
    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (format!("{arch}.block_count"), Value::U32(1)),
        (format!("{arch}.context_length"), Value::U32(CONTEXT)),
        (format!("{arch}.embedding_length"), Value::U32(DIM as u32)),
        (format!("{arch}.feed_forward_length"), Value::U32(FF as u32)),
        (format!("{arch}.attention.head_count"), Value::U32(2)),
        (format!("{arch}.attention.head_count_kv"), Value::U32(1)),
        (format!("{arch}.rope.dimension_count"), Value::U32(16)),
        (format!("{arch}.rope.freq_base"), Value::F32(10_000.0)),
        (
            format!("{arch}.attention.layer_norm_rms_epsilon"),
            Value::F32(1e-5),
        ),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        (
            "tokenizer.ggml.pre".into(),
            Value::String(vocab.pre.clone()),
        ),
        ("tokenizer.ggml.tokens".into(), strings(&vocab.tokens)),
        ("tokenizer.ggml.merges".into(), strings(&vocab.merges)),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(vocab.types.iter().map(|t| Value::I32(*t)).collect()),
        ),
        (
            "tokenizer.ggml.bos_token_id".into(),
            Value::U32(n_vocab as u32 - 1),
        ),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(256 + 5)),
    ];
    if let Some(template) = template {
        metadata.push((
            "tokenizer.chat_template".into(),
            Value::String(template.into()),
        ));
    }
    let kv = DIM / 2;
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), weights(&[n_vocab, DIM], 1)),
        ("output_norm.weight".into(), ones(DIM)),
        ("output.weight".into(), weights(&[n_vocab, DIM], 2)),
        ("blk.0.attn_q.weight".into(), block(&[DIM, DIM], 3)),
        ("blk.0.attn_k.weight".into(), block(&[kv, DIM], 4)),
        ("blk.0.attn_v.weight".into(), block(&[kv, DIM], 5)),
        ("blk.0.attn_output.weight".into(), block(&[DIM, DIM], 6)),
        ("blk.0.ffn_gate.weight".into(), block(&[FF, DIM], 7)),
        ("blk.0.ffn_up.weight".into(), block(&[FF, DIM], 8)),
        ("blk.0.ffn_down.weight".into(), block(&[DIM, FF], 9)),
        ("blk.0.attn_norm.weight".into(), ones(DIM)),
        ("blk.0.ffn_norm.weight".into(), ones(DIM)),
    ];
    if arch == "qwen2" {
        tensors.push(("blk.0.attn_q.bias".into(), weights(&[DIM], 10)));
        tensors.push(("blk.0.attn_k.bias".into(), weights(&[kv], 11)));
        tensors.push(("blk.0.attn_v.bias".into(), weights(&[kv], 12)));
    }
    if arch == "qwen3" {
        tensors.push(("blk.0.attn_q_norm.weight".into(), weights(&[16], 13)));
        tensors.push(("blk.0.attn_k_norm.weight".into(), weights(&[16], 14)));
    }
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
}

pub(super) fn load(path: &Path) -> Result<LocalProvider, String> {
    LocalProvider::load(&LocalConfig::new(path)).map_err(|e| e.to_string())
}

pub(super) fn tiny_model(dir: &Path) -> (PathBuf, LocalProvider) {
    let path = dir.join("tiny.gguf");
    write_model(&path, "llama", Some(SMOLLM2));
    let model = load(&path).unwrap();
    (path, model)
}

pub(super) fn ask(max_tokens: u32) -> Request {
    let mut request = Request::text("tiny", None, "hello world 12");
    request.params.max_tokens = Some(max_tokens);
    request
}

#[tokio::test]
async fn greedy_generation_records_sorted_top5_logprobs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = tiny_model(dir.path());
    let mut request = ask(60);
    request.params.temperature = Some(0.0);
    request.params.logprobs = true;
    let sent = std::time::Instant::now();
    let response = model.send(&request).await.unwrap();
    // Generated a token at a time: the first one's time is known, and within the call's.
    let first = response
        .first_token
        .expect("a local reply's time to first token");
    assert!(first > std::time::Duration::ZERO && first <= sent.elapsed());
    let choice = &response.choices[0];
    let lps = choice.logprobs.as_ref().unwrap();
    let out = response.usage.output_tokens as usize;
    assert!(out > 0 && out <= 60, "{out}");
    assert_eq!(lps.len(), out.min(50));
    for (i, lp) in lps.iter().enumerate() {
        assert_eq!(lp.token_position, i);
        assert_eq!(lp.top_tokens.len(), 5);
        assert!(lp.top_logprobs.windows(2).all(|w| w[0] >= w[1]), "{lp:?}");
        assert!(lp.top_logprobs.iter().all(|l| *l <= 0.0), "{lp:?}");
        assert_eq!(lp.token, lp.top_tokens[0]);
    }
    // Counted by the model's tokenizer: the rendered template around the prompt.
    let prompt = model.model.template.render(&request.messages).unwrap();
    assert_eq!(
        response.usage.input_tokens as usize,
        model.count_tokens(&prompt)
    );
    // Greedy twice: the same text.
    let again = model.send(&request).await.unwrap();
    assert_eq!(again.choices[0].text, choice.text);
}

#[tokio::test]
async fn a_seed_repeats_its_text_and_limits_end_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = tiny_model(dir.path());
    let mut request = ask(30);
    request.params.temperature = Some(1.5);
    request.params.seed = Some(7);
    let text = |r: &pacer_core::Response| r.choices[0].text.clone();
    let a = model.send(&request).await.unwrap();
    let b = model.send(&request).await.unwrap();
    assert_eq!(text(&a), text(&b));
    // Eight other seeds: at least one of them writes something else.
    let mut differs = false;
    for seed in 0..8 {
        request.params.seed = Some(seed);
        differs |= text(&model.send(&request).await.unwrap()) != text(&a);
    }
    assert!(differs);
    // max_tokens: `length` right there (this tiny model never ends by itself so soon).
    request.params.max_tokens = Some(3);
    request.params.seed = Some(7);
    let short = model.send(&request).await.unwrap();
    assert_eq!(short.usage.output_tokens, 3);
    assert_eq!(short.choices[0].finish_reason.as_str(), "length");
    // A stop sequence: the text is cut before it.
    request.params.max_tokens = Some(30);
    let stop = text(&a).chars().nth(2).unwrap().to_string();
    request.params.stop = vec![stop.clone()];
    let cut = model.send(&request).await.unwrap();
    assert!(!text(&cut).contains(&stop), "{:?} / {stop:?}", text(&cut));
    assert!(text(&a).starts_with(&text(&cut)), "{:?}", text(&cut));
    assert_eq!(cut.choices[0].finish_reason.as_str(), "stop");
}

#[tokio::test]
async fn a_template_that_writes_nothing_is_a_bad_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.gguf");
    write_model(&path, "llama", Some("{% for m in messages %}{% endfor %}"));
    let model = load(&path).unwrap();
    let err = model.send(&ask(5)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    assert!(err.message.contains("empty"), "{}", err.message);
    // The model's thread still answers.
    let dir2 = tempfile::tempdir().unwrap();
    let (_, model) = tiny_model(dir2.path());
    assert!(model.send(&ask(2)).await.is_ok());
}

#[tokio::test]
async fn a_prompt_past_the_context_is_a_context_length_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = tiny_model(dir.path());
    let err = model.send(&ask(CONTEXT)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ContextLength);
    assert!(err.message.contains("context of 512"), "{}", err.message);
}

#[test]
fn a_folder_with_one_gguf_loads_and_other_folders_say_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = tiny_model(dir.path());
    assert_eq!(load(dir.path()).unwrap().path(), path);
    std::fs::copy(&path, dir.path().join("second.gguf")).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        err.contains("2 .gguf files") && err.contains("second.gguf"),
        "{err}"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = load(&empty).unwrap_err();
    assert!(err.contains("no .gguf") && err.contains("empty"), "{err}");
}

#[test]
fn unsupported_models_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let neox = dir.path().join("neox.gguf");
    write_model(&neox, "gptneox", Some(SMOLLM2));
    let err = load(&neox).unwrap_err();
    assert!(
        err.contains("neox.gguf") && err.contains("\"gptneox\""),
        "{err}"
    );
    let bare = dir.path().join("bare.gguf");
    write_model(&bare, "llama", None);
    let err = load(&bare).unwrap_err();
    assert!(
        err.contains("bare.gguf") && err.contains("tokenizer.chat_template"),
        "{err}"
    );
    let broken = dir.path().join("broken.gguf");
    write_model(&broken, "llama", Some("{% for m in messages %}"));
    let err = load(&broken).unwrap_err();
    assert!(
        err.contains("broken.gguf") && err.contains("does not parse"),
        "{err}"
    );
}

#[test]
fn a_missing_or_corrupt_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.gguf");
    let err = load(&missing).unwrap_err();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let corrupt = dir.path().join("bad.gguf");
    std::fs::write(&corrupt, b"this is not a gguf file at all").unwrap();
    let err = load(&corrupt).unwrap_err();
    assert!(err.contains(&corrupt.display().to_string()), "{err}");
    assert!(err.contains("GGUF"), "{err}");
    let gpu = LocalProvider::load(&LocalConfig {
        device: "gpu".into(),
        ..LocalConfig::new(corrupt)
    })
    .unwrap_err()
    .to_string();
    assert!(gpu.contains("\"gpu\"") && gpu.contains("cpu"), "{gpu}");
}

#[test]
fn exact_weights_are_the_blocks_expanded_and_fast_ones_stay_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (path, exact) = tiny_model(dir.path());
    assert_eq!(exact.precision(), Precision::Exact);
    let mut file = std::fs::File::open(&path).unwrap();
    let ct = gguf_file::Content::read(&mut file).unwrap();
    let q4 = ct
        .tensor(&mut file, "blk.0.ffn_down.weight", &Device::Cpu)
        .unwrap();
    assert_eq!(q4.dtype(), GgmlDType::Q4_1);
    let want = q4.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
    match &exact.model.net.layers[0].down {
        Linear::Exact { w, out, k } => {
            assert_eq!((*out, *k), (DIM, FF));
            assert_eq!(w[..], want.to_vec1::<f32>().unwrap()[..]);
        }
        Linear::Quantized { .. } => panic!("exact weights are F32"),
    }
    // Over the budget, or asked for: fast, the blocks kept.
    for config in [
        LocalConfig {
            exact_limit_bytes: 1000,
            ..LocalConfig::new(&path)
        },
        LocalConfig {
            precision: Some(Precision::Fast),
            ..LocalConfig::new(&path)
        },
    ] {
        let fast = LocalProvider::load(&config).unwrap();
        assert_eq!(fast.precision(), Precision::Fast);
        assert!(matches!(
            fast.model.net.layers[0].down,
            Linear::Quantized { .. }
        ));
    }
}

/// Answers `prompt` through the model's thread, with `cancelled` as the caller's flag.
fn generate(model: &LocalProvider, max_tokens: usize, cancelled: bool) -> Result<usize, ErrorKind> {
    let sampling = super::generate::Sampling {
        temperature: 0.0,
        top_p: 1.0,
        top_k: 0,
        max_tokens,
        stop: vec![],
        top_logprobs: None,
        seed: 1,
    };
    let prompt = model.model.template.render(&ask(1).messages).unwrap();
    let (reply, answer) = tokio::sync::oneshot::channel();
    model
        .batcher
        .submit(super::batch::Job {
            prompt_ids: model.model.prompt_ids(&prompt),
            sampling,
            cancelled: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(cancelled)),
            reply,
            sent: std::time::Instant::now(),
        })
        .unwrap();
    answer
        .blocking_recv()
        .unwrap()
        .map(|g| g.output_tokens)
        .map_err(|e| e.kind)
}

#[test]
fn an_abandoned_request_stops_generating() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = tiny_model(dir.path());
    assert_eq!(generate(&model, 100, true), Err(ErrorKind::Timeout));
    assert_eq!(generate(&model, 100, false), Ok(100));
}

#[test]
fn a_prompt_read_in_chunks_gives_the_logits_of_one_read() {
    use super::net::{Cache, Item};
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = tiny_model(dir.path());
    let net = &model.model.net;
    // 150 tokens: past two chunks of 64.
    let tokens: Vec<u32> = (0..150u32).map(|i| (i * 7 + 3) % 260).collect();
    let mut whole = Cache::default();
    let one = net
        .forward(&mut [Item {
            cache: &mut whole,
            tokens: &tokens,
            logits: true,
        }])
        .unwrap();
    let mut chunked = Cache::default();
    for chunk in tokens.chunks(64) {
        let last = chunk.as_ptr_range().end == tokens.as_ptr_range().end;
        let out = net
            .forward(&mut [Item {
                cache: &mut chunked,
                tokens: chunk,
                logits: last,
            }])
            .unwrap();
        if last {
            let worst = one[0]
                .iter()
                .zip(&out[0])
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "{worst}");
        }
    }
}
