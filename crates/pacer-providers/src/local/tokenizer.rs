//! A byte-level BPE tokenizer (GPT-2 style, `tokenizer.ggml.model = "gpt2"`) built from a
//! GGUF file's own metadata: `tokenizer.ggml.tokens`, `merges`, `token_type` and the
//! BOS/EOS ids. It covers SmolLM2, Llama 3 and Qwen2/3; SentencePiece vocabularies (Llama 2)
//! are refused when the model loads.

use std::collections::HashMap;

/// GGUF token types that are special: control (3) and user-defined (4) tokens are matched
/// whole in the text before BPE.
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// A byte-level BPE vocabulary.
#[derive(Debug)]
pub struct Tokenizer {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    /// `(left, right)` → `(rank, merged id)`.
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Special tokens, longest first, matched whole.
    specials: Vec<(String, u32)>,
    /// Which ids are control tokens (not written in the text).
    control: Vec<bool>,
    /// The token of each byte, where the vocabulary has one.
    byte_ids: Vec<Option<u32>>,
    char_to_byte: HashMap<char, u8>,
    /// Whether digits are split one by one (SmolLM2's, Llama 3's and Qwen's pre-tokenizer).
    split_digits: bool,
}

/// GPT-2's map from bytes to printable characters.
fn bytes_to_unicode() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
        map[usize::from(b)] = if printable {
            char::from(b)
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('?')
        };
    }
    map
}

impl Tokenizer {
    /// Builds the tokenizer; `token_types` may be empty (then no token is special).
    pub fn new(
        tokens: Vec<String>,
        merges: &[String],
        token_types: &[i32],
        split_digits: bool,
    ) -> Result<Self, String> {
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let mut merge_map = HashMap::with_capacity(merges.len());
        for (rank, merge) in merges.iter().enumerate() {
            let Some((left, right)) = merge.split_once(' ') else {
                return Err(format!("malformed merge {merge:?}"));
            };
            let (Some(&l), Some(&r), Some(&m)) = (
                ids.get(left),
                ids.get(right),
                ids.get(&format!("{left}{right}")),
            ) else {
                continue;
            };
            merge_map.entry((l, r)).or_insert((rank as u32, m));
        }
        let special = |i: usize| matches!(token_types.get(i), Some(&CONTROL | &USER_DEFINED));
        let mut specials: Vec<(String, u32)> = tokens
            .iter()
            .enumerate()
            .filter(|(i, t)| special(*i) && !t.is_empty())
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        specials.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        let control = (0..tokens.len())
            .map(|i| token_types.get(i) == Some(&CONTROL))
            .collect();
        let byte_to_char = bytes_to_unicode();
        let char_to_byte = byte_to_char
            .iter()
            .enumerate()
            .map(|(b, c)| (*c, b as u8))
            .collect();
        // Byte tokens: some vocabularies lack a few control bytes (SmolLM2's), which then
        // cannot be encoded and are left out; a vocabulary without the letters is no
        // byte-level BPE at all.
        let byte_ids: Vec<Option<u32>> = byte_to_char
            .iter()
            .map(|c| ids.get(c.encode_utf8(&mut [0; 4]) as &str).copied())
            .collect();
        if (b'a'..=b'z').any(|b| byte_ids[usize::from(b)].is_none()) {
            return Err("its vocabulary lacks the byte tokens: not a byte-level BPE".into());
        }
        Ok(Tokenizer {
            tokens,
            ids,
            merges: merge_map,
            specials,
            control,
            byte_ids,
            char_to_byte,
            split_digits,
        })
    }

    /// The vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token written out, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// Encodes `text`, matching special tokens (`<|im_start|>`) whole.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The earliest special token in what is left, longest first at the same place.
            let next = self
                .specials
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|at| (at, s.len(), *id)))
                .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            match next {
                Some((at, len, id)) => {
                    self.encode_ordinary(&rest[..at], &mut out);
                    out.push(id);
                    rest = &rest[at + len..];
                }
                None => {
                    self.encode_ordinary(rest, &mut out);
                    break;
                }
            }
        }
        out
    }

    fn encode_ordinary(&self, text: &str, out: &mut Vec<u32>) {
        for piece in pre_tokenize(text, self.split_digits) {
            self.bpe(piece, out);
        }
    }

    fn bpe(&self, piece: &str, out: &mut Vec<u32>) {
        let mut word: Vec<u32> = piece
            .bytes()
            .filter_map(|b| self.byte_ids[usize::from(b)])
            .collect();
        loop {
            let best = word
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| self.merges.get(&(w[0], w[1])).map(|&(r, m)| (r, i, m)))
                .min();
            let Some((_, i, merged)) = best else { break };
            word[i] = merged;
            word.remove(i + 1);
        }
        out.extend(word);
    }

    /// The bytes a token stands for (control tokens: none).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let i = id as usize;
        if self.control.get(i).copied().unwrap_or(false) {
            return Vec::new();
        }
        let Some(token) = self.tokens.get(i) else {
            return Vec::new();
        };
        if self.specials.iter().any(|(_, s)| *s == id) {
            return token.as_bytes().to_vec();
        }
        let mut bytes = Vec::with_capacity(token.len());
        for c in token.chars() {
            match self.char_to_byte.get(&c) {
                Some(b) => bytes.push(*b),
                None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        bytes
    }

    /// One token as text (a partial UTF-8 sequence comes out lossy), for log-probabilities.
    pub fn token_text(&self, id: u32) -> String {
        let i = id as usize;
        if self.control.get(i).copied().unwrap_or(false) {
            return self.tokens[i].clone();
        }
        String::from_utf8_lossy(&self.token_bytes(id)).into_owned()
    }

    /// Decodes ids into text, leaving control tokens out.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[derive(PartialEq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_alphabetic() {
        Class::Letter
    } else if c.is_numeric() {
        Class::Number
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

/// GPT-2's pre-tokenizer, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// with digits one by one when `split_digits`.
fn pre_tokenize(text: &str, split_digits: bool) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |(at, _)| *at);
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let c = chars[i].1;
        if c == '\'' {
            let rest = &text[chars[i].0 + 1..];
            if let Some(len) = ["re", "ve", "ll", "s", "t", "m", "d"]
                .iter()
                .find(|s| rest.starts_with(**s))
                .map(|s| s.len())
            {
                i += 1 + len;
                pieces.push(&text[chars[start].0..end_of(i)]);
                continue;
            }
        }
        let mut j = i;
        if c == ' '
            && let Some(&(_, next)) = chars.get(i + 1)
            && class(next) != Class::Space
            && !(split_digits && class(next) == Class::Number)
        {
            j += 1;
        }
        let k = class(chars[j].1);
        match k {
            Class::Space => {
                let mut e = j;
                while e < chars.len() && class(chars[e].1) == Class::Space {
                    e += 1;
                }
                // `\s+(?!\S)`: leave the last whitespace to the word that follows.
                if e < chars.len() && e - j > 1 {
                    e -= 1;
                }
                i = e;
            }
            Class::Number if split_digits => i = j + 1,
            _ => {
                let mut e = j + 1;
                while e < chars.len() && class(chars[e].1) == k {
                    if split_digits && k == Class::Number {
                        break;
                    }
                    e += 1;
                }
                i = e;
            }
        }
        pieces.push(&text[chars[start].0..end_of(i)]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_tokenizer_follows_gpt2() {
        assert_eq!(
            pre_tokenize("Hello world, it's 42!  ok", false),
            ["Hello", " world", ",", " it", "'s", " 42", "!", " ", " ok"]
        );
        assert_eq!(pre_tokenize("a 12", true), ["a", " ", "1", "2"]);
        assert_eq!(pre_tokenize("end  ", false), ["end", "  "]);
    }

    fn tiny() -> Tokenizer {
        let mut tokens: Vec<String> = bytes_to_unicode().iter().map(|c| c.to_string()).collect();
        let base = tokens.len();
        tokens.extend(["he", "ll", "hell", "hello", "Ġw", "<|im_end|>"].map(String::from));
        let merges = ["h e", "l l", "he ll", "hell o", "Ġ w"].map(String::from);
        let mut types = vec![1; tokens.len()];
        types[base + 5] = CONTROL;
        Tokenizer::new(tokens, &merges, &types, true).unwrap()
    }

    #[test]
    fn bpe_merges_by_rank_and_round_trips() {
        let t = tiny();
        let ids = t.encode("hello wx<|im_end|>");
        let hello = t.token_id("hello").unwrap();
        let w = t.token_id("Ġw").unwrap();
        let end = t.token_id("<|im_end|>").unwrap();
        assert_eq!(ids, [hello, w, u32::from(b'x'), end]);
        assert_eq!(t.decode(&ids), "hello wx");
        assert_eq!(t.decode(&t.encode("héllo ✓ 12")), "héllo ✓ 12");
    }
}
