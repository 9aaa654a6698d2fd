//! The XOR back-propagation walkthrough: a small fully connected network whose forward and
//! backward passes are written out by hand (no autograd), keeping every intermediate so a page
//! can show it: pre-activations z, activations a, the error (target - y), each layer's delta,
//! each gradient and each update. DOM-free; the same code runs natively and in wasm.
//!
//! Loss: L = (target - y)^2 / 2 with a sigmoid output. delta = dL/dz, so gradients are
//! dL/dW = delta a_prev^T and an update is W -= lr dL/dW.

use crate::sampler::Rng;
use crate::{bail, Result};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Sigmoid,
    Tanh,
    Relu,
}

impl Activation {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            _ => bail!("unknown activation {s:?} (sigmoid, tanh or relu)"),
        })
    }
    pub fn f(self, z: f64) -> f64 {
        match self {
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(0.0),
        }
    }
    /// Derivative at z (given a = f(z) too, which sigmoid and tanh use).
    pub fn df(self, z: f64, a: f64) -> f64 {
        match self {
            Activation::Sigmoid => a * (1.0 - a),
            Activation::Tanh => 1.0 - a * a,
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// One fully connected layer: w[out][in], b[out].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    pub w: Vec<Vec<f64>>,
    pub b: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Net {
    /// layer widths, input first, e.g. [2, 2, 1]
    pub sizes: Vec<usize>,
    pub layers: Vec<Layer>,
    /// hidden layers' activation; the output is always a sigmoid
    pub activation: Activation,
}

/// Everything one sample did on its way through the network and back.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub input: Vec<f64>,
    pub target: f64,
    /// pre-activations per layer (z = W a_prev + b)
    pub z: Vec<Vec<f64>>,
    /// activations; a[0] is the input
    pub a: Vec<Vec<f64>>,
    pub y: f64,
    /// target - y
    pub error: f64,
    pub loss: f64,
    /// dL/dz per layer
    pub delta: Vec<Vec<f64>>,
    /// dL/dW and dL/db per layer
    pub grad_w: Vec<Vec<Vec<f64>>>,
    pub grad_b: Vec<Vec<f64>>,
    /// weights before and after the update (when one was made)
    pub before: Vec<Layer>,
    pub after: Option<Vec<Layer>>,
}

/// The four XOR cases.
pub fn xor_data() -> Vec<([f64; 2], f64)> {
    vec![([0.0, 0.0], 0.0), ([0.0, 1.0], 1.0), ([1.0, 0.0], 1.0), ([1.0, 1.0], 0.0)]
}

/// Noisy XOR for the over-fitting demo: points scattered around the four corners (Gaussian,
/// `spread`), labelled by their corner, with a fraction `flip` of labels flipped.
pub fn noisy_xor(n: usize, spread: f64, flip: f64, seed: u64) -> Vec<([f64; 2], f64)> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let ([cx, cy], label) = xor_data()[i % 4];
            let x = [cx + spread * rng.normal(), cy + spread * rng.normal()];
            let label = if rng.next_f64() < flip { 1.0 - label } else { label };
            (x, label)
        })
        .collect()
}

impl Net {
    /// Weights uniform in (-1, 1) and biases in (-0.1, 0.1), from `seed`.
    pub fn new(sizes: &[usize], activation: Activation, seed: u64) -> Result<Self> {
        if sizes.len() < 2 || sizes[0] != 2 || *sizes.last().unwrap() != 1 || sizes.iter().any(|&s| s == 0 || s > 64) || sizes.len() > 6 {
            bail!("layer sizes must start with 2 inputs, end with 1 output, and have 1 to 64 units in at most 4 hidden layers: {sizes:?}");
        }
        let mut rng = Rng::new(seed);
        let layers = sizes
            .windows(2)
            .map(|p| Layer {
                w: (0..p[1]).map(|_| (0..p[0]).map(|_| 2.0 * rng.next_f64() - 1.0).collect()).collect(),
                b: (0..p[1]).map(|_| 0.2 * rng.next_f64() - 0.1).collect(),
            })
            .collect();
        Ok(Net { sizes: sizes.to_vec(), layers, activation })
    }

    fn act(&self, layer: usize) -> Activation {
        if layer + 1 == self.layers.len() {
            Activation::Sigmoid
        } else {
            self.activation
        }
    }

    /// The output for one input.
    pub fn predict(&self, x: [f64; 2]) -> f64 {
        let mut a = x.to_vec();
        for (l, layer) in self.layers.iter().enumerate() {
            a = layer.w.iter().zip(&layer.b).map(|(row, b)| self.act(l).f(b + row.iter().zip(&a).map(|(w, x)| w * x).sum::<f64>())).collect();
        }
        a[0]
    }

    /// Forward pass, error, and backward pass for one sample; no update.
    pub fn trace(&self, x: [f64; 2], target: f64) -> Trace {
        // forward: z = W a + b, a = f(z)
        let mut z = Vec::new();
        let mut a = vec![x.to_vec()];
        for (l, layer) in self.layers.iter().enumerate() {
            let prev = a.last().unwrap();
            let zl: Vec<f64> = layer.w.iter().zip(&layer.b).map(|(row, b)| b + row.iter().zip(prev).map(|(w, x)| w * x).sum::<f64>()).collect();
            a.push(zl.iter().map(|&v| self.act(l).f(v)).collect());
            z.push(zl);
        }
        let y = a.last().unwrap()[0];
        let error = target - y;
        // backward: output delta = dL/dy * f'(z) = -(target - y) f'(z); hidden delta = (W_next^T delta_next) * f'(z)
        let n = self.layers.len();
        let mut delta = vec![Vec::new(); n];
        delta[n - 1] = vec![-error * Activation::Sigmoid.df(z[n - 1][0], y)];
        for l in (0..n - 1).rev() {
            let next = &self.layers[l + 1];
            delta[l] = (0..self.sizes[l + 1])
                .map(|j| {
                    let back: f64 = next.w.iter().zip(&delta[l + 1]).map(|(row, d)| row[j] * d).sum();
                    back * self.act(l).df(z[l][j], a[l + 1][j])
                })
                .collect();
        }
        let grad_w = (0..n).map(|l| delta[l].iter().map(|d| a[l].iter().map(|x| d * x).collect()).collect()).collect();
        let grad_b = delta.clone();
        Trace { input: x.to_vec(), target, z, a, y, error, loss: 0.5 * error * error, delta, grad_w, grad_b, before: self.layers.clone(), after: None }
    }

    /// One sample through forward, error, backward and update (plain gradient descent).
    pub fn step(&mut self, x: [f64; 2], target: f64, lr: f64) -> Trace {
        let mut t = self.trace(x, target);
        self.apply(&t.grad_w, &t.grad_b, lr);
        t.after = Some(self.layers.clone());
        t
    }

    fn apply(&mut self, gw: &[Vec<Vec<f64>>], gb: &[Vec<f64>], lr: f64) {
        for (l, layer) in self.layers.iter_mut().enumerate() {
            for (o, row) in layer.w.iter_mut().enumerate() {
                for (i, w) in row.iter_mut().enumerate() {
                    *w -= lr * gw[l][o][i];
                }
                layer.b[o] -= lr * gb[l][o];
            }
        }
    }

    /// One pass over `data`, one sample at a time, in order; returns the mean loss before each step.
    pub fn epoch(&mut self, data: &[([f64; 2], f64)], lr: f64) -> f64 {
        data.iter().map(|(x, t)| self.step(*x, *t, lr).loss).sum::<f64>() / data.len().max(1) as f64
    }

    /// Mean loss over `data`.
    pub fn loss(&self, data: &[([f64; 2], f64)]) -> f64 {
        data.iter().map(|(x, t)| 0.5 * (t - self.predict(*x)).powi(2)).sum::<f64>() / data.len().max(1) as f64
    }

    /// The output over an n x n grid covering [lo, hi]^2, row by row from the top (y = hi).
    pub fn grid(&self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        let step = (hi - lo) / (n.max(2) - 1) as f64;
        (0..n).flat_map(|r| (0..n).map(move |c| (r, c))).map(|(r, c)| self.predict([lo + c as f64 * step, hi - r as f64 * step]) as f32).collect()
    }
}
