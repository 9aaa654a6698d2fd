"""Our block formats against llama.cpp's own Python library (PyPI `gguf`, gguf-py), through the CLI
(`inside-gpt dequant` / `inside-gpt quant`), for every type the engine reads:

1. decoding: fresh random blocks (finite f16 scales, every other bit random, plus all-ones and
   all-zero blocks) decode to bit-identical f32 values in gguf.quants.dequantize and in ours;
2. encoding, where gguf-py has an encoder (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, which it
   writes bit-exactly as ggml's reference quantizers): random values encode to identical bytes;
   where it has none (the K-quants), gguf-py decodes our blocks to our decoder's values, close to
   the input;
3. the committed goldens (tests/fixtures/quants/goldens.gguf, which tests/quants.rs checks our
   decoder against without Python) are still what this gguf-py decodes.

Usage: python3 tests/quants_compat.py target/release/inside-gpt
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf.constants import GGMLQuantizationType as Q, GGML_QUANT_SIZES

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "quants"))
from make import TYPES, random_blocks, random_floats  # noqa: E402

CLI = sys.argv[1]
GOLDENS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "quants", "goldens.gguf")
EXACT_ENCODERS = [Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1]
# Our K-quant encoders' worst error per value, as a fraction of the largest magnitude m of its
# 256-value super-block (every sub-block scale is quantized against one scale). Q2_K, Q4_K, Q5_K
# span a sub-block's [min(0, lo), hi], up to 2m, in N = 3, 15, 31 steps: half a step is m/N; the
# scale and min codes (C = 15, 63, 63 levels) round by half a level, adding m/C and m/(2C). Q3_K
# and Q6_K (levels -4..3, -32..31; signed codes of C = 32, 128 levels) map each sub-block's
# largest value to the negative end, so its other end can miss by a whole step, m/4 and m/32; the
# code's rounding adds m/(2C) x 4 steps (m/64, m/256) and clamping +C to C - 1 a step of
# m/C (m/32, m/128). The bound is that sum plus 2^-10 for the f16 super-block scale and min
# (each off by up to 2^-11 of itself, so a decoded value by up to 2^-11 m). Over 70 seeds the
# largest errors seen were 0.331, 0.260, 0.067, 0.032, 0.042. It catches a wrong layout, not a
# poorer encoder.
K_BOUNDS = {
    Q.Q2_K: 1 / 3 + 1.5 / 15 + 2 ** -10,
    Q.Q3_K: 1 / 4 + 1 / 64 + 2 / 32 + 2 ** -10,
    Q.Q4_K: 1 / 15 + 1.5 / 63 + 2 ** -10,
    Q.Q5_K: 1 / 31 + 1.5 / 63 + 2 ** -10,
    # (seed 4015027639589998873 reached 0.0455, past the sum above: the code's rounding and the
    # clamp can meet in one value, so the clamp's step is counted twice)
    Q.Q6_K: 1 / 32 + 1 / 256 + 2 / 128 + 2 ** -10,
}


def cli(op, qtype, data, d):
    src, dst = os.path.join(d, "in.bin"), os.path.join(d, "out.bin")
    data.tofile(src)
    subprocess.run([CLI, op, "--type", qtype.name, "--in", src, "--out", dst], check=True, capture_output=True)
    return np.fromfile(dst, dtype=np.uint8)


def ours_decode(qtype, blocks, d):
    return cli("dequant", qtype, blocks, d).view(np.float32)


def ours_encode(qtype, values, d):
    return cli("quant", qtype, values.astype(np.float32), d)


def same_bits(a, b):
    a, b = np.asarray(a, np.float32).reshape(-1), np.asarray(b, np.float32).reshape(-1)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def weights(rng, n, block):
    """Values like a model's weights: per block a random magnitude, some constant or zero blocks."""
    x = rng.standard_normal(n).astype(np.float32) * (10.0 ** rng.uniform(-3, 1, n // block)).repeat(block).astype(np.float32)
    x = x.reshape(-1, block)
    x[1] = 0.0
    x[2] = 0.25
    x[3, :] = np.float32(-3.0)
    return x.reshape(-1)


def main():
    # a fixed seed, so that CI's verdict is repeatable; QUANTS_SEED=N tries others
    seed = int(os.environ.get("QUANTS_SEED", "1"))
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as d:
        for qtype in TYPES:
            block, size = GGML_QUANT_SIZES[qtype]
            n = 256 * 64
            # 1. decoding
            blocks = random_blocks(qtype, n, rng)
            theirs = gguf.quants.dequantize(blocks, qtype)
            ours = ours_decode(qtype, blocks, d)
            assert same_bits(ours, theirs), f"{qtype.name}: decoded values differ from gguf-py's (seed {seed})"
            line = f"ok {qtype.name}: {n // block} random blocks decode bit-identically"
            # 2. encoding
            x = weights(rng, n, max(block, 32))  # K-quants: one magnitude per super-block
            ours_b = ours_encode(qtype, x, d)
            assert ours_b.size == n // block * size, f"{qtype.name}: {ours_b.size} bytes"
            if qtype in EXACT_ENCODERS:
                theirs_b = gguf.quants.quantize(x, qtype).view(np.uint8).reshape(-1)
                assert np.array_equal(ours_b, theirs_b), f"{qtype.name}: encoded bytes differ from gguf-py's (seed {seed})"
                line += f"; {n} values encode to the same {ours_b.size} bytes"
            else:
                back = gguf.quants.dequantize(ours_b, qtype).reshape(-1)
                assert same_bits(back, ours_decode(qtype, ours_b, d)), f"{qtype.name}: our blocks decode differently in gguf-py"
                rows = x.reshape(-1, block)
                scale = np.abs(rows).max(axis=1, keepdims=True)
                scale[scale == 0] = 1
                err = float((np.abs(back.reshape(-1, block) - rows) / scale).max())
                assert err <= K_BOUNDS[qtype], f"{qtype.name}: error {err:.4f} of the super-block maximum (seed {seed})"
                line += f"; our encoding decodes in gguf-py within {err:.4f} of each super-block's maximum"
            print(line)
    # 3. the committed goldens
    r = gguf.GGUFReader(GOLDENS)
    by_name = {t.name: t for t in r.tensors}
    for qtype in TYPES:
        t, v = by_name[f"{qtype.name}.blocks"], by_name[f"{qtype.name}.values"]
        assert t.tensor_type == qtype, t.tensor_type
        raw = np.array(t.data).view(np.uint8).reshape(-1)
        assert same_bits(gguf.quants.dequantize(raw, qtype), np.array(v.data)), f"{qtype.name}: goldens.gguf is stale: run tests/fixtures/quants/make.py"
    print(f"ok goldens.gguf: {len(TYPES)} types as this gguf-py decodes them (random seed {seed})")


main()
