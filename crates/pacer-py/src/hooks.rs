//! Python's middleware and observers as the engine's: each a Python object whose methods
//! are called as a lane works (`before` and `after` around each request, `on_event` for each
//! event), with dicts for what they see.

use async_trait::async_trait;
use pacer_core::{ProviderError, Request, Response};
use pacer_engine::{Event, Middleware, Observer};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3_async_runtimes::TaskLocals;

use crate::calls::{Called, awaited, settle};

/// A Python middleware: `before(item_id, request)` may return a changed request dict
/// (its `temperature` and `max_tokens` are taken); `after(item_id, result)` sees each reply
/// or error. Either may be `async`. An exception in one is printed and ignored: a hook
/// never fails an item.
pub(crate) struct PyMiddleware {
    pub(crate) object: Py<PyAny>,
    pub(crate) locals: TaskLocals,
}

#[async_trait]
impl Middleware for PyMiddleware {
    async fn before(&self, item: &str, request: &mut Request) {
        let changed = call(&self.object, &self.locals, "before", |py| {
            Ok((item, request_dict(py, request)?)
                .into_pyobject(py)?
                .into_any()
                .unbind())
        })
        .await;
        if let Some(changed) = changed {
            Python::attach(|py| apply(changed.bind(py), request));
        }
    }

    async fn after(&self, item: &str, result: &Result<Response, ProviderError>) {
        call(&self.object, &self.locals, "after", |py| {
            Ok((item, result_dict(py, result)?)
                .into_pyobject(py)?
                .into_any()
                .unbind())
        })
        .await;
    }
}

/// Calls `object.method(*args)` where it has the method, awaiting it when it is `async`;
/// the value it returned, when not `None`. An exception is printed, not raised.
pub(crate) async fn call(
    object: &Py<PyAny>,
    locals: &TaskLocals,
    method: &str,
    args: impl FnOnce(Python<'_>) -> PyResult<Py<PyAny>>,
) -> Option<Py<PyAny>> {
    let called = Python::attach(|py| -> PyResult<Option<Called>> {
        let object = object.bind(py);
        if !object.hasattr(method)? {
            return Ok(None);
        }
        let args = args(py)?;
        let value = object.call_method1(
            method,
            args.bind(py).cast::<pyo3::types::PyTuple>()?.clone(),
        )?;
        Ok(Some(awaited(locals, value)?))
    });
    // No such method: nothing to call.
    let called = called.transpose()?;
    let value = settle(called).await;
    Python::attach(|py| match value {
        Ok(value) if value.is_none(py) => None,
        Ok(value) => Some(value),
        Err(e) => {
            e.print(py);
            None
        }
    })
}

/// A request as a middleware sees it: `model`, `messages` (`role`, `content` text),
/// `temperature`, `max_tokens`.
pub(crate) fn request_dict<'py>(
    py: Python<'py>,
    request: &Request,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("model", &request.model)?;
    let messages = PyList::empty(py);
    for message in &request.messages {
        let m = PyDict::new(py);
        m.set_item("role", message.role.as_str())?;
        m.set_item("content", message.text().as_ref())?;
        messages.append(m)?;
    }
    dict.set_item("messages", messages)?;
    dict.set_item("temperature", request.params.temperature)?;
    dict.set_item("max_tokens", request.params.max_tokens)?;
    Ok(dict)
}

/// A middleware's changed request dict, applied: its `temperature` and `max_tokens`.
fn apply(changed: &Bound<'_, PyAny>, request: &mut Request) {
    let Ok(dict) = changed.cast::<PyDict>() else {
        return;
    };
    if let Ok(Some(t)) = dict.get_item("temperature") {
        request.params.temperature = t.extract().ok();
    }
    if let Ok(Some(m)) = dict.get_item("max_tokens") {
        request.params.max_tokens = m.extract().ok();
    }
}

/// A reply or error as a middleware's `after` sees it: `ok`, `text`, `error`, `error_kind`,
/// `usage`.
pub(crate) fn result_dict<'py>(
    py: Python<'py>,
    result: &Result<Response, ProviderError>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    match result {
        Ok(response) => {
            dict.set_item("ok", true)?;
            dict.set_item("text", response.choices.first().map(|c| c.text.as_str()))?;
            dict.set_item("usage", usage_dict(py, &response.usage)?)?;
        }
        Err(error) => {
            dict.set_item("ok", false)?;
            dict.set_item("error", &error.message)?;
            dict.set_item("error_kind", error.kind.as_str())?;
            dict.set_item("usage", usage_dict(py, &error.usage.unwrap_or_default())?)?;
        }
    }
    Ok(dict)
}

/// Tokens as a dict.
pub(crate) fn usage_dict<'py>(
    py: Python<'py>,
    usage: &pacer_core::Usage,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("input_tokens", usage.input_tokens)?;
    dict.set_item("output_tokens", usage.output_tokens)?;
    dict.set_item("total_tokens", usage.total())?;
    Ok(dict)
}

/// A Python observer: `on_event(event)` for each event, a dict with its `event` name
/// (`started`, `retried`, `rate_limited`, `limit_changed`, `finished`, `stopped`) and
/// fields. Called inline: keep it quick. An exception in it is printed and ignored.
pub(crate) struct PyObserver {
    pub(crate) object: Py<PyAny>,
}

impl Observer for PyObserver {
    fn on_event(&self, event: &Event<'_>) {
        Python::attach(|py| {
            let told = event_dict(py, event).and_then(|dict| match dict {
                Some(dict) => self
                    .object
                    .bind(py)
                    .call_method1("on_event", (dict,))
                    .map(|_| ()),
                None => Ok(()),
            });
            if let Err(e) = told {
                e.print(py);
            }
        });
    }
}

fn event_dict<'py>(py: Python<'py>, event: &Event<'_>) -> PyResult<Option<Bound<'py, PyDict>>> {
    let dict = PyDict::new(py);
    match event {
        Event::Started { item, .. } => {
            dict.set_item("event", "started")?;
            dict.set_item("item_id", *item)?;
        }
        Event::Retried {
            item,
            kind,
            retry,
            delay,
            ..
        } => {
            dict.set_item("event", "retried")?;
            dict.set_item("item_id", *item)?;
            dict.set_item("error_kind", kind.as_str())?;
            dict.set_item("retry", *retry)?;
            dict.set_item("delay_seconds", delay.as_secs_f64())?;
        }
        Event::RateLimited { item, cooldown, .. } => {
            dict.set_item("event", "rate_limited")?;
            dict.set_item("item_id", *item)?;
            dict.set_item("cooldown_seconds", cooldown.map(|d| d.as_secs_f64()))?;
        }
        Event::LimitChanged {
            dimension,
            from,
            to,
            ..
        } => {
            dict.set_item("event", "limit_changed")?;
            dict.set_item("dimension", *dimension)?;
            dict.set_item("from", *from)?;
            dict.set_item("to", *to)?;
        }
        Event::Finished {
            item,
            error,
            usage,
            elapsed,
            ..
        } => {
            dict.set_item("event", "finished")?;
            dict.set_item("item_id", *item)?;
            dict.set_item("error_kind", error.map(|k| k.as_str()))?;
            dict.set_item("usage", usage_dict(py, usage)?)?;
            dict.set_item("elapsed_seconds", elapsed.as_secs_f64())?;
        }
        Event::LaneStopped { kind, reason, .. } => {
            dict.set_item("event", "stopped")?;
            dict.set_item("error_kind", kind.map(|k| k.as_str()))?;
            dict.set_item("reason", *reason)?;
        }
        _ => return Ok(None),
    }
    Ok(Some(dict))
}
