//! Gemini's `POST /v1beta/models/{model}:generateContent` (and `/v1/...`), its streamed
//! twin `:streamGenerateContent` ([`stream`]: the same reply in chunks, as server-sent events
//! with `?alt=sse`, else one JSON array), and its embedding methods `:embedContent` and
//! `:batchEmbedContents` ([`embed`]): the key (`x-goog-api-key` or `?key=`), the body's
//! checks, then on to [`Shared::complete`] with Gemini's limits (requests and tokens per
//! minute), errors and no rate-limit headers.
//!
//! Prompt tokens are counted with OpenAI's cl100k tokenizer, an approximation of Gemini's;
//! images as Gemini bills them, tools as their declarations' JSON.

mod convert;
mod embed;
mod reply;
mod request;
mod stream;

use hyper::StatusCode;
use hyper::body::Incoming;
use pacer_core::ImageBilling;

use crate::complete::{Job, Prepared};
use crate::handler::{BodyError, Shared, read_body};
use crate::limiter::Cost;
use crate::respond::{Dropped, Reply};
use crate::stats::Counters;
use crate::tokens::Encoding;
use reply::Output;
pub(crate) use reply::{Generate, error, exhausted};
use request::{Content, GenerateContentRequest};

/// A call to one of a model's methods.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// `{model}:generateContent`.
    Generate(String),
    /// `{model}:streamGenerateContent`.
    Stream(String),
    /// `{model}:embedContent`.
    Embed(String),
    /// `{model}:batchEmbedContents`.
    BatchEmbed(String),
}

impl Call {
    /// Whether it asks for embeddings.
    pub(crate) fn embeds(&self) -> bool {
        match self {
            Call::Generate(_) | Call::Stream(_) => false,
            Call::Embed(_) | Call::BatchEmbed(_) => true,
        }
    }
}

/// The call a path makes (`/v1beta/models/{model}:{method}` or `/v1/models/...`), for the
/// methods served live; `None` for any other path.
pub(crate) fn call_in_path(path: &str) -> Option<Call> {
    if let Some(model) = model_calling(path, "generateContent") {
        return Some(Call::Generate(model));
    }
    if let Some(model) = model_calling(path, "streamGenerateContent") {
        return Some(Call::Stream(model));
    }
    if let Some(model) = model_calling(path, "embedContent") {
        return Some(Call::Embed(model));
    }
    model_calling(path, "batchEmbedContents").map(Call::BatchEmbed)
}

/// The most candidates one call may ask for.
const MAX_CANDIDATES: u32 = 8;
/// The most alternatives per token.
const MAX_LOGPROBS: u8 = 20;

/// The model named by a path that calls `method` on it
/// (`/v1beta/models/{model}:{method}` or `/v1/models/...`), percent-decoded.
pub(crate) fn model_calling(path: &str, method: &str) -> Option<String> {
    let rest = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))?;
    let model = rest.strip_suffix(method)?.strip_suffix(':')?;
    let model = percent_decode(model)?;
    (!model.is_empty() && !model.contains('/')).then_some(model)
}

/// `text` with its `%XX` escapes decoded; `None` when it is not UTF-8 after.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The key a request sends: `x-goog-api-key`, else the `key` query parameter.
fn sent_key<B>(req: &hyper::Request<B>) -> Option<String> {
    if let Some(key) = req.headers().get("x-goog-api-key") {
        return Some(String::from_utf8_lossy(key.as_bytes()).into_owned());
    }
    req.uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .map(|key| percent_decode(key).unwrap_or_default())
}

/// Google's refusal (a 400 or a 403, uncounted) when the server wants a key and `req` does
/// not bear it as `x-goog-api-key` or `?key=`; `None` when it may pass.
pub(crate) fn key_refused<B>(shared: &Shared, req: &hyper::Request<B>) -> Option<Reply> {
    let expected = shared.config.api_key.as_ref()?;
    match sent_key(req) {
        None => Some(reply::missing_key()),
        Some(key) if key != *expected => Some(reply::invalid_key()),
        Some(_) => None,
    }
}

/// `POST .../models/{model}:generateContent`, `:streamGenerateContent`, `:embedContent` or
/// `:batchEmbedContents`.
pub(crate) async fn serve(
    shared: &Shared,
    call: Call,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    if let Some(reply) = key_refused(shared, &req) {
        Counters::bump(&shared.counters.unauthorized);
        return Ok(reply);
    }
    let framing = stream::Framing::of_query(req.uri().query());
    let body = match read_body(req.into_body()).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Ok(shared.refused(too_large())),
        Err(BodyError::Gone) => return Err(Dropped),
    };
    let prepared = match &call {
        Call::Generate(model) | Call::Stream(model) => prepare(shared, model, &body),
        Call::Embed(model) => prepare_embedding(shared, model, &body, false),
        Call::BatchEmbed(model) => prepare_embedding(shared, model, &body, true),
    };
    let reply = match prepared {
        Ok(prepared) => shared.complete(prepared).await?,
        Err(reply) => return Ok(shared.refused(*reply)),
    };
    Ok(match call {
        Call::Stream(_) => stream::as_stream(reply, framing),
        Call::Generate(_) | Call::Embed(_) | Call::BatchEmbed(_) => reply,
    })
}

/// An embedding body for `model` (`batch` or not) checked and priced: one request and the
/// texts' tokens, no output; the refusal (a 404 or a 400, uncounted) otherwise.
fn prepare_embedding(
    shared: &Shared,
    model: &str,
    body: &[u8],
    batch: bool,
) -> Result<Prepared<Generate>, Box<Reply>> {
    if !shared.serves(model) {
        return Err(Box::new(unknown_model(model)));
    }
    let (request, shape, tokens) = embed::parse(body, batch)
        .and_then(|requests| embed::read(model, requests, batch))
        .map_err(|message| Box::new(bad_request(message)))?;
    let job = Job {
        request,
        cost: Cost {
            tokens,
            input: None,
            output: None,
        },
        output_cap: 0,
    };
    let protocol = Generate {
        prompt_tokens: tokens,
        quota: shared.config.quota_tokens,
        output: Output::Embedding(shape),
    };
    Ok(Prepared { job, protocol })
}

/// Google's 400 for a body over the limit.
pub(crate) fn too_large() -> Reply {
    bad_request("Request payload size exceeds the limit.")
}

/// Google's 404 for a model not served.
pub(crate) fn unknown_model(model: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!(
            "models/{model} is not found for API version v1beta, or is not supported for \
             generateContent. Call ListModels to see the list of available models and \
             their supported methods."
        ),
        Vec::new(),
    )
}

/// A `generateContent` body for `model` checked and priced; the refusal (a 404 or a 400,
/// uncounted) otherwise.
pub(crate) fn prepare(
    shared: &Shared,
    model: &str,
    body: &[u8],
) -> Result<Prepared<Generate>, Box<Reply>> {
    if !shared.serves(model) {
        return Err(Box::new(unknown_model(model)));
    }
    let wire = parse(body).map_err(|message| Box::new(bad_request(message)))?;
    let config = wire.generation_config.clone().unwrap_or_default();
    let logprobs =
        (config.response_logprobs == Some(true)).then(|| usize::from(config.logprobs.unwrap_or(0)));
    let request = convert::request(model, wire);
    let prompt_tokens = request
        .messages
        .iter()
        .map(|m| Encoding::Cl100k.message(m, ImageBilling::Gemini))
        .sum::<u64>()
        + request
            .params
            .tools
            .iter()
            .map(|t| Encoding::Cl100k.tool(t))
            .sum::<u64>();
    let cap = config
        .max_output_tokens
        .unwrap_or(shared.config.default_max_tokens);
    let output_cap = u64::from(cap) * u64::from(request.n());
    let job = Job {
        request,
        cost: Cost {
            tokens: prompt_tokens + output_cap,
            input: None,
            output: None,
        },
        output_cap,
    };
    let protocol = Generate {
        prompt_tokens,
        quota: shared.config.quota_tokens,
        output: Output::Content {
            stop: config.stop_sequences.unwrap_or_default(),
            logprobs,
        },
    };
    Ok(Prepared { job, protocol })
}

/// A 400 `INVALID_ARGUMENT` (uncounted).
pub(crate) fn bad_request(message: impl Into<String>) -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        message,
        Vec::new(),
    )
}

/// The body as a `generateContent` request, or what is wrong with it, in Google's words.
fn parse(body: &[u8]) -> Result<GenerateContentRequest, String> {
    let wire: GenerateContentRequest =
        serde_json::from_slice(body).map_err(|e| format!("Invalid JSON payload received. {e}"))?;
    if wire.contents.is_empty() {
        return Err("* GenerateContentRequest.contents: contents is not specified".into());
    }
    let valid = |c: &Content| {
        matches!(
            c.role.as_deref(),
            None | Some("user" | "model" | "function")
        )
    };
    if !wire.contents.iter().all(valid) {
        return Err("Please use a valid role: user, model.".into());
    }
    let config = wire.generation_config.as_ref();
    if let Some(n) = config.and_then(|c| c.candidate_count)
        && !(1..=MAX_CANDIDATES).contains(&n)
    {
        return Err(format!(
            "* GenerateContentRequest.generation_config.candidate_count: must be between 1 and \
             {MAX_CANDIDATES}, got {n}"
        ));
    }
    if let Some(k) = config.and_then(|c| c.logprobs)
        && k > MAX_LOGPROBS
    {
        return Err(format!(
            "* GenerateContentRequest.generation_config.logprobs: must be between 0 and \
             {MAX_LOGPROBS}, got {k}"
        ));
    }
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use pacer_core::Role;

    use super::*;

    #[test]
    fn paths_name_the_model_and_the_method() {
        let model = |path| model_calling(path, "generateContent");
        assert_eq!(
            model("/v1beta/models/gemini-2.0-flash:generateContent").as_deref(),
            Some("gemini-2.0-flash")
        );
        assert_eq!(
            model("/v1/models/tuned%20one:generateContent").as_deref(),
            Some("tuned one")
        );
        assert_eq!(model("/v1beta/models/g:streamGenerateContent"), None);
        assert_eq!(model("/v1beta/models/:generateContent"), None);
        assert_eq!(model("/v1/chat/completions"), None);
        assert_eq!(percent_decode("a%2Fb%zz").as_deref(), Some("a/b%zz"));
        assert_eq!(
            call_in_path("/v1beta/models/e:embedContent"),
            Some(Call::Embed("e".into()))
        );
        assert_eq!(
            call_in_path("/v1/models/e:batchEmbedContents"),
            Some(Call::BatchEmbed("e".into()))
        );
        assert_eq!(
            call_in_path("/v1beta/models/g:generateContent"),
            Some(Call::Generate("g".into()))
        );
        assert_eq!(
            call_in_path("/v1beta/models/g:streamGenerateContent"),
            Some(Call::Stream("g".into()))
        );
        assert_eq!(call_in_path("/v1beta/models/g:countTokens"), None);
    }

    #[test]
    fn refuses_what_gemini_refuses() {
        assert!(parse(b"{").unwrap_err().starts_with("Invalid JSON payload"));
        assert!(
            parse(b"{}")
                .unwrap_err()
                .contains("contents is not specified")
        );
        let body = br#"{"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}"#;
        assert!(parse(body).unwrap_err().contains("valid role"));
        let body = br#"{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 9}}"#;
        assert!(parse(body).unwrap_err().contains("candidate_count"));
        let body =
            br#"{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"logprobs": 21}}"#;
        assert!(parse(body).unwrap_err().contains("logprobs"));
    }

    #[test]
    fn builds_the_conversation_and_parameters() {
        let wire = parse(
            br#"{"contents": [{"role": "user", "parts": [{"text": "Hi "}, {"text": "there"}]},
                              {"role": "model", "parts": [{"text": "Yo"}]}],
                 "systemInstruction": {"parts": [{"text": "Be brief."}]},
                 "generationConfig": {"candidateCount": 3, "seed": 7, "topK": 4,
                                      "maxOutputTokens": 9, "responseLogprobs": true}}"#,
        )
        .unwrap();
        let request = convert::request("g", wire);
        let texts: Vec<(Role, String)> = request
            .messages
            .iter()
            .map(|m| (m.role, m.text().into_owned()))
            .collect();
        assert_eq!(
            texts,
            [
                (Role::System, "Be brief.".to_owned()),
                (Role::User, "Hi \n\nthere".to_owned()),
                (Role::Assistant, "Yo".to_owned()),
            ]
        );
        let p = &request.params;
        assert_eq!(
            (p.n, p.seed, p.top_k, p.max_tokens),
            (3, Some(7), Some(4), Some(9))
        );
        assert!(p.logprobs);
    }
}
