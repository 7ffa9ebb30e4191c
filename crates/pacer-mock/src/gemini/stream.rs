//! `streamGenerateContent`, made from the whole `generateContent` reply as Gemini streams
//! one: a `GenerateContentResponse` chunk per few words of text, each with the reply's
//! `modelVersion` and `responseId` and a `usageMetadata` of the prompt alone, the last one
//! with the whole usage. A candidate's text comes in pieces, its last piece in the last chunk
//! together with its function calls (whole, as Gemini sends them), its `finishReason` and
//! whatever else the whole candidate holds (log-probabilities).
//!
//! With `?alt=sse` each chunk is an event `data: {...}\n\n`, sent as a frame of its own;
//! without, the chunks are one JSON array, as Google sends them, a chunk per frame.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::pieces;
use crate::respond::{self, EVENT_STREAM, Reply};

/// How the chunks are framed, by the request's `alt` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `alt=sse`: server-sent events.
    Sse,
    /// The default: one JSON array.
    Array,
}

impl Framing {
    /// The framing a request's query string asks for.
    pub(crate) fn of_query(query: Option<&str>) -> Self {
        let sse = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .any(|pair| pair == "alt=sse");
        if sse { Framing::Sse } else { Framing::Array }
    }
}

/// A successful `generateContent` reply re-sent as `streamGenerateContent`'s chunks,
/// framed by `framing`; a refusal, an error or a truncated body is left as it is.
pub(crate) fn as_stream(reply: Reply, framing: Framing) -> Reply {
    match framing {
        Framing::Sse => respond::as_frames(reply, EVENT_STREAM, |response| {
            chunks(response)
                .iter()
                .map(|chunk| Bytes::from(format!("data: {chunk}\n\n")))
                .collect()
        }),
        Framing::Array => respond::as_frames(reply, "application/json", |response| {
            let chunks = chunks(response);
            let last = chunks.len().saturating_sub(1);
            chunks
                .iter()
                .enumerate()
                .map(|(i, chunk)| {
                    let before = if i == 0 { "[" } else { ",\r\n" };
                    let after = if i == last { "]" } else { "" };
                    Bytes::from(format!("{before}{chunk}{after}"))
                })
                .collect()
        }),
    }
}

/// One candidate cut for streaming: its text in pieces, and its other parts.
struct Cut<'a> {
    candidate: &'a Value,
    pieces: Vec<&'a str>,
    calls: Vec<Value>,
}

impl<'a> Cut<'a> {
    fn new(candidate: &'a Value) -> Self {
        let parts = candidate["content"]["parts"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        let mut pieces = Vec::new();
        let mut calls = Vec::new();
        for part in parts {
            match part["text"].as_str() {
                Some(text) => pieces.extend(pieces::words(text, pieces::WORDS)),
                None => calls.push(part.clone()),
            }
        }
        // An empty text still ends as one (empty) text part.
        if pieces.is_empty() && calls.is_empty() {
            pieces.push("");
        }
        Cut {
            candidate,
            pieces,
            calls,
        }
    }

    /// The candidate as chunk `k` of `n` carries it, if it is in that chunk: its pieces end
    /// in the last chunk, which also carries its calls and its other fields.
    fn in_chunk(&self, k: usize, n: usize) -> Option<Value> {
        let last = k + 1 == n;
        let first = n - self.pieces.len();
        let mut parts: Vec<Value> = match k.checked_sub(first) {
            Some(j) => vec![json!({"text": self.pieces[j]})],
            None => Vec::new(),
        };
        if !last {
            return (!parts.is_empty()).then(|| {
                json!({
                    "content": {"role": "model", "parts": parts},
                    "index": self.candidate["index"],
                })
            });
        }
        parts.extend(self.calls.iter().cloned());
        let mut whole = self.candidate.clone();
        whole["content"] = json!({"role": "model", "parts": parts});
        Some(whole)
    }
}

/// The chunks that stream `response`, the body of a whole `generateContent` reply; a reply
/// without candidates is its own one chunk.
pub(crate) fn chunks(response: &Value) -> Vec<Value> {
    let candidates = response["candidates"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if candidates.is_empty() {
        return vec![response.clone()];
    }
    let cuts: Vec<Cut> = candidates.iter().map(Cut::new).collect();
    let n = cuts
        .iter()
        .map(|c| c.pieces.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let usage = &response["usageMetadata"];
    let prompt = &usage["promptTokenCount"];
    (0..n)
        .map(|k| {
            let mut chunk = Map::new();
            let candidates: Vec<Value> = cuts.iter().filter_map(|c| c.in_chunk(k, n)).collect();
            chunk.insert("candidates".into(), Value::Array(candidates));
            let usage = if k + 1 == n {
                usage.clone()
            } else {
                json!({"promptTokenCount": prompt, "totalTokenCount": prompt})
            };
            chunk.insert("usageMetadata".into(), usage);
            for field in ["modelVersion", "responseId"] {
                if let Some(value) = response.get(field) {
                    chunk.insert(field.into(), value.clone());
                }
            }
            Value::Object(chunk)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Framing, chunks};

    #[test]
    fn texts_come_in_pieces_and_the_last_chunk_finishes() {
        let response = json!({
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "one two three four five"}]},
                 "finishReason": "STOP", "index": 0},
                {"content": {"role": "model", "parts": [{"text": "six "}, {"functionCall": {"name": "f", "args": {}}}]},
                 "finishReason": "STOP", "index": 1},
            ],
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10},
            "modelVersion": "g-1", "responseId": "mock-1",
        });
        let chunks = chunks(&response);
        assert_eq!(chunks.len(), 3);
        let text = |i: usize| -> String {
            chunks
                .iter()
                .flat_map(|c| c["candidates"].as_array().unwrap())
                .filter(|c| c["index"] == i)
                .flat_map(|c| c["content"]["parts"].as_array().unwrap())
                .filter_map(|p| p["text"].as_str())
                .collect()
        };
        assert_eq!(text(0), "one two three four five");
        assert_eq!(text(1), "six ");
        assert!(chunks.iter().all(|c| c["modelVersion"] == "g-1"));
        assert_eq!(
            chunks[0]["usageMetadata"],
            json!({"promptTokenCount": 4, "totalTokenCount": 4})
        );
        assert_eq!(chunks[0]["candidates"].as_array().unwrap().len(), 1);
        let last = &chunks[2];
        assert_eq!(last["usageMetadata"], response["usageMetadata"]);
        assert_eq!(
            last["candidates"][1]["content"]["parts"],
            json!([{"text": "six "}, {"functionCall": {"name": "f", "args": {}}}])
        );
        assert!(
            chunks[..2]
                .iter()
                .all(|c| c["candidates"][0]["finishReason"].is_null())
        );
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    }

    #[test]
    fn alt_sse_asks_for_events() {
        assert_eq!(Framing::of_query(Some("alt=sse")), Framing::Sse);
        assert_eq!(Framing::of_query(Some("key=k&alt=sse")), Framing::Sse);
        assert_eq!(Framing::of_query(Some("alt=json")), Framing::Array);
        assert_eq!(Framing::of_query(None), Framing::Array);
        let blocked = json!({"usageMetadata": {"promptTokenCount": 4}});
        assert_eq!(chunks(&blocked), [blocked]);
    }
}
