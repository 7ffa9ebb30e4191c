//! A translated request's reply, rendered from Pacer's response in the shape of the
//! endpoint the client called: a chat completion, a Responses API `response`, each whole or
//! as a stream, or an embeddings list.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pacer_core::{Delta, Response};

use super::respond::Reply;
use crate::translate::{self, embeddings::Encoding};

/// The shape a translated reply takes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Rendering {
    /// A `chat.completion`; streamed, with a usage chunk when the client asked for one.
    Chat { include_usage: bool },
    /// A Responses API `response`.
    Responses,
    /// An Anthropic Messages API `message` (a stream is a [`Renderer`]'s).
    Messages,
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
            Rendering::Messages => (
                translate::messages::message(id, model, response).to_string(),
                false,
            ),
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

/// How a translated stream's pieces are written for the client, as they come.
#[derive(Clone, Copy, Debug)]
pub(super) enum Renderer {
    /// OpenAI's `chat.completion.chunk`s, a usage chunk at the end when asked for.
    Chat { include_usage: bool },
    /// Anthropic's Messages events, `message_start` carrying the prompt's estimated tokens.
    Messages { input_tokens: u64 },
}

/// Writes one stream's pieces as server-sent events.
pub(super) trait Render: Send {
    /// What goes before the first piece.
    fn start(&mut self) -> String;
    /// The events for `delta` (perhaps none yet).
    fn push(&mut self, delta: &Delta) -> String;
    /// What ends the stream.
    fn finish(&mut self) -> String;
}

impl Render for translate::messages::MessageEvents {
    fn start(&mut self) -> String {
        translate::messages::MessageEvents::start(self)
    }
    fn push(&mut self, delta: &Delta) -> String {
        translate::messages::MessageEvents::push(self, delta)
    }
    fn finish(&mut self) -> String {
        translate::messages::MessageEvents::finish(self)
    }
}

impl Render for translate::chunks::ChatChunks {
    fn start(&mut self) -> String {
        String::new()
    }
    fn push(&mut self, delta: &Delta) -> String {
        translate::chunks::ChatChunks::push(self, delta)
    }
    fn finish(&mut self) -> String {
        translate::chunks::ChatChunks::finish(self)
    }
}

impl Renderer {
    /// The writer of request `id`'s stream, its model named `model`.
    pub(super) fn writer(self, id: &str, model: &str) -> Box<dyn Render> {
        match self {
            Renderer::Chat { include_usage } => Box::new(translate::chunks::ChatChunks::new(
                &format!("chatcmpl-{id}"),
                unix_now(),
                model,
                include_usage,
            )),
            Renderer::Messages { input_tokens } => Box::new(
                translate::messages::MessageEvents::new(id, model, input_tokens),
            ),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
