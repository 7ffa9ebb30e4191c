//! A Python exception raised by a direct call, a factory or a middleware, as the engine's
//! error: classified like an API's errors, so that a transient one is retried and one that
//! is the caller's fault is not, and never a crash of the pool.

use pacer_core::{ErrorKind, ProviderError, Usage};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// How deep the chain of causes is followed: far enough for a wrapper around an SDK's error
/// around the HTTP library's, and never round a cycle.
const CHAIN_DEPTH: usize = 8;

/// `err` as a [`ProviderError`], from the first exception of its chain that tells what
/// happened (itself, then what it was raised from: seed 002's callers wrap the SDK's error
/// in their own): an HTTP status it carries (`status_code`, `status`, or
/// `response.status_code`, as the SDKs' errors do), else its class (its name, or
/// `TimeoutError`, `ConnectionError`, `ValueError`; a bug's builtin, `TypeError` or `KeyError`,
/// ends the walk as the call's own fault). What none tells is the call's own fault
/// (`BadRequest`), not retried. The first `usage` (a dict or an SDK's usage object) or seed
/// 002's `_failed_token_usage` in the chain (the failed attempt's), and the first
/// `retry_after` (seconds), go with it.
pub(crate) fn classify(py: Python<'_>, err: &PyErr) -> ProviderError {
    let chain = chain(err.value(py).clone().into_any());
    let told = chain
        .iter()
        .enumerate()
        .find_map(|(depth, value)| Some((depth, told(py, value)?)));
    // The message names the exception that told, or, when none did, the first cause.
    let first_cause = usize::from(chain.len() > 1);
    let (depth, (kind, status)) = told.unwrap_or((first_cause, (ErrorKind::BadRequest, None)));
    let mut message = describe(&chain[0]);
    if depth > 0 {
        message = format!("{message} (from {})", describe(&chain[depth]));
    }
    let mut error = ProviderError::new(kind, message);
    if let Some(status) = status {
        error = error.with_status(status);
    }
    if let Some(usage) = chain.iter().find_map(|value| {
        ["usage", "_failed_token_usage"]
            .iter()
            .find_map(|name| usage_of(&value.getattr(*name).ok()?))
    }) {
        error = error.with_usage(usage);
    }
    if let Some(seconds) = chain.iter().find_map(|value| {
        value
            .getattr("retry_after")
            .ok()?
            .extract::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
    }) {
        error = error.with_retry_after(std::time::Duration::from_secs_f64(seconds));
    }
    error
}

/// `value`, then the exception it was raised from (`raise ... from cause`), or the one being
/// handled when it was raised unless that was suppressed, and so on.
fn chain(value: Bound<'_, PyAny>) -> Vec<Bound<'_, PyAny>> {
    let mut chain = vec![value];
    while chain.len() < CHAIN_DEPTH {
        let last = &chain[chain.len() - 1];
        let attr = |name: &str| last.getattr(name).ok().filter(|v| !v.is_none());
        let suppressed = last
            .getattr("__suppress_context__")
            .and_then(|v| v.is_truthy())
            .unwrap_or(false);
        let next =
            attr("__cause__").or_else(|| (!suppressed).then(|| attr("__context__")).flatten());
        match next {
            Some(next) if !chain.iter().any(|seen| seen.is(&next)) => chain.push(next),
            _ => break,
        }
    }
    chain
}

/// What one exception tells of its kind, and its HTTP status, if anything.
fn told(py: Python<'_>, value: &Bound<'_, PyAny>) -> Option<(ErrorKind, Option<u16>)> {
    // Only an error status tells: `status = 1`, `True` or the 200 of a reply that did not
    // parse say nothing of what went wrong.
    let error_status =
        |v: Bound<'_, PyAny>| v.extract::<u16>().ok().filter(|s| (400..=599).contains(s));
    let status = ["status_code", "status"]
        .iter()
        .find_map(|name| error_status(value.getattr(*name).ok()?))
        .or_else(|| {
            error_status(
                value
                    .getattr("response")
                    .ok()?
                    .getattr("status_code")
                    .ok()?,
            )
        });
    if let Some(status) = status {
        return Some((by_status(status), Some(status)));
    }
    let class = class_name(value);
    if let Some(kind) = by_name(&class) {
        return Some((kind, None));
    }
    let is = |builtin: &Bound<'_, pyo3::types::PyType>| value.is_instance(builtin).unwrap_or(false);
    if is(&py.get_type::<pyo3::exceptions::PyTimeoutError>()) {
        Some((ErrorKind::Timeout, None))
    } else if is(&py.get_type::<pyo3::exceptions::PyConnectionError>()) {
        Some((ErrorKind::Connection, None))
    } else if is(&py.get_type::<pyo3::exceptions::PyValueError>()) {
        // An output that does not validate (pydantic's ValidationError is one): retried, at
        // the next temperature.
        Some((ErrorKind::InvalidOutput, None))
    } else if BUGS.iter().any(|bug| is(&bug(py))) {
        // A bug in the caller's code (a KeyError in an `except` block handling a 429 is one)
        // is its own fault whatever it was raised while handling: not retried.
        Some((ErrorKind::BadRequest, None))
    } else {
        // What nothing tells (the caller's own wrapper, a RuntimeError) is judged by what it
        // was raised from; when nothing does, it is the call's own fault.
        None
    }
}

/// The builtins that mean a bug in the code that raised them.
const BUGS: [for<'py> fn(Python<'py>) -> Bound<'py, pyo3::types::PyType>; 7] = [
    |py| py.get_type::<pyo3::exceptions::PyTypeError>(),
    |py| py.get_type::<pyo3::exceptions::PyAttributeError>(),
    |py| py.get_type::<pyo3::exceptions::PyNameError>(),
    |py| py.get_type::<pyo3::exceptions::PyLookupError>(),
    |py| py.get_type::<pyo3::exceptions::PyAssertionError>(),
    |py| py.get_type::<pyo3::exceptions::PyNotImplementedError>(),
    |py| py.get_type::<pyo3::exceptions::PyArithmeticError>(),
];

fn class_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into())
}

/// `Class: message`.
fn describe(value: &Bound<'_, PyAny>) -> String {
    let message = value.str().map(|s| s.to_string()).unwrap_or_default();
    format!("{}: {message}", class_name(value))
}

/// A usage, as Pacer's: a dict, or an SDK's usage object (OpenAI's `CompletionUsage`,
/// Anthropic's `Usage`, pydantic-ai's, Gemini's `usage_metadata`), by `input_tokens` /
/// `prompt_tokens` / `request_tokens` / `prompt_token_count` and `output_tokens` /
/// `completion_tokens` / `response_tokens` / `candidates_token_count`. `None` when it names
/// neither.
pub(crate) fn usage_of(value: &Bound<'_, PyAny>) -> Option<Usage> {
    let get = |names: [&str; 4]| {
        names.iter().find_map(|name| {
            let field = match value.cast::<PyDict>() {
                Ok(dict) => dict.get_item(*name).ok().flatten(),
                Err(_) => value.getattr(*name).ok(),
            };
            field?.extract::<u64>().ok()
        })
    };
    let input = get([
        "input_tokens",
        "prompt_tokens",
        "request_tokens",
        "prompt_token_count",
    ]);
    let output = get([
        "output_tokens",
        "completion_tokens",
        "response_tokens",
        "candidates_token_count",
    ]);
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        ..Usage::default()
    })
}

fn by_status(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimited,
        503 | 529 => ErrorKind::Overloaded,
        500..=599 => ErrorKind::Server,
        _ => ErrorKind::BadRequest,
    }
}

/// The kind a class's name tells (the SDKs name theirs so: `RateLimitError`,
/// `APITimeoutError`, `InternalServerError`, ...).
fn by_name(class: &str) -> Option<ErrorKind> {
    let name = class.to_ascii_lowercase();
    let has = |word: &str| name.contains(word);
    Some(if has("ratelimit") || has("resourceexhausted") {
        ErrorKind::RateLimited
    } else if has("timeout") {
        ErrorKind::Timeout
    } else if has("overload") || has("unavailable") {
        ErrorKind::Overloaded
    } else if has("connect") || has("network") || has("readerror") || has("protocolerror") {
        ErrorKind::Connection
    } else if has("auth") || has("permission") {
        ErrorKind::Auth
    } else if has("notfound") {
        ErrorKind::NotFound
    } else if has("badrequest") || has("invalidrequest") {
        ErrorKind::BadRequest
    } else if has("internalserver") || has("servererror") {
        ErrorKind::Server
    } else {
        return None;
    })
}
