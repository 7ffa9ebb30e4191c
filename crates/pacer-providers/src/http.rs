//! What every HTTP provider shares: the one client, the checks on base URLs and headers made
//! when a provider is built, the POST itself, and the classification of transport failures
//! and redaction of keys done at the provider's edge.

use std::sync::OnceLock;
use std::time::Duration;

use pacer_core::{ErrorKind, ProviderError, RateLimitInfo};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

/// The one HTTP client of the process: a keep-alive pool shared by every provider, so
/// connections are reused across models and lanes.
pub fn http_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // reqwest is built without a default crypto provider (ring builds much faster
            // than aws-lc); install ring unless the embedding program chose one.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .user_agent(concat!("pacer/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(15))
                .pool_idle_timeout(Duration::from_secs(90))
                .tcp_nodelay(true)
                // The engine retries with its own classification and backoff, and APIs do
                // not redirect: both layers would only cost time on every request.
                .redirect(reqwest::redirect::Policy::none())
                .retry(reqwest::retry::never())
                .referer(false)
                .build()
                .expect("the HTTP client settings are valid")
        })
        .clone()
}

/// `base` + `path` as a URL, after checking that `base` is an http(s) URL. A trailing slash on
/// `base` is ignored.
pub(crate) fn endpoint(base: &str, path: &str) -> Result<reqwest::Url, ProviderError> {
    let base = base.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(ProviderError::new(
            ErrorKind::BadRequest,
            format!("base_url must start with http:// or https://, found {base:?}"),
        ));
    }
    reqwest::Url::parse(&format!("{base}{path}")).map_err(|e| {
        ProviderError::new(
            ErrorKind::BadRequest,
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
                ErrorKind::Auth,
                "the API key holds characters that cannot go in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    for (name, value) in extra {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ProviderError::new(ErrorKind::BadRequest, format!("bad header name {name:?}"))
        })?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            ProviderError::new(
                ErrorKind::BadRequest,
                format!("bad value for header {name}"),
            )
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

/// A reply read whole: status, headers and body.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

/// Posts `body` to `url` and reads the whole reply. A body cut short keeps what `limits`
/// reads from the headers that did come.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Vec<u8>,
    limits: impl Fn(&HeaderMap) -> Option<RateLimitInfo>,
) -> Result<Reply, ProviderError> {
    let reply = client
        .post(url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(transport)?;
    let status = reply.status().as_u16();
    let headers = reply.headers().clone();
    let body = reply
        .bytes()
        .await
        .map_err(|e| transport(e).with_rate_limits(limits(&headers)))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A failure before a whole reply was read: timeout, refused or dropped connection.
pub(crate) fn transport(error: reqwest::Error) -> ProviderError {
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else {
        // Refused, reset, closed before the reply was complete, or a body cut short.
        ErrorKind::Connection
    };
    // reqwest's message names the URL, never the headers; drop the URL, whose query some
    // gateways take keys in.
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ProviderError::new(kind, message)
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
        assert_eq!(url.as_str(), "http://127.0.0.1:9/v1/messages");
        assert_eq!(
            endpoint("api.example.com", "/x").unwrap_err().kind,
            ErrorKind::BadRequest
        );
        assert_eq!(
            endpoint("http://[::1", "/x").unwrap_err().kind,
            ErrorKind::BadRequest
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
            ErrorKind::Auth
        );
        let error = header_map(None, &[("bad name".into(), "v".into())]).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadRequest);
    }
}
