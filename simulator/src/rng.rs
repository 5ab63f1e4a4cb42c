//! The one seeded random source of a run, with the few draws the simulator needs.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

/// A PCG-64 stream. Every random choice of a run comes from one of these, in event order,
/// so a seed fixes the whole run.
pub struct SimRng(Pcg64);

impl SimRng {
    /// A stream from a seed.
    pub fn new(seed: u64) -> Self {
        Self(Pcg64::seed_from_u64(seed))
    }

    /// A uniform index in `0..n`; 0 when `n` is 0 (callers check for empty sets first).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        self.0.random_range(0..n)
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// True with probability `p` (never panics: `p <= 0` is never, `p >= 1` always).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Sixteen random bytes, for proposal nonces.
    pub fn bytes16(&mut self) -> [u8; 16] {
        self.0.random::<[u8; 16]>()
    }

    /// A standard normal draw (Box-Muller from two uniforms; the second value is thrown
    /// away so each call consumes exactly two draws, which keeps streams easy to reason about).
    pub fn normal(&mut self) -> f64 {
        // 1 - unit() lies in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// An exponential draw with the given rate (per unit), for Poisson arrivals.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        let u = 1.0 - self.unit();
        -u.ln() / rate
    }

    /// `k` distinct items of `items` in random order (all of them if there are fewer):
    /// a partial Fisher-Yates shuffle.
    pub fn pick<T: Copy>(&mut self, items: &[T], k: usize) -> Vec<T> {
        let mut pool = items.to_vec();
        let k = k.min(pool.len());
        for i in 0..k {
            let rest = pool.len().saturating_sub(i);
            let j = i.saturating_add(self.below(rest));
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }
}
