//! Calling Python from the engine: a callable's value, awaited on the caller's event loop
//! when it is a coroutine; the calls of factory and direct items, as the engine's direct
//! calls (`Attempt` → `Response`), their exceptions classified as the attempt's error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use pacer_core::{Choice, FinishReason, ProviderError, Request, Response, Usage};
use pacer_engine::{Attempt, Middleware};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_async_runtimes::TaskLocals;

use crate::classify::{classify, usage_of};
use crate::hooks::PyMiddleware;

/// A Python call's value: there now, or a coroutine's, to be awaited.
pub(crate) enum Called {
    Now(Py<PyAny>),
    Later(BoxFuture<'static, PyResult<Py<PyAny>>>),
}

/// `value`, awaited on the caller's event loop when it is awaitable (a coroutine).
pub(crate) fn awaited(locals: &TaskLocals, value: Bound<'_, PyAny>) -> PyResult<Called> {
    if value.hasattr("__await__")? {
        let future = pyo3_async_runtimes::into_future_with_locals(locals, value)?;
        Ok(Called::Later(Box::pin(future)))
    } else {
        Ok(Called::Now(value.unbind()))
    }
}

/// The value of a call made with [`awaited`]: awaited when it is a coroutine's.
pub(crate) async fn settle(called: PyResult<Called>) -> PyResult<Py<PyAny>> {
    match called? {
        Called::Now(value) => Ok(value),
        Called::Later(future) => future.await,
    }
}

/// What direct calls returned, by item, for their results.
pub(crate) type Outputs = Arc<Mutex<HashMap<String, Py<PyAny>>>>;

/// A factory item's call: the factory builds the request for this attempt (given its
/// number, from 1), the middleware see it, the model's provider sends it.
pub(crate) fn factory_call(
    id: String,
    factory: Py<PyAny>,
    model: &pacer_cli::ModelLane,
    middleware: Vec<Arc<PyMiddleware>>,
    locals: TaskLocals,
) -> impl Fn(Attempt) -> BoxFuture<'static, Result<Response, ProviderError>> + Send + Sync + 'static
{
    let (provider, name, params) = (
        model.provider.clone(),
        model.name.clone(),
        model.params.clone(),
    );
    let factory = Arc::new(factory);
    move |attempt: Attempt| {
        let (factory, provider, name, params, middleware, id, locals) = (
            factory.clone(),
            provider.clone(),
            name.clone(),
            params.clone(),
            middleware.clone(),
            id.clone(),
            locals.clone(),
        );
        Box::pin(async move {
            let value = settle(Python::attach(|py| {
                let value = factory.bind(py).call1((attempt.number,))?;
                awaited(&locals, value)
            }))
            .await;
            let mut request = Python::attach(|py| match value {
                Ok(value) => request_of(value.bind(py), &name, &params),
                Err(e) => Err(e),
            })
            .map_err(|e| Python::attach(|py| classify(py, &e)))?;
            for m in &middleware {
                m.before(&id, &mut request).await;
            }
            provider.send(&request).await
        })
    }
}

/// A factory's value as a request: a prompt's text, or a dict with `prompt` (and
/// `system`, `temperature`, `top_p`, `max_tokens`).
fn request_of(
    value: &Bound<'_, PyAny>,
    name: &str,
    params: &pacer_core::Params,
) -> PyResult<Request> {
    if let Ok(prompt) = value.extract::<String>() {
        let mut request = Request::text(name, None, &prompt);
        request.params = params.clone();
        return Ok(request);
    }
    let dict = value.cast::<PyDict>().map_err(|_| {
        PyValueError::new_err("a factory returns a prompt (str) or a dict with `prompt`")
    })?;
    let get = |key: &str| dict.get_item(key).ok().flatten();
    let prompt: String = get("prompt")
        .ok_or_else(|| PyValueError::new_err("a factory's dict needs `prompt`"))?
        .extract()?;
    let system: Option<String> = get("system").map(|s| s.extract()).transpose()?;
    let mut request = Request::text(name, system.as_deref(), &prompt);
    request.params = params.clone();
    if let Some(t) = get("temperature") {
        request.params.temperature = t.extract()?;
    }
    if let Some(t) = get("top_p") {
        request.params.top_p = t.extract()?;
    }
    if let Some(m) = get("max_tokens") {
        request.params.max_tokens = m.extract()?;
    }
    Ok(request)
}

/// A direct item's call: `direct(attempt, timeout)` (an `async def`, or a plain function)
/// returns `(output, usage)`; the output is kept for the result, the usage counted.
pub(crate) fn direct_call(
    id: String,
    direct: Py<PyAny>,
    outputs: Outputs,
    locals: TaskLocals,
) -> impl Fn(Attempt) -> BoxFuture<'static, Result<Response, ProviderError>> + Send + Sync + 'static
{
    let direct = Arc::new(direct);
    move |attempt: Attempt| {
        let (direct, outputs, locals, id) =
            (direct.clone(), outputs.clone(), locals.clone(), id.clone());
        Box::pin(async move {
            let value = settle(Python::attach(|py| {
                let value = direct
                    .bind(py)
                    .call1((attempt.number, attempt.timeout.as_secs_f64()))?;
                awaited(&locals, value)
            }))
            .await;
            Python::attach(|py| {
                let value = value.map_err(|e| classify(py, &e))?;
                let (output, usage) = split(value.bind(py)).map_err(|e| classify(py, &e))?;
                let text = output
                    .bind(py)
                    .str()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                outputs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, output);
                Ok(Response {
                    model_version: None,
                    choices: vec![Choice::text(text, FinishReason::Stop)],
                    embeddings: Vec::new(),
                    usage,
                    rate_limits: None,
                    first_token: None,
                })
            })
        })
    }
}

/// A direct call's value: `(output, usage)`, the usage a dict, an SDK's usage object (a
/// client may hand back `response.usage` as it is) or `None`; or the output alone (no usage).
fn split(value: &Bound<'_, PyAny>) -> PyResult<(Py<PyAny>, Usage)> {
    if let Ok((output, usage)) = value.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() {
        // No usage at all (`response.usage` is `None` at times) counts nothing.
        let counted = usage_of(&usage)
            .or_else(|| (usage.is_none() || usage.is_instance_of::<PyDict>()).then(Usage::default));
        if let Some(counted) = counted {
            return Ok((output.unbind(), counted));
        }
    }
    Ok((value.clone().unbind(), Usage::default()))
}
