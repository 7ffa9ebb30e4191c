//! The calls a batch API makes besides completions: JSON requests to manage batches, a
//! file upload, and downloads read line by line as they arrive, so that a result file of
//! hundreds of megabytes never sits whole in memory; and the batch bodies built from a file
//! of lines.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::http::{HeaderMap, HeaderValue, Method, Uri, header::CONTENT_TYPE};
use pacer_core::{ErrorKind, ProviderError};
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use crate::http::{self, HttpClient, transport};

/// How an API classifies a reply that is not a success: the status and body, its
/// message redacted of the key.
pub(crate) type Classify<'a> = &'a (dyn Fn(u16, &[u8]) -> ProviderError + Send + Sync);

/// Sends `method` to `uri` with `body` (JSON, or empty) and reads the whole reply; a status
/// outside 2xx is `classify`'s error.
pub(crate) async fn call(
    client: &HttpClient,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    classify: Classify<'_>,
) -> Result<Bytes, ProviderError> {
    let reply = client.send(method, uri, headers, body).await?;
    let status = reply.status().as_u16();
    let body = reply
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|e| transport("the reply was cut short", &e))?;
    if !(200..300).contains(&status) {
        return Err(classify(status, &body));
    }
    Ok(body)
}

/// A download read line by line as it arrives: only one line (and one network chunk) is
/// held at a time.
pub(crate) struct Lines {
    body: hyper::body::Incoming,
    pending: BytesMut,
    ended: bool,
}

impl Lines {
    /// GETs `uri`; a status outside 2xx is `classify`'s error.
    pub(crate) async fn open(
        client: &HttpClient,
        uri: &Uri,
        headers: &HeaderMap,
        classify: Classify<'_>,
    ) -> Result<Lines, ProviderError> {
        let reply = client.send(Method::GET, uri, headers, Bytes::new()).await?;
        let status = reply.status().as_u16();
        let body = reply.into_body();
        if !(200..300).contains(&status) {
            let body = body
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            return Err(classify(status, &body));
        }
        Ok(Lines {
            body,
            pending: BytesMut::new(),
            ended: false,
        })
    }

    /// The next non-empty line, without its newline; `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, ProviderError> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line = self.pending.split_to(end + 1);
                line.truncate(end);
                if let Some(line) = non_empty(line) {
                    return Ok(Some(line));
                }
                continue;
            }
            if self.ended {
                let rest = std::mem::take(&mut self.pending);
                return Ok(non_empty(rest));
            }
            match self.body.frame().await {
                Some(frame) => {
                    let frame = frame.map_err(|e| transport("the download was cut short", &e))?;
                    if let Ok(chunk) = frame.into_data() {
                        self.pending.extend_from_slice(&chunk);
                    }
                }
                None => self.ended = true,
            }
        }
    }
}

fn non_empty(mut line: BytesMut) -> Option<Bytes> {
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    (!line.iter().all(u8::is_ascii_whitespace)).then(|| line.freeze())
}

/// Reads a JSON reply (`what` names it in the error).
pub(crate) fn parse<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ProviderError::new(
            ErrorKind::InvalidResponse,
            format!("cannot read the {what} the server sent: {e}"),
        )
    })
}

/// The file of batch lines at `path` as one JSON body: `prefix`, the lines joined by commas
/// (blank lines skipped), `suffix`. The lines go in as written, never parsed again, and the
/// body is built in the buffer the file is read into, so a batch of hundreds of megabytes is
/// held once.
pub(crate) async fn joined_lines(
    path: &Path,
    prefix: &[u8],
    suffix: &[u8],
) -> Result<Bytes, ProviderError> {
    let unreadable = |e: std::io::Error| {
        ProviderError::new(
            ErrorKind::Config,
            format!("cannot read the batch file {}: {e}", path.display()),
        )
    };
    let mut file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    let size = file.metadata().await.map_err(unreadable)?.len();
    let mut body = Vec::with_capacity(prefix.len() + size as usize + suffix.len());
    body.extend_from_slice(prefix);
    file.read_to_end(&mut body).await.map_err(unreadable)?;
    join_in_place(&mut body, prefix.len());
    body.extend_from_slice(suffix);
    Ok(Bytes::from(body))
}

/// Rewrites the lines in `buf[from..]` as the same lines joined by commas. Each line written
/// takes no more room than the line and newline read, so the write never overtakes the read.
fn join_in_place(buf: &mut Vec<u8>, from: usize) {
    let len = buf.len();
    let (mut read, mut write) = (from, from);
    while read < len {
        let end = buf[read..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(len, |at| read + at);
        let mut line = read..end;
        if buf[line.clone()].last() == Some(&b'\r') {
            line.end -= 1;
        }
        if !buf[line.clone()].iter().all(u8::is_ascii_whitespace) {
            if write > from {
                buf[write] = b',';
                write += 1;
            }
            let size = line.len();
            buf.copy_within(line, write);
            write += size;
        }
        read = end + 1;
    }
    buf.truncate(write);
}

/// `url`, a URL a provider's reply named, if it lies on `base`'s scheme and host: only there
/// is the key sent with it. A URL elsewhere (the provider's own host, seen through a proxy
/// configured as the base) is `None`, and the caller asks the base instead.
pub(crate) fn same_origin(url: &str, base: &Uri) -> Option<Uri> {
    let uri = http::endpoint(url, "").ok()?;
    (uri.scheme() == base.scheme() && uri.authority() == base.authority()).then_some(uri)
}

/// `text` escaped for a URL's query value: everything but unreserved characters.
pub(crate) fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A `multipart/form-data` body of text `fields` and one file, and its content type: what
/// a file upload posts.
pub(crate) fn multipart(
    fields: &[(&str, &str)],
    file_field: &str,
    file_name: &str,
    file: &[u8],
) -> (Bytes, HeaderValue) {
    // The boundary must not occur in the parts; a JSONL file of requests never holds this
    // run of dashes and letters followed by the random suffix.
    let boundary = format!("----pacer-boundary-{:016x}", boundary_seed(file));
    let mut body = Vec::with_capacity(file.len() + 512);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{file_name}\"\r\nContent-Type: application/jsonl\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
        .expect("the boundary is plain text");
    (Bytes::from(body), content_type)
}

/// A number that differs from file to file, for the multipart boundary.
fn boundary_seed(file: &[u8]) -> u64 {
    // FNV-1a over the start and the length: cheap, and any value works.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ file.len() as u64;
    for &b in file.iter().take(4096) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// `headers` with the content type replaced.
pub(crate) fn with_content_type(headers: &HeaderMap, content_type: HeaderValue) -> HeaderMap {
    let mut headers = headers.clone();
    headers.insert(CONTENT_TYPE, content_type);
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_holds_the_fields_and_the_file() {
        let (body, content_type) = multipart(&[("purpose", "batch")], "file", "b.jsonl", b"{}\n");
        let text = String::from_utf8(body.to_vec()).unwrap();
        let boundary = content_type
            .to_str()
            .unwrap()
            .split("boundary=")
            .nth(1)
            .unwrap()
            .to_owned();
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"purpose\"\r\n\r\nbatch\r\n"));
        assert!(text.contains("filename=\"b.jsonl\""));
        assert!(text.ends_with(&format!("{{}}\n\r\n--{boundary}--\r\n")));
    }

    fn joined(prefix: &str, lines: &str) -> String {
        let mut buf = format!("{prefix}{lines}").into_bytes();
        join_in_place(&mut buf, prefix.len());
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn lines_are_joined_by_commas_in_place() {
        assert_eq!(
            joined("[", "{\"a\":1}\n{\"b\":2}\n"),
            "[{\"a\":1},{\"b\":2}"
        );
        assert_eq!(joined("[", "{}\r\n\n  \n{}"), "[{},{}");
        assert_eq!(joined("[", "\n{}\n"), "[{}");
        assert_eq!(joined("[", ""), "[");
        assert_eq!(joined("", "1\n22\n333\n"), "1,22,333");
    }

    #[tokio::test]
    async fn a_lines_file_becomes_one_body() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.jsonl");
        std::fs::write(&path, "{\"x\":\"a\\nb\"}\n{\"y\":[1,2]}\n").unwrap();
        let body = joined_lines(&path, b"{\"requests\":[", b"]}")
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"requests": [{"x": "a\nb"}, {"y": [1, 2]}]})
        );
        let missing = joined_lines(&dir.path().join("none"), b"[", b"]").await;
        assert_eq!(missing.unwrap_err().kind, ErrorKind::Config);
    }

    #[test]
    fn only_urls_on_the_base_origin_are_followed() {
        let base: Uri = "https://api.anthropic.com/v1/messages".parse().unwrap();
        let same = same_origin(
            "https://api.anthropic.com/v1/messages/batches/b/results",
            &base,
        );
        assert_eq!(same.unwrap().path(), "/v1/messages/batches/b/results");
        assert!(same_origin("https://evil.example/v1/x", &base).is_none());
        assert!(same_origin("http://api.anthropic.com/v1/x", &base).is_none());
        assert!(same_origin("/v1/x", &base).is_none());
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_value("ab-_.~9"), "ab-_.~9");
        assert_eq!(query_value("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }
}
