//! A Python exception raised by a direct call, a factory or a middleware, as the engine's
//! error: classified like an API's errors, so that a transient one is retried and one that
//! is the caller's fault is not, and never a crash of the pool.

use pacer_core::{ErrorKind, ProviderError, Usage};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `err` as a [`ProviderError`]: by an HTTP status it carries (`status_code`, `status`, or
/// `response.status_code`, as the SDKs' errors do), else by its class (its name, or
/// `TimeoutError`, `ConnectionError`, `ValueError`); what it does not tell is the call's own
/// fault (`BadRequest`), not retried. Its `usage` (a dict of tokens) and `retry_after` (seconds), where it has
/// them, go with it.
pub(crate) fn classify(py: Python<'_>, err: &PyErr) -> ProviderError {
    let value = err.value(py);
    let class = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let status = ["status_code", "status"]
        .iter()
        .find_map(|name| value.getattr(*name).ok()?.extract::<u16>().ok())
        .or_else(|| {
            value
                .getattr("response")
                .ok()?
                .getattr("status_code")
                .ok()?
                .extract::<u16>()
                .ok()
        });
    let is = |builtin: &Bound<'_, pyo3::types::PyType>| value.is_instance(builtin).unwrap_or(false);
    let kind = match status {
        Some(status) => by_status(status),
        None => by_name(&class).unwrap_or_else(|| {
            if is(&py.get_type::<pyo3::exceptions::PyTimeoutError>()) {
                ErrorKind::Timeout
            } else if is(&py.get_type::<pyo3::exceptions::PyConnectionError>()) {
                ErrorKind::Connection
            } else if is(&py.get_type::<pyo3::exceptions::PyValueError>()) {
                // An output that does not validate (pydantic's ValidationError is one):
                // retried, at the next temperature.
                ErrorKind::InvalidOutput
            } else {
                // What nothing tells (a TypeError, a KeyError) is the call's own fault: not
                // retried.
                ErrorKind::BadRequest
            }
        }),
    };
    let message = value.str().map(|s| s.to_string()).unwrap_or_default();
    let mut error = ProviderError::new(kind, format!("{class}: {message}"));
    if let Some(status) = status {
        error = error.with_status(status);
    }
    if let Ok(usage) = value.getattr("usage")
        && let Ok(usage) = usage.cast::<PyDict>()
    {
        error = error.with_usage(usage_of(usage));
    }
    if let Some(seconds) = value
        .getattr("retry_after")
        .ok()
        .and_then(|v| v.extract::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
    {
        error = error.with_retry_after(std::time::Duration::from_secs_f64(seconds));
    }
    error
}

/// A usage dict (`input_tokens`, `output_tokens`; `prompt_tokens` and `completion_tokens`
/// too) as Pacer's.
pub(crate) fn usage_of(dict: &Bound<'_, PyDict>) -> Usage {
    let get = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|k| dict.get_item(*k).ok().flatten()?.extract::<u64>().ok())
            .unwrap_or(0)
    };
    Usage {
        input_tokens: get(["input_tokens", "prompt_tokens"]),
        output_tokens: get(["output_tokens", "completion_tokens"]),
        ..Usage::default()
    }
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
