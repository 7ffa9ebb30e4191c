//! OpenAI's Batch API: a JSONL file uploaded with `purpose = batch`, `POST /batches` over
//! it, polled, and its output and error files streamed back line by line.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use hyper::http::{Method, Uri};
use pacer_core::{
    BatchApi, BatchInput, BatchLimits, BatchLine, BatchResults, BatchStatus, ErrorKind,
    ProviderError, Request,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::batch_wire::{TAG_KEY, WireBatch, WireList, result_line};
use super::route::Route;
use super::{OpenAiProvider, classify};
use crate::transfer::parse;
use crate::{http, transfer};

/// How far back the listing is read when a batch is looked for, before the time its
/// creation was intended: clocks differ between here and the provider.
const CLOCK_SLACK: Duration = Duration::from_secs(600);

impl OpenAiProvider {
    fn batch_uri(&self, path: &str) -> Result<Uri, ProviderError> {
        http::endpoint(&self.config.base_url, path)
    }

    fn classify(&self) -> impl Fn(u16, &[u8]) -> ProviderError + Send + Sync + '_ {
        move |status, body| classify::status(status, body, self.config.api_key.as_deref())
    }

    async fn batch_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Bytes, ProviderError> {
        let uri = self.batch_uri(path)?;
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        transfer::call(
            &self.client,
            method,
            &uri,
            &self.headers,
            body,
            &self.classify(),
        )
        .await
    }

    async fn batch_object(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<WireBatch, ProviderError> {
        let bytes = self.batch_call(method, path, body).await?;
        parse(&bytes, "batch")
    }

    /// The lines of the file `id`, as they download.
    async fn file_lines(&self, id: &str) -> Result<transfer::Lines, ProviderError> {
        let uri = self.batch_uri(&format!("/files/{id}/content"))?;
        transfer::Lines::open(&self.client, &uri, &self.headers, &self.classify()).await
    }
}

/// The endpoint a file of batch lines asks, named by its first line's `url`: one batch
/// serves one endpoint, and a lane's lines all go to the same one (embeddings, or the
/// model's API).
async fn lines_endpoint(path: &Path) -> Result<Route, ProviderError> {
    let unreadable = |why: String| {
        ProviderError::new(
            ErrorKind::Config,
            format!("cannot read the batch file {}: {why}", path.display()),
        )
    };
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    let mut first = Vec::new();
    BufReader::new(file)
        .read_until(b'\n', &mut first)
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    #[derive(Deserialize)]
    struct Line {
        url: String,
    }
    let line: Line = serde_json::from_slice(&first).map_err(|e| unreadable(e.to_string()))?;
    Route::from_batch_url(&line.url).ok_or_else(|| {
        unreadable(format!(
            "its lines ask {}, no endpoint Pacer knows",
            line.url
        ))
    })
}

/// A batch's output file, then its error file, read line by line.
struct Results<'a> {
    provider: &'a OpenAiProvider,
    files: Vec<String>,
    current: Option<transfer::Lines>,
}

#[async_trait]
impl BatchResults for Results<'_> {
    async fn next(&mut self) -> Option<Result<BatchLine, ProviderError>> {
        loop {
            let lines = match &mut self.current {
                Some(lines) => lines,
                None => {
                    let file = self.files.pop()?;
                    match self.provider.file_lines(&file).await {
                        Ok(lines) => self.current.insert(lines),
                        Err(error) => return Some(Err(error)),
                    }
                }
            };
            match lines.next().await {
                Ok(Some(line)) => {
                    let config = &self.provider.config;
                    return Some(Ok(result_line(
                        &line,
                        config.api,
                        config.api_key.as_deref(),
                    )));
                }
                Ok(None) => self.current = None,
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

#[async_trait]
impl BatchApi for OpenAiProvider {
    fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_requests: 50_000,
            max_bytes: 200 * 1_000_000,
        }
    }

    fn line(&self, custom_id: &str, request: &Request) -> Result<Vec<u8>, ProviderError> {
        let body: Value = serde_json::from_slice(&self.body(request)?).map_err(|e| {
            ProviderError::new(ErrorKind::BadRequest, format!("cannot encode: {e}"))
        })?;
        let url = Route::of(self.config.api, request).batch_url();
        let line = json!({"custom_id": custom_id, "method": "POST", "url": url, "body": body});
        Ok(line.to_string().into_bytes())
    }

    async fn upload(&self, lines: &Path, name: &str) -> Result<Option<String>, ProviderError> {
        let file = tokio::fs::read(lines).await.map_err(|e| {
            ProviderError::new(
                ErrorKind::Config,
                format!("cannot read the batch file {}: {e}", lines.display()),
            )
        })?;
        let (body, content_type) =
            transfer::multipart(&[("purpose", "batch")], "file", name, &file);
        drop(file);
        let headers = transfer::with_content_type(&self.headers, content_type);
        let uri = self.batch_uri("/files")?;
        let reply = transfer::call(
            &self.client,
            Method::POST,
            &uri,
            &headers,
            body,
            &self.classify(),
        )
        .await?;
        #[derive(Deserialize)]
        struct Uploaded {
            id: String,
        }
        let uploaded: Uploaded = parse(&reply, "file")?;
        Ok(Some(uploaded.id))
    }

    async fn create(&self, input: BatchInput<'_>) -> Result<BatchStatus, ProviderError> {
        let Some(file) = input.uploaded else {
            return Err(ProviderError::new(
                ErrorKind::Config,
                "an OpenAI batch needs its file uploaded first",
            ));
        };
        let endpoint = lines_endpoint(input.lines).await?.batch_url();
        let body = json!({
            "input_file_id": file,
            "endpoint": endpoint,
            "completion_window": "24h",
            "metadata": {TAG_KEY: input.tag, "pacer_model": input.model},
        });
        Ok(self
            .batch_object(Method::POST, "/batches", Some(body))
            .await?
            .status())
    }

    async fn status(&self, id: &str) -> Result<BatchStatus, ProviderError> {
        Ok(self
            .batch_object(Method::GET, &format!("/batches/{id}"), None)
            .await?
            .status())
    }

    async fn results<'a>(&'a self, id: &str) -> Result<Box<dyn BatchResults + 'a>, ProviderError> {
        let batch = self
            .batch_object(Method::GET, &format!("/batches/{id}"), None)
            .await?;
        // Popped from the end: the output file first, then the error file.
        let files = [batch.error_file_id, batch.output_file_id]
            .into_iter()
            .flatten()
            .collect();
        Ok(Box::new(Results {
            provider: self,
            files,
            current: None,
        }))
    }

    async fn find(
        &self,
        tag: &str,
        since: SystemTime,
        _count: usize,
    ) -> Result<Vec<BatchStatus>, ProviderError> {
        let since = since
            .checked_sub(CLOCK_SLACK)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let mut after: Option<String> = None;
        let mut found = Vec::new();
        loop {
            let path = match &after {
                Some(id) => format!("/batches?limit=100&after={id}"),
                None => "/batches?limit=100".to_owned(),
            };
            let bytes = self.batch_call(Method::GET, &path, None).await?;
            let list: WireList = parse(&bytes, "batch list")?;
            let older = list.data.iter().any(|b| b.created_at < since);
            after = list.data.last().map(|b| b.id.clone());
            found.extend(
                list.data
                    .into_iter()
                    .filter(|b| b.tag() == Some(tag))
                    .map(WireBatch::status),
            );
            // Newest first: once the page reaches before `since`, nothing later matches.
            if !list.has_more || older || after.is_none() {
                return Ok(found);
            }
        }
    }

    async fn cancel(&self, id: &str) -> Result<BatchStatus, ProviderError> {
        Ok(self
            .batch_object(Method::POST, &format!("/batches/{id}/cancel"), None)
            .await?
            .status())
    }
}
