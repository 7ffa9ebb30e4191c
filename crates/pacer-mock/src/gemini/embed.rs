//! Gemini's embedding methods: `models/{model}:embedContent` (`{"content": {"parts":
//! [{"text"}]}, "outputDimensionality"}` → `{"embedding": {"values"}}`) and
//! `models/{model}:batchEmbedContents` (`{"requests": [...]}`, each such a request naming
//! `models/{model}` → `{"embeddings": [{"values"}]}`), at most [`MAX_REQUESTS`] a call.
//! A content's text is its text parts' (joined as Pacer joins them). The vectors are the
//! in-process mock's ([`pacer_providers::mock::embedding`]), of `outputDimensionality`
//! numbers, else [`pacer_providers::mock::DEFAULT_DIMENSIONS`]. Limits count as for
//! `generateContent`: one request, and the texts' tokens (cl100k) with no output.

use pacer_core::{Content, Part as CorePart, Request, Response};
use pacer_providers::mock::{DEFAULT_DIMENSIONS, embedding};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use super::request::Content as Turn;
use crate::complete::Rendered;
use crate::respond::serialize;
use crate::tokens::Encoding;

/// The most requests one `batchEmbedContents` call may hold.
pub(crate) const MAX_REQUESTS: usize = 100;

/// `embedContent`, or one request of `batchEmbedContents`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EmbedContentRequest {
    /// `models/{model}`: required in a batch, where it must be the path's model.
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Option<Turn>,
    #[serde(default)]
    output_dimensionality: Option<u64>,
    /// The other fields (`taskType`, `title`), unread.
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// `batchEmbedContents`.
#[derive(Debug, Deserialize)]
pub(super) struct BatchEmbedContentsRequest {
    #[serde(default)]
    requests: Vec<EmbedContentRequest>,
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// How an embedding reply is written, and what its vectors are made of.
#[derive(Debug)]
pub(crate) struct Shape {
    /// Whether it answers `batchEmbedContents` (a list) rather than `embedContent`.
    batch: bool,
    /// The model.
    model: String,
    /// Each input's text and dimension.
    inputs: Vec<(String, usize)>,
}

impl Shape {
    /// The reply's body. A vector of the request's first dimension comes from `response`;
    /// one of another dimension (a batch may ask for several) is made here alike.
    pub(crate) fn render(&self, response: Response, prompt_tokens: u64) -> Rendered {
        let vectors: Vec<Value> = self
            .inputs
            .iter()
            .zip(response.embeddings)
            .map(|((text, dims), vector)| {
                let vector = if vector.len() == *dims {
                    vector
                } else {
                    embedding(&self.model, text, *dims)
                };
                json!({ "values": vector })
            })
            .collect();
        let embedded = vectors.len() as u64;
        let body = if self.batch {
            json!({ "embeddings": vectors })
        } else {
            json!({ "embedding": vectors.into_iter().next() })
        };
        Rendered {
            body: serialize(&body),
            prompt_tokens,
            output_tokens: 0,
            embedded,
        }
    }
}

/// The text of a request's content, or what is wrong with it; `at` names the request.
fn text(request: &EmbedContentRequest, at: &str) -> Result<String, String> {
    let parts = request.content.as_ref().map_or(&[][..], |c| &c.parts[..]);
    let texts: Vec<CorePart> = parts
        .iter()
        .filter_map(|p| p.text.clone())
        .map(|text| CorePart::Text { text })
        .collect();
    if texts.is_empty() {
        return Err(format!(
            "* {at}content.parts: contents.parts must not be empty."
        ));
    }
    Ok(Content::Parts(texts).text().into_owned())
}

/// Pacer's request for embedding `requests` with `model`, the shape of its reply and its
/// tokens; or what is wrong with them, in Google's words.
pub(super) fn read(
    model: &str,
    requests: Vec<EmbedContentRequest>,
    batch: bool,
) -> Result<(Request, Shape, u64), String> {
    if batch && requests.len() > MAX_REQUESTS {
        return Err(format!(
            "* BatchEmbedContentsRequest.requests: at most {MAX_REQUESTS} requests can be in \
             one batch"
        ));
    }
    if requests.is_empty() {
        return Err("* BatchEmbedContentsRequest.requests: requests must not be empty.".into());
    }
    let mut inputs = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let at = if batch {
            format!("BatchEmbedContentsRequest.requests[{i}].")
        } else {
            "EmbedContentRequest.".to_owned()
        };
        let named = request
            .model
            .as_deref()
            .map(|m| m.trim_start_matches("models/"));
        if named.is_some_and(|m| m != model) || (batch && named.is_none()) {
            return Err(format!(
                "* {at}model: the request's model must be models/{model}, the model of the \
                 call."
            ));
        }
        let dims = match request.output_dimensionality {
            None => DEFAULT_DIMENSIONS,
            Some(0) => {
                return Err(format!(
                    "* {at}output_dimensionality: must be greater than 0."
                ));
            }
            Some(d) => usize::try_from(d).unwrap_or(usize::MAX),
        };
        inputs.push((text(request, &at)?, dims));
    }
    let tokens = inputs.iter().map(|(t, _)| Encoding::Cl100k.count(t)).sum();
    let mut pacer = Request::embedding(model, inputs.iter().map(|(t, _)| t.clone()).collect());
    pacer
        .params
        .extra
        .insert("dimensions".into(), Value::from(inputs[0].1));
    let shape = Shape {
        batch,
        model: model.to_owned(),
        inputs,
    };
    Ok((pacer, shape, tokens))
}

/// The requests of an `embedContent` (one) or `batchEmbedContents` body, or what is wrong
/// with it.
pub(super) fn parse(body: &[u8], batch: bool) -> Result<Vec<EmbedContentRequest>, String> {
    let invalid = |e: serde_json::Error| format!("Invalid JSON payload received. {e}");
    if batch {
        let wire: BatchEmbedContentsRequest = serde_json::from_slice(body).map_err(invalid)?;
        Ok(wire.requests)
    } else {
        let wire: EmbedContentRequest = serde_json::from_slice(body).map_err(invalid)?;
        Ok(vec![wire])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{MAX_REQUESTS, parse, read};

    fn batch(requests: serde_json::Value) -> Result<usize, String> {
        let body = json!({ "requests": requests }).to_string();
        let (request, shape, _) = read("e", parse(body.as_bytes(), true)?, true)?;
        assert_eq!(request.inputs.len(), shape.inputs.len());
        Ok(request.inputs.len())
    }

    #[test]
    fn batches_are_checked_as_gemini_checks_them() {
        let one = json!({"model": "models/e", "content": {"parts": [{"text": "hi"}]}});
        assert_eq!(batch(json!([one, one])), Ok(2));
        let err = batch(json!(vec![one.clone(); MAX_REQUESTS + 1])).unwrap_err();
        assert!(err.contains("at most 100 requests"), "{err}");
        let other = json!({"model": "models/f", "content": {"parts": [{"text": "hi"}]}});
        assert!(batch(json!([other])).unwrap_err().contains("model"));
        let empty = json!({"model": "models/e", "content": {"parts": []}});
        assert!(
            batch(json!([empty]))
                .unwrap_err()
                .contains("must not be empty")
        );
        assert!(batch(json!([])).is_err());
    }

    #[test]
    fn one_content_names_its_dimension() {
        let body = json!({"content": {"parts": [{"text": "a"}, {"text": "b"}]}, "outputDimensionality": 8});
        let requests = parse(body.to_string().as_bytes(), false).unwrap();
        let (request, shape, tokens) = read("e", requests, false).unwrap();
        assert_eq!(request.inputs, ["a\n\nb"]);
        assert_eq!(request.params.extra["dimensions"], 8);
        assert_eq!(shape.inputs[0].1, 8);
        assert!(tokens > 0);
    }
}
