//! The mock's deterministic replies: text, usage and log-probabilities derived from a hash of
//! the request.

use pacer_core::{Choice, FinishReason, Request, Response, TokenLogprob, Usage, estimate_tokens};

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
fn fnv(bytes: &[u8], mut hash: u64) -> u64 {
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
    let seed = request_hash(request);
    let choices: Vec<Choice> = (0..request.n())
        .map(|i| choice(request, splitmix(seed ^ u64::from(i))))
        .collect();
    let output_tokens = choices.iter().map(|c| word_count(&c.text)).sum();
    Response {
        model_version: Some(format!("{}-mock-1", request.model)),
        choices,
        usage: Usage {
            input_tokens: estimate_tokens(&request.messages),
            output_tokens,
            ..Usage::default()
        },
        rate_limits: None,
        embeddings: Vec::new(),
    }
}

fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn choice(request: &Request, mut state: u64) -> Choice {
    if let Some(schema) = &request.params.schema {
        // Structured output: a value for the schema, never cut short.
        return Choice {
            text: super::structured::value_for(schema, state).to_string(),
            finish_reason: FinishReason::Stop,
            logprobs: None,
            parsed: None,
            tool_calls: Vec::new(),
        };
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
        text: words.join(" "),
        finish_reason,
        logprobs: request.params.logprobs.then_some(logprobs),
        parsed: None,
        tool_calls: Vec::new(),
    }
}

fn token_logprob(position: usize, chosen: &str, state: u64, top: usize) -> TokenLogprob {
    let first = -(((state >> 40) % 1000) as f64) / 2000.0;
    let mut top_tokens = vec![chosen.to_string()];
    let mut top_logprobs = vec![first];
    let mut next = state;
    while top_tokens.len() < top {
        next = splitmix(next);
        let word = WORDS[(next % WORDS.len() as u64) as usize];
        if top_tokens.iter().all(|t| t != word) {
            let last = *top_logprobs.last().unwrap_or(&first);
            let step = 0.5 + ((next >> 32) % 1000) as f64 / 500.0;
            top_logprobs.push(((last - step) * 1e4).round() / 1e4);
            top_tokens.push(word.to_string());
        }
    }
    TokenLogprob {
        token_position: position,
        token: chosen.to_string(),
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
        }
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
}
