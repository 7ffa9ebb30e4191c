//! `pacer._pacer`: the native half of the Python package. The command (`pacer ...`) and
//! `pacer run` are the Rust program itself ([`pacer_cli`]); the Python half
//! (`python/pacer/`) gives them a Python face: dicts in, dicts and iterators out.
//!
//! Every call here releases the GIL while Rust works, so other Python threads (a notebook
//! following a run's records) go on.

mod batch;
mod calls;
mod classify;
mod hooks;
mod processor;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Runs the `pacer` command with `argv` (the program's name first) and returns its exit
/// status.
#[pyfunction]
fn cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| pacer_cli::exit_number(pacer_cli::main_with(argv)))
}

/// The output folder `run(args, config)` would write to; its config checked, nothing run.
#[pyfunction]
#[pyo3(signature = (args, config=None))]
fn output_dir(args: Vec<String>, config: Option<String>) -> PyResult<String> {
    let config = parse(config)?;
    pacer_cli::output_of(&args, config)
        .map(|p| p.display().to_string())
        .map_err(|e| PyValueError::new_err(format!("{e:#}")))
}

pub(crate) fn parse(config: Option<String>) -> PyResult<Option<serde_json::Value>> {
    config
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|e| PyValueError::new_err(format!("config: not JSON: {e}")))
        })
        .transpose()
}

/// The native module.
#[pymodule]
fn _pacer(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(cli, module)?)?;
    module.add_function(wrap_pyfunction!(batch::run, module)?)?;
    module.add_class::<batch::Stopper>()?;
    module.add_function(wrap_pyfunction!(output_dir, module)?)?;
    module.add_class::<processor::Processor>()?;
    module.add_class::<processor::Pending>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
