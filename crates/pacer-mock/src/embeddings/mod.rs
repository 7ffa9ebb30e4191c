//! OpenAI's `POST /v1/embeddings`: the model check, the `input` in any of its forms
//! ([`input`]), `dimensions` and `encoding_format` (`float`, or `base64`: the vector's
//! little-endian `f32`s), then on to [`Shared::complete`] like a completion. Its cost is one
//! request and its input tokens, with no output reserved; its vectors are the in-process
//! mock's ([`pacer_providers::mock::embedding`]), so either gives the same.

mod input;

use base64::Engine;
use pacer_core::{Request, Response};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::complete::Prepared;
use crate::endpoints::{Kind, OpenAi, parse, prepared};
use crate::handler::Shared;
use crate::respond::{Dropped, Reply, bad_request};
use crate::tokens::Encoding;

/// `POST /v1/embeddings`.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbeddingsRequest {
    model: String,
    /// A string, strings, token numbers or lists of them; read by [`input::read`].
    input: Value,
    #[serde(default)]
    dimensions: Option<u64>,
    #[serde(default)]
    encoding_format: Option<String>,
    /// The other fields (`user`), unread; flattened so that the body must be an object.
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// How an embeddings reply is written.
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    /// The model, as the request named it.
    model: String,
    /// Whether the vectors go as base64 rather than lists of numbers.
    base64: bool,
}

impl Shape {
    /// The reply: `{"object": "list", "data": [{"object": "embedding", "index",
    /// "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}`.
    pub(crate) fn render(&self, response: Response, prompt_tokens: u64) -> Value {
        let data: Vec<Value> = response
            .embeddings
            .into_iter()
            .enumerate()
            .map(|(index, vector)| {
                let embedding = if self.base64 {
                    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                    Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
                } else {
                    json!(vector)
                };
                json!({"object": "embedding", "index": index, "embedding": embedding})
            })
            .collect();
        json!({
            "object": "list",
            "data": data,
            "model": self.model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        })
    }
}

/// Whether `model` takes `dimensions` (OpenAI's older embedding model does not).
fn takes_dimensions(model: &str) -> bool {
    !model.contains("ada-002")
}

/// An embeddings request checked and priced; the refusal (a 404 or a 400, uncounted)
/// otherwise.
pub(crate) fn prepare(
    shared: &Shared,
    wire: EmbeddingsRequest,
) -> Result<Prepared<OpenAi>, Box<Reply>> {
    if let Some(reply) = shared.unknown_model(&wire.model) {
        return Err(Box::new(reply));
    }
    let base64 = match wire.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(Box::new(bad_request(
                format!("Invalid value: '{other}'. Supported values are: 'float' and 'base64'."),
                Some("encoding_format"),
                Some("invalid_value"),
            )));
        }
    };
    if let Some(dimensions) = wire.dimensions {
        if !takes_dimensions(&wire.model) {
            return Err(Box::new(bad_request(
                "This model does not support specifying dimensions.",
                None,
                None,
            )));
        }
        if dimensions == 0 {
            return Err(Box::new(bad_request(
                "Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but \
                 got 0 instead.",
                Some("dimensions"),
                Some("integer_below_min_value"),
            )));
        }
    }
    let inputs = input::read(&wire.input, Encoding::for_model(&wire.model))?;
    let mut request = Request::embedding(wire.model.clone(), inputs.texts);
    if let Some(dimensions) = wire.dimensions {
        request
            .params
            .extra
            .insert("dimensions".into(), Value::from(dimensions));
    }
    let shape = Shape {
        model: wire.model,
        base64,
    };
    Ok(prepared(request, inputs.tokens, 0, Kind::Embeddings(shape)))
}

/// `POST /v1/embeddings`.
pub(crate) async fn embeddings(shared: &Shared, body: &[u8]) -> Result<Reply, Dropped> {
    match parse(body).and_then(|wire| prepare(shared, wire)) {
        Ok(prepared) => shared.complete(prepared).await,
        Err(reply) => Ok(shared.refused(*reply)),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use pacer_core::Response;
    use serde_json::json;

    use super::Shape;

    #[test]
    fn vectors_go_as_numbers_or_little_endian_base64() {
        let response = Response {
            model_version: None,
            choices: Vec::new(),
            embeddings: vec![vec![1.0, -0.5]],
            usage: pacer_core::Usage::default(),
            rate_limits: None,
            first_token: None,
        };
        let shape = |base64| Shape {
            model: "e".into(),
            base64,
        };
        let body = shape(false).render(response.clone(), 4);
        assert_eq!(
            body,
            json!({
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [1.0, -0.5]}],
                "model": "e",
                "usage": {"prompt_tokens": 4, "total_tokens": 4},
            })
        );
        let body = shape(true).render(response, 4);
        let text = body["data"][0]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        assert_eq!(
            bytes,
            [1.0f32.to_le_bytes(), (-0.5f32).to_le_bytes()].concat()
        );
    }
}
