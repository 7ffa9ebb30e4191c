//! Generation: one token at a time from a fresh KV cache, sampled with temperature, top_k and
//! top_p from a seeded generator, with the top log-probabilities of the first tokens.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::Tensor;
use pacer_core::{ErrorKind, FinishReason, ProviderError, TokenLogprob};

use super::LOGPROB_TOKENS;
use super::model::Model;

/// Sampling settings of one request.
pub(super) struct Sampling {
    /// 0: greedy.
    pub temperature: f64,
    pub top_p: f64,
    /// 0: no cut.
    pub top_k: usize,
    pub max_tokens: usize,
    pub stop: Vec<String>,
    /// How many alternatives to record per token, when log-probabilities are asked for.
    pub top_logprobs: Option<usize>,
    pub seed: u64,
}

/// What one generation produced.
pub(super) struct Generated {
    pub text: String,
    pub finish: FinishReason,
    pub logprobs: Vec<TokenLogprob>,
    pub input_tokens: usize,
    pub output_tokens: usize,
}

pub(super) fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    let log_sum = sum.ln() + max;
    logits.iter().map(|l| l - log_sum).collect()
}

/// The `k` most likely ids, most likely first (the lower id first on a tie).
pub(super) fn top_k_ids(logprobs: &[f32], k: usize) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..logprobs.len()).collect();
    let k = k.min(ids.len());
    let by = |a: &usize, b: &usize| logprobs[*b].total_cmp(&logprobs[*a]).then(a.cmp(b));
    if k > 0 && k < ids.len() {
        ids.select_nth_unstable_by(k - 1, by);
        ids.truncate(k);
    }
    ids.sort_by(by);
    ids
}

/// The next token: the most likely at temperature 0, else drawn from the `top_k` most likely
/// that together reach `top_p`, after temperature.
pub(super) fn sample(logits: &[f32], s: &Sampling, rng: &mut fastrand::Rng) -> usize {
    if s.temperature <= 0.0 {
        return top_k_ids(logits, 1)[0];
    }
    let scaled: Vec<f32> = logits
        .iter()
        .map(|l| (f64::from(*l) / s.temperature) as f32)
        .collect();
    let lp = log_softmax(&scaled);
    let k = if s.top_k == 0 { lp.len() } else { s.top_k };
    let mut kept = Vec::new();
    let mut mass = 0.0f64;
    for id in top_k_ids(&lp, k) {
        let p = f64::from(lp[id]).exp();
        kept.push((id, p));
        mass += p;
        if mass >= s.top_p {
            break;
        }
    }
    let mut draw = rng.f64() * mass;
    for (id, p) in &kept {
        if draw < *p {
            return *id;
        }
        draw -= p;
    }
    kept.last().map_or(0, |(id, _)| *id)
}

fn candle_error(e: candle_core::Error) -> ProviderError {
    ProviderError::new(ErrorKind::Server, format!("local model: {e}"))
}

impl Model {
    /// The prompt's ids: the rendered template, with BOS first where the GGUF asks for it.
    pub(super) fn prompt_ids(&self, prompt: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let bos = self.template.bos_token();
        if let Some(id) = self.bos_id
            && (bos.is_empty() || !prompt.starts_with(bos))
        {
            ids.push(id);
        }
        ids.extend(self.tokenizer.encode(prompt));
        ids
    }

    /// Generates the answer to `prompt` (already rendered by the template). Stops early, at the
    /// next token, once `cancelled` is set (its caller gave up: a timeout, a shutdown).
    pub(super) fn generate(
        &self,
        prompt: &str,
        s: &Sampling,
        cancelled: &AtomicBool,
    ) -> Result<Generated, ProviderError> {
        let prompt_ids = self.prompt_ids(prompt);
        if prompt_ids.len() + s.max_tokens > self.context_length {
            return Err(ProviderError::new(
                ErrorKind::ContextLength,
                format!(
                    "{} prompt tokens + max_tokens {} exceed the model's context of {}",
                    prompt_ids.len(),
                    s.max_tokens,
                    self.context_length
                ),
            ));
        }
        let mut weights = self
            .weights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        weights.clear_kv_cache();
        let mut rng = fastrand::Rng::with_seed(s.seed);
        let mut generated: Vec<u32> = Vec::new();
        let mut logprobs = Vec::new();
        let mut finish = FinishReason::Length;
        let mut cut = None;
        let mut input = prompt_ids.clone();
        let mut pos = 0;
        while generated.len() < s.max_tokens {
            if cancelled.load(Ordering::Relaxed) {
                return Err(ProviderError::new(
                    ErrorKind::Timeout,
                    "local model: the request was abandoned".to_string(),
                ));
            }
            let x = Tensor::new(input.as_slice(), &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(candle_error)?;
            let logits = weights
                .forward(&x, pos)
                .and_then(|l| l.squeeze(0))
                .and_then(|l| l.to_dtype(candle_core::DType::F32))
                .and_then(|l| l.to_vec1::<f32>())
                .map_err(candle_error)?;
            pos += input.len();
            let next = sample(&logits, s, &mut rng) as u32;
            if self.stop_ids.contains(&next) {
                finish = FinishReason::Stop;
                break;
            }
            if let Some(top) = s.top_logprobs
                && generated.len() < LOGPROB_TOKENS
            {
                // The model's own distribution, before temperature and cuts.
                let lp = log_softmax(&logits);
                let best = top_k_ids(&lp, top);
                logprobs.push(TokenLogprob {
                    token_position: generated.len(),
                    token: self.tokenizer.token_text(next),
                    logprob: f64::from(lp[next as usize]),
                    top_tokens: best
                        .iter()
                        .map(|&i| self.tokenizer.token_text(i as u32))
                        .collect(),
                    top_logprobs: best.iter().map(|&i| f64::from(lp[i])).collect(),
                });
            }
            generated.push(next);
            input = vec![next];
            // Stop strings may span tokens: look for them in the text so far.
            if !s.stop.is_empty() {
                let text = self.tokenizer.decode(&generated);
                cut = s
                    .stop
                    .iter()
                    .filter_map(|stop| text.find(stop.as_str()))
                    .min();
                if cut.is_some() {
                    finish = FinishReason::Stop;
                    break;
                }
            }
        }
        let mut text = self.tokenizer.decode(&generated);
        if let Some(cut) = cut {
            text.truncate(cut);
        }
        Ok(Generated {
            text,
            finish,
            logprobs,
            input_tokens: prompt_ids.len(),
            output_tokens: generated.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greedy() -> Sampling {
        Sampling {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            max_tokens: 1,
            stop: vec![],
            top_logprobs: None,
            seed: 7,
        }
    }

    #[test]
    fn sampling_is_greedy_at_zero_and_seeded_otherwise() {
        let logits = [0.1f32, 2.0, 1.9, -1.0];
        let mut s = greedy();
        assert_eq!(sample(&logits, &s, &mut fastrand::Rng::with_seed(1)), 1);
        s.temperature = 1.0;
        let draws = |s: &Sampling, seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..50)
                .map(|_| sample(&logits, s, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(&s, 3), draws(&s, 3));
        // At temperature 1 the draws spread over the three likely tokens.
        let spread = draws(&s, 3);
        assert!([0, 1, 2].iter().all(|id| spread.contains(id)), "{spread:?}");
        s.top_p = 0.1;
        assert!(draws(&s, 3).iter().all(|&id| id == 1));
        s.top_p = 1.0;
        s.top_k = 2;
        assert!(draws(&s, 3).iter().all(|&id| id == 1 || id == 2));
    }

    #[test]
    fn log_probabilities_are_sorted_and_never_positive() {
        let lp = log_softmax(&[0.1, 2.0, 1.9, -1.0, 2.0]);
        assert!(lp.iter().all(|l| *l <= 0.0));
        let total: f32 = lp.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert_eq!(top_k_ids(&lp, 3), [1, 4, 2]);
        assert_eq!(top_k_ids(&lp, 9), [1, 4, 2, 0, 3]);
    }
}
