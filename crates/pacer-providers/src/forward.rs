//! A client's body posted as it is (a gateway's pass-through), its reply returned whole or as
//! a stream: what OpenAI's and Anthropic's `forward` share. A refusal is classified as `send`
//! classifies it, by [`http::refusal`].

use bytes::Bytes;
use hyper::http::{HeaderMap, Uri};
use pacer_core::{ProviderError, RateLimitInfo};

use crate::http::{self, HttpClient};

/// What came back for a body forwarded as it is
/// ([`OpenAiProvider::forward`](crate::openai::OpenAiProvider::forward),
/// [`AnthropicProvider::forward`](crate::anthropic::AnthropicProvider::forward)).
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

/// Posts `body` as it is to `url`: a 2xx reply comes back whole, or, with `stream`, as soon
/// as its head is in. Any other reply is made an error by [`http::refusal`] with `classify`
/// and `limits`, as the provider's `send` makes it.
pub(crate) async fn forward(
    client: &HttpClient,
    url: &Uri,
    headers: &HeaderMap,
    body: Vec<u8>,
    stream: bool,
    limits: impl Fn(&HeaderMap) -> Option<RateLimitInfo>,
    classify: impl FnOnce(u16, &[u8]) -> ProviderError,
) -> Result<Forwarded, ProviderError> {
    if stream {
        let opened = http::open_stream(client, url, headers, body, limits, classify).await?;
        return Ok(Forwarded::Stream {
            reply: opened.reply,
            rate_limits: opened.rate_limits,
        });
    }
    let whole = http::post(client, url, headers, body, &limits).await?;
    if !(200..300).contains(&whole.status) {
        return Err(http::refusal(
            whole.status,
            &whole.headers,
            &whole.body,
            limits,
            classify,
        ));
    }
    Ok(Forwarded::Whole {
        status: whole.status,
        body: whole.body,
        rate_limits: limits(&whole.headers),
    })
}
