//! The transformer itself (llama, qwen2, qwen3: RMSNorm, grouped-query attention with rotary
//! positions, SwiGLU), run over a batch of sequences at once.
//!
//! candle-transformers' models keep one KV cache inside the model, so they decode one
//! sequence at a time; here every sequence has its own [`Cache`], and one [`Net::forward`]
//! takes a chunk of tokens from each of several sequences (a prompt's next chunk, or a decoding
//! sequence's one new token), each at its own position. The matrix products, which read the
//! weights, run once over all the step's rows; only attention runs per sequence.

use candle_core::quantized::QMatMul;
use candle_core::{Module, Tensor};
use rayon::prelude::*;

use super::kernel;

/// A weight matrix `[out, k]`: F32 (exact), or quantized blocks through candle's kernels
/// (fast). A fused matrix (q, k and v; gate and up) is its parts' rows one after another.
pub(super) enum Linear {
    Exact {
        w: Vec<f32>,
        out: usize,
        k: usize,
    },
    Quantized {
        parts: Vec<(QMatMul, usize)>,
        k: usize,
    },
}

impl Linear {
    pub(super) fn out(&self) -> usize {
        match self {
            Linear::Exact { out, .. } => *out,
            Linear::Quantized { parts, .. } => parts.iter().map(|(_, n)| n).sum(),
        }
    }

    /// `x · Wᵀ` for the `rows` rows of `x`.
    fn forward(&self, x: &[f32], rows: usize) -> candle_core::Result<Vec<f32>> {
        match self {
            Linear::Exact { w, out, k } => Ok(kernel::matmul(x, rows, w, *out, *k)),
            Linear::Quantized { parts, k } => {
                let xt = Tensor::from_slice(x, (rows, *k), &candle_core::Device::Cpu)?;
                let total = self.out();
                let mut y = vec![0f32; rows * total];
                let mut at = 0;
                for (m, n) in parts {
                    let part = m.forward(&xt)?.flatten_all()?.to_vec1::<f32>()?;
                    for b in 0..rows {
                        y[b * total + at..b * total + at + n]
                            .copy_from_slice(&part[b * n..(b + 1) * n]);
                    }
                    at += n;
                }
                Ok(y)
            }
        }
    }
}

/// The sizes and constants of a model.
#[derive(Clone, Debug)]
pub(super) struct Shape {
    pub dim: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ff: usize,
    pub vocab: usize,
    pub eps: f32,
    /// The rotary frequencies, one per pair of a head's dimensions.
    pub inv_freq: Vec<f32>,
    /// Rotary pairs are neighbours (`2i`, `2i+1`), as GGUF's llama weights are laid out for
    /// llama.cpp; else `i` and `i + head_dim/2`, as in Hugging Face's weights (and GGUF's
    /// qwen2/qwen3).
    pub interleaved: bool,
}

impl Shape {
    /// The rotary frequencies `1 / base^(2i/d)`, as transformers computes them (in F32).
    pub(super) fn rope(base: f32, head_dim: usize) -> Vec<f32> {
        (0..head_dim / 2)
            .map(|i| 1.0 / base.powf((2 * i) as f32 / head_dim as f32))
            .collect()
    }
}

/// One decoder layer.
pub(super) struct Layer {
    pub attn_norm: Vec<f32>,
    /// q, k and v, fused.
    pub qkv: Linear,
    /// qwen2's biases of q, k and v, fused.
    pub qkv_bias: Option<Vec<f32>>,
    /// qwen3's per-head norms of q and k.
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    pub o: Linear,
    pub ffn_norm: Vec<f32>,
    /// gate and up, fused.
    pub gate_up: Linear,
    pub down: Linear,
}

/// A model's weights.
pub(super) struct Net {
    pub shape: Shape,
    /// `[vocab, dim]`, F32.
    pub embed: Vec<f32>,
    pub layers: Vec<Layer>,
    pub norm: Vec<f32>,
    /// The output head; `None` when it is `embed` (tied, exact).
    pub head: Option<Linear>,
}

/// One sequence's keys and values, per layer, `[position][kv_heads · head_dim]`.
#[derive(Default)]
pub(super) struct Cache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

/// A sequence's part of one step: its next tokens, and whether the logits after the last are
/// wanted (a prompt's last chunk, or a decoding token).
pub(super) struct Item<'a> {
    pub cache: &'a mut Cache,
    pub tokens: &'a [u32],
    pub logits: bool,
}

fn rms_norm(x: &mut [f32], weight: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(weight.len()) {
        let mean = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for (v, w) in row.iter_mut().zip(weight) {
            *v = *w * (*v * scale);
        }
    }
}

/// The rotation of position `pos`: `(sin, cos)` of each pair's angle.
fn angles(s: &Shape, pos: usize) -> Vec<(f32, f32)> {
    s.inv_freq
        .iter()
        .map(|f| (pos as f32 * f).sin_cos())
        .collect()
}

/// Rotates each head of `x` (`[heads · head_dim]`) by `angles`.
fn rope(x: &mut [f32], s: &Shape, angles: &[(f32, f32)]) {
    let half = s.head_dim / 2;
    for head in x.chunks_exact_mut(s.head_dim) {
        for (i, (sin, cos)) in angles.iter().enumerate() {
            let (ia, ib) = if s.interleaved {
                (2 * i, 2 * i + 1)
            } else {
                (i, i + half)
            };
            let (a, b) = (head[ia], head[ib]);
            head[ia] = a * cos - b * sin;
            head[ib] = b * cos + a * sin;
        }
    }
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

impl Net {
    /// Runs one step: every item's tokens through every layer, each at its cache's next
    /// positions, appending to the caches. Returns the logits after each item that wants them,
    /// in item order.
    pub(super) fn forward(&self, items: &mut [Item]) -> candle_core::Result<Vec<Vec<f32>>> {
        let s = &self.shape;
        let (dim, hd) = (s.dim, s.head_dim);
        let rows: usize = items.iter().map(|i| i.tokens.len()).sum();
        // The rows' hidden states, item after item.
        let mut h = Vec::with_capacity(rows * dim);
        for item in items.iter() {
            for &t in item.tokens {
                let t = t as usize;
                if t >= s.vocab {
                    candle_core::bail!("token id {t} is outside the vocabulary of {}", s.vocab);
                }
                h.extend_from_slice(&self.embed[t * dim..(t + 1) * dim]);
            }
        }
        // (first row, rows, first position) of each item.
        let mut spans = Vec::with_capacity(items.len());
        let mut at = 0;
        for item in items.iter_mut() {
            if item.cache.k.is_empty() {
                item.cache.k = vec![Vec::new(); self.layers.len()];
                item.cache.v = vec![Vec::new(); self.layers.len()];
            }
            spans.push((at, item.tokens.len(), item.cache.len));
            at += item.tokens.len();
        }
        let (q_width, kv_width) = (s.heads * hd, s.kv_heads * hd);
        // Each row's rotation, the same in every layer.
        let rotations: Vec<Vec<(f32, f32)>> = spans
            .iter()
            .flat_map(|&(_, n, pos)| (pos..pos + n).map(|p| angles(s, p)))
            .collect();
        for (l, layer) in self.layers.iter().enumerate() {
            let mut a = h.clone();
            rms_norm(&mut a, &layer.attn_norm, s.eps);
            let mut qkv = layer.qkv.forward(&a, rows)?;
            let width = q_width + 2 * kv_width;
            for row in qkv.chunks_exact_mut(width) {
                if let Some(bias) = &layer.qkv_bias {
                    row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                }
                let (q, kv) = row.split_at_mut(q_width);
                if let Some(norm) = &layer.q_norm {
                    rms_norm(q, norm, s.eps);
                }
                if let Some(norm) = &layer.k_norm {
                    rms_norm(&mut kv[..kv_width], norm, s.eps);
                }
            }
            // Rotate q and k to their positions, and append k and v to the caches.
            for (item, &(first, n, _)) in items.iter_mut().zip(&spans) {
                for r in 0..n {
                    let row = &mut qkv[(first + r) * width..(first + r + 1) * width];
                    let (q, kv) = row.split_at_mut(q_width);
                    rope(q, s, &rotations[first + r]);
                    rope(&mut kv[..kv_width], s, &rotations[first + r]);
                    item.cache.k[l].extend_from_slice(&kv[..kv_width]);
                    item.cache.v[l].extend_from_slice(&kv[kv_width..]);
                }
            }
            let attended = self.attend(items, &spans, &qkv, l);
            let o = layer.o.forward(&attended, rows)?;
            h.iter_mut().zip(&o).for_each(|(x, y)| *x += y);
            let mut a = h.clone();
            rms_norm(&mut a, &layer.ffn_norm, s.eps);
            let gu = layer.gate_up.forward(&a, rows)?;
            let mut m = vec![0f32; rows * s.ff];
            m.par_chunks_mut(s.ff)
                .zip(gu.par_chunks(2 * s.ff))
                .for_each(|(m, row)| {
                    let (g, u) = row.split_at(s.ff);
                    m.iter_mut()
                        .zip(g.iter().zip(u))
                        .for_each(|(m, (g, u))| *m = silu(*g) * u);
                });
            let down = layer.down.forward(&m, rows)?;
            h.iter_mut().zip(&down).for_each(|(x, y)| *x += y);
        }
        for (item, &(_, n, _)) in items.iter_mut().zip(&spans) {
            item.cache.len += n;
        }
        // The head, only for the rows whose next token is wanted.
        let mut last = Vec::new();
        for (item, &(first, n, _)) in items.iter().zip(&spans) {
            if item.logits {
                last.extend_from_slice(&h[(first + n - 1) * dim..(first + n) * dim]);
            }
        }
        let wanted = last.len() / dim;
        if wanted == 0 {
            return Ok(Vec::new());
        }
        rms_norm(&mut last, &self.norm, s.eps);
        let logits = match &self.head {
            Some(head) => head.forward(&last, wanted)?,
            None => kernel::matmul(&last, wanted, &self.embed, s.vocab, dim),
        };
        Ok(logits.chunks_exact(s.vocab).map(<[f32]>::to_vec).collect())
    }

    /// Causal attention of each row's query over its sequence's cache (which already holds
    /// this step's keys), heads grouped over the key heads. Rows run in parallel.
    fn attend(
        &self,
        items: &[Item],
        spans: &[(usize, usize, usize)],
        qkv: &[f32],
        l: usize,
    ) -> Vec<f32> {
        let s = &self.shape;
        let hd = s.head_dim;
        let (q_width, kv_width) = (s.heads * hd, s.kv_heads * hd);
        let width = q_width + 2 * kv_width;
        let group = s.heads / s.kv_heads;
        // Which item and position each row is.
        let mut whose = Vec::new();
        for (i, &(_, n, pos)) in spans.iter().enumerate() {
            whose.extend((0..n).map(|r| (i, pos + r)));
        }
        let mut out = vec![0f32; whose.len() * q_width];
        let arch = pulp::Arch::new();
        out.par_chunks_mut(q_width)
            .zip(qkv.par_chunks(width))
            .zip(whose.par_iter())
            .for_each(|((out, row), &(i, pos))| {
                arch.dispatch(Attend {
                    q: &row[..q_width],
                    k: &items[i].cache.k[l],
                    v: &items[i].cache.v[l],
                    seen: pos + 1,
                    heads: s.heads,
                    group,
                    hd,
                    kv_width,
                    out,
                });
            });
        out
    }
}

/// One row's attention: each head's query against the first `seen` keys of its key/value
/// head, softmax, the values' weighted sum into `out`; on the CPU's SIMD.
struct Attend<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    seen: usize,
    heads: usize,
    group: usize,
    hd: usize,
    kv_width: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for Attend<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Attend {
            q,
            k,
            v,
            seen,
            heads,
            group,
            hd,
            kv_width,
            out,
        } = self;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut scores = vec![0f32; seen];
        for h in 0..heads {
            let qh = &q[h * hd..(h + 1) * hd];
            let kh = (h / group) * hd;
            for (j, score) in scores.iter_mut().enumerate() {
                let key = &k[j * kv_width + kh..j * kv_width + kh + hd];
                *score = dot(simd, qh, key) * scale;
            }
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0.0;
            for score in scores.iter_mut() {
                *score = (*score - max).exp();
                total += *score;
            }
            let o = &mut out[h * hd..(h + 1) * hd];
            for (j, p) in scores.iter().enumerate() {
                let value = &v[j * kv_width + kh..j * kv_width + kh + hd];
                axpy(simd, p / total, value, o);
            }
        }
    }
}

/// `a · b` on `simd`'s lanes, then the tail.
#[inline(always)]
fn dot<S: pulp::Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let (av, at) = S::as_simd_f32s(a);
    let (bv, bt) = S::as_simd_f32s(b);
    let mut acc = simd.splat_f32s(0.0);
    for (x, y) in av.iter().zip(bv) {
        acc = simd.mul_add_e_f32s(*x, *y, acc);
    }
    simd.reduce_sum_f32s(acc) + at.iter().zip(bt).map(|(x, y)| x * y).sum::<f32>()
}

/// `out += p · v` on `simd`'s lanes, then the tail.
#[inline(always)]
fn axpy<S: pulp::Simd>(simd: S, p: f32, v: &[f32], out: &mut [f32]) {
    let pv = simd.splat_f32s(p);
    let (vv, vt) = S::as_simd_f32s(v);
    let (ov, ot) = S::as_mut_simd_f32s(out);
    for (o, x) in ov.iter_mut().zip(vv) {
        *o = simd.mul_add_e_f32s(pv, *x, *o);
    }
    for (o, x) in ot.iter_mut().zip(vt) {
        *o += p * x;
    }
}
