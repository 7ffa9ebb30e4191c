//! The one HTTP client of the process: a keep-alive pool shared by every provider, so
//! connections are reused across models and lanes.
//!
//! It is hyper's pooled client with rustls, used directly rather than through reqwest:
//! reqwest's redirect and retry layers parse the URL again on every request even when both
//! are off, which cost about a sixth of `pacer run`'s instructions against a fast server.
//! Providers post a JSON body and read the whole reply; the engine owns timeouts and retries.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{HeaderMap, HeaderValue, Method, Request, Uri, header};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pacer_core::{ErrorKind, ProviderError};

/// A reply: status, headers and the body read to its end, or why it could not be (the
/// headers still say what the rate limits are).
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body, or the failure that cut it short.
    pub body: Result<Bytes, ProviderError>,
}

/// A handle on the shared client; cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// The shared client, built on first use.
pub fn client() -> HttpClient {
    static CLIENT: OnceLock<HttpClient> = OnceLock::new();
    CLIENT.get_or_init(HttpClient::new).clone()
}

impl HttpClient {
    fn new() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(15)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::ring::default_provider())
            .expect("the system's certificate verifier is available")
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(https);
        Self { inner }
    }

    /// Posts `body` to `uri` with `headers` and reads the whole reply. Transport failures
    /// are classified as [`ErrorKind::Connection`]; their messages name neither the URL's
    /// query nor any header, so keys cannot leak through them.
    pub async fn post(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        body: Vec<u8>,
    ) -> Result<Reply, ProviderError> {
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        let all = request.headers_mut();
        all.reserve(headers.len() + 1);
        all.insert(header::USER_AGENT, user_agent());
        for (name, value) in headers {
            all.insert(name, value.clone());
        }
        let reply = self.inner.request(request).await.map_err(|e| {
            let what = if e.is_connect() {
                "cannot connect"
            } else {
                "the connection failed"
            };
            transport(what, &e)
        })?;
        let (parts, body) = reply.into_parts();
        let body = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .map_err(|e| transport("the reply was cut short", &e));
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

fn user_agent() -> HeaderValue {
    HeaderValue::from_static(concat!("pacer/", env!("CARGO_PKG_VERSION")))
}

/// A failure before a whole reply was read: refused, reset or closed connection, or a body
/// cut short. The message chains every cause (hyper's errors name no URL or header).
fn transport(what: &str, error: &(dyn std::error::Error + 'static)) -> ProviderError {
    let mut message = format!("{what}: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::new(ErrorKind::Connection, message)
}

/// Parses `url` for [`HttpClient::post`], with an error that names the setting.
pub fn parse_url(url: &str) -> Result<Uri, ProviderError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ProviderError::new(
            ErrorKind::BadRequest,
            format!("base_url must start with http:// or https://, found {url:?}"),
        ));
    }
    url.parse::<Uri>().map_err(|e| {
        ProviderError::new(
            ErrorKind::BadRequest,
            format!("base_url {url:?} is not a URL: {e}"),
        )
    })
}
