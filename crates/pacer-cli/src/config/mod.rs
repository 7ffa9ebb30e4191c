//! The run's configuration: Pacer's TOML or seed 003's JSON, `${VAR}` expanded, checked, and
//! merged with the command line into a [`RunConfig`].
//!
//! Every error names the file, the key and what was expected.

mod budget;
mod deployments;
mod env;
mod file;
mod hosted;
mod limits_file;
mod model;
mod openai;
mod provider;
mod resolve;
mod schema;
mod shapes;

use std::fmt;
use std::path::{Path, PathBuf};

pub use budget::BudgetCaps;
pub use file::{FileConfig, GatewayKeyEntry};
pub use limits_file::LimitsFile;
pub use model::ModelSpec;
pub use provider::Connection;
pub use resolve::{Overrides, RunConfig, ServeModels, resolve, resolve_serve};

/// A configuration mistake, located.
#[derive(Debug)]
pub struct ConfigError {
    /// The file, or `None` for the command line.
    pub file: Option<PathBuf>,
    /// The key's path, e.g. `models[1].temperature`.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(
        file: Option<&Path>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.map(Path::to_path_buf),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => f.write_str("command line")?,
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Reads `path` (TOML by extension `.toml`, else JSON), expands `${VAR}` from the
/// environment and checks its shape.
pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            Some(path),
            "",
            format!("cannot read the config file: {e}; check the path"),
        )
    })?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let value: serde_json::Value = if is_toml {
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| ConfigError::new(Some(path), "", format!("not valid TOML: {e}")))?;
        serde_json::to_value(table)
            .map_err(|e| ConfigError::new(Some(path), "", format!("cannot convert TOML: {e}")))?
    } else {
        serde_json::from_str(&text).map_err(|e| {
            ConfigError::new(
                Some(path),
                "",
                format!(
                    "not valid JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
            )
        })?
    };
    from_value(value, path)
}

/// A config in the file's form already read (`path` names it in errors): `${VAR}` expanded
/// from the environment, its shape checked.
pub fn from_value(mut value: serde_json::Value, path: &Path) -> Result<FileConfig, ConfigError> {
    env::expand(&mut value, &mut String::new(), &|name| {
        std::env::var(name).ok()
    })
    .map_err(|(key, message)| ConfigError::new(Some(path), key, message))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        ConfigError::new(Some(path), key, e.into_inner().to_string())
    })
}
