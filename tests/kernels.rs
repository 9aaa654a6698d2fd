//! Our kernels against their references on fresh random data each run (never zeros): natively,
//! and compiled to wasm with simd128 in headless Chromium, where the SIMD twin is the one in use.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use inside_gpt::gguf::{dequantize, quantize, DType};
use inside_gpt::kernels::{dot, dot_scalar, dots, dots_scalar, matmul_f32, matmul_f32_scalar, row_dot, weighted_sum, weighted_sum_scalar, row_dot_scalar, row_dot_i16, row_dot_i16_scalar, widen_bf16, widen_bf16_scalar, widen_f16, widen_f16_scalar, QMatrix, QK};
use inside_gpt::sampler::Rng;

fn fresh_rng() -> (Rng, u64) {
    #[cfg(target_arch = "wasm32")]
    let seed = (js_sys::Math::random() * 9.0e15) as u64;
    #[cfg(not(target_arch = "wasm32"))]
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    (Rng::new(seed), seed)
}

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.normal() as f32 + 1e-3).collect()
}

#[test]
fn the_simd_kernel_is_bit_identical_to_its_scalar_twin() {
    let (mut rng, seed) = fresh_rng();
    for dtype in DType::ALL.into_iter().filter(|t| *t != DType::F32) {
        // (21, 768, 300): prefill's tiles, more than one chunk of weight rows and of activation rows
        for (m, k, n) in [(1, 32, 7), (1, 192, 576), (2, 256, 5), (3, 768, 64), (5, 3072, 9), (21, 768, 300)] {
            if k % dtype.block_len() != 0 {
                continue;
            }
            let w = random(n * k, &mut rng);
            let x = random(m * k, &mut rng);
            let q = QMatrix::new(dtype, n, k, &quantize(&w, dtype).unwrap()).unwrap();
            let (a, b) = (q.matmul(&x, m), q.matmul_scalar(&x, m));
            assert!(a.iter().zip(&b).all(|(p, s)| p.to_bits() == s.to_bits()), "seed {seed} {dtype:?} {m}x{k}x{n}");
        }
    }
    // f32 products (training's, F32 files'): rows in tiles of four and a remainder, widths with a tail
    for (m, k, n) in [(1, 32, 7), (2, 100, 5), (3, 768, 64), (5, 77, 9)] {
        let (w, x) = (random(n * k, &mut rng), random(m * k, &mut rng));
        let (a, b) = (matmul_f32(&w, n, k, &x, m), matmul_f32_scalar(&w, n, k, &x, m));
        assert!(a.iter().zip(&b).all(|(p, s)| p.to_bits() == s.to_bits()), "seed {seed} F32 {m}x{k}x{n}");
    }
    // extreme values: no overflow in the integer lanes
    let ws = [1.0f32; 4];
    let wq = [-128i8; 4 * QK];
    let xq = [-127i16; 4 * QK];
    assert_eq!(row_dot(&ws, &wq, &ws, &xq), 128.0 * 127.0 * 128.0);
    assert_eq!(row_dot(&ws, &wq, &ws, &xq), row_dot_scalar(&ws, &wq, &ws, &xq));
    // the unpacked types' largest products: Q6_K's scale -128 times level -32
    let wq = [-4096i16; 4 * QK];
    assert_eq!(row_dot_i16(&ws, &wq, &ws, &xq), 128.0 * 127.0 * 4096.0);
    assert_eq!(row_dot_i16(&ws, &wq, &ws, &xq), row_dot_i16_scalar(&ws, &wq, &ws, &xq));
}

/// Every f16 and bf16 bit pattern widens to the f32 the `half` crate gives (NaN to a NaN).
#[test]
fn half_precision_rows_widen_exactly() {
    let bytes: Vec<u8> = (0..=u16::MAX).flat_map(|h| h.to_le_bytes()).collect();
    let mut out = vec![0f32; 1 << 16];
    for (widen, twin, name) in [(widen_f16 as fn(&[u8], &mut [f32]), widen_f16_scalar as fn(&[u8], &mut [f32]), "f16"), (widen_bf16, widen_bf16_scalar, "bf16")] {
        for f in [widen, twin] {
            f(&bytes, &mut out);
            for (h, v) in out.iter().enumerate() {
                let want = if name == "f16" { half::f16::from_bits(h as u16).to_f32() } else { half::bf16::from_bits(h as u16).to_f32() };
                assert!(v.to_bits() == want.to_bits() || (v.is_nan() && want.is_nan()), "{name} {h:#06x}: {v} vs {want}");
            }
        }
    }
}

#[test]
fn the_f32_simd_kernels_are_bit_identical_to_their_scalar_twins() {
    let (mut rng, seed) = fresh_rng();
    // lengths with and without a tail of fewer than 8 elements
    for n in [1, 7, 8, 13, 64, 100, 768, 3075] {
        let (a, b) = (random(n, &mut rng), random(n, &mut rng));
        let (p, s) = (dot(&a, &b), dot_scalar(&a, &b));
        assert_eq!(p.to_bits(), s.to_bits(), "seed {seed} n {n}: {p} vs {s}");
        let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let scale: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64 * *y as f64).abs()).sum();
        assert!((p as f64 - exact).abs() <= 1e-5 * scale, "seed {seed} n {n}: {p} vs {exact}");
    }
    for (m, k, n) in [(1, 64, 10), (3, 192, 33), (5, 100, 7)] {
        let (w, x) = (random(n * k, &mut rng), random(m * k, &mut rng));
        let (a, b) = (matmul_f32(&w, n, k, &x, m), matmul_f32_scalar(&w, n, k, &x, m));
        assert!(a.iter().zip(&b).all(|(p, s)| p.to_bits() == s.to_bits()), "seed {seed} {m}x{k}x{n}");
        let exact: f64 = (0..k).map(|j| x[(m - 1) * k + j] as f64 * w[(n - 1) * k + j] as f64).sum();
        assert!((a[m * n - 1] as f64 - exact).abs() < 1e-3, "seed {seed} {m}x{k}x{n}: last output {} vs {exact}", a[m * n - 1]);
    }
    // attention's weighted sum of value rows: widths with and without a tail of fewer than 16
    for (width, stride, positions) in [(64, 768, 37), (32, 192, 1), (24, 100, 9), (5, 5, 3), (64, 64, 8), (13, 20, 6), (48, 96, 5)] {
        let p = random(positions, &mut rng);
        let v = random(positions * stride, &mut rng);
        let (mut a, mut b) = (random(width, &mut rng), random(width, &mut rng)); // overwritten
        weighted_sum(&mut a, &p, &v, stride);
        weighted_sum_scalar(&mut b, &p, &v, stride);
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "seed {seed} width {width}");
        // and the scores of a query against the same rows: each exactly `dot`'s
        let (mut s, mut t) = (random(positions, &mut rng), random(positions, &mut rng));
        dots(&mut s, &a, &v, stride);
        dots_scalar(&mut t, &a, &v, stride);
        for j in 0..positions {
            let d = dot_scalar(&a, &v[j * stride..j * stride + width]);
            assert!(s[j].to_bits() == d.to_bits() && t[j].to_bits() == d.to_bits(), "seed {seed} width {width} row {j}");
        }
        let exact: f64 = (0..positions).map(|j| p[j] as f64 * v[j * stride + width - 1] as f64).sum();
        assert!((a[width - 1] as f64 - exact).abs() < 1e-4 * positions as f64, "seed {seed} width {width}");
    }
}

#[test]
fn a_product_shared_by_the_awake_pool_has_the_bits_of_one_thread() {
    // decoding's shape (one activation row); with the `threads` feature the helpers must really
    // take parts of it, and every thread count must give the single thread's bits
    use inside_gpt::pool;
    let (mut rng, seed) = fresh_rng();
    let (k, n) = (768, 2304);
    let (w, x) = (random(n * k, &mut rng), random(k, &mut rng));
    for dtype in [DType::Q8_0, DType::Q4_K, DType::F16] {
        let q = QMatrix::new(dtype, n, k, &quantize(&w, dtype).unwrap()).unwrap();
        pool::set_threads(1);
        let one = q.matmul(&x, 1);
        let before = pool::helped();
        for threads in [2, 3] {
            pool::set_threads(threads);
            // the first products may run before the helpers are up
            for _ in 0..200 {
                let y = q.matmul(&x, 1);
                assert!(y.iter().zip(&one).all(|(a, b)| a.to_bits() == b.to_bits()), "seed {seed} {dtype:?} {threads} threads");
                if pool::helped() > before + 8 {
                    break;
                }
            }
        }
        pool::set_threads(0);
        assert_eq!(pool::helped() > before, cfg!(feature = "threads"), "{dtype:?}: helpers ran {} parts", pool::helped() - before);
    }
}

#[test]
fn large_products_equal_their_rows_computed_one_by_one() {
    // large enough to be split across the pool when built with `threads`
    let (mut rng, seed) = fresh_rng();
    let (m, k, n) = (24, 768, 300);
    assert!(m * k * n >= inside_gpt::pool::PARALLEL_MIN_WORK);
    let (w, x) = (random(n * k, &mut rng), random(m * k, &mut rng));
    for dtype in [DType::Q8_0, DType::Q4_0] {
        let q = QMatrix::new(dtype, n, k, &quantize(&w, dtype).unwrap()).unwrap();
        let y = q.matmul(&x, m);
        for i in [0, m / 2, m - 1] {
            for r in [0, 1, n / 2, n - 1] {
                let one = q.matmul(&x[i * k..(i + 1) * k], 1)[r];
                assert_eq!(y[i * n + r].to_bits(), one.to_bits(), "seed {seed} {dtype:?} output ({i}, {r})");
            }
        }
    }
    let y = matmul_f32(&w, n, k, &x, m);
    let s = matmul_f32_scalar(&w, n, k, &x, m);
    assert!(y.iter().zip(&s).all(|(a, b)| a.to_bits() == b.to_bits()), "seed {seed}");
}

#[test]
fn repacking_keeps_the_blocks() {
    let (mut rng, _) = fresh_rng();
    for dtype in [DType::Q8_0, DType::Q4_0] {
        let bytes = quantize(&random(64 * 96, &mut rng), dtype).unwrap();
        let q = QMatrix::new(dtype, 96, 64, &bytes).unwrap();
        assert_eq!(q.to_blocks(), bytes);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        q.dequantize_row(5, &mut a);
        dequantize(&bytes[5 * dtype.bytes_for(64) as usize..6 * dtype.bytes_for(64) as usize], dtype, &mut b);
        assert_eq!(a, b);
    }
}

#[test]
fn quantized_matmul_is_close_to_the_f32_product_of_its_own_weights() {
    let (mut rng, seed) = fresh_rng();
    for dtype in [DType::Q8_0, DType::Q4_0] {
        for (m, k, n) in [(1, 32, 1), (1, 64, 96), (3, 128, 40), (7, 256, 33), (2, 768, 50)] {
            let w = random(n * k, &mut rng);
            let bytes = quantize(&w, dtype).unwrap();
            let mut wd = Vec::new();
            dequantize(&bytes, dtype, &mut wd);
            let x = random(m * k, &mut rng);
            let q = QMatrix::new(dtype, n, k, &bytes).unwrap();
            let y = q.matmul(&x, m);
            for i in 0..m {
                for r in 0..n {
                    let exact: f64 = (0..k).map(|j| x[i * k + j] as f64 * wd[r * k + j] as f64).sum();
                    let scale: f64 = (0..k).map(|j| (x[i * k + j] as f64 * wd[r * k + j] as f64).abs()).sum();
                    // only the activations are rounded: half a step of max|x|/127 per value, at most
                    let err = (y[i * n + r] as f64 - exact).abs();
                    assert!(err <= 0.02 * scale + 1e-4, "seed {seed} {dtype:?} {m}x{k}x{n}: {} vs {exact}", y[i * n + r]);
                }
            }
        }
    }
}

#[test]
fn bad_matrices_are_refused() {
    assert!(QMatrix::new(DType::Q8_0, 2, 32, &[0u8; 10]).is_err());
    assert!(QMatrix::new(DType::Q8_0, 2, 30, &[0u8; 68]).is_err());
    assert!(QMatrix::new(DType::F32, 1, 32, &[0u8; 128]).is_err());
}

#[test]
fn ln_is_within_two_ulp_and_handles_the_edges() {
    use inside_gpt::kernels::ln;
    let (mut rng, seed) = fresh_rng();
    let mut worst = 0f64;
    for i in 0..20000 {
        // log-uniform over the whole range, subnormals included, and densely around 1
        let x = if i % 2 == 0 { (2f64).powf(rng.next_f64() * 276.0 - 149.0) as f32 } else { (0.5 + rng.next_f64() * 1.5) as f32 };
        if x == 0.0 {
            continue;
        }
        let (got, want) = (ln(x) as f64, (x as f64).ln());
        let ulp = ((want as f32).abs() as f64 * f32::EPSILON as f64).max(f32::EPSILON as f64 * 0.5);
        worst = worst.max((got - want).abs() / ulp);
    }
    assert!(worst <= 2.0, "seed {seed}: {worst} ulp");
    assert_eq!(ln(1.0), 0.0);
    assert_eq!(ln(0.0), f32::NEG_INFINITY);
    assert_eq!(ln(f32::INFINITY), f32::INFINITY);
    assert!(ln(-1.0).is_nan() && ln(f32::NAN).is_nan());
}

#[test]
fn exp_is_within_two_ulp_and_handles_the_edges() {
    use inside_gpt::kernels::{exp, softmax};
    let (mut rng, seed) = fresh_rng();
    let mut worst = 0f64;
    for i in 0..20000 {
        // the whole normal range, and densely the softmax and GELU range
        let x = if i % 2 == 0 { (rng.next_f64() * 175.0 - 87.0) as f32 } else { (rng.next_f64() * 40.0 - 30.0) as f32 };
        let (got, want) = (exp(x) as f64, (x as f64).exp());
        let ulp = (want as f32).abs() as f64 * f32::EPSILON as f64;
        worst = worst.max((got - want).abs() / ulp);
    }
    assert!(worst <= 2.0, "seed {seed}: {worst} ulp");
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp(-100.0), 0.0);
    assert_eq!(exp(f32::INFINITY), f32::INFINITY);
    assert!(exp(f32::NAN).is_nan());
    let mut p = vec![3.0, f32::NEG_INFINITY, -1.0, 3.0];
    softmax(&mut p);
    assert_eq!(p[1], 0.0);
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6 && p[0] == p[3] && p[0] > p[2]);
}

/// Random block bytes of `dtype` (every level and every sub-block scale pattern, Q8_0's -128
/// included), with the f16 scale fields at `halves` (byte offsets in a block) set to finite values
/// in [-1, 1], so that no NaN enters (a NaN's bits are not fixed across engines).
fn random_blocks(dtype: DType, values: usize, rng: &mut Rng) -> Vec<u8> {
    let halves: &[usize] = match dtype {
        DType::Q8_0 | DType::Q4_0 | DType::Q5_0 => &[0],
        DType::Q4_1 | DType::Q5_1 | DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q2_K => &[80, 82],
        DType::Q6_K => &[208],
        DType::Q3_K => &[108],
        _ => &[],
    };
    let (bb, n) = (dtype.block_bytes(), values / dtype.block_len());
    let mut b: Vec<u8> = (0..bb * n).map(|_| (rng.next_f64() * 256.0) as u8).collect();
    for blk in b.chunks_exact_mut(bb) {
        for &o in halves {
            blk[o..o + 2].copy_from_slice(&half::f16::from_f32((rng.next_f64() * 2.0 - 1.0) as f32).to_le_bytes());
        }
    }
    b
}

/// The decode kernels (fewer than four activation rows: Q8_0's and the fused ones) and the prefill
/// ones (four and more) against the scalar twins on random blocks of every quantized type, with
/// odd numbers of blocks and rows, and activations at the extremes: normal, one outlier per block
/// (the rest near 0), and all equal (every value -127 or 127).
#[test]
fn every_kernel_gives_the_scalar_bits_on_random_blocks() {
    let (mut rng, seed) = fresh_rng();
    for dtype in DType::ALL.into_iter().filter(|t| !matches!(t, DType::F32 | DType::F16 | DType::BF16)) {
        for (k, n) in [(32, 7), (96, 3), (256, 5), (768, 33), (1280, 9)] {
            if k % dtype.block_len() != 0 {
                continue;
            }
            let q = QMatrix::new(dtype, n, k, &random_blocks(dtype, n * k, &mut rng)).unwrap();
            for m in [1, 2, 3, 5] {
                for kind in 0..3 {
                    let x: Vec<f32> = (0..m * k)
                        .map(|j| match kind {
                            0 => rng.normal() as f32,
                            1 if j % 32 == 7 => 1e3 * (rng.next_f64() as f32 - 0.5),
                            1 => (rng.next_f64() as f32 - 0.5) * 4.0,
                            _ => if (j / k) % 2 == 0 { -0.75 } else { 2.5 },
                        })
                        .collect();
                    let (a, b) = (q.matmul(&x, m), q.matmul_scalar(&x, m));
                    let bad = a.iter().zip(&b).position(|(p, s)| p.to_bits() != s.to_bits());
                    assert!(bad.is_none(), "seed {seed} {dtype:?} {m}x{k}x{n} activations {kind}: output {bad:?}: {a:?} vs {b:?}");
                }
            }
        }
    }
}
