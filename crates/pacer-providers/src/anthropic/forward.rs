//! A client's body posted as it is (a gateway's pass-through) to one of Anthropic's Messages
//! endpoints, its reply returned whole or as a stream.

use pacer_core::ProviderError;

use super::{AnthropicProvider, classify, rate_limits};
use crate::forward::{Forwarded, forward};

/// The endpoints a body can be [forwarded](AnthropicProvider::forward) to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST {base_url}/v1/messages`.
    Messages,
    /// `POST {base_url}/v1/messages/count_tokens`.
    CountTokens,
}

impl AnthropicProvider {
    /// Posts a client's JSON `body` as it is to `endpoint` (a gateway's pass-through), with
    /// the provider's `x-api-key`, `anthropic-version` and configured headers: a 2xx reply
    /// comes back whole, or, with `stream`, as soon as its head is in, its server-sent events
    /// still coming. Any other reply is classified as [`send`]'s are, its message redacted of
    /// the key; the rate limits are read from the `anthropic-ratelimit-*` headers either way.
    ///
    /// [`send`]: pacer_core::Provider::send
    pub async fn forward(
        &self,
        endpoint: Endpoint,
        body: Vec<u8>,
        stream: bool,
    ) -> Result<Forwarded, ProviderError> {
        let url = match endpoint {
            Endpoint::Messages => &self.url,
            Endpoint::CountTokens => &self.count_tokens_url,
        };
        let key = self.config.api_key.as_deref();
        forward(
            &self.client,
            url,
            &self.headers,
            body,
            stream,
            rate_limits,
            |status, body| classify::status(status, body, key),
        )
        .await
    }
}
