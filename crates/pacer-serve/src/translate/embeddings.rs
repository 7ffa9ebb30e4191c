//! The embeddings endpoint: an OpenAI embeddings body (`input` a string or a list of
//! strings, `dimensions`, `encoding_format`, `user`) as Pacer's embedding request, and its
//! vectors written back in OpenAI's list, as floats or as base64.

use base64::Engine;
use pacer_core::parse::ShapeError;
use pacer_core::{Request, Response};
use serde_json::{Map, Value, json};

/// How the vectors are written back (`encoding_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Lists of numbers (the default).
    Float,
    /// The base64 of each vector's little-endian `f32`s.
    Base64,
}

/// An embeddings body, read.
#[derive(Clone, Debug)]
pub(crate) struct Embeddings {
    /// The request: the inputs, and `dimensions`, `encoding_format` and `user` as extra
    /// parameters (each provider sends those it knows).
    pub(crate) request: Request,
    /// How the client wants the vectors.
    pub(crate) encoding: Encoding,
}

/// The embeddings `body` as Pacer's embedding request for `model`.
pub(crate) fn request(model: &str, body: &Map<String, Value>) -> Result<Embeddings, ShapeError> {
    const INPUT: &str = "a string or a non-empty list of strings";
    let inputs = match body.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(list) if pacer_core::parse::is_text_list(list) => list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        other => return Err(ShapeError::expected("input", INPUT, other)),
    };
    let encoding = match body.get("encoding_format") {
        None | Some(Value::Null) => Encoding::Float,
        Some(Value::String(format)) if format == "float" => Encoding::Float,
        Some(Value::String(format)) if format == "base64" => Encoding::Base64,
        other => {
            return Err(ShapeError::expected(
                "encoding_format",
                "float or base64",
                other,
            ));
        }
    };
    let mut request = Request::embedding(model, inputs);
    let extra = &mut request.params.extra;
    match body.get("dimensions") {
        None | Some(Value::Null) => {}
        Some(d) if d.as_u64().is_some_and(|d| d > 0) => {
            extra.insert("dimensions".into(), d.clone());
        }
        other => {
            return Err(ShapeError::expected(
                "dimensions",
                "a positive whole number",
                other,
            ));
        }
    }
    match body.get("user") {
        None | Some(Value::Null) => {}
        Some(user @ Value::String(_)) => {
            extra.insert("user".into(), user.clone());
        }
        other => return Err(ShapeError::expected("user", "a string", other)),
    }
    if encoding == Encoding::Base64 {
        // Fewer bytes from an upstream that takes it; the provider reads either.
        extra.insert("encoding_format".into(), json!("base64"));
    }
    Ok(Embeddings { request, encoding })
}

/// `response`'s vectors as OpenAI's embeddings list, named `model`.
pub(crate) fn list(model: &str, response: &Response, encoding: Encoding) -> Value {
    let data: Vec<Value> = response
        .embeddings
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = match encoding {
                Encoding::Float => json!(vector),
                Encoding::Base64 => {
                    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                }
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let input = response.usage.input_tokens;
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": input, "total_tokens": input},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_core::Usage;

    #[test]
    fn reads_a_string_or_a_list_and_the_options() {
        let one = request("e", json!({"input": "hi"}).as_object().unwrap()).unwrap();
        assert_eq!(one.request.inputs, ["hi"]);
        assert_eq!(one.encoding, Encoding::Float);
        let body =
            json!({"input": ["a", "b"], "dimensions": 8, "encoding_format": "base64", "user": "u"});
        let two = request("e", body.as_object().unwrap()).unwrap();
        assert!(two.request.is_embedding());
        assert_eq!(two.request.inputs.len(), 2);
        assert_eq!(two.encoding, Encoding::Base64);
        assert_eq!(two.request.params.extra["dimensions"], 8);
        assert_eq!(two.request.params.extra["user"], "u");
        for (body, field) in [
            (json!({"input": []}), "input"),
            (json!({"input": [[1, 2]]}), "input"),
            (json!({}), "input"),
            (
                json!({"input": "a", "encoding_format": "int8"}),
                "encoding_format",
            ),
            (json!({"input": "a", "dimensions": 0}), "dimensions"),
        ] {
            let error = request("e", body.as_object().unwrap()).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{body}");
        }
    }

    #[test]
    fn writes_floats_or_their_base64() {
        let response = Response {
            model_version: None,
            choices: Vec::new(),
            embeddings: vec![vec![1.0, -0.5], vec![0.25, 0.0]],
            usage: Usage {
                input_tokens: 4,
                ..Usage::default()
            },
            rate_limits: None,
            first_token: None,
        };
        let floats = list("e", &response, Encoding::Float);
        assert_eq!(
            floats["data"][1],
            json!({"object": "embedding", "index": 1, "embedding": [0.25, 0.0]})
        );
        assert_eq!(
            floats["usage"],
            json!({"prompt_tokens": 4, "total_tokens": 4})
        );
        let packed = list("e", &response, Encoding::Base64);
        let text = packed["data"][0]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        assert_eq!(
            bytes,
            [1.0f32, -0.5]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>()
        );
    }
}
