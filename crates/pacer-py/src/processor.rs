//! Seed 002's processor for Python: work items in its three forms (a prompt for the
//! configured model, a factory building each attempt's request, a direct `async def` doing
//! the call itself), run on one lane of the engine with a worker count, under the model's
//! limits, retries and cool-downs; middleware, observers and a post-processor around them.
//! `await processor.run()` under asyncio.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use pacer_core::Request;
use pacer_engine::{Lane, LaneConfig, Middleware, Outcome, WorkItem};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3_async_runtimes::TaskLocals;

use crate::calls::{Outputs, awaited, direct_call, factory_call, settle};
use crate::hooks::{PyMiddleware, PyObserver, usage_dict};

/// One work item, as added.
enum Item {
    Prompt {
        prompt: String,
        system: Option<String>,
    },
    Factory(Py<PyAny>),
    Direct(Py<PyAny>),
}

/// The native processor (see `pacer.Processor` for the Python face).
#[pyclass(module = "pacer._pacer")]
pub(crate) struct Processor {
    model: pacer_cli::ModelLane,
    /// No model was given: only direct calls can run.
    direct_only: bool,
    workers: usize,
    middleware: Vec<Py<PyAny>>,
    observers: Vec<Py<PyAny>>,
    post_processor: Option<Py<PyAny>>,
    /// Makes a result object from its fields (`pacer.ItemResult`).
    make_result: Py<PyAny>,
    items: Mutex<Vec<(String, Item, Py<PyAny>)>>,
    lane: Mutex<Option<Arc<Lane>>>,
}

#[pymethods]
impl Processor {
    /// A processor for the model `entry` (a `[[models]]` entry as JSON text; `None` for
    /// direct calls only, paced by `direct_limits`, an entry of the mock's form).
    #[new]
    #[pyo3(signature = (entry, direct_only, workers, max_retries, make_result, middleware, observers, post_processor=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        entry: String,
        direct_only: bool,
        workers: usize,
        max_retries: u32,
        make_result: Py<PyAny>,
        middleware: Vec<Py<PyAny>>,
        observers: Vec<Py<PyAny>>,
        post_processor: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let entry: serde_json::Value = serde_json::from_str(&entry)
            .map_err(|e| PyValueError::new_err(format!("model: not JSON: {e}")))?;
        let model = pacer_cli::model_lane(entry, Some(max_retries))
            .map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
        if workers == 0 {
            return Err(PyValueError::new_err("workers: expected at least 1"));
        }
        Ok(Self {
            model,
            direct_only,
            workers,
            middleware,
            observers,
            post_processor,
            make_result,
            items: Mutex::new(Vec::new()),
            lane: Mutex::new(None),
        })
    }

    /// Adds an item: `kind` is `prompt` (`payload` the text), `factory` or `direct` (a
    /// callable); `context` goes back with its result.
    #[pyo3(signature = (item_id, kind, payload, context, system=None))]
    fn add(
        &self,
        py: Python<'_>,
        item_id: String,
        kind: &str,
        payload: Py<PyAny>,
        context: Py<PyAny>,
        system: Option<String>,
    ) -> PyResult<()> {
        let item = match kind {
            "prompt" | "factory" if self.direct_only => {
                return Err(PyValueError::new_err(format!(
                    "item {item_id}: a {kind} needs a model: give the Processor one (model=...)"
                )));
            }
            "prompt" => Item::Prompt {
                prompt: payload.bind(py).extract()?,
                system,
            },
            "factory" => Item::Factory(payload),
            "direct" => Item::Direct(payload),
            other => return Err(PyValueError::new_err(format!("unknown item kind {other}"))),
        };
        self.items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((item_id, item, context));
        Ok(())
    }

    /// Starts every item added on the engine's runtime; `Pending.wait()` gives the list of
    /// results, in the order they ended. Called on the event loop that async hooks and
    /// direct calls run on (`Processor.run` waits in an executor thread, so the loop goes on).
    fn start(&self, py: Python<'_>) -> PyResult<Pending> {
        let locals = pyo3_async_runtimes::tokio::get_current_locals(py)?;
        let items = std::mem::take(&mut *self.items.lock().unwrap_or_else(|e| e.into_inner()));
        let config = LaneConfig {
            concurrency: NonZeroUsize::new(self.workers),
            ..self.model.lane.clone()
        };
        let middleware: Vec<Arc<PyMiddleware>> = self
            .middleware
            .iter()
            .map(|m| {
                Arc::new(PyMiddleware {
                    object: m.clone_ref(py),
                    locals: locals.clone(),
                })
            })
            .collect();
        let mut builder = Lane::builder(config, self.model.provider.clone());
        for m in &middleware {
            builder = builder.middleware(m.clone() as Arc<dyn Middleware>);
        }
        for o in &self.observers {
            builder = builder.observer(Arc::new(PyObserver {
                object: o.clone_ref(py),
            }));
        }
        let lane = Arc::new(builder.build());
        *self.lane.lock().unwrap_or_else(|e| e.into_inner()) = Some(lane.clone());
        let outputs: Outputs = Arc::default();
        let work: Vec<WorkItem<Py<PyAny>>> = items
            .into_iter()
            .map(|(id, item, context)| match item {
                Item::Prompt { prompt, system } => {
                    let mut request = Request::text(&self.model.name, system.as_deref(), &prompt);
                    request.params = self.model.params.clone();
                    WorkItem::prompt(id, request, context)
                }
                Item::Factory(factory) => {
                    let call = factory_call(
                        id.clone(),
                        factory,
                        &self.model,
                        middleware.clone(),
                        locals.clone(),
                    );
                    WorkItem::direct(id, call, context)
                }
                Item::Direct(direct) => {
                    let call = direct_call(id.clone(), direct, outputs.clone(), locals.clone());
                    WorkItem::direct(id, call, context)
                }
            })
            .collect();
        let post = self.post_processor.as_ref().map(|p| p.clone_ref(py));
        let make = self.make_result.clone_ref(py);
        let (done, pending) = std::sync::mpsc::channel();
        let running = async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel(64);
            let running = lane.run(futures_util::stream::iter(work), tx);
            let consume = async {
                let mut results = Vec::new();
                while let Some(outcome) = rx.recv().await {
                    let result = Python::attach(|py| result_object(py, &make, outcome, &outputs))?;
                    if let Some(post) = &post {
                        post_process(post, &locals, &result).await;
                    }
                    results.push(result);
                }
                Ok(results)
            };
            let (_, results) = tokio::join!(running, consume);
            results
        };
        pyo3_async_runtimes::tokio::get_runtime().spawn(async move {
            // Every Python object the run held (hooks, the loop's handle, items) is let go
            // before the results are handed over: once Python has them, this thread touches
            // Python no more, so an interpreter that exits right after cannot be touched
            // while it shuts down (pyo3-async-runtimes' own hand-over can: PyO3/
            // pyo3-async-runtimes#40, a crash at exit seen here about 1 run in 6).
            let results = running.await;
            let _ = done.send(results);
        });
        Ok(Pending {
            results: Mutex::new(Some(pending)),
        })
    }

    /// The totals so far: `total` (= `succeeded` + `failed`), `pending`, `retries`,
    /// `rate_limited_requests`, `cooldowns` (one per rate-limit event), `error_counts`,
    /// `token_usage`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self
            .lane
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|lane| lane.stats())
            .unwrap_or_default();
        let dict = PyDict::new(py);
        dict.set_item("total", stats.total)?;
        dict.set_item("succeeded", stats.succeeded)?;
        dict.set_item("failed", stats.failed)?;
        dict.set_item("pending", stats.pending)?;
        dict.set_item("retries", stats.retries)?;
        dict.set_item("rate_limited_requests", stats.rate_limited_requests)?;
        dict.set_item("cooldowns", stats.rate_limit_events)?;
        let errors = PyDict::new(py);
        for (kind, n) in &stats.error_counts {
            errors.set_item(kind.as_str(), n)?;
        }
        dict.set_item("error_counts", errors)?;
        dict.set_item("token_usage", usage_dict(py, &stats.usage)?)?;
        Ok(dict)
    }
}

/// Every item's result, in the order they ended.
type Results = PyResult<Vec<Py<PyAny>>>;

/// A processor's run going on: `wait()` blocks (the GIL let go) until every item has
/// ended and returns their results.
#[pyclass(module = "pacer._pacer")]
pub(crate) struct Pending {
    results: Mutex<Option<std::sync::mpsc::Receiver<Results>>>,
}

#[pymethods]
impl Pending {
    /// The results, once every item has ended (a list of `ItemResult`, in the order they
    /// ended); called once.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let Some(results) = self
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return Err(PyRuntimeError::new_err(
                "this run's results were taken already",
            ));
        };
        let results = py
            .detach(move || results.recv())
            .map_err(|_| PyRuntimeError::new_err("the run ended without its results"))??;
        Ok(PyList::new(py, results)?.unbind())
    }
}

/// The result object of `outcome`: `item_id`, `success`, `output`, `error`, `error_kind`,
/// `attempts`, `token_usage`, `elapsed_seconds`, `context`.
fn result_object(
    py: Python<'_>,
    make: &Py<PyAny>,
    outcome: Outcome<Py<PyAny>>,
    outputs: &Outputs,
) -> PyResult<Py<PyAny>> {
    let fields = PyDict::new(py);
    fields.set_item("item_id", &outcome.id)?;
    fields.set_item("success", outcome.result.is_ok())?;
    let kept = outputs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&outcome.id);
    match &outcome.result {
        Ok(response) => {
            match kept {
                Some(output) => fields.set_item("output", output)?,
                None => {
                    fields.set_item("output", response.choices.first().map(|c| c.text.as_str()))?
                }
            }
            fields.set_item("error", py.None())?;
            fields.set_item("error_kind", py.None())?;
        }
        Err(error) => {
            fields.set_item("output", py.None())?;
            fields.set_item("error", &error.message)?;
            fields.set_item("error_kind", error.kind.as_str())?;
        }
    }
    fields.set_item("attempts", outcome.attempts)?;
    fields.set_item("token_usage", usage_dict(py, &outcome.usage_all_attempts)?)?;
    fields.set_item("elapsed_seconds", outcome.elapsed.as_secs_f64())?;
    fields.set_item("context", outcome.context)?;
    make.bind(py).call((), Some(&fields)).map(Bound::unbind)
}

/// Calls the post-processor with `result` (awaiting it when it is `async`); an exception
/// in it is printed and the run goes on.
async fn post_process(post: &Py<PyAny>, locals: &TaskLocals, result: &Py<PyAny>) {
    let done = settle(Python::attach(|py| {
        let value = post.bind(py).call1((result.clone_ref(py),))?;
        awaited(locals, value)
    }))
    .await;
    if let Err(e) = done {
        Python::attach(|py| {
            PyRuntimeError::new_err(format!("the post-processor raised: {e}")).print(py)
        });
    }
}
