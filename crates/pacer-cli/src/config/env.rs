//! `${VAR}` in config strings, expanded from the environment.

use serde_json::Value;

/// Expands `${NAME}` in every string of `value`; `$${` writes a literal `${`. `path` tracks
/// the key for errors; `lookup` reads a variable.
pub(crate) fn expand(
    value: &mut Value,
    path: &mut String,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, String)> {
    match value {
        Value::String(s) if s.contains("${") => {
            *s = expand_str(s, lookup).map_err(|m| (path.clone(), m))?;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                expand(item, path, lookup)?;
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                expand(item, path, lookup)?;
                path.truncate(len);
            }
        }
        Value::String(_) | Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn expand_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in {s:?}"))?;
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| {
            format!("environment variable {name} is not set; export it or remove the reference")
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "sk-secret".to_string())
    }

    #[test]
    fn expands_nested_strings_and_keeps_escapes() {
        let mut v = json!({"models": [{"api_key": "${KEY}", "notes": "cost $${KEY}"}]});
        expand(&mut v, &mut String::new(), &env).unwrap();
        assert_eq!(
            v,
            json!({"models": [{"api_key": "sk-secret", "notes": "cost ${KEY}"}]})
        );
    }

    #[test]
    fn a_missing_variable_names_the_key_and_the_variable() {
        let mut v = json!({"models": [{"name": "m"}, {"api_key": "${NOPE}"}]});
        let (key, message) = expand(&mut v, &mut String::new(), &env).unwrap_err();
        assert_eq!(key, "models[1].api_key");
        assert!(message.contains("NOPE is not set"), "{message}");
    }
}
