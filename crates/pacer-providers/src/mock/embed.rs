//! The mock's embeddings: one unit vector per input, drawn from a hash of the model and the
//! text alone, so the same text always gets the same vector (and the mock server, which
//! uses [`embedding`] too, gives the same one as the in-process mock).
//!
//! The dimension is `params.extra["dimensions"]` (OpenAI's name; Gemini's
//! `output_dimensionality` and `outputDimensionality` are read too), else
//! [`DEFAULT_DIMENSIONS`]. The usage bills the inputs' tokens as the mock counts prompts
//! (about four characters a token) and no output.

use pacer_core::{Params, Request, Response, Usage};

use super::reply::{fnv, splitmix};

/// The dimension of a vector when the request names none: that of OpenAI's
/// `text-embedding-3-small` and `text-embedding-ada-002`.
pub const DEFAULT_DIMENSIONS: usize = 1536;

/// The keys of `params.extra` that may name the dimension, in the order they are read.
const DIMENSION_KEYS: [&str; 3] = [
    "dimensions",
    "output_dimensionality",
    "outputDimensionality",
];

/// The vector of `text` under `model`, of `dims` numbers and unit length (empty for 0).
///
/// Each number is drawn uniformly from [-1, 1) by SplitMix64, seeded with the FNV-1a hash of
/// the model and the text, then the whole is scaled to length 1. The same arguments give
/// the same vector on every platform.
///
/// ```
/// let v = pacer_providers::mock::embedding("text-embedding-3-small", "hello", 8);
/// assert_eq!(v.len(), 8);
/// let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
/// assert!((norm - 1.0).abs() < 1e-5);
/// assert_eq!(v, pacer_providers::mock::embedding("text-embedding-3-small", "hello", 8));
/// ```
pub fn embedding(model: &str, text: &str, dims: usize) -> Vec<f32> {
    let seed = fnv(
        text.as_bytes(),
        fnv(&[0], fnv(model.as_bytes(), FNV_OFFSET)),
    );
    let mut state = seed;
    let raw: Vec<f64> = (0..dims)
        .map(|_| {
            state = splitmix(state);
            // 53 random bits as a number in [0, 1), then moved to [-1, 1).
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 {
        return raw.into_iter().map(|x| x as f32).collect();
    }
    raw.into_iter().map(|x| (x / norm) as f32).collect()
}

/// FNV-1a's offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The dimension `params` asks for: the first of [`DIMENSION_KEYS`] set to a whole number,
/// else [`DEFAULT_DIMENSIONS`].
pub fn dimensions(params: &Params) -> usize {
    DIMENSION_KEYS
        .iter()
        .find_map(|key| params.extra.get(*key).and_then(serde_json::Value::as_u64))
        .map_or(DEFAULT_DIMENSIONS, |d| {
            usize::try_from(d).unwrap_or(usize::MAX)
        })
}

/// The reply to an embedding request: a vector per input, in order.
pub(crate) fn reply(request: &Request) -> Response {
    let dims = dimensions(&request.params);
    Response {
        model_version: Some(format!("{}-mock-1", request.model)),
        choices: Vec::new(),
        embeddings: request
            .inputs
            .iter()
            .map(|input| embedding(&request.model, input, dims))
            .collect(),
        usage: Usage {
            input_tokens: super::reply::prompt_tokens(request),
            ..Usage::default()
        },
        rate_limits: None,
        first_token: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn vectors_are_unit_length_and_depend_on_model_and_text() {
        let a = embedding("m", "a cat", 64);
        let norm: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "{norm}");
        assert_eq!(a, embedding("m", "a cat", 64));
        assert_ne!(a, embedding("m", "a dog", 64));
        assert_ne!(a, embedding("n", "a cat", 64));
        // The model and the text are kept apart: "ab" + "c" is not "a" + "bc".
        assert_ne!(embedding("ab", "c", 4), embedding("a", "bc", 4));
        assert!(embedding("m", "x", 0).is_empty());
    }

    #[test]
    fn one_vector_per_input_of_the_dimension_asked() {
        let mut request = Request::embedding("e", vec!["one".into(), "two words".into()]);
        let r = reply(&request);
        assert_eq!(r.embeddings.len(), 2);
        assert!(r.embeddings.iter().all(|v| v.len() == DEFAULT_DIMENSIONS));
        assert_eq!(
            r.embeddings[1],
            embedding("e", "two words", DEFAULT_DIMENSIONS)
        );
        assert!(r.choices.is_empty());
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (1 + 3, 0));
        request.params.extra.insert("dimensions".into(), json!(256));
        assert_eq!(reply(&request).embeddings[0].len(), 256);
        request.params.extra.clear();
        request
            .params
            .extra
            .insert("outputDimensionality".into(), json!(8));
        assert_eq!(dimensions(&request.params), 8);
    }
}
