//! A client's body posted as it is (the gateway's pass-through) to one of OpenAI's
//! endpoints, its reply returned whole or as a stream.

use pacer_core::ProviderError;

use super::route::Route;
use super::{Api, OpenAiProvider, classify, rate_limits};
use crate::forward::{Forwarded, forward};

impl OpenAiProvider {
    /// Posts a client's JSON `body` as it is to `api`'s endpoint (a gateway's pass-through):
    /// a 2xx reply comes back whole, or, with `stream`, as soon as its head is in, its
    /// server-sent events still coming. Any other reply is classified as [`send`]'s are, its
    /// message redacted of the key.
    ///
    /// [`send`]: pacer_core::Provider::send
    pub async fn forward(
        &self,
        api: Api,
        body: Vec<u8>,
        stream: bool,
    ) -> Result<Forwarded, ProviderError> {
        let key = self.config.api_key.as_deref();
        forward(
            &self.client,
            self.endpoints.url(Route::of_api(api)),
            &self.headers,
            body,
            stream,
            rate_limits,
            |status, body| classify::status(status, body, key),
        )
        .await
    }
}
