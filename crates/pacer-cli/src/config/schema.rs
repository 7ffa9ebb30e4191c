//! Output schemas (structured output): `--schema FILE` or a model's `schema` key, read and
//! compiled once, so that a bad schema stops the run before anything is sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pacer_engine::SchemaValidator;
use serde_json::Value;

use super::ModelSpec;

/// Reads the JSON Schema in `path` and compiles it; the error names the file and says what
/// is wrong with it (the caller adds the flag or key).
pub fn load(path: &Path) -> Result<Arc<SchemaValidator>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the schema file {shown}: {e}; check the path"))?;
    let schema: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "the schema file {shown} is not valid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    SchemaValidator::new(Arc::new(schema))
        .map(Arc::new)
        .map_err(|e| format!("the schema file {shown} is {e}"))
}

/// Gives `spec` the output schema read from a file: on its requests, for the provider; as
/// the validator of its replies; and the file in its shown entry, for the run's manifest.
pub fn attach(spec: &mut ModelSpec, schema: Option<(PathBuf, Arc<SchemaValidator>)>) {
    let Some((path, schema)) = schema else {
        return;
    };
    if let Value::Object(entry) = &mut spec.entry {
        entry.insert("schema".into(), path.display().to_string().into());
    }
    spec.params.schema = Some(schema.schema().clone());
    spec.schema = Some(schema);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mistake_names_the_file_and_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let err = load(&missing).unwrap_err();
        assert!(
            err.starts_with("cannot read the schema file ") && err.contains("missing.json"),
            "{err}"
        );

        let not_json = dir.path().join("broken.json");
        std::fs::write(&not_json, "{\"type\": ").unwrap();
        let err = load(&not_json).unwrap_err();
        assert!(
            err.contains("broken.json is not valid JSON at line 1"),
            "{err}"
        );

        let not_schema = dir.path().join("odd.json");
        std::fs::write(&not_schema, r#"{"type": "strnig"}"#).unwrap();
        let err = load(&not_schema).unwrap_err();
        assert!(
            err.contains("odd.json is not a valid JSON Schema: "),
            "{err}"
        );

        let good = dir.path().join("good.json");
        std::fs::write(&good, r#"{"type": "object"}"#).unwrap();
        assert!(load(&good).is_ok());
    }
}
