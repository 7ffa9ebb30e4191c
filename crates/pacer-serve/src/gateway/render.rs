//! A translated request's reply, rendered from Pacer's response in the shape of the
//! endpoint the client called: a chat completion, a Responses API `response`, each whole or
//! as a stream, or an embeddings list.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pacer_core::Response;

use super::respond::Reply;
use crate::translate::{self, embeddings::Encoding};

/// The shape a translated reply takes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Rendering {
    /// A `chat.completion`; streamed, with a usage chunk when the client asked for one.
    Chat { include_usage: bool },
    /// A Responses API `response`.
    Responses,
    /// An embeddings list, its vectors so encoded.
    Embeddings(Encoding),
}

impl Rendering {
    /// The reply to request `id` answered by `response`, named `model`: events when `stream`
    /// (embeddings are never streamed).
    pub(super) fn reply(self, id: &str, model: &str, response: &Response, stream: bool) -> Reply {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let (body, streamed) = match self {
            Rendering::Chat { include_usage } => {
                let id = format!("chatcmpl-{id}");
                let completion = translate::chat::completion(&id, created, model, response);
                if stream {
                    (translate::chat::events(&completion, include_usage), true)
                } else {
                    (completion.to_string(), false)
                }
            }
            Rendering::Responses => {
                let reply = translate::responses::response(id, created, model, response);
                if stream {
                    (pacer_core::response_events(&reply), true)
                } else {
                    (reply.to_string(), false)
                }
            }
            Rendering::Embeddings(encoding) => (
                translate::embeddings::list(model, response, encoding).to_string(),
                false,
            ),
        };
        Reply::Whole {
            body: Bytes::from(body),
            content_type: if streamed {
                "text/event-stream"
            } else {
                "application/json"
            },
        }
    }
}
