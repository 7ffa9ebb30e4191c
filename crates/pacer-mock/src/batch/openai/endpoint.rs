//! The endpoints an OpenAI batch may run, and how each checks and prices a line's body: as
//! its live endpoint does, with the same code.

use crate::complete::Prepared;
use crate::endpoints::{self, OpenAi};
use crate::handler::Shared;
use crate::requests::{ChatRequest, CompletionRequest};
use crate::respond::Reply;
use crate::{embeddings, responses};

/// The endpoints a batch may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Responses,
}

impl Endpoint {
    /// Every endpoint a batch may run.
    pub(super) const ALL: [Endpoint; 4] = [
        Endpoint::Chat,
        Endpoint::Completions,
        Endpoint::Embeddings,
        Endpoint::Responses,
    ];

    /// Its path, as a batch and its lines name it.
    pub(super) fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/v1/chat/completions",
            Endpoint::Completions => "/v1/completions",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::Responses => "/v1/responses",
        }
    }

    /// Its name in OpenAI's messages about it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "Chat Completions",
            Endpoint::Completions => "Completions",
            Endpoint::Embeddings => "Embeddings",
            Endpoint::Responses => "Responses",
        }
    }

    /// The field a line's body must hold besides `model`, and its name in OpenAI's message.
    pub(super) fn required(self) -> (&'static str, &'static str) {
        match self {
            Endpoint::Chat => ("messages", "Messages"),
            Endpoint::Completions => ("prompt", "Prompt"),
            Endpoint::Embeddings | Endpoint::Responses => ("input", "Input"),
        }
    }

    /// A line's body checked and priced as this endpoint checks it live.
    pub(super) fn prepare(
        self,
        shared: &Shared,
        body: &[u8],
    ) -> Result<Prepared<OpenAi>, Box<Reply>> {
        match self {
            Endpoint::Chat => endpoints::parse::<ChatRequest>(body)
                .and_then(|wire| endpoints::prepare_chat(shared, wire)),
            Endpoint::Completions => endpoints::parse::<CompletionRequest>(body)
                .and_then(|wire| endpoints::prepare_completion(shared, wire)),
            Endpoint::Embeddings => {
                endpoints::parse(body).and_then(|wire| embeddings::prepare(shared, wire))
            }
            Endpoint::Responses => {
                endpoints::parse(body).and_then(|wire| responses::prepare(shared, wire))
            }
        }
    }
}
