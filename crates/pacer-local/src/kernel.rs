//! The F32 matrix product of a batch of activations and a weight matrix: `y = x · Wᵀ`, with `x`
//! a few rows (the tokens of one decoding step) and `W` the layer's weights, row-major
//! `[out, k]`.
//!
//! Written by hand, because this product is where a batched lane gets its speed and the
//! general-purpose kernels do not give it at this shape. Measured on the 2-core machine over
//! SmolLM2-135M's 211 products per token (541 MB of F32 weights): candle's matmul (gemm)
//! takes 23 ms for one row, 48–65 ms for 4 and 54–62 ms for 8 (it packs the weights on every
//! call), so a batch of 4 was slower per step than 4 single steps. This kernel reads each
//! weight once per step, four weight rows against four activation rows in registers; it is
//! memory-bound for one row and compute-bound (FMA) from about eight.
//!
//! Every output is the same sum in the same order whatever the batch (the lanes of one
//! accumulator, reduced the same way, then the scalar tail), so a sequence's logits do
//! not depend on what else is in its batch: a seeded request samples the same text alone or
//! batched.

use rayon::prelude::*;

/// Weight rows a task takes at a time (a multiple of the 4-row tile).
const ROWS_PER_TASK: usize = 64;

/// `y[b][o] = Σᵢ x[b][i] · w[o][i]` for `b < rows`, `o < out`; `x` is `rows × k` and `w` is
/// `out × k`, both row-major. The weight rows are split over rayon's threads.
pub(super) fn matmul(x: &[f32], rows: usize, w: &[f32], out: usize, k: usize) -> Vec<f32> {
    debug_assert_eq!(x.len(), rows * k);
    debug_assert_eq!(w.len(), out * k);
    // Each task writes its rows of yᵀ (`out × rows`), contiguous; transposed at the end.
    let mut yt = vec![0f32; out * rows];
    let arch = pulp::Arch::new();
    yt.par_chunks_mut(ROWS_PER_TASK * rows)
        .enumerate()
        .for_each(|(task, chunk)| {
            let first = task * ROWS_PER_TASK;
            let n = chunk.len() / rows;
            arch.dispatch(Block {
                w: &w[first * k..(first + n) * k],
                n,
                x,
                rows,
                k,
                yt: chunk,
            });
        });
    if rows == 1 {
        return yt;
    }
    let mut y = vec![0f32; rows * out];
    for (o, col) in yt.chunks_exact(rows).enumerate() {
        for (b, v) in col.iter().enumerate() {
            y[b * out + o] = *v;
        }
    }
    y
}

/// The products of `n` weight rows of `w` against every row of `x`, into `yt[o][b]`, on the
/// widest SIMD the CPU has (pulp picks AVX-512, AVX2+FMA, NEON, or plain code at run time).
struct Block<'a> {
    w: &'a [f32],
    n: usize,
    x: &'a [f32],
    rows: usize,
    k: usize,
    yt: &'a mut [f32],
}

impl pulp::WithSimd for Block<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        // Registers for a tile of 4 weight rows by 4 activation rows with 32 of them (AVX-512),
        // by 2 with 16.
        if std::mem::size_of::<S::f32s>() >= 64 {
            self.tiles::<S, 4>(simd);
        } else {
            self.tiles::<S, 2>(simd);
        }
    }
}

impl Block<'_> {
    #[inline(always)]
    fn tiles<S: pulp::Simd, const C: usize>(self, simd: S) {
        let Block {
            w,
            n,
            x,
            rows,
            k,
            yt,
        } = self;
        let mut o = 0;
        while o < n {
            // Four weight rows at a time; the last one or three (never, in these models'
            // sizes) one by one.
            let r = if n - o >= 4 { 4 } else { 1 };
            let mut b = 0;
            while b < rows {
                let c = (rows - b).min(C);
                let ws = &w[o * k..(o + r) * k];
                let xs = &x[b * k..(b + c) * k];
                let mut put = |q: usize, j: usize, sum: f32| yt[(o + q) * rows + b + j] = sum;
                match (r, c) {
                    (4, 1) => tile::<S, 4, 1>(simd, ws, xs, k, &mut put),
                    (4, 2) => tile::<S, 4, 2>(simd, ws, xs, k, &mut put),
                    (4, 3) => tile::<S, 4, 3>(simd, ws, xs, k, &mut put),
                    (4, _) => tile::<S, 4, 4>(simd, ws, xs, k, &mut put),
                    (_, 1) => tile::<S, 1, 1>(simd, ws, xs, k, &mut put),
                    (_, 2) => tile::<S, 1, 2>(simd, ws, xs, k, &mut put),
                    (_, 3) => tile::<S, 1, 3>(simd, ws, xs, k, &mut put),
                    (_, _) => tile::<S, 1, 4>(simd, ws, xs, k, &mut put),
                }
                b += c;
            }
            o += r;
        }
    }
}

/// The `R × C` dot products of the weight rows `w` and the activation rows `x` (each `k`
/// long, one after another), handed to `put(q, j, sum)`: lane-wise fused multiply-adds over the
/// whole vectors, each accumulator reduced, then the scalar tail. The same steps for every
/// pair whatever `R` and `C`, so a product does not depend on its neighbours.
#[inline(always)]
fn tile<S: pulp::Simd, const R: usize, const C: usize>(
    simd: S,
    w: &[f32],
    x: &[f32],
    k: usize,
    put: &mut impl FnMut(usize, usize, f32),
) {
    let ws: [(&[S::f32s], &[f32]); R] =
        std::array::from_fn(|q| S::as_simd_f32s(&w[q * k..(q + 1) * k]));
    let xs: [(&[S::f32s], &[f32]); C] =
        std::array::from_fn(|j| S::as_simd_f32s(&x[j * k..(j + 1) * k]));
    let chunks = ws[0].0.len();
    // Equal lengths, said once, so the loop below runs without bounds checks.
    assert!(ws.iter().all(|s| s.0.len() == chunks) && xs.iter().all(|s| s.0.len() == chunks));
    let mut acc = [[simd.splat_f32s(0.0); C]; R];
    for i in 0..chunks {
        let xv: [S::f32s; C] = std::array::from_fn(|j| xs[j].0[i]);
        for q in 0..R {
            let wv = ws[q].0[i];
            for j in 0..C {
                acc[q][j] = simd.mul_add_e_f32s(wv, xv[j], acc[q][j]);
            }
        }
    }
    for q in 0..R {
        for j in 0..C {
            let tail: f32 = ws[q].1.iter().zip(xs[j].1).map(|(a, b)| a * b).sum();
            put(q, j, simd.reduce_sum_f32s(acc[q][j]) + tail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, salt: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ salt) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    fn naive(x: &[f32], rows: usize, w: &[f32], out: usize, k: usize) -> Vec<f32> {
        let mut y = vec![0f64; rows * out];
        for b in 0..rows {
            for o in 0..out {
                y[b * out + o] = (0..k)
                    .map(|i| f64::from(x[b * k + i]) * f64::from(w[o * k + i]))
                    .sum();
            }
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn products_match_a_plain_sum_at_every_shape() {
        // Shapes off every tile and lane boundary: odd rows, k not a multiple of 16.
        for (rows, out, k) in [
            (1, 7, 37),
            (3, 130, 64),
            (5, 9, 576),
            (9, 67, 100),
            (16, 4, 8),
        ] {
            let x = values(rows * k, 1);
            let w = values(out * k, 2);
            let y = matmul(&x, rows, &w, out, k);
            let want = naive(&x, rows, &w, out, k);
            for (a, b) in y.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{rows}x{out}x{k}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn a_row_comes_out_the_same_whatever_the_batch() {
        let (out, k) = (70, 200);
        let w = values(out * k, 3);
        let x = values(11 * k, 4);
        let alone = matmul(&x[..k], 1, &w, out, k);
        for rows in [2, 4, 5, 11] {
            let batched = matmul(&x[..rows * k], rows, &w, out, k);
            assert_eq!(alone[..], batched[..out], "batch of {rows}");
        }
    }
}
