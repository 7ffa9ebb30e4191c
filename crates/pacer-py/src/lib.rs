//! `pacer._pacer`: the native half of the Python package. The command (`pacer ...`) and
//! `pacer run` are the Rust program itself ([`pacer_cli`]); the Python half
//! (`python/pacer/`) gives them a Python face: dicts in, dicts and iterators out.
//!
//! Every call here releases the GIL while Rust works, so other Python threads (a notebook
//! following a run's records) go on.

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

fn parse(config: Option<String>) -> PyResult<Option<serde_json::Value>> {
    config
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|e| PyValueError::new_err(format!("config: not JSON: {e}")))
        })
        .transpose()
}

/// Runs `pacer run` with the flags `args` and, where given, `config` (JSON text in the
/// config file's form) instead of a `--config` file; returns `(exit status, output folder)`.
/// A wrong flag or config raises `ValueError` naming the file, key and what was expected.
#[pyfunction]
#[pyo3(signature = (args, config=None))]
fn run(py: Python<'_>, args: Vec<String>, config: Option<String>) -> PyResult<(u8, String)> {
    let config = parse(config)?;
    let done = py
        .detach(|| pacer_cli::run_with(&args, config))
        .map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
    Ok((done.exit, done.output.display().to_string()))
}

/// The native module.
#[pymodule]
fn _pacer(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(cli, module)?)?;
    module.add_function(wrap_pyfunction!(run, module)?)?;
    module.add_function(wrap_pyfunction!(output_dir, module)?)?;
    module.add_class::<processor::Processor>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
