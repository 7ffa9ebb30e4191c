//! Embeddings through `batchEmbedContents`: every input of a request in one call, one
//! `EmbedContentRequest` each, and their vectors back in order.

use pacer_core::{ErrorKind, ProviderError, Request, Response, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire::{Content, Part};

/// The most inputs one `batchEmbedContents` call takes (Google's limit on its `requests`).
/// A request with more is refused before it is sent: the caller packs inputs into requests
/// of at most this many.
pub const EMBED_BATCH_LIMIT: usize = 100;

/// `POST {base}/models/{model}:batchEmbedContents`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct BatchEmbedRequest {
    /// One request per input, in order.
    pub(crate) requests: Vec<EmbedRequest>,
}

/// The embedding of one input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmbedRequest {
    /// `models/{model}`: the same model as the call's.
    pub(crate) model: String,
    /// The input, as one text part.
    pub(crate) content: Content,
    /// What the vector is for (`RETRIEVAL_QUERY`, `SEMANTIC_SIMILARITY`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) task_type: Option<Value>,
    /// The vector's length, where it is to be cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) output_dimensionality: Option<Value>,
}

/// A reply: one embedding per request, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct BatchEmbedResponse {
    /// The embeddings.
    #[serde(default)]
    pub(crate) embeddings: Vec<Embedding>,
}

/// One vector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Embedding {
    /// Its values.
    #[serde(default)]
    pub(crate) values: Vec<f32>,
}

/// The first of `keys` that `extra` sets.
fn first<'a>(extra: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|key| extra.get(*key))
}

/// The `batchEmbedContents` body for an embedding `request`: the vector length from the
/// extra parameter `dimensions`, `output_dimensionality` or `outputDimensionality`, the
/// task from `task_type` or `taskType`, the same on every input; other extra parameters do
/// not apply to embeddings and are left out. More inputs than [`EMBED_BATCH_LIMIT`] are a
/// [`ErrorKind::BadRequest`].
pub(crate) fn request(request: &Request) -> Result<BatchEmbedRequest, ProviderError> {
    if request.inputs.len() > EMBED_BATCH_LIMIT {
        return Err(ProviderError::new(
            ErrorKind::BadRequest,
            format!(
                "{} inputs in one embedding request: Gemini takes at most {EMBED_BATCH_LIMIT}",
                request.inputs.len()
            ),
        ));
    }
    let extra = &request.params.extra;
    let dimensions = first(
        extra,
        &[
            "dimensions",
            "output_dimensionality",
            "outputDimensionality",
        ],
    );
    let task_type = first(extra, &["task_type", "taskType"]);
    let model = request
        .model
        .strip_prefix("models/")
        .unwrap_or(&request.model);
    let requests = request
        .inputs
        .iter()
        .map(|input| EmbedRequest {
            model: format!("models/{model}"),
            content: Content {
                role: None,
                parts: vec![Part {
                    text: Some(input.clone()),
                    ..Part::default()
                }],
            },
            task_type: task_type.cloned(),
            output_dimensionality: dimensions.cloned(),
        })
        .collect();
    Ok(BatchEmbedRequest { requests })
}

/// Reads a reply to a request of `inputs` inputs: the vectors in order. A reply with another
/// number of vectors is an [`ErrorKind::InvalidResponse`].
///
/// Gemini's reply says nothing of tokens, so the usage's `input_tokens` is
/// `estimated_input_tokens`, the provider's own estimate of the inputs.
pub(crate) fn response(
    body: &[u8],
    inputs: usize,
    estimated_input_tokens: u64,
) -> Result<Response, ProviderError> {
    let reply: BatchEmbedResponse = serde_json::from_slice(body).map_err(|e| {
        ProviderError::new(ErrorKind::InvalidResponse, format!("unreadable reply: {e}"))
    })?;
    if reply.embeddings.len() != inputs {
        return Err(ProviderError::new(
            ErrorKind::InvalidResponse,
            format!("{} embeddings for {inputs} inputs", reply.embeddings.len()),
        ));
    }
    Ok(Response {
        model_version: None,
        choices: Vec::new(),
        embeddings: reply.embeddings.into_iter().map(|e| e.values).collect(),
        usage: Usage {
            input_tokens: estimated_input_tokens,
            ..Usage::default()
        },
        rate_limits: None,
        first_token: None,
    })
}

#[cfg(test)]
mod tests {
    use pacer_core::{ErrorKind, Request};
    use serde_json::json;

    use super::{EMBED_BATCH_LIMIT, request, response};

    #[test]
    fn every_input_is_one_request_with_the_shared_settings() {
        let mut embed = Request::embedding("models/gemini-embedding-001", vec!["a".into()]);
        embed.params.extra.insert("dimensions".into(), json!(256));
        embed
            .params
            .extra
            .insert("task_type".into(), json!("RETRIEVAL_QUERY"));
        embed.params.extra.insert("temperature".into(), json!(1));
        assert_eq!(
            serde_json::to_value(request(&embed).unwrap()).unwrap(),
            json!({"requests": [{
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "a"}]},
                "taskType": "RETRIEVAL_QUERY",
                "outputDimensionality": 256
            }]})
        );
    }

    #[test]
    fn too_many_inputs_and_a_short_reply_are_refused() {
        let inputs = vec![String::from("x"); EMBED_BATCH_LIMIT + 1];
        let error = request(&Request::embedding("e", inputs)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadRequest);
        let body = json!({"embeddings": [{"values": [0.5]}]}).to_string();
        let error = response(body.as_bytes(), 2, 1).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse);
        let read = response(body.as_bytes(), 1, 7).unwrap();
        assert_eq!(read.embeddings, vec![vec![0.5]]);
        assert_eq!(read.usage.input_tokens, 7);
    }
}
