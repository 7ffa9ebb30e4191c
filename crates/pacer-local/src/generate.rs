//! Sampling: the next token drawn with temperature, top_k and top_p from a seeded
//! generator, and the log-probabilities recorded beside it.

use pacer_core::{FinishReason, TokenLogprob};

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
    /// The time to the first sampled token.
    pub first_token: Option<std::time::Duration>,
}

pub(super) fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Summed in f64: tens of thousands of terms.
    let sum: f64 = logits.iter().map(|l| f64::from((l - max).exp())).sum();
    let log_sum = sum.ln() as f32 + max;
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

/// The most likely id (the lower on a tie).
fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, l) in logits.iter().enumerate() {
        if *l > logits[best] {
            best = i;
        }
    }
    best
}

/// The next token: the most likely at temperature 0, else drawn from the `top_k` most likely
/// that together reach `top_p`, after temperature.
pub(super) fn sample(logits: &[f32], s: &Sampling, rng: &mut fastrand::Rng) -> usize {
    if s.temperature <= 0.0 {
        return argmax(logits);
    }
    let scaled: Vec<f32> = logits
        .iter()
        .map(|l| (f64::from(*l) / s.temperature) as f32)
        .collect();
    let lp = log_softmax(&scaled);
    let limit = if s.top_k == 0 {
        lp.len()
    } else {
        s.top_k.min(lp.len())
    };
    let kept: Vec<(usize, f64)> = if s.top_p >= 1.0 && limit == lp.len() {
        // The whole distribution: drawn in id order, no sorting needed.
        lp.iter()
            .enumerate()
            .map(|(id, l)| (id, f64::from(*l).exp()))
            .collect()
    } else {
        // The most likely first, until they hold top_p of the mass: a window of the best 64,
        // widened eightfold while it falls short (rarely past the first).
        let mut window = limit.min(64);
        loop {
            let mut kept = Vec::new();
            let mut mass = 0.0f64;
            for id in top_k_ids(&lp, window) {
                let p = f64::from(lp[id]).exp();
                kept.push((id, p));
                mass += p;
                if mass >= s.top_p {
                    break;
                }
            }
            if mass >= s.top_p || window == limit {
                break kept;
            }
            window = (window * 8).min(limit);
        }
    };
    let mass: f64 = kept.iter().map(|(_, p)| p).sum();
    let mut draw = rng.f64() * mass;
    for (id, p) in &kept {
        if draw < *p {
            return *id;
        }
        draw -= p;
    }
    kept.last().map_or(0, |(id, _)| *id)
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
