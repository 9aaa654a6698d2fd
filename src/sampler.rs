//! Choosing the next token: greedy, temperature, top-k and top-p, with a seeded RNG so that a
//! seed reproduces a run exactly, natively and in wasm alike.

use crate::kernels;
use crate::{bail, Result};

/// SplitMix64: tiny, fast, and the same sequence on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// The generator's whole state, to save and restore a run.
    pub fn state(&self) -> u64 {
        self.0
    }
    pub fn from_state(state: u64) -> Self {
        Rng(state)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SamplerConfig {
    /// 0 means greedy (argmax)
    pub temperature: f64,
    /// keep the k most likely tokens; 0 keeps all
    pub top_k: usize,
    /// keep the smallest set whose probability reaches top_p; 1 keeps all
    pub top_p: f64,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig { temperature: 0.8, top_k: 40, top_p: 0.95, seed: 42 }
    }
}

impl SamplerConfig {
    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            bail!("temperature must be a finite number >= 0 (0 is greedy), got {}", self.temperature);
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            bail!("top-p must be in (0, 1], got {}", self.top_p);
        }
        Ok(())
    }
}

/// Softmax of logits in f64 (max-subtracted).
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let exps: Vec<f64> = logits.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// The model's next-token distribution summarised in one pass over the logits, without a vector
/// of probabilities: p(t) = exp(l_t - max) / z, entropy = ln z - sum(e (l - max)) / z. Each
/// exponential is our f32 `kernels::exp` (within 2 ulp; libm's is a slow call in wasm), summed in f64.
#[derive(Debug, Clone, Copy)]
pub struct Distribution {
    max: f32,
    z: f64,
    pub entropy: f64,
}

impl Distribution {
    pub fn new(logits: &[f32]) -> Self {
        let max = kernels::max(logits);
        // 64 logits at a time: exponentials and their sums in eight f32 lanes (loops the compiler
        // vectorizes; 8 terms per lane keep the rounding near f32's own), then each block's sums
        // added in f64, in a fixed order
        let (mut z, mut s) = (0f64, 0f64);
        let mut e = [0f32; 64];
        for block in logits.chunks(64) {
            let e = &mut e[..block.len()];
            for (e, &x) in e.iter_mut().zip(block) {
                *e = kernels::exp(x - max);
            }
            let (mut zl, mut sl) = ([0f32; 8], [0f32; 8]);
            for (k, (&e, &x)) in e.iter().zip(block).enumerate() {
                zl[k % 8] += e;
                sl[k % 8] += e * (x - max);
            }
            z += zl.iter().map(|&v| v as f64).sum::<f64>();
            s += sl.iter().map(|&v| v as f64).sum::<f64>();
        }
        Distribution { max, z, entropy: z.ln() - s / z }
    }
    pub fn prob(&self, logit: f32) -> f64 {
        kernels::exp(logit - self.max) as f64 / self.z
    }
    /// ln p, computed directly (no underflow for unlikely tokens).
    pub fn log_prob(&self, logit: f32) -> f64 {
        (logit - self.max) as f64 - self.z.ln()
    }
}

/// Token ids sorted by descending logit; ties go to the lower id.
pub fn ranked(logits: &[f32]) -> Vec<u32> {
    ranked_top(logits, logits.len())
}

/// The first `n` of `ranked(logits)`, without sorting the rest (a vocabulary of 50k would
/// otherwise be sorted twice per token).
pub fn ranked_top(logits: &[f32], n: usize) -> Vec<u32> {
    let order = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
    if n > 0 && n <= 64 && n < logits.len() / 2 {
        // a few out of many: one pass, keeping the best n in order (ties: the earlier id first)
        let mut top: Vec<u32> = Vec::with_capacity(n + 1);
        for (i, &x) in logits.iter().enumerate() {
            if top.len() == n && x.total_cmp(&logits[top[n - 1] as usize]).is_le() {
                continue;
            }
            let at = top.partition_point(|&j| logits[j as usize].total_cmp(&x).is_ge());
            top.insert(at, i as u32);
            top.truncate(n);
        }
        return top;
    }
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    let n = n.min(idx.len());
    if n < idx.len() / 2 && n > 0 {
        idx.select_nth_unstable_by(n - 1, order);
        idx.truncate(n);
    }
    idx.sort_by(order);
    idx.truncate(n);
    idx
}

pub struct Sampler {
    pub cfg: SamplerConfig,
    rng: Rng,
}

impl Sampler {
    pub fn new(cfg: SamplerConfig) -> Result<Self> {
        cfg.validate()?;
        let rng = Rng::new(cfg.seed);
        Ok(Sampler { cfg, rng })
    }

    /// Picks a token from one row of logits.
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        if logits.iter().any(|x| x.is_nan()) {
            bail!("the model produced NaN logits");
        }
        if self.cfg.temperature == 0.0 {
            return Ok(ranked_top(logits, 1)[0]);
        }
        let t = self.cfg.temperature;
        let scaled = |i: u32| (logits[i as usize] as f64 / t) as f32;
        let (order, probs, n, mass) = if self.cfg.top_k == 0 && self.cfg.top_p >= 1.0 {
            // everything is kept: no order needed
            let order: Vec<u32> = (0..logits.len() as u32).collect();
            let probs = softmax(&order.iter().map(|&i| scaled(i)).collect::<Vec<_>>());
            let n = order.len();
            (order, probs, n, 1.0)
        } else {
            let k = if self.cfg.top_k == 0 { logits.len() } else { self.cfg.top_k.min(logits.len()) };
            let order = ranked_top(logits, k);
            let probs = softmax(&order.iter().map(|&i| scaled(i)).collect::<Vec<_>>());
            // top-p: the smallest prefix whose mass reaches top_p (all of it when top_p is 1)
            let mut n = 0;
            let mut mass = 0.0;
            while n < probs.len() {
                mass += probs[n];
                n += 1;
                if mass >= self.cfg.top_p && self.cfg.top_p < 1.0 {
                    break;
                }
            }
            (order, probs, n, mass)
        };
        // Walk the kept tokens in id order, not probability order: two nearly tied logits can swap
        // places between platforms (native and wasm round differently), and in sorted order that
        // swap alone would change which token a given draw picks.
        let mut kept: Vec<(u32, f64)> = order[..n].iter().copied().zip(probs[..n].iter().copied()).collect();
        kept.sort_by_key(|(id, _)| *id);
        let mut u = self.rng.next_f64() * mass;
        for (id, p) in &kept {
            if u < *p {
                return Ok(*id);
            }
            u -= p;
        }
        Ok(kept[n - 1].0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused() {
        for (t, p) in [(f64::NAN, 0.9), (-0.1, 0.9), (f64::INFINITY, 0.9), (1.0, 0.0), (1.0, 1.5), (1.0, f64::NAN)] {
            let cfg = SamplerConfig { temperature: t, top_p: p, ..Default::default() };
            assert!(Sampler::new(cfg).is_err(), "t={t} p={p} accepted");
        }
    }

    #[test]
    fn one_pass_distribution_equals_the_softmax() {
        let mut rng = Rng::new(8);
        let logits: Vec<f32> = (0..3000).map(|_| 4.0 * rng.normal() as f32).collect();
        let p = softmax(&logits);
        let h = -p.iter().filter(|x| **x > 0.0).map(|x| x * x.ln()).sum::<f64>();
        let d = Distribution::new(&logits);
        assert!((d.entropy - h).abs() < 1e-6, "{} vs {h}", d.entropy);
        for i in [0, 17, 2999] {
            assert!((d.prob(logits[i]) - p[i]).abs() < 1e-6 * p[i], "{} vs {}", d.prob(logits[i]), p[i]);
            assert!((d.log_prob(logits[i]) - p[i].ln()).abs() < 1e-6);
        }
    }

    #[test]
    fn ranked_top_is_the_prefix_of_the_full_order() {
        let mut rng = Rng::new(5);
        // few distinct values, so there are many ties
        let logits: Vec<f32> = (0..5000).map(|_| (rng.next_u64() % 50) as f32).collect();
        let mut full: Vec<u32> = (0..logits.len() as u32).collect();
        full.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
        for n in [1, 2, 40, 2499, 2500, 5000, 6000] {
            assert_eq!(ranked_top(&logits, n), full[..n.min(5000)]);
        }
    }

    #[test]
    fn greedy_top_k_top_p() {
        let logits = [1.0, 3.0, 2.0, -1.0];
        let mut s = Sampler::new(SamplerConfig { temperature: 0.0, ..Default::default() }).unwrap();
        assert_eq!(s.sample(&logits).unwrap(), 1);
        let mut s = Sampler::new(SamplerConfig { temperature: 1.0, top_k: 2, top_p: 1.0, seed: 3 }).unwrap();
        for _ in 0..200 {
            assert!([1, 2].contains(&s.sample(&logits).unwrap()));
        }
        // p(1) = 0.66 of the full softmax: top_p 0.5 keeps it alone
        let mut s = Sampler::new(SamplerConfig { temperature: 1.0, top_k: 0, top_p: 0.5, seed: 3 }).unwrap();
        for _ in 0..50 {
            assert_eq!(s.sample(&logits).unwrap(), 1);
        }
        // with everything kept, frequencies follow the softmax
        let mut s = Sampler::new(SamplerConfig { temperature: 1.0, top_k: 0, top_p: 1.0, seed: 9 }).unwrap();
        let mut counts = [0usize; 4];
        for _ in 0..20000 {
            counts[s.sample(&logits).unwrap() as usize] += 1;
        }
        let p = softmax(&logits);
        for i in 0..4 {
            assert!((counts[i] as f64 / 20000.0 - p[i]).abs() < 0.015, "{counts:?} vs {p:?}");
        }
    }
}
