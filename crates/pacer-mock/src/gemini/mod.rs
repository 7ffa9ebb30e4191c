//! Gemini's `POST /v1beta/models/{model}:generateContent` (and `/v1/...`): the key
//! (`x-goog-api-key` or `?key=`), the body's checks, then on to [`Shared::complete`] with
//! Gemini's limits (requests and tokens per minute), errors and no rate-limit headers.
//!
//! Prompt tokens are counted with OpenAI's cl100k tokenizer: an approximation of Gemini's.

mod reply;
mod request;

use hyper::StatusCode;
use hyper::body::Incoming;
use pacer_core::{Message, Params, Request, Role};

use crate::complete::{Job, Prepared};
use crate::handler::{BodyError, Shared, read_body};
use crate::limiter::Cost;
use crate::respond::{Dropped, Reply};
use crate::stats::Counters;
use crate::tokens::Encoding;
pub(crate) use reply::{Generate, error, exhausted};
use request::{Content, GenerateContentRequest};

/// The most candidates one call may ask for.
const MAX_CANDIDATES: u32 = 8;
/// The most alternatives per token.
const MAX_LOGPROBS: u8 = 20;

/// The model named by a `generateContent` path (`/v1beta/models/{model}:generateContent`
/// or `/v1/models/...`), percent-decoded; `None` for any other path.
pub(crate) fn model_in_path(path: &str) -> Option<String> {
    model_calling(path, "generateContent")
}

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

/// `POST .../models/{model}:generateContent`.
pub(crate) async fn generate(
    shared: &Shared,
    model: &str,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    if let Some(reply) = key_refused(shared, &req) {
        Counters::bump(&shared.counters.unauthorized);
        return Ok(reply);
    }
    let body = match read_body(req.into_body()).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return Ok(shared.refused(too_large())),
        Err(BodyError::Gone) => return Err(Dropped),
    };
    match prepare(shared, model, &body) {
        Ok(prepared) => shared.complete(prepared).await,
        Err(reply) => Ok(shared.refused(*reply)),
    }
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
    let request = request(model, wire);
    let prompt_tokens = request
        .messages
        .iter()
        .map(|m| Encoding::Cl100k.count(&m.text()))
        .sum();
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
        stop: config.stop_sequences.unwrap_or_default(),
        logprobs,
        quota: shared.config.quota_tokens,
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
    let valid = |c: &Content| matches!(c.role.as_deref(), None | Some("user" | "model"));
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

/// The text of a turn: its parts' text, joined.
fn text(content: Content) -> String {
    content.parts.into_iter().filter_map(|p| p.text).collect()
}

/// Pacer's request for a `generateContent` request: the system instruction first, then
/// the turns (`model` as the assistant), so that the same conversation gets the same reply
/// as on OpenAI's chat endpoint.
fn request(model: &str, wire: GenerateContentRequest) -> Request {
    let mut messages = Vec::with_capacity(wire.contents.len() + 1);
    if let Some(system) = wire.system_instruction.map(text).filter(|s| !s.is_empty()) {
        messages.push(Message::new(Role::System, system));
    }
    messages.extend(wire.contents.into_iter().map(|c| {
        let role = if c.role.as_deref() == Some("model") {
            Role::Assistant
        } else {
            Role::User
        };
        Message::new(role, text(c))
    }));
    let config = wire.generation_config.unwrap_or_default();
    let logprobs = config.response_logprobs == Some(true);
    Request {
        model: model.to_owned(),
        messages,
        params: Params {
            temperature: config.temperature,
            top_p: config.top_p,
            top_k: config.top_k,
            max_tokens: config.max_output_tokens,
            seed: config.seed,
            stop: config.stop_sequences.unwrap_or_default(),
            n: config.candidate_count.unwrap_or(1),
            logprobs,
            // The reply always computes at least one alternative; the wire reply keeps `k`.
            top_logprobs: Some(config.logprobs.unwrap_or(0).max(1)),
            ..Params::default()
        },
        inputs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_model() {
        let model = |path| model_in_path(path);
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
        let request = request("g", wire);
        assert_eq!(
            request.messages,
            [
                Message::new(Role::System, "Be brief."),
                Message::new(Role::User, "Hi there"),
                Message::new(Role::Assistant, "Yo"),
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
