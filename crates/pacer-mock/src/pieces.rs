//! How a streamed reply cuts what the whole reply says into the pieces its events carry: a
//! text into a few words at a time, a tool call's JSON arguments into two or more pieces.
//! The pieces join back to exactly what was cut.

/// Words per piece of streamed text: a client sees several chunks of even a short reply.
pub(crate) const WORDS: usize = 2;

/// The most bytes per piece of streamed JSON.
const JSON_BYTES: usize = 24;

/// `text` in pieces of `words` words each (at least one), each with the whitespace after its
/// last word (the first also with any before its first); none for an empty text.
pub(crate) fn words(text: &str, words: usize) -> Vec<&str> {
    let words = words.max(1);
    let mut pieces = Vec::new();
    let (mut start, mut seen, mut in_word) = (0, 0, false);
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if !space && !in_word {
            if seen == words {
                pieces.push(&text[start..i]);
                start = i;
                seen = 0;
            }
            seen += 1;
        }
        in_word = !space;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// `json` in pieces of at most about [`JSON_BYTES`] bytes, and at least two when it has two
/// characters, cut at character boundaries (a piece need not be JSON on its own, as the
/// real APIs' are not).
pub(crate) fn json(json: &str) -> Vec<&str> {
    let count = json.len().div_ceil(JSON_BYTES).max(2);
    let size = json.len().div_ceil(count).max(1);
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < json.len() {
        let mut end = (start + size).min(json.len());
        while !json.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(&json[start..end]);
        start = end;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::{json, words};

    #[test]
    fn text_is_cut_after_every_few_words_and_joins_back() {
        let text = " Hello there,  rate\nlimiter! ";
        assert_eq!(
            words(text, 1),
            [" Hello ", "there,  ", "rate\n", "limiter! "]
        );
        assert_eq!(words(text, 2), [" Hello there,  ", "rate\nlimiter! "]);
        assert_eq!(words(text, 9).concat(), text);
        assert!(words("", 2).is_empty());
        assert_eq!(words("  ", 2), ["  "]);
    }

    #[test]
    fn json_comes_in_two_pieces_or_more() {
        assert_eq!(json("{}"), ["{", "}"]);
        assert_eq!(json("{\"a\":1}").len(), 2);
        let long =
            serde_json::json!({"city": "Zürich", "days": [1, 2, 3], "units": "metric"}).to_string();
        let pieces = json(&long);
        assert!(pieces.len() >= 3, "{pieces:?}");
        assert_eq!(pieces.concat(), long);
        assert!(json("").is_empty());
    }
}
