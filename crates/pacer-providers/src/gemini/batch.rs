//! Gemini's batch mode: the requests go inline with the creation
//! (`models/{model}:batchGenerateContent`), which answers with a long-running operation
//! (`batches/…`) that is polled; its answers come back inline in the operation, or, for large
//! batches, as a JSONL file streamed line by line.

mod answer;
mod operation;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use hyper::http::{Method, Uri};
use pacer_core::{
    BatchApi, BatchInput, BatchLimits, BatchResults, BatchStatus, ErrorKind, ProviderError, Request,
};
use serde_json::Value;

use super::GeminiProvider;
use crate::http;
use crate::transfer::{self, parse};
use answer::Results;
use operation::{WireList, WireOperation, WireOutput};

/// How far back a batch's creation time may lie before the time its creation was intended
/// and still be the one looked for: clocks differ between here and the provider.
const CLOCK_SLACK: Duration = Duration::from_secs(600);

/// The `line` for `custom_id` around `body`, the request as the live call sends it, spliced
/// in as it is.
fn batch_line(custom_id: &str, body: &[u8]) -> Vec<u8> {
    let id = Value::from(custom_id).to_string();
    let mut line = Vec::with_capacity(body.len() + id.len() + 30);
    line.extend_from_slice(b"{\"request\":");
    line.extend_from_slice(body);
    line.extend_from_slice(b",\"metadata\":{\"key\":");
    line.extend_from_slice(id.as_bytes());
    line.extend_from_slice(b"}}");
    line
}

/// What `create` posts before and after the lines, joined by commas.
fn create_envelope(tag: &str) -> (Vec<u8>, &'static [u8]) {
    let prefix = format!(
        "{{\"batch\":{{\"displayName\":{},\"inputConfig\":{{\"requests\":{{\"requests\":[",
        Value::from(tag)
    );
    (prefix.into_bytes(), b"]}}}}")
}

impl GeminiProvider {
    fn batch_uri(&self, path: &str) -> Result<Uri, ProviderError> {
        http::endpoint(&self.config.base_url, path)
    }

    async fn batch_call(
        &self,
        method: Method,
        uri: &Uri,
        body: Bytes,
    ) -> Result<Bytes, ProviderError> {
        transfer::call(
            &self.client,
            method,
            uri,
            &self.headers,
            body,
            &self.classify(),
        )
        .await
    }

    async fn operation(
        &self,
        method: Method,
        uri: &Uri,
        body: Bytes,
    ) -> Result<WireOperation, ProviderError> {
        let bytes = self.batch_call(method, uri, body).await?;
        parse(&bytes, "batch")
    }

    /// Where a responses file (`files/…`) is downloaded: the host's `/download/{version}/`,
    /// under whatever path prefix the base has before its version.
    fn download_uri(&self, file: &str) -> Result<Uri, ProviderError> {
        let path = self.base.path().trim_end_matches('/');
        let (prefix, version) = match path.rsplit_once('/') {
            Some((prefix, version)) if !version.is_empty() => (prefix, version),
            _ => ("", "v1beta"),
        };
        let scheme = self.base.scheme_str().unwrap_or("https");
        let authority = self.base.authority().map_or("", |a| a.as_str());
        format!("{scheme}://{authority}{prefix}/download/{version}/{file}:download?alt=media")
            .parse()
            .map_err(|_| {
                ProviderError::new(
                    ErrorKind::InvalidResponse,
                    format!("the batch's responses file {file:?} cannot make a URL"),
                )
            })
    }
}

#[async_trait]
impl BatchApi for GeminiProvider {
    /// Inline requests: Google caps the whole creation request at 20 MB (the lines, joined by
    /// commas instead of newlines, plus an envelope of about a hundred bytes). Google states
    /// no cap on their number; 100,000 keeps the inline answers, which come back in one
    /// reply, to a size read whole without trouble.
    fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_requests: 100_000,
            max_bytes: 20 * 1_000_000,
        }
    }

    /// A line carries the live `generateContent` body. Batch mode's `batchGenerateContent`
    /// takes no embedding request, so one is a [`ErrorKind::BadRequest`].
    fn line(&self, custom_id: &str, request: &Request) -> Result<Vec<u8>, ProviderError> {
        if request.is_embedding() {
            return Err(ProviderError::new(
                ErrorKind::BadRequest,
                "Gemini's batch mode takes generateContent requests only: an embedding \
                 request goes live, to batchEmbedContents",
            ));
        }
        Ok(batch_line(custom_id, &self.body(request)?))
    }

    async fn upload(&self, _lines: &Path, _name: &str) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    async fn create(&self, input: BatchInput<'_>) -> Result<BatchStatus, ProviderError> {
        // A 429 RESOURCE_EXHAUSTED here is classified RateLimited: the caller waits for it.
        let (prefix, suffix) = create_envelope(input.tag);
        let body = transfer::joined_lines(input.lines, &prefix, suffix).await?;
        let uri = self.model_url(input.model, "batchGenerateContent");
        self.operation(Method::POST, &uri, body).await?.status()
    }

    async fn status(&self, id: &str) -> Result<BatchStatus, ProviderError> {
        let uri = self.batch_uri(&format!("/{id}"))?;
        self.operation(Method::GET, &uri, Bytes::new())
            .await?
            .status()
    }

    async fn results<'a>(&'a self, id: &str) -> Result<Box<dyn BatchResults + 'a>, ProviderError> {
        let uri = self.batch_uri(&format!("/{id}"))?;
        let operation = self.operation(Method::GET, &uri, Bytes::new()).await?;
        // A batch that expired or was cancelled before any answer has no output: nothing is
        // read, and the caller settles its lines by the batch's end.
        let key = self.config.api_key.as_deref();
        let results = match operation.into_output() {
            Some(WireOutput {
                inlined_responses: Some(inlined),
                ..
            }) => Results::inline(inlined.inlined_responses, key),
            Some(WireOutput {
                responses_file: Some(file),
                ..
            }) => {
                let uri = self.download_uri(&file)?;
                let classify = self.classify();
                let lines =
                    transfer::Lines::open(&self.client, &uri, &self.headers, &classify).await?;
                Results::file(lines, key)
            }
            _ => Results::inline(Vec::new(), key),
        };
        Ok(Box::new(results))
    }

    async fn find(
        &self,
        tag: &str,
        since: SystemTime,
        _count: usize,
    ) -> Result<Vec<BatchStatus>, ProviderError> {
        let cutoff = since.checked_sub(CLOCK_SLACK).unwrap_or(UNIX_EPOCH);
        let mut token: Option<String> = None;
        let mut found = Vec::new();
        loop {
            let path = match &token {
                Some(token) => format!(
                    "/batches?pageSize=100&pageToken={}",
                    transfer::query_value(token)
                ),
                None => "/batches?pageSize=100".to_owned(),
            };
            let bytes = self
                .batch_call(Method::GET, &self.batch_uri(&path)?, Bytes::new())
                .await?;
            let list: WireList = parse(&bytes, "batch list")?;
            // The listing's order is not documented, so every page is read; a creation time
            // that cannot be read does not rule a batch out.
            for op in &list.operations {
                if op.display_name() == Some(tag) && op.created().is_none_or(|t| t >= cutoff) {
                    found.push(op.status()?);
                }
            }
            token = list.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    async fn cancel(&self, id: &str) -> Result<BatchStatus, ProviderError> {
        let uri = self.batch_uri(&format!("/{id}:cancel"))?;
        self.batch_call(Method::POST, &uri, Bytes::from_static(b"{}"))
            .await?;
        self.status(id).await
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{BatchApi, Request};
    use serde_json::{Value, json};

    use super::{batch_line, create_envelope};
    use crate::gemini::{GeminiConfig, GeminiProvider};

    #[test]
    fn a_line_holds_the_live_request_under_its_key() {
        let provider = GeminiProvider::new(GeminiConfig::new(None)).unwrap();
        let request = Request::text("gemini-x", Some("Be brief."), "Hi");
        let line = provider.line("job-1", &request).unwrap();
        let value: Value = serde_json::from_slice(&line).unwrap();
        let live: Value = serde_json::from_slice(&provider.body(&request).unwrap()).unwrap();
        assert_eq!(
            value,
            json!({"request": live, "metadata": {"key": "job-1"}})
        );
        assert!(!line.contains(&b'\n'));
        assert_eq!(
            batch_line("a\"b", b"{}"),
            br#"{"request":{},"metadata":{"key":"a\"b"}}"#
        );
    }

    #[test]
    fn the_create_body_wraps_the_lines() {
        let (prefix, suffix) = create_envelope("run \"7\"");
        let mut body = prefix;
        body.extend_from_slice(b"{\"request\":{},\"metadata\":{\"key\":\"a\"}},{\"request\":{}}");
        body.extend_from_slice(suffix);
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            json!({"batch": {"displayName": "run \"7\"", "inputConfig": {"requests": {"requests": [
                {"request": {}, "metadata": {"key": "a"}}, {"request": {}}
            ]}}}})
        );
        let provider = GeminiProvider::new(GeminiConfig::new(None)).unwrap();
        assert_eq!(
            provider
                .model_url("models/gemini-2.5-flash", "batchGenerateContent")
                .to_string(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:batchGenerateContent"
        );
    }

    #[test]
    fn responses_files_download_from_the_host() {
        let provider = GeminiProvider::new(GeminiConfig::new(None)).unwrap();
        assert_eq!(
            provider.download_uri("files/batch-1").unwrap().to_string(),
            "https://generativelanguage.googleapis.com/download/v1beta/files/batch-1:download?alt=media"
        );
        let mut config = GeminiConfig::new(None);
        config.base_url = "http://127.0.0.1:9/proxy/v1/".into();
        let proxied = GeminiProvider::new(config).unwrap();
        assert_eq!(
            proxied.download_uri("files/f").unwrap().to_string(),
            "http://127.0.0.1:9/proxy/download/v1/files/f:download?alt=media"
        );
    }
}
