//! The XOR walkthrough's hand-written gradients against finite differences and against candle's
//! autograd on the same network and data; and XOR learned from a stated seed.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use candle_core::{Device, Tensor, Var};
use inside_gpt::xor::{noisy_xor, xor_data, Activation, Net};

fn loss_at(net: &Net, x: [f64; 2], t: f64) -> f64 {
    0.5 * (t - net.predict(x)).powi(2)
}

#[test]
fn hand_gradients_equal_finite_differences() {
    for act in [Activation::Sigmoid, Activation::Tanh, Activation::Relu] {
        for sizes in [vec![2, 2, 1], vec![2, 5, 3, 1]] {
            let net = Net::new(&sizes, act, 11).unwrap();
            for (x, t) in xor_data() {
                let tr = net.trace(x, t);
                for l in 0..net.layers.len() {
                    for o in 0..net.layers[l].w.len() {
                        for i in 0..net.layers[l].w[o].len() {
                            let h = 1e-6;
                            let (mut p, mut m) = (net.clone(), net.clone());
                            p.layers[l].w[o][i] += h;
                            m.layers[l].w[o][i] -= h;
                            let fd = (loss_at(&p, x, t) - loss_at(&m, x, t)) / (2.0 * h);
                            assert!((fd - tr.grad_w[l][o][i]).abs() < 1e-7, "{act:?} {sizes:?} w[{l}][{o}][{i}]: {fd} vs {}", tr.grad_w[l][o][i]);
                        }
                        let h = 1e-6;
                        let (mut p, mut m) = (net.clone(), net.clone());
                        p.layers[l].b[o] += h;
                        m.layers[l].b[o] -= h;
                        let fd = (loss_at(&p, x, t) - loss_at(&m, x, t)) / (2.0 * h);
                        assert!((fd - tr.grad_b[l][o]).abs() < 1e-7);
                    }
                }
            }
        }
    }
}

#[test]
fn hand_gradients_equal_candle_autograd() {
    let net = Net::new(&[2, 3, 1], Activation::Tanh, 5).unwrap();
    let dev = Device::Cpu;
    let vars: Vec<(Var, Var)> = net
        .layers
        .iter()
        .map(|l| {
            let w: Vec<f64> = l.w.iter().flatten().copied().collect();
            (Var::from_vec(w, (l.w.len(), l.w[0].len()), &dev).unwrap(), Var::from_vec(l.b.clone(), l.b.len(), &dev).unwrap())
        })
        .collect();
    for (x, t) in xor_data() {
        let mut a = Tensor::new(&[[x[0], x[1]]], &dev).unwrap().t().unwrap(); // (2, 1)
        for (i, (w, b)) in vars.iter().enumerate() {
            let z = w.as_tensor().matmul(&a).unwrap().broadcast_add(&b.as_tensor().unsqueeze(1).unwrap()).unwrap();
            a = if i + 1 == vars.len() { candle_nn::ops::sigmoid(&z).unwrap() } else { z.tanh().unwrap() };
        }
        let err = (a - t).unwrap();
        let loss = (err.sqr().unwrap() * 0.5).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let tr = net.trace(x, t);
        assert!((loss.to_scalar::<f64>().unwrap() - tr.loss).abs() < 1e-12);
        for (l, (w, b)) in vars.iter().enumerate() {
            let gw = grads.get(w.as_tensor()).unwrap().to_vec2::<f64>().unwrap();
            let gb = grads.get(b.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
            for o in 0..gw.len() {
                for i in 0..gw[o].len() {
                    assert!((gw[o][i] - tr.grad_w[l][o][i]).abs() < 1e-12, "layer {l} w[{o}][{i}]");
                }
                assert!((gb[o] - tr.grad_b[l][o]).abs() < 1e-12);
            }
        }
    }
}

/// The chapter's example: inputs (1, 1), target 0. The error is target - y, and one step moves y towards 0.
#[test]
fn a_step_on_the_chapter_example_moves_the_output_towards_the_target() {
    let mut net = Net::new(&[2, 2, 1], Activation::Sigmoid, 1).unwrap();
    let t = net.step([1.0, 1.0], 0.0, 0.5);
    assert_eq!(t.error, 0.0 - t.y);
    assert_eq!(t.a.len(), 3);
    assert_eq!((t.z[0].len(), t.delta[0].len(), t.grad_w[0].len()), (2, 2, 2));
    assert!(net.predict([1.0, 1.0]) < t.y, "the update lowered y for target 0");
    assert_ne!(t.before, t.after.unwrap());
}

/// Seed 1, 2-2-1 sigmoid, learning rate 2: mean loss below 0.05 within 400 epochs, and below
/// 0.01 with all four cases on the right side of 0.5 within 500.
#[test]
fn xor_is_learned_from_a_stated_seed() {
    let mut net = Net::new(&[2, 2, 1], Activation::Sigmoid, 1).unwrap();
    let data = xor_data();
    let start = net.loss(&data);
    let epochs_to = |net: &mut Net, target: f64, limit: usize| {
        let mut e = 0;
        while net.loss(&data) >= target && e < limit {
            net.epoch(&data, 2.0);
            e += 1;
        }
        e
    };
    let first = epochs_to(&mut net, 0.05, 400);
    assert!(net.loss(&data) < 0.05, "loss {} after 400 epochs", net.loss(&data));
    let more = epochs_to(&mut net, 0.01, 500 - first);
    println!("XOR: loss {start:.4} -> below 0.05 after {first} epochs, {:.4} after {}", net.loss(&data), first + more);
    assert!(net.loss(&data) < 0.01);
    for (x, t) in data {
        assert!((net.predict(x) - t).abs() < 0.5, "{x:?} -> {}", net.predict(x));
    }
}

/// Over-fitting: with few noisy points, a wide hidden layer fits the training set better than a
/// narrow one while doing no better on separate test points.
#[test]
fn wide_networks_overfit_few_noisy_points() {
    let train = noisy_xor(12, 0.25, 0.15, 3);
    let test = noisy_xor(400, 0.25, 0.15, 4);
    let run = |hidden: usize| {
        let mut net = Net::new(&[2, hidden, hidden, 1], Activation::Tanh, 2).unwrap();
        for _ in 0..3000 {
            net.epoch(&train, 0.1);
        }
        (net.loss(&train), net.loss(&test))
    };
    let (narrow_train, narrow_test) = run(2);
    let (wide_train, wide_test) = run(32);
    println!("narrow: train {narrow_train:.4} test {narrow_test:.4}; wide: train {wide_train:.4} test {wide_test:.4}");
    assert!(wide_train < narrow_train);
    assert!(wide_test - wide_train > narrow_test - narrow_train, "the gap between test and train grows with width");
}
