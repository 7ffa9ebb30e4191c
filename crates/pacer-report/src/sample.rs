//! The prompt browser's sample: the `limit` prompt ids of smallest hash over every run, so
//! that every run shows the same prompts, chosen in one pass in bounded memory.
//!
//! Once the sample is full, only a prompt whose hash is below the largest kept one gets in
//! (pushing that one out). The largest kept hash only falls, so a prompt left out is never
//! taken later, and a prompt kept has every answer after its first: the sample ends as the
//! `limit` smallest hashes with all their answers.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::data::{Answer, PromptView};
use crate::line::{AnswerLine, Line, seconds};

/// Characters of an answer kept for the browser.
pub(crate) const MAX_TEXT: usize = 4000;
/// Answers kept per prompt and run (models × samples).
const MAX_ANSWERS: usize = 48;

/// The prompts kept so far, by (hash, id), and about how many bytes of JSON they make.
pub(crate) struct Sampler {
    limit: usize,
    max_bytes: usize,
    kept: BTreeMap<(u64, String), (PromptView, usize)>,
    bytes: usize,
    /// Whether the sample was made smaller to fit.
    shrunk: bool,
}

impl Sampler {
    /// A sampler of `limit` prompts that keeps about `max_bytes` of them at most.
    pub(crate) fn new(limit: usize, max_bytes: usize) -> Self {
        Self {
            limit,
            max_bytes,
            kept: BTreeMap::new(),
            bytes: 0,
            shrunk: false,
        }
    }

    /// Offers `line` (whose raw JSON is `text`) of run `run`: kept when its prompt is in the
    /// sample. An answer that does not parse is kept without its text.
    pub(crate) fn offer(&mut self, run: usize, line: &Line, text: &str) {
        if self.limit == 0 {
            return;
        }
        let mut hasher = DefaultHasher::new();
        line.prompt_id.hash(&mut hasher);
        let hash = hasher.finish();
        let key = (hash, line.prompt_id.as_str());
        let kept = self
            .kept
            .range((hash, String::new())..)
            .next()
            .is_some_and(|((h, id), _)| (*h, id.as_str()) == key);
        if !kept {
            if self.kept.len() >= self.limit {
                let ((h, id), _) = self.kept.last_key_value().expect("the sample is full");
                if key > (*h, id.as_str()) {
                    return;
                }
                self.drop_largest();
            }
            let view = PromptView {
                prompt_id: line.prompt_id.clone(),
                prompt: None,
                category: line.category(),
                probe: line.probe(),
                answers: Vec::new(),
            };
            self.kept
                .insert((hash, line.prompt_id.clone()), (view, PROMPT_BYTES));
            self.bytes += PROMPT_BYTES;
        }
        let (view, size) = self
            .kept
            .get_mut(&(hash, line.prompt_id.clone()))
            .expect("kept above");
        if view.answers.iter().filter(|a| a.run == run).count() >= MAX_ANSWERS {
            return;
        }
        let answer = serde_json::from_str(text).unwrap_or(AnswerLine {
            full_response: None,
            token_logprobs: None,
        });
        let answer = self::answer(run, line, answer);
        let bytes = answer_bytes(&answer);
        view.answers.push(answer);
        *size += bytes;
        self.bytes += bytes;
        // Past twice the file's share (the final cut is exact, in `finish`), the sample
        // shrinks for good: memory stays bounded whatever `--prompts` asks.
        while self.bytes > 2 * self.max_bytes && self.kept.len() > 1 {
            self.drop_largest();
            self.limit = self.kept.len();
            self.shrunk = true;
        }
    }

    fn drop_largest(&mut self) {
        if let Some((_, (_, size))) = self.kept.pop_last() {
            self.bytes -= size;
        }
    }

    /// The kept prompts, smallest hash first, and whether the sample was made smaller to
    /// fit; [`fit`] makes the final cut once the prompts' texts are in.
    pub(crate) fn finish(self) -> (Vec<PromptView>, bool) {
        let prompts = self.kept.into_values().map(|(prompt, _)| prompt).collect();
        (prompts, self.shrunk)
    }
}

/// As many of `prompts` (smallest hash first) as fit `max_bytes` of JSON in the page, sorted
/// by id with their answers in run, label and sample order; and whether some did not fit.
pub(crate) fn fit(prompts: Vec<PromptView>, max_bytes: usize) -> (Vec<PromptView>, bool) {
    let all = prompts.len();
    let mut used = 0;
    let mut prompts: Vec<PromptView> = prompts
        .into_iter()
        .take_while(|prompt| {
            // `<` is written `\u003c` in the page: 5 more bytes each.
            used += serde_json::to_string(prompt)
                .map_or(0, |json| json.len() + 5 * json.matches('<').count());
            used <= max_bytes
        })
        .collect();
    prompts.sort_by(|a, b| a.prompt_id.cmp(&b.prompt_id));
    for prompt in &mut prompts {
        prompt
            .answers
            .sort_by(|a, b| (a.run, &a.label, a.sample).cmp(&(b.run, &b.label, b.sample)));
    }
    let cut = prompts.len() < all;
    (prompts, cut)
}

/// About the JSON bytes of a prompt without its answers (id, text, category).
const PROMPT_BYTES: usize = 4_500;

/// About the JSON bytes of `answer`.
fn answer_bytes(answer: &Answer) -> usize {
    let text = answer.text.as_ref().map_or(0, String::len);
    let tokens = answer.tokens.as_ref().map_or(0, |t| {
        t.iter().map(|(token, _)| token.len() + 24).sum::<usize>()
    });
    200 + answer.label.len() + text + tokens + answer.error.as_ref().map_or(0, String::len)
}

fn answer(run: usize, line: &Line, answer: AnswerLine) -> Answer {
    let (text, clipped) = match answer.full_response {
        Some(text) => {
            let (text, clipped) = clip(text, MAX_TEXT);
            (Some(text), clipped)
        }
        None => (None, false),
    };
    // The tokens that lie within the clipped text.
    let tokens = answer.token_logprobs.map(|tokens| {
        let room = text.as_ref().map_or(0, String::len);
        let mut used = 0;
        tokens
            .into_iter()
            .take_while(|t| {
                used += t.token.len();
                used <= room
            })
            .map(|t| (t.token, t.logprob.filter(|l| l.is_finite())))
            .collect()
    });
    Answer {
        run,
        label: line.label().to_owned(),
        sample: line.sample,
        status: if line.ok() { "ok" } else { "error" },
        text,
        clipped,
        error: line.error_text(),
        finish_reason: line.finish_reason.clone(),
        output_tokens: line.tokens_used.map_or(0, |t| t.output),
        latency_seconds: seconds(line.latency_seconds),
        cost_usd: line.cost_usd,
        tokens,
    }
}

/// `text` cut to at most `max` characters (at a character boundary), and whether it was.
pub(crate) fn clip(mut text: String, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => {
            text.truncate(at);
            (text, true)
        }
        None => (text, false),
    }
}
