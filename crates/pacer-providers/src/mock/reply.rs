//! The mock's deterministic replies: text, tool calls, refusals, usage and
//! log-probabilities derived from a hash of the request.
//!
//! What a request gets, in this order:
//!
//! 1. an embedding request: a vector per input ([`embedding`](super::embedding));
//! 2. a last user message holding [`REFUSAL_MARKER`]: [`REFUSAL_TEXT`], finish reason
//!    `refusal` (never cut by `max_tokens`);
//! 3. a conversation whose last message is a tool result: a text answer that quotes it
//!    (`The get_weather tool returned: ...`), or JSON for an output schema;
//! 4. tools and a choice that calls one ([`tools`](super::tools)): a tool call, finish reason
//!    `tool_calls`;
//! 5. an output schema: a JSON value that fits it;
//! 6. otherwise 8 to 64 words of the mock's vocabulary, cut at `max_tokens` (finish reason
//!    `length`).
//!
//! The hash covers the model, each message's role, text and tool calls, and the sampling
//! parameters; images do not change the words, only the prompt tokens. Prompt tokens are
//! `pacer_core::estimate_request` at four characters a token, images billed by OpenAI's
//! rule; output tokens are one a word, plus one for each tool call and its arguments' JSON
//! at four characters a token.

use pacer_core::{
    Choice, FinishReason, ImageBilling, Request, Response, Role, TokenLogprob, Usage,
    estimate_request,
};

use super::tools;

/// The marker that makes the mock refuse: a last user message holding it gets
/// [`REFUSAL_TEXT`] with finish reason `refusal`.
pub const REFUSAL_MARKER: &str = "[refuse]";

/// What the mock says when it refuses.
pub const REFUSAL_TEXT: &str = "I'm sorry, but I can't help with that request.";

/// The mock's vocabulary.
pub(crate) const WORDS: [&str; 32] = [
    "the",
    "model",
    "answers",
    "that",
    "a",
    "rate",
    "limit",
    "is",
    "respected",
    "when",
    "every",
    "request",
    "waits",
    "its",
    "turn",
    "and",
    "tokens",
    "flow",
    "steadily",
    "through",
    "lanes",
    "so",
    "nothing",
    "is",
    "lost",
    "after",
    "crash",
    "or",
    "resume",
    "records",
    "stay",
    "whole",
];

/// Logprobs are reported for at most this many leading tokens, as seed 003 does.
const LOGPROB_TOKENS: usize = 50;

/// FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`.
pub(crate) fn fnv(bytes: &[u8], mut hash: u64) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn request_hash(request: &Request) -> u64 {
    let mut h = fnv(request.model.as_bytes(), 0xcbf2_9ce4_8422_2325);
    for m in &request.messages {
        h = fnv(m.role.as_str().as_bytes(), h);
        h = fnv(m.text().as_bytes(), h);
        for call in &m.tool_calls {
            h = fnv(call.name.as_bytes(), h);
            h = fnv(call.arguments_text().as_bytes(), h);
        }
    }
    let p = &request.params;
    let params = format!(
        "{:?}|{:?}|{:?}|{:?}",
        p.temperature, p.top_p, p.seed, p.top_k
    );
    fnv(params.as_bytes(), h)
}

/// A number in [0, 1) drawn from the request and the call number.
pub(crate) fn unit_draw(request: &Request, call: u64) -> f64 {
    let h = fnv(&call.to_le_bytes(), request_hash(request));
    (splitmix(h) >> 11) as f64 / (1u64 << 53) as f64
}

/// SplitMix64's step: a well-mixed next state.
pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The mock's reply to `request`: the same request always gets the same reply.
pub fn reply(request: &Request) -> Response {
    if request.is_embedding() {
        return super::embed::reply(request);
    }
    let seed = request_hash(request);
    let choices: Vec<Choice> = (0..request.n())
        .map(|i| choice(request, splitmix(seed ^ u64::from(i))))
        .collect();
    let output_tokens = choices.iter().map(output_tokens).sum();
    Response {
        model_version: Some(format!("{}-mock-1", request.model)),
        choices,
        usage: Usage {
            input_tokens: prompt_tokens(request),
            output_tokens,
            ..Usage::default()
        },
        rate_limits: None,
        first_token: None,
        embeddings: Vec::new(),
    }
}

/// The prompt tokens the mock bills `request`: Pacer's estimate at four characters a token,
/// images by OpenAI's rule, tools' definitions included.
pub(crate) fn prompt_tokens(request: &Request) -> u64 {
    estimate_request(
        request,
        |text| (text.chars().count() as u64).div_ceil(4),
        ImageBilling::OpenAi,
        pacer_core::Overheads::NEUTRAL,
    )
}

/// The output tokens the mock bills for `choice`: one a word of its text, and for each
/// tool call one plus its arguments' JSON at four characters a token.
pub fn output_tokens(choice: &Choice) -> u64 {
    let calls: u64 = choice
        .tool_calls
        .iter()
        .map(|call| 1 + (call.arguments_text().chars().count() as u64).div_ceil(4))
        .sum();
    word_count(&choice.text) + calls
}

fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Whether the last user message holds the [`REFUSAL_MARKER`].
fn refuses(request: &Request) -> bool {
    tools::last_user_text(request).is_some_and(|text| text.contains(REFUSAL_MARKER))
}

/// The answer to a conversation whose last message is a tool result, quoting it; `None`
/// when the last message is no tool result.
fn tool_result_answer(request: &Request) -> Option<String> {
    let last = request.messages.last().filter(|m| m.role == Role::Tool)?;
    // The tool's name, from the call the result answers.
    let name = last.tool_call_id.as_deref().and_then(|id| {
        request
            .messages
            .iter()
            .flat_map(|m| &m.tool_calls)
            .find(|call| call.id == id)
            .map(|call| call.name.as_str())
    });
    let result = last.text();
    Some(match name {
        Some(name) => format!("The {name} tool returned: {result}"),
        None => format!("The tool returned: {result}"),
    })
}

/// `text` cut to at most `max` words, and why it ended.
fn capped(text: String, max: Option<u32>) -> (String, FinishReason) {
    let max = max.map_or(usize::MAX, |m| m as usize);
    if text.split_whitespace().count() <= max {
        return (text, FinishReason::Stop);
    }
    let kept: Vec<&str> = text.split_whitespace().take(max).collect();
    (kept.join(" "), FinishReason::Length)
}

fn choice(request: &Request, mut state: u64) -> Choice {
    if refuses(request) {
        return Choice::text(REFUSAL_TEXT, FinishReason::Refusal);
    }
    let schema = request.params.schema.as_ref();
    if let Some(answer) = tool_result_answer(request)
        && schema.is_none()
    {
        let (text, finish_reason) = capped(answer, request.params.max_tokens);
        return Choice::text(text, finish_reason);
    }
    if let Some(tool) = tools::chosen(request) {
        let mut choice = Choice::text("", FinishReason::ToolCalls);
        choice.tool_calls = vec![tools::call(request, tool, state)];
        return choice;
    }
    if let Some(schema) = schema {
        // Structured output: a value for the schema, never cut short.
        let text = super::structured::value_for(schema, state).to_string();
        return Choice::text(text, FinishReason::Stop);
    }
    let wanted = 8 + (state % 57) as usize;
    let max = request.params.max_tokens.map_or(usize::MAX, |m| m as usize);
    let (len, finish_reason) = if wanted > max {
        (max, FinishReason::Length)
    } else {
        (wanted, FinishReason::Stop)
    };
    let mut words = Vec::with_capacity(len);
    let mut logprobs = Vec::new();
    let top = usize::from(request.params.top_logprobs.unwrap_or(5)).clamp(1, WORDS.len());
    for position in 0..len {
        state = splitmix(state);
        let word = WORDS[(state % WORDS.len() as u64) as usize];
        words.push(word);
        if request.params.logprobs && position < LOGPROB_TOKENS {
            logprobs.push(token_logprob(position, word, state, top));
        }
    }
    Choice {
        logprobs: request.params.logprobs.then_some(logprobs),
        ..Choice::text(words.join(" "), finish_reason)
    }
}

/// The token of `word` at `position`: after the first, with the space before it, as real
/// tokenizers write words, so that the tokens joined are the text.
fn token(position: usize, word: &str) -> String {
    match position {
        0 => word.to_string(),
        _ => format!(" {word}"),
    }
}

fn token_logprob(position: usize, chosen: &str, state: u64, top: usize) -> TokenLogprob {
    let first = -(((state >> 40) % 1000) as f64) / 2000.0;
    let mut top_tokens = vec![token(position, chosen)];
    let mut top_logprobs = vec![first];
    let mut next = state;
    while top_tokens.len() < top {
        next = splitmix(next);
        let word = WORDS[(next % WORDS.len() as u64) as usize];
        let word = token(position, word);
        if top_tokens.iter().all(|t| *t != word) {
            let last = *top_logprobs.last().unwrap_or(&first);
            let step = 0.5 + ((next >> 32) % 1000) as f64 / 500.0;
            top_logprobs.push(((last - step) * 1e4).round() / 1e4);
            top_tokens.push(word);
        }
    }
    TokenLogprob {
        token_position: position,
        token: token(position, chosen),
        logprob: first,
        top_tokens,
        top_logprobs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_request_same_reply_other_params_other_reply() {
        let mut request = Request::text("m", Some("be brief"), "What is a rate limit?");
        let a = reply(&request);
        assert_eq!(a, reply(&request));
        request.params.temperature = Some(0.7);
        assert_ne!(a.choices[0].text, reply(&request).choices[0].text);
    }

    #[test]
    fn max_tokens_truncates_and_says_so() {
        let mut request = Request::text("m", None, "hello");
        request.params.max_tokens = Some(3);
        let r = reply(&request);
        assert_eq!(r.choices[0].finish_reason, FinishReason::Length);
        assert_eq!(r.usage.output_tokens, 3);
    }

    #[test]
    fn logprobs_are_top_k_sorted_and_at_most_zero() {
        let mut request = Request::text("m", None, "hello");
        request.params.logprobs = true;
        let r = reply(&request);
        let lps = r.choices[0].logprobs.as_ref().unwrap();
        assert!(!lps.is_empty() && lps.len() <= LOGPROB_TOKENS);
        for lp in lps {
            assert_eq!(lp.top_tokens.len(), 5);
            assert!(lp.top_logprobs.windows(2).all(|w| w[0] >= w[1]));
            assert!(lp.top_logprobs.iter().all(|l| *l <= 0.0));
            assert_eq!(lp.top_tokens[0], lp.token);
        }
        // As a tokenizer writes them: the tokens joined are the text.
        let joined: String = lps.iter().map(|lp| lp.token.as_str()).collect();
        assert!(r.choices[0].text.starts_with(&joined), "{joined:?}");
    }

    #[test]
    fn n_gives_that_many_choices_and_counts_them_all() {
        let mut request = Request::text("m", None, "hello");
        request.params.n = 3;
        let r = reply(&request);
        assert_eq!(r.choices.len(), 3);
        let words: u64 = r.choices.iter().map(|c| word_count(&c.text)).sum();
        assert_eq!(r.usage.output_tokens, words);
    }

    fn with_tools(prompt: &str) -> Request {
        let mut request = Request::text("m", None, prompt);
        request.params.tools = vec![pacer_core::Tool {
            name: "get_weather".into(),
            description: None,
            parameters: serde_json::json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
            }),
        }];
        request
    }

    #[test]
    fn the_refusal_marker_refuses_whatever_else_is_asked() {
        let mut request = with_tools("Please [refuse] to call get_weather.");
        request.params.n = 2;
        let r = reply(&request);
        for choice in &r.choices {
            assert_eq!(choice.finish_reason, FinishReason::Refusal);
            assert_eq!(choice.text, REFUSAL_TEXT);
            assert!(choice.tool_calls.is_empty());
        }
        assert_eq!(r.usage.output_tokens, 2 * word_count(REFUSAL_TEXT));
        // Only the last user message counts.
        let mut earlier = Request::text("m", None, "[refuse]");
        earlier
            .messages
            .push(pacer_core::Message::new(Role::Assistant, "No."));
        earlier
            .messages
            .push(pacer_core::Message::new(Role::User, "Please?"));
        assert_eq!(reply(&earlier).choices[0].finish_reason, FinishReason::Stop);
    }

    #[test]
    fn a_named_tool_is_called_and_its_result_answered() {
        let request = with_tools("What does get_weather say of Paris?");
        let r = reply(&request);
        let choice = &r.choices[0];
        assert_eq!(choice.finish_reason, FinishReason::ToolCalls);
        assert_eq!(choice.text, "");
        let call = &choice.tool_calls[0];
        assert_eq!(call.name, "get_weather");
        assert_eq!(r.usage.output_tokens, output_tokens(choice));
        assert!(r.usage.output_tokens > 1);
        // Tools' definitions are billed as prompt.
        let plain = Request::text("m", None, "What does get_weather say of Paris?");
        assert!(r.usage.input_tokens > reply(&plain).usage.input_tokens);

        let mut follow = request.clone();
        let mut turn = pacer_core::Message::new(Role::Assistant, "");
        turn.tool_calls = vec![call.clone()];
        follow.messages.push(turn);
        let mut result = pacer_core::Message::new(Role::Tool, "18 degrees and sunny");
        result.tool_call_id = Some(call.id.clone());
        follow.messages.push(result);
        let answer = &reply(&follow).choices[0];
        assert_eq!(answer.finish_reason, FinishReason::Stop);
        assert_eq!(
            answer.text,
            "The get_weather tool returned: 18 degrees and sunny"
        );
        follow.params.max_tokens = Some(3);
        let cut = &reply(&follow).choices[0];
        assert_eq!(
            (cut.text.as_str(), &cut.finish_reason),
            ("The get_weather tool", &FinishReason::Length)
        );
    }

    #[test]
    fn images_add_prompt_tokens_but_not_words() {
        use pacer_core::{Content, Image, Part};
        let text = Request::text("m", None, "Describe this.");
        let mut with_image = text.clone();
        with_image.messages[0].content = Content::Parts(vec![
            Part::Text {
                text: "Describe this.".into(),
            },
            Part::Image {
                image_url: Image {
                    url: "https://example.com/cat.png".into(),
                    detail: Some("low".into()),
                },
            },
        ]);
        let (a, b) = (reply(&text), reply(&with_image));
        assert_eq!(a.choices, b.choices);
        assert_eq!(b.usage.input_tokens, a.usage.input_tokens + 85);
    }
}
