//! The model's own tokenizer: Hugging Face's `tokenizers` byte-level BPE, built from the GGUF's
//! `tokenizer.ggml.*` metadata (vocabulary, merges, token types and the pre-tokenizer's name,
//! as llama.cpp writes them) the way the model's `tokenizer.json` describes it.

use serde_json::{Value, json};

/// GGUF token types matched whole in the text before BPE: control (3) and user-defined (4).
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// Llama 3's split (llama.cpp's `llama-bpe`): numbers in groups of up to three.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's and Qwen3's split: digits one by one.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// What the GGUF says about its tokenizer.
pub struct Vocabulary {
    /// `tokenizer.ggml.tokens`, by id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.merges`: `"left right"`, by rank.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.token_type`, by id (empty: all normal).
    pub types: Vec<i32>,
    /// `tokenizer.ggml.pre`: which pre-tokenizer the model was trained with.
    pub pre: String,
}

/// The model's tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

/// The pre-tokenizer of llama.cpp's name `pre`, as `tokenizer.json` spells it.
fn pre_tokenizer(pre: &str) -> Result<(Value, bool), String> {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |pattern: &str| {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
            byte_level(false),
        ]})
    };
    // The second value: whether merges are skipped for a word that is itself a token
    // (Llama 3's `ignore_merges`).
    Ok(match pre {
        "" | "default" | "gpt-2" | "gpt2" => (byte_level(true), false),
        // SmolLM2 and StarCoder: digits one by one, then GPT-2's split.
        "smollm" | "starcoder" => (
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true},
                byte_level(true),
            ]}),
            false,
        ),
        "llama-bpe" | "llama3" | "llama-v3" => (split(LLAMA3_SPLIT), true),
        "qwen2" => (split(QWEN2_SPLIT), false),
        other => {
            return Err(format!(
                "its pre-tokenizer (tokenizer.ggml.pre) {other:?} is not one this build knows: \
                 gpt2, smollm, starcoder, llama-bpe, qwen2"
            ));
        }
    })
}

impl Tokenizer {
    /// Builds the tokenizer the GGUF describes.
    pub fn new(vocab: &Vocabulary) -> Result<Self, String> {
        let spec = Self::spec(vocab)?;
        let inner = tokenizers::Tokenizer::from_bytes(spec.to_string().as_bytes())
            .map_err(|e| format!("its tokenizer cannot be built: {e}"))?;
        Ok(Tokenizer { inner })
    }

    /// The `tokenizer.json` the GGUF's vocabulary describes.
    pub fn spec(vocab: &Vocabulary) -> Result<Value, String> {
        let (pre_tokenizer, ignore_merges) = pre_tokenizer(&vocab.pre)?;
        let ids: serde_json::Map<String, Value> = vocab
            .tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), json!(id)))
            .collect();
        let added: Vec<Value> = vocab
            .tokens
            .iter()
            .enumerate()
            .filter_map(|(id, token)| {
                let kind = *vocab.types.get(id)?;
                (matches!(kind, CONTROL | USER_DEFINED) && !token.is_empty()).then(|| {
                    json!({"id": id, "content": token, "single_word": false, "lstrip": false,
                           "rstrip": false, "normalized": false, "special": kind == CONTROL})
                })
            })
            .collect();
        Ok(json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {
                "type": "BPE",
                "dropout": null,
                "unk_token": null,
                "continuing_subword_prefix": null,
                "end_of_word_suffix": null,
                "fuse_unk": false,
                "byte_fallback": false,
                "ignore_merges": ignore_merges,
                "vocab": ids,
                "merges": vocab.merges,
            },
        }))
    }

    /// A Hugging Face `tokenizer.json`, as the model folder has it.
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let mut inner = tokenizers::Tokenizer::from_file(path).map_err(|e| {
            format!(
                "{}: not a tokenizer this build reads ({e}); it reads Hugging Face \
                 tokenizer.json files (BPE, WordPiece, Unigram, WordLevel)",
                path.display()
            )
        })?;
        // A prompt is never cut or padded: its tokens are what the model reads.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Tokenizer { inner })
    }

    /// The ids of the end-of-turn tokens the vocabulary has (`<|im_end|>`, `<|eot_id|>`, ...).
    pub fn end_of_turn_ids(&self) -> Vec<u32> {
        [
            "<|im_end|>",
            "<|eot_id|>",
            "<|endoftext|>",
            "<|end_of_text|>",
        ]
        .iter()
        .filter_map(|t| self.token_id(t))
        .collect()
    }

    /// The vocabulary size, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token written out, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Encodes `text`, matching special tokens (`<|im_start|>`) whole.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        // Encoding a `&str` with no post-processor cannot fail.
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// Decodes ids into text, leaving control tokens out; a partial UTF-8 sequence comes out
    /// lossy.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }

    /// One token as text, control tokens written out (`<|im_end|>`), for log-probabilities.
    pub fn token_text(&self, id: u32) -> String {
        self.inner.decode(&[id], false).unwrap_or_default()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// GPT-2's map from bytes to printable characters, which byte-level vocabularies are
    /// written in.
    fn byte_chars() -> Vec<String> {
        let mut n = 0u32;
        (0..=255u8)
            .map(|b| {
                let printable =
                    (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
                let c = if printable {
                    char::from(b)
                } else {
                    n += 1;
                    char::from_u32(255 + n).unwrap()
                };
                c.to_string()
            })
            .collect()
    }

    /// A byte-level vocabulary with a few merges and one control token.
    pub(crate) fn tiny(pre: &str) -> Vocabulary {
        let mut tokens = byte_chars();
        tokens.extend(["he", "ll", "hell", "hello", "Ġw", "<|im_end|>", "12"].map(String::from));
        let merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "1 2"].map(String::from);
        let mut types = vec![1; tokens.len()];
        types[256 + 5] = CONTROL;
        Vocabulary {
            tokens,
            merges: merges.to_vec(),
            types,
            pre: pre.into(),
        }
    }

    #[test]
    fn bpe_merges_by_rank_and_round_trips() {
        let t = Tokenizer::new(&tiny("smollm")).unwrap();
        let ids = t.encode("hello wx<|im_end|>");
        let hello = t.token_id("hello").unwrap();
        let w = t.token_id("Ġw").unwrap();
        let end = t.token_id("<|im_end|>").unwrap();
        assert_eq!(ids, [hello, w, u32::from(b'x'), end]);
        assert_eq!(t.decode(&ids), "hello wx");
        assert_eq!(t.token_text(end), "<|im_end|>");
        assert_eq!(t.token_text(w), " w");
        assert_eq!(t.decode(&t.encode("héllo ✓ 12")), "héllo ✓ 12");
    }

    #[test]
    fn the_pre_tokenizer_follows_the_gguf() {
        // SmolLM2 splits digits one by one, so "12" is never merged; GPT-2's split keeps it.
        let twelve = |pre: &str| {
            let t = Tokenizer::new(&tiny(pre)).unwrap();
            t.encode("12").len()
        };
        assert_eq!(twelve("smollm"), 2);
        assert_eq!(twelve("gpt2"), 1);
        assert_eq!(twelve("llama-bpe"), 1);
        let err = Tokenizer::new(&tiny("mystery")).err().unwrap();
        assert!(
            err.contains("\"mystery\"") && err.contains("smollm"),
            "{err}"
        );
    }
}
