//! `pacer.run` and `pacer.start`'s native half: a batch run on a thread of its own, stopped
//! by Python's Ctrl-C (a `KeyboardInterrupt`) or by a [`Stopper`] as a first Ctrl-C stops
//! `pacer run`: what is finished is saved, the rest waits for the next run. The process's
//! Ctrl-C stays Python's, so a notebook's interrupt works after a run as before it.

use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::sync::Notify;

/// How often a run waiting on the main thread looks for Python's signals (Ctrl-C).
const SIGNALS_EVERY: Duration = Duration::from_millis(100);

/// Stops the run it is given to, as a first Ctrl-C would (`pacer.start(...).stop()`).
#[pyclass(module = "pacer._pacer", frozen)]
#[derive(Default)]
pub(crate) struct Stopper(Arc<Notify>);

#[pymethods]
impl Stopper {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Stops the run: no job is started after this, the ones in flight end and are saved.
    fn stop(&self) {
        self.0.notify_one();
    }
}

/// Runs `pacer run` with the flags `args` and, where given, `config` (JSON text in the
/// config file's form) instead of a `--config` file; returns `(exit status, output folder)`.
/// A wrong flag or config raises `ValueError` naming the file, key and what was expected.
/// On the main thread a Ctrl-C stops the run, waits for it to save its work, and raises
/// `KeyboardInterrupt`; a second one raises at once.
#[pyfunction]
#[pyo3(signature = (args, config=None, stopper=None))]
pub(crate) fn run(
    py: Python<'_>,
    args: Vec<String>,
    config: Option<String>,
    stopper: Option<Py<Stopper>>,
) -> PyResult<(u8, String)> {
    let config = crate::parse(config)?;
    let interrupt = stopper.map(|s| s.get().0.clone()).unwrap_or_default();
    let (tx, done) = std::sync::mpsc::channel();
    // Waited on with the GIL let go, from whichever thread Python resumes on.
    let done = std::sync::Mutex::new(done);
    let notify = interrupt.clone();
    std::thread::Builder::new()
        .name("pacer-run".into())
        .spawn(move || {
            let _ = tx.send(pacer_cli::run_with(&args, config, Some(notify)));
        })
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the run's thread: {e}")))?;
    let mut interrupted: Option<PyErr> = None;
    loop {
        match py.detach(|| {
            done.lock()
                .unwrap_or_else(|e| e.into_inner())
                .recv_timeout(SIGNALS_EVERY)
        }) {
            Ok(result) => {
                let result = result.map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
                return match interrupted {
                    Some(e) => Err(e),
                    None => Ok((result.exit, result.output.display().to_string())),
                };
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "the run's thread ended without a result",
                ));
            }
        }
        // Only the main thread sees signals; elsewhere this finds none.
        if let Err(e) = py.check_signals() {
            if interrupted.is_some() {
                // A second Ctrl-C: at once. The journal holds whole records; the run's
                // thread ends with what it is doing, and the next run goes on from them.
                return Err(e);
            }
            interrupt.notify_one();
            interrupted = Some(e);
        }
    }
}
