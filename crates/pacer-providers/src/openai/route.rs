//! Which endpoint a request goes to, and which reader its reply takes: the configured API
//! for completions, `/embeddings` for every embedding request whatever the API.

use hyper::http::Uri;
use pacer_core::{ProviderError, Request, Response};
use serde_json::Value;

use super::{Api, convert, embeddings, responses};
use crate::http;

/// One of the endpoints Pacer posts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/chat/completions`.
    Chat,
    /// `/completions`.
    Completions,
    /// `/responses`.
    Responses,
    /// `/embeddings`.
    Embeddings,
}

impl Route {
    /// The endpoint of `api`'s completions.
    pub(crate) fn of_api(api: Api) -> Route {
        match api {
            Api::Chat => Route::Chat,
            Api::Completions => Route::Completions,
            Api::Responses => Route::Responses,
        }
    }

    /// Where `request` goes when the model is called through `api`.
    pub(crate) fn of(api: Api, request: &Request) -> Route {
        if request.is_embedding() {
            Route::Embeddings
        } else {
            Route::of_api(api)
        }
    }

    /// The path under the base URL.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Route::Chat => "/chat/completions",
            Route::Completions => "/completions",
            Route::Responses => "/responses",
            Route::Embeddings => "/embeddings",
        }
    }

    /// The `url` of a batch line, and the `endpoint` of a batch, for this endpoint.
    pub(crate) fn batch_url(self) -> &'static str {
        match self {
            Route::Chat => "/v1/chat/completions",
            Route::Completions => "/v1/completions",
            Route::Responses => "/v1/responses",
            Route::Embeddings => "/v1/embeddings",
        }
    }

    /// The endpoint a batch line's `url` names, if it is one Pacer writes.
    pub(crate) fn from_batch_url(url: &str) -> Option<Route> {
        [
            Route::Chat,
            Route::Completions,
            Route::Responses,
            Route::Embeddings,
        ]
        .into_iter()
        .find(|route| route.batch_url() == url)
    }

    /// The endpoint that wrote a reply `body`, by its `object`; `fallback` where it says
    /// none (some compatible servers leave it out).
    pub(crate) fn of_reply(body: &Value, fallback: Route) -> Route {
        match body.get("object").and_then(Value::as_str) {
            Some("chat.completion") => Route::Chat,
            Some("text_completion") => Route::Completions,
            Some("response") => Route::Responses,
            Some("list") => Route::Embeddings,
            _ => fallback,
        }
    }

    /// Reads a 2xx reply of this endpoint; an embeddings reply must hold `inputs` vectors
    /// where the count is known.
    pub(crate) fn read(
        self,
        body: &[u8],
        inputs: Option<usize>,
    ) -> Result<Response, ProviderError> {
        match self {
            Route::Chat => convert::chat_response(body),
            Route::Completions => convert::completion_response(body),
            Route::Responses => responses::response(body),
            Route::Embeddings => embeddings::response(body, inputs),
        }
    }
}

/// The URLs of every endpoint, parsed once: parsing a URL per request shows in profiles.
#[derive(Debug)]
pub(crate) struct Endpoints {
    chat: Uri,
    completions: Uri,
    responses: Uri,
    embeddings: Uri,
}

impl Endpoints {
    /// The endpoints under `base_url`.
    pub(crate) fn new(base_url: &str) -> Result<Self, ProviderError> {
        let at = |route: Route| http::endpoint(base_url, route.path());
        Ok(Self {
            chat: at(Route::Chat)?,
            completions: at(Route::Completions)?,
            responses: at(Route::Responses)?,
            embeddings: at(Route::Embeddings)?,
        })
    }

    /// The URL of `route`.
    pub(crate) fn url(&self, route: Route) -> &Uri {
        match route {
            Route::Chat => &self.chat,
            Route::Completions => &self.completions,
            Route::Responses => &self.responses,
            Route::Embeddings => &self.embeddings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batch_urls_name_their_endpoint_both_ways() {
        for route in [
            Route::Chat,
            Route::Completions,
            Route::Responses,
            Route::Embeddings,
        ] {
            assert_eq!(Route::from_batch_url(route.batch_url()), Some(route));
            assert!(route.batch_url().ends_with(route.path()));
        }
        assert_eq!(Route::from_batch_url("/v1/images/generations"), None);
    }

    #[test]
    fn a_reply_names_its_endpoint_or_takes_the_fallback() {
        let of = |object: Value| Route::of_reply(&json!({"object": object}), Route::Chat);
        assert_eq!(of(json!("response")), Route::Responses);
        assert_eq!(of(json!("list")), Route::Embeddings);
        assert_eq!(of(json!("text_completion")), Route::Completions);
        assert_eq!(of(json!(null)), Route::Chat);
        assert_eq!(
            Route::of_reply(&json!({}), Route::Responses),
            Route::Responses
        );
    }

    #[test]
    fn embedding_requests_go_to_embeddings_whatever_the_api() {
        let embedding = Request::embedding("text-embedding-3-small", vec!["a".into()]);
        let chat = Request::text("gpt-4o", None, "Hi");
        for api in [Api::Chat, Api::Completions, Api::Responses] {
            assert_eq!(Route::of(api, &embedding), Route::Embeddings);
            assert_eq!(Route::of(api, &chat), Route::of_api(api));
        }
    }
}
