//! OpenAI's embeddings endpoint, `POST /embeddings`: the body of an embedding request and
//! the reader of its reply, one vector per input, in input order.

use base64::Engine;
use pacer_core::{ProviderError, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::convert::{invalid, usage};
use super::wire::WireUsage;

/// The extra parameters the endpoint takes; nothing else of a request's parameters goes,
/// sampling parameters least of all (the endpoint refuses what it does not know).
const OPTIONS: [&str; 3] = ["dimensions", "encoding_format", "user"];

/// `POST /v1/embeddings`.
#[derive(Debug, Serialize)]
pub(crate) struct EmbeddingsRequest<'a> {
    /// The model.
    model: &'a str,
    /// The texts, one vector each.
    input: &'a [String],
    /// `dimensions`, `encoding_format` and `user`, where the extra parameters set them.
    #[serde(flatten)]
    options: Map<String, Value>,
}

/// The body of an embedding request.
pub(crate) fn request(request: &Request) -> EmbeddingsRequest<'_> {
    let options = OPTIONS
        .iter()
        .filter_map(|&key| Some((key.to_owned(), request.params.extra.get(key)?.clone())))
        .collect();
    EmbeddingsRequest {
        model: &request.model,
        input: &request.inputs,
        options,
    }
}

/// An embeddings reply.
#[derive(Debug, Deserialize)]
struct EmbeddingsReply {
    #[serde(default)]
    data: Vec<WireEmbedding>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

/// One input's vector.
#[derive(Debug, Deserialize)]
struct WireEmbedding {
    #[serde(default)]
    index: usize,
    embedding: Vector,
}

/// A vector as a list of floats, or (`encoding_format: "base64"`) as the base64 of its
/// little-endian `f32`s.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

impl Vector {
    fn floats(self) -> Result<Vec<f32>, ProviderError> {
        match self {
            Vector::Floats(floats) => Ok(floats),
            Vector::Base64(text) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|e| invalid(format!("an embedding is not base64: {e}")))?;
                if bytes.len() % 4 != 0 {
                    return Err(invalid(format!(
                        "a base64 embedding of {} bytes is no list of 4-byte floats",
                        bytes.len()
                    )));
                }
                Ok(bytes
                    .chunks_exact(4)
                    .map(|four| f32::from_le_bytes([four[0], four[1], four[2], four[3]]))
                    .collect())
            }
        }
    }
}

/// Reads an embeddings reply: its vectors in `index` order, which must be every index from
/// 0, and, where `inputs` says how many were asked, that many.
pub(crate) fn response(body: &[u8], inputs: Option<usize>) -> Result<Response, ProviderError> {
    let mut reply: EmbeddingsReply = serde_json::from_slice(body).map_err(invalid)?;
    reply.data.sort_by_key(|e| e.index);
    if reply.data.is_empty() {
        return Err(invalid("no embeddings"));
    }
    if let Some(asked) = inputs.filter(|&asked| asked != reply.data.len()) {
        return Err(invalid(format!(
            "{} embeddings for {asked} inputs",
            reply.data.len()
        )));
    }
    if let Some((position, e)) = reply
        .data
        .iter()
        .enumerate()
        .find(|(position, e)| e.index != *position)
    {
        return Err(invalid(format!(
            "embedding {position} of the reply has index {}",
            e.index
        )));
    }
    let embeddings = reply
        .data
        .into_iter()
        .map(|e| e.embedding.floats())
        .collect::<Result<Vec<_>, _>>()?;
    let mut usage = usage(reply.usage);
    // The endpoint bills input only; a server that reports a total leaves no output.
    usage.output_tokens = 0;
    Ok(Response {
        model_version: reply.model,
        choices: Vec::new(),
        embeddings,
        usage,
        rate_limits: None,
        first_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::ErrorKind;
    use serde_json::json;

    #[test]
    fn takes_only_the_endpoints_options_from_extra() {
        let mut request = Request::embedding("text-embedding-3-small", vec!["a".into()]);
        let extra = &mut request.params.extra;
        extra.insert("dimensions".into(), json!(256));
        extra.insert("reasoning_effort".into(), json!("low"));
        request.params.temperature = Some(0.5);
        let body = serde_json::to_value(super::request(&request)).unwrap();
        assert_eq!(
            body,
            json!({"model": "text-embedding-3-small", "input": ["a"], "dimensions": 256})
        );
    }

    #[test]
    fn decodes_base64_vectors_and_refuses_broken_ones() {
        let floats = [1.0f32, -0.5, 0.25];
        let bytes: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(Vector::Base64(text).floats().unwrap(), floats);
        let short = base64::engine::general_purpose::STANDARD.encode([0u8; 6]);
        assert_eq!(
            Vector::Base64(short).floats().unwrap_err().kind,
            ErrorKind::InvalidResponse
        );
        assert!(Vector::Base64("%%%".into()).floats().is_err());
    }

    #[test]
    fn indices_must_run_from_zero() {
        let body = json!({"data": [
            {"index": 0, "embedding": [0.5]},
            {"index": 2, "embedding": [0.5]}
        ]});
        let error = response(body.to_string().as_bytes(), None).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse);
        assert!(error.message.contains("index 2"), "{}", error.message);
    }
}
