//! What every HTTP provider shares: the one client of the process (a keep-alive pool, so
//! connections are reused across models and lanes), the checks on base URLs and headers made
//! when a provider is built, the POST itself, and the classification of transport failures
//! and redaction of keys done at the provider's edge.
//!
//! It is hyper's pooled client with rustls, used directly rather than through reqwest:
//! reqwest's redirect and retry layers parse the URL again on every request even when both
//! are off, which cost about a sixth of `pacer run`'s instructions against a fast server.
//! Providers post a JSON body and read the whole reply; the engine owns timeouts and retries.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::header::{self, CONTENT_TYPE, HeaderName};
use hyper::http::{HeaderMap, HeaderValue, Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pacer_core::{ErrorKind, ProviderError, RateLimitInfo, Response};

/// A reply: status, headers and the body read to its end, or why it could not be (the
/// headers still say what the rate limits are).
#[derive(Debug)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The whole body, or the failure that cut it short.
    pub(crate) body: Result<Bytes, ProviderError>,
}

/// A handle on the shared client; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// The shared client, built on first use.
pub(crate) fn http_client() -> HttpClient {
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
    pub(crate) async fn post(
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

    /// Posts `body` to `uri` with `headers` and returns the reply as soon as its head is in,
    /// its body still streaming (for server-sent events). Transport failures are classified
    /// as in [`post`](Self::post).
    pub(crate) async fn post_streaming(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        body: Vec<u8>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ProviderError> {
        self.send(Method::POST, uri, headers, Bytes::from(body))
            .await
    }

    /// Sends a `method` request with `body` to `uri` and returns the reply as soon as its
    /// head is in, its body unread. Transport failures are classified as in
    /// [`post`](Self::post).
    pub(crate) async fn send(
        &self,
        method: Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ProviderError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri.clone();
        let all = request.headers_mut();
        all.insert(header::USER_AGENT, user_agent());
        for (name, value) in headers {
            all.insert(name, value.clone());
        }
        self.inner.request(request).await.map_err(|e| {
            let what = if e.is_connect() {
                "cannot connect"
            } else {
                "the connection failed"
            };
            transport(what, &e)
        })
    }
}

fn user_agent() -> HeaderValue {
    HeaderValue::from_static(concat!("pacer/", env!("CARGO_PKG_VERSION")))
}

/// A failure before a whole reply was read: refused, reset or closed connection, or a body
/// cut short. The message chains every cause (hyper's errors name no URL or header).
pub(crate) fn transport(what: &str, error: &(dyn std::error::Error + 'static)) -> ProviderError {
    let mut message = format!("{what}: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::new(ErrorKind::Connection, message)
}

/// `base` + `path` as a URL, after checking that `base` is an http(s) URL. A trailing slash on
/// `base` is ignored.
pub(crate) fn endpoint(base: &str, path: &str) -> Result<Uri, ProviderError> {
    let base = base.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(ProviderError::new(
            ErrorKind::Config,
            format!("base_url must start with http:// or https://, found {base:?}"),
        ));
    }
    format!("{base}{path}").parse::<Uri>().map_err(|e| {
        ProviderError::new(
            ErrorKind::Config,
            format!("base_url {base:?} is not a URL: {e}"),
        )
    })
}

/// The headers sent with every request: JSON content, the key under `auth` (a header name and
/// its whole value), then the configured `extra` headers, which may replace either. Every
/// value but the content type is marked sensitive, so it never shows in a Debug print.
pub(crate) fn header_map(
    auth: Option<(HeaderName, String)>,
    extra: &[(String, String)],
) -> Result<HeaderMap, ProviderError> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some((name, value)) = auth {
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            ProviderError::new(
                ErrorKind::Config,
                "the API key holds characters that cannot go in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    for (name, value) in extra {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ProviderError::new(ErrorKind::Config, format!("bad header name {name:?}"))
        })?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            ProviderError::new(ErrorKind::Config, format!("bad value for header {name}"))
        })?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// A reply's headers as text pairs, skipping values that are not text.
pub(crate) fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
}

/// `retry-after-ms` or `retry-after`, as [`pacer_core::retry_after`] reads them.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    pacer_core::retry_after(pairs(headers))
}

/// Posts `body` to `url` and reads the whole reply. A body cut short keeps what `limits`
/// reads from the headers that did come.
pub(crate) async fn post(
    client: &HttpClient,
    url: &Uri,
    headers: &HeaderMap,
    body: Vec<u8>,
    limits: impl Fn(&HeaderMap) -> Option<RateLimitInfo>,
) -> Result<Whole, ProviderError> {
    let reply = client.post(url, headers, body).await?;
    let body = reply
        .body
        .map_err(|e| e.with_rate_limits(limits(&reply.headers)))?;
    Ok(Whole {
        status: reply.status,
        headers: reply.headers,
        body,
    })
}

/// Posts `body` and makes the reply a [`Response`]: a non-2xx status is classified by
/// `classify` (with the reply's `retry-after`), a 2xx body is read by `parse`, and what
/// `limits` reads from the headers is attached either way.
pub(crate) async fn exchange(
    client: &HttpClient,
    url: &Uri,
    headers: &HeaderMap,
    body: Vec<u8>,
    limits: impl Fn(&HeaderMap) -> Option<RateLimitInfo>,
    classify: impl FnOnce(u16, &[u8]) -> ProviderError,
    parse: impl FnOnce(&[u8]) -> Result<Response, ProviderError>,
) -> Result<Response, ProviderError> {
    let Whole {
        status,
        headers,
        body,
    } = post(client, url, headers, body, &limits).await?;
    if !(200..300).contains(&status) {
        return Err(refusal(status, &headers, &body, &limits, classify));
    }
    let limits = limits(&headers);
    match parse(&body) {
        Ok(mut response) => {
            response.rate_limits = limits;
            Ok(response)
        }
        Err(error) => Err(error.with_status(status).with_rate_limits(limits)),
    }
}

/// A non-2xx reply as the error it is: classified by `classify` from its status and body,
/// waiting what the body says (where `classify` reads a wait there) or else what its
/// `retry-after` says, with what `limits` reads from its headers.
pub(crate) fn refusal(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    limits: impl Fn(&HeaderMap) -> Option<RateLimitInfo>,
    classify: impl FnOnce(u16, &[u8]) -> ProviderError,
) -> ProviderError {
    let mut error = classify(status, body);
    if error.retry_after.is_none() {
        error.retry_after = retry_after(headers);
    }
    error.with_rate_limits(limits(headers))
}

/// A reply whose head is in, its body still coming.
pub(crate) struct Opened {
    /// The reply, its body unread.
    pub(crate) reply: hyper::Response<hyper::body::Incoming>,
    /// What its headers say about the rate limits.
    pub(crate) rate_limits: Option<RateLimitInfo>,
}

/// Posts `body` for a streamed reply and returns it once its head is in, with what `limits`
/// reads from its headers: a 2xx reply with its body still coming, any other read whole and
/// made an error by [`refusal`], as [`exchange`] makes it.
pub(crate) async fn open_stream(
    client: &HttpClient,
    url: &Uri,
    headers: &HeaderMap,
    body: Vec<u8>,
    limits: impl Fn(&HeaderMap) -> Option<RateLimitInfo>,
    classify: impl FnOnce(u16, &[u8]) -> ProviderError,
) -> Result<Opened, ProviderError> {
    let reply = client.post_streaming(url, headers, body).await?;
    if reply.status().is_success() {
        let rate_limits = limits(reply.headers());
        return Ok(Opened { reply, rate_limits });
    }
    let (parts, body) = reply.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|e| {
            transport("the reply was cut short", &e).with_rate_limits(limits(&parts.headers))
        })?;
    let status = parts.status.as_u16();
    Err(refusal(status, &parts.headers, &body, limits, classify))
}

/// A reply read whole: status, headers and body.
pub(crate) struct Whole {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// The start of a body that is not the API's error JSON, redacted whole before it is cut so
/// no key straddles the cut.
pub(crate) fn excerpt(body: &[u8], api_key: Option<&str>) -> String {
    let whole = redact(String::from_utf8_lossy(body).trim(), api_key);
    whole.chars().take(300).collect()
}

/// Removes the key, and anything shaped like a secret key (OpenAI's and Anthropic's `sk-...`,
/// Google's `AIza...`), from a server's message: some servers quote part of the key they were
/// sent.
pub(crate) fn redact(message: &str, api_key: Option<&str>) -> String {
    let mut out = match api_key.filter(|k| k.len() >= 4) {
        Some(key) => message.replace(key, "[redacted]"),
        None => message.to_owned(),
    };
    for prefix in ["sk-", "AIza"] {
        out = redact_prefixed(out, prefix);
    }
    out
}

/// Masks each `prefix` followed by at least six key characters (masked keys' `*` included).
fn redact_prefixed(mut out: String, prefix: &str) -> String {
    let secret = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*');
    let mut from = 0;
    while let Some(found) = out[from..].find(prefix) {
        let start = from + found;
        let body = start + prefix.len();
        let len = out[body..].find(|c| !secret(c)).unwrap_or(out.len() - body);
        if len >= 6 {
            out.replace_range(start..body + len, "[redacted]");
            from = start + "[redacted]".len();
        } else {
            from = body;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_keys_of_every_shape() {
        assert_eq!(
            redact("key sk-abc***************wxyz is wrong", None),
            "key [redacted] is wrong"
        );
        assert_eq!(redact("ask-me and sk-1", None), "ask-me and sk-1");
        assert_eq!(
            redact("bad: AIzaSyA-1234567890abcdefghijklmnopqrstu.", None),
            "bad: [redacted]."
        );
        assert_eq!(redact("AIza is a prefix", None), "AIza is a prefix");
        assert_eq!(
            redact("you sent my-own-key-42!", Some("my-own-key-42")),
            "you sent [redacted]!"
        );
    }

    #[test]
    fn endpoints_need_a_scheme_and_ignore_a_trailing_slash() {
        let url = endpoint("http://127.0.0.1:9/v1/", "/messages").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:9/v1/messages");
        assert_eq!(
            endpoint("api.example.com", "/x").unwrap_err().kind,
            ErrorKind::Config
        );
        assert_eq!(
            endpoint("http://[::1", "/x").unwrap_err().kind,
            ErrorKind::Config
        );
    }

    #[test]
    fn header_values_are_sensitive_and_checked() {
        let auth = (HeaderName::from_static("x-api-key"), "k".to_owned());
        let headers = header_map(Some(auth), &[("x-extra".into(), "1".into())]).unwrap();
        assert!(headers["x-api-key"].is_sensitive());
        assert!(!format!("{headers:?}").contains("\"k\""));
        let bad = (HeaderName::from_static("x-api-key"), "a\nb".to_owned());
        assert_eq!(
            header_map(Some(bad), &[]).unwrap_err().kind,
            ErrorKind::Config
        );
        let error = header_map(None, &[("bad name".into(), "v".into())]).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config);
    }
}
