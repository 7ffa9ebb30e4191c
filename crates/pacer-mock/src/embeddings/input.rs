//! An embedding request's `input` in each form OpenAI takes: a string, a list of strings, a
//! list of token numbers (one input), or a list of such lists. A token list is embedded as
//! its numbers' text (`"15339 1917"`) and counted as its length; a text is counted with the
//! model's tokenizer. An empty input, an empty string or list in it, or more than
//! [`MAX_INPUTS`] inputs is a 400, in OpenAI's words.

use serde_json::Value;

use crate::respond::{Reply, bad_request};
use crate::tokens::Encoding;

/// The most inputs one request may hold.
pub(crate) const MAX_INPUTS: usize = 2048;

/// The texts to embed and their tokens.
#[derive(Debug, PartialEq)]
pub(crate) struct Inputs {
    /// One text per input, in order.
    pub(crate) texts: Vec<String>,
    /// Their tokens, all together.
    pub(crate) tokens: u64,
}

/// OpenAI's 400 for an input it cannot read.
fn invalid() -> Box<Reply> {
    Box::new(bad_request(
        "'$.input' is invalid. Please check the API reference: \
         https://platform.openai.com/docs/api-reference.",
        None,
        None,
    ))
}

/// The text of a list of token numbers and its length; `None` when it is empty or holds
/// anything but non-negative integers.
fn token_list(items: &[Value]) -> Option<(String, u64)> {
    if items.is_empty() {
        return None;
    }
    let numbers: Option<Vec<String>> = items
        .iter()
        .map(|n| n.as_u64().map(|n| n.to_string()))
        .collect();
    Some((numbers?.join(" "), items.len() as u64))
}

/// The inputs of `input`, counted with `encoding`, or the 400 for it.
pub(crate) fn read(input: &Value, encoding: Encoding) -> Result<Inputs, Box<Reply>> {
    let text = |text: &str| -> Result<(String, u64), Box<Reply>> {
        if text.is_empty() {
            return Err(invalid());
        }
        Ok((text.to_owned(), encoding.count(text)))
    };
    let read: Vec<(String, u64)> = match input {
        Value::String(one) => vec![text(one)?],
        Value::Array(items) if items.is_empty() => return Err(invalid()),
        Value::Array(items) if items.len() > MAX_INPUTS => {
            return Err(Box::new(bad_request(
                format!(
                    "Invalid 'input': array too long. Expected an array with maximum length \
                     {MAX_INPUTS}, but got an array with length {} instead.",
                    items.len()
                ),
                Some("input"),
                Some("array_above_max_length"),
            )));
        }
        Value::Array(items) => match &items[0] {
            Value::String(_) => items
                .iter()
                .map(|item| item.as_str().ok_or_else(invalid).and_then(text))
                .collect::<Result<_, _>>()?,
            Value::Number(_) => vec![token_list(items).ok_or_else(invalid)?],
            Value::Array(_) => items
                .iter()
                .map(|item| {
                    item.as_array()
                        .and_then(|list| token_list(list))
                        .ok_or_else(invalid)
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(invalid()),
        },
        _ => return Err(invalid()),
    };
    let tokens = read.iter().map(|(_, n)| n).sum();
    Ok(Inputs {
        texts: read.into_iter().map(|(t, _)| t).collect(),
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{Inputs, MAX_INPUTS, read};
    use crate::respond::into_parts;
    use crate::tokens::Encoding;

    fn inputs(value: Value) -> Result<Inputs, Value> {
        read(&value, Encoding::Cl100k).map_err(|reply| {
            let (_, body) = into_parts(*reply);
            serde_json::from_slice::<Value>(&body).unwrap()["error"].clone()
        })
    }

    #[test]
    fn every_form_reads_as_texts_and_tokens() {
        let one = inputs(json!("Hello world")).unwrap();
        assert_eq!(one.texts, ["Hello world"]);
        assert_eq!(one.tokens, 2);
        let many = inputs(json!(["Hello world", "Hi"])).unwrap();
        assert_eq!((many.texts.len(), many.tokens), (2, 3));
        let tokens = inputs(json!([9906, 1917, 0])).unwrap();
        assert_eq!(tokens.texts, ["9906 1917 0"]);
        assert_eq!(tokens.tokens, 3);
        let lists = inputs(json!([[1, 2], [3]])).unwrap();
        assert_eq!(lists.texts, ["1 2", "3"]);
        assert_eq!(lists.tokens, 3);
    }

    #[test]
    fn empty_mixed_and_too_many_inputs_are_refused() {
        for bad in [
            json!(""),
            json!([]),
            json!(["a", ""]),
            json!(["a", 1]),
            json!([1, "a"]),
            json!([[]]),
            json!([-1]),
            json!({"text": "a"}),
            json!(7),
        ] {
            let error = inputs(bad.clone()).unwrap_err();
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains("'$.input' is invalid"),
                "{bad}: {error}"
            );
        }
        let error = inputs(json!(vec!["a"; MAX_INPUTS + 1])).unwrap_err();
        assert_eq!(error["code"], "array_above_max_length");
        assert_eq!(
            inputs(json!(vec!["a"; MAX_INPUTS])).unwrap().texts.len(),
            MAX_INPUTS
        );
    }
}
