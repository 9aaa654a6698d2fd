"""The llama.cpp goldens (tests/fixtures/llama/) against an exact reference: every fixture run in
float64 by a plain numpy GPT-2 over the weights as gguf-py (llama.cpp's own Python library)
dequantizes them, compared with

1. the float64 logits make.py stored (so tests/llama_golden.rs, which checks our engine against
   them without Python, checks against what this gguf-py computes);
2. llama.cpp's stored logits (llama-cpp-python, see make.py): its own error, mostly from
   quantizing activations (Q8_0, Q8_1 or Q8_K; F16/BF16 for F16/BF16 weights);
3. with the CLI given, ours (`inside-gpt logits --model F --prompt P --then IDS --json`): the
   file's own rounding plus Q8_0's, which every format but Q4_0 is re-encoded into at load, and
   our Q8_0 activations.

Each at the prompt's last position (the whole vocabulary; for the real-vocabulary file llama.cpp's
64 best ids) and after each of llama.cpp's 32 greedy tokens (at that step's 4 best ids).

Tolerances: tests/fixtures/llama/tolerances.json (measured figures and the limits, per type).
Needs numpy and gguf only. Usage:

    python3 tests/llama_golden.py [target/release/inside-gpt]
"""
import json
import math
import os
import subprocess
import sys

# the products here are small: a BLAS thread pool only slows them down (16x on 2 busy cores)
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "llama")


def load_weights(path):
    """Every tensor of a GGUF file as float64 (numpy order: reversed ggml dims), and the config."""
    import gguf

    r = gguf.GGUFReader(path)
    kv = {f.name: f for f in r.fields.values()}

    def num(key):
        return kv[key].parts[-1][0].item()

    cfg = {
        "n_layer": int(num("gpt2.block_count")),
        "n_head": int(num("gpt2.attention.head_count")),
        "n_embd": int(num("gpt2.embedding_length")),
        "eps": float(num("gpt2.attention.layer_norm_epsilon")),
    }
    w, types = {}, {}
    for t in r.tensors:
        shape = [int(d) for d in reversed(t.shape)]
        v = gguf.quants.dequantize(np.array(t.data), t.tensor_type)
        w[t.name] = np.asarray(v, dtype=np.float64).reshape(shape)
        types[t.name] = t.tensor_type.name
    return w, cfg, types


def layer_norm(x, g, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(w, cfg, ids):
    """GPT-2 in float64: the last position's logits (V,) after `ids`."""
    ids = np.asarray(ids, dtype=np.int64)
    t, e, nh = len(ids), cfg["n_embd"], cfg["n_head"]
    hd = e // nh
    eps = cfg["eps"]
    x = w["token_embd.weight"][ids] + w["position_embd.weight"][:t]
    mask = np.triu(np.ones((t, t), dtype=bool), 1)
    for i in range(cfg["n_layer"]):
        p = f"blk.{i}."
        h = layer_norm(x, w[p + "attn_norm.weight"], w[p + "attn_norm.bias"], eps)
        qkv = h @ w[p + "attn_qkv.weight"].T + w[p + "attn_qkv.bias"]
        q, k, v = (qkv[:, j * e:(j + 1) * e].reshape(t, nh, hd) for j in range(3))
        s = np.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
        s[:, mask] = -np.inf
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        o = np.einsum("hts,shd->thd", s, v).reshape(t, e)
        x = x + o @ w[p + "attn_output.weight"].T + w[p + "attn_output.bias"]
        h = layer_norm(x, w[p + "ffn_norm.weight"], w[p + "ffn_norm.bias"], eps)
        u = gelu_tanh(h @ w[p + "ffn_up.weight"].T + w[p + "ffn_up.bias"])
        x = x + u @ w[p + "ffn_down.weight"].T + w[p + "ffn_down.bias"]
    h = layer_norm(x[-1], w["output_norm.weight"], w["output_norm.bias"], eps)
    head = w["output.weight"] if "output.weight" in w else w["token_embd.weight"]
    return head @ h


def ours(cli, path, prompt, then):
    """Our logits after the prompt and after each token of `then`, one row per position."""
    args = [cli, "logits", "--model", path, "--prompt", prompt, "--then", ",".join(map(str, then)), "--json"]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args[:6])} ... failed: {r.stderr.strip()}\n(this script needs the CLI's `logits` command)")
    j = json.loads(r.stdout)
    return j["promptTokens"], np.asarray(j["logits"], dtype=np.float64)


def worst(a, b):
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def main():
    cli = sys.argv[1] if len(sys.argv) > 1 else None
    gold = json.load(open(os.path.join(FIXTURES, "outputs.json")))
    tols = json.load(open(os.path.join(FIXTURES, "tolerances.json")))["files"]
    prompts = gold["prompts"]
    failures = []
    print(f"{'file':24} {'llama vs f64':>13} {'limit':>8} {'ours vs f64':>12} {'limit':>8}  (max |logit difference|, last prompt position and greedy steps)")
    for name, f in gold["files"].items():
        path = os.path.join(FIXTURES, name)
        w, cfg, types = load_weights(path)
        assert types == f["tensor_types"], f"{name}: tensor types differ from outputs.json"
        tol = tols[name]
        worst_llama = worst_ours = 0.0
        for run in f["runs"]:
            ids, greedy = run["prompt_tokens"], run["greedy"]
            # float64 after the prompt (whole vocabulary, or the kept ids) and after each greedy
            # token (at llama.cpp's 4 best ids of that step)
            ref = forward(w, cfg, ids)
            sel = np.asarray(run["ids"]) if "ids" in run else np.arange(len(ref))
            rows = [(ref[sel], run["f64_logits"], run["logits"], sel)]
            for i, sid in enumerate(run["step_ids"]):
                rows.append((forward(w, cfg, ids + greedy[:i])[sid], run["step_f64_logits"][i], run["step_logits"][i], sid))
            for mine_f64, stored, llama, _ in rows:
                d = worst(mine_f64, stored)
                if d > 1e-5 * max(1.0, float(np.abs(mine_f64).max())):
                    failures.append(f"{name}: the stored float64 logits differ from this gguf-py's by {d:.3g}: rerun make.py")
                worst_llama = max(worst_llama, worst(mine_f64, llama))
            if cli:
                toks, mine = ours(cli, path, prompts[run["prompt"]], greedy[:-1])
                if toks != ids:
                    failures.append(f"{name}: prompt {run['prompt']} tokenizes to {toks}, llama.cpp to {ids}")
                    continue
                # mine[i]: after greedy[:i]; rows[0] and rows[1] are both after the prompt
                for k, (ref_k, _, _, sel_k) in enumerate(rows):
                    worst_ours = max(worst_ours, worst(ref_k, mine[max(k - 1, 0)][np.asarray(sel_k)]))
        line = f"{name:24} {worst_llama:13.3e} {tol['llama_vs_f64']:8.2e}"
        if worst_llama > tol["llama_vs_f64"]:
            failures.append(f"{name}: llama.cpp's logits are {worst_llama:.3g} from float64, over {tol['llama_vs_f64']}")
        if cli:
            line += f" {worst_ours:12.3e} {tol['ours_vs_f64']:8.2e}"
            if worst_ours > tol["ours_vs_f64"]:
                failures.append(f"{name}: our logits are {worst_ours:.3g} from float64, over {tol['ours_vs_f64']}")
        print(line)
    if failures:
        print("\n".join("FAIL " + m for m in failures))
        sys.exit(1)
    print(f"ok {len(gold['files'])} llama.cpp fixtures: float64 reference reproduced; llama.cpp" + (" and ours" if cli else "") + " within the limits")


if __name__ == "__main__":
    main()
