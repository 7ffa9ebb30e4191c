//! A client's body posted as it is (the gateway's pass-through), its reply returned whole
//! or as a stream.

use bytes::Bytes;
use http_body_util::BodyExt;
use pacer_core::{ProviderError, RateLimitInfo};

use super::route::Route;
use super::{Api, OpenAiProvider, classify, rate_limits};
use crate::http;

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
        let url = self.endpoints.url(Route::of_api(api));
        let key = self.config.api_key.as_deref();
        if stream {
            let reply = self.client.post_streaming(url, &self.headers, body).await?;
            let limits = rate_limits(reply.headers());
            if reply.status().is_success() {
                return Ok(Forwarded::Stream {
                    reply,
                    rate_limits: limits,
                });
            }
            let status = reply.status().as_u16();
            let retry_after = http::retry_after(reply.headers());
            let body = reply
                .into_body()
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            let mut error = classify::status(status, &body, key);
            error.retry_after = retry_after;
            return Err(error.with_rate_limits(limits));
        }
        let whole = http::post(&self.client, url, &self.headers, body, rate_limits).await?;
        let limits = rate_limits(&whole.headers);
        if !(200..300).contains(&whole.status) {
            let mut error = classify::status(whole.status, &whole.body, key);
            error.retry_after = http::retry_after(&whole.headers);
            return Err(error.with_rate_limits(limits));
        }
        Ok(Forwarded::Whole {
            status: whole.status,
            body: whole.body,
            rate_limits: limits,
        })
    }
}

/// What came back for a body [forwarded](OpenAiProvider::forward) as it is.
#[derive(Debug)]
pub enum Forwarded {
    /// A 2xx reply, read whole.
    Whole {
        /// Its status.
        status: u16,
        /// Its body, as the server sent it.
        body: Bytes,
        /// What its headers said about the rate limits.
        rate_limits: Option<RateLimitInfo>,
    },
    /// A 2xx reply whose body (server-sent events) is still coming.
    Stream {
        /// The reply, its body unread.
        reply: hyper::Response<hyper::body::Incoming>,
        /// What its headers said about the rate limits.
        rate_limits: Option<RateLimitInfo>,
    },
}
