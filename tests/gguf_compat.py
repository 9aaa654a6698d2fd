"""Our GGUF files against llama.cpp's own GGUF library (PyPI `gguf`, gguf-py):

1. a file our exporter writes is read by gguf-py, and every tensor name, shape, type and metadata
   key is the one gguf.constants defines for the gpt2 architecture;
2. the same model rewritten by gguf-py's GGUFWriter (the writer llama.cpp's converter uses) loads
   in our engine and scores text identically.

Usage: python3 tests/gguf_compat.py target/release/inside-gpt
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf.constants import MODEL_ARCH, MODEL_TENSORS, TENSOR_NAMES, GGMLQuantizationType as Q

CLI = sys.argv[1]
TEXT = "To be, or not to be: that is the question. 언어 모델 😀"


def run(*args):
    return subprocess.run([CLI, *args], check=True, capture_output=True, text=True).stdout


def check_layout(path, matrix_type):
    r = gguf.GGUFReader(path)
    kv = {f.name: f for f in r.fields.values()}
    arch = bytes(kv["general.architecture"].parts[-1]).decode()
    assert arch == "gpt2", arch
    n_layer = int(kv["gpt2.block_count"].parts[-1][0])
    allowed = {}
    for t in MODEL_TENSORS[MODEL_ARCH.GPT2]:
        name = TENSOR_NAMES[t]
        for bid in range(n_layer) if "{bid}" in name else [None]:
            base = name.format(bid=bid) if bid is not None else name
            allowed[base + ".weight"] = allowed[base + ".bias"] = True
    for t in r.tensors:
        assert t.name in allowed, f"tensor {t.name} is not a gpt2 tensor name in gguf.constants"
        vector = len(t.shape) == 1 or t.name == "position_embd.weight"
        want = Q.F32 if vector else matrix_type
        assert t.tensor_type == want, f"{t.name}: {t.tensor_type.name}, expected {want.name}"
    for key in [gguf.Keys.LLM.CONTEXT_LENGTH, gguf.Keys.LLM.EMBEDDING_LENGTH, gguf.Keys.LLM.FEED_FORWARD_LENGTH,
                gguf.Keys.LLM.BLOCK_COUNT, gguf.Keys.Attention.HEAD_COUNT, gguf.Keys.Attention.LAYERNORM_EPS]:
        assert key.format(arch="gpt2") in kv, f"missing {key}"
    for key in [gguf.Keys.Tokenizer.MODEL, gguf.Keys.Tokenizer.PRE, gguf.Keys.Tokenizer.LIST, gguf.Keys.Tokenizer.TOKEN_TYPE,
                gguf.Keys.Tokenizer.MERGES, gguf.Keys.Tokenizer.BOS_ID, gguf.Keys.Tokenizer.EOS_ID, gguf.Keys.General.FILE_TYPE]:
        assert key in kv, f"missing {key}"
    assert bytes(kv[gguf.Keys.Tokenizer.MODEL].parts[-1]).decode() == "gpt2"
    return r


def rewrite(r, path):
    """The same model through gguf-py's GGUFWriter."""
    w = gguf.GGUFWriter(path, "gpt2")
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        t = f.types[0]
        if t == gguf.GGUFValueType.STRING:
            w.add_string(f.name, bytes(f.parts[-1]).decode())
        elif t == gguf.GGUFValueType.ARRAY:
            sub = f.types[1]
            if sub == gguf.GGUFValueType.STRING:
                w.add_array(f.name, [bytes(f.parts[i]).decode() for i in f.data])
            else:
                w.add_array(f.name, [int(f.parts[i][0]) for i in f.data])
        elif t == gguf.GGUFValueType.FLOAT32:
            w.add_float32(f.name, float(f.parts[-1][0]))
        elif t == gguf.GGUFValueType.UINT32:
            w.add_uint32(f.name, int(f.parts[-1][0]))
        else:
            raise AssertionError(f"unexpected metadata type {t} for {f.name}")
    for t in r.tensors:
        data = np.array(t.data)
        if t.tensor_type == Q.F32:
            w.add_tensor(t.name, data.reshape([int(d) for d in reversed(t.shape)]))
        else:
            # quantized blocks pass through as raw bytes with their ggml type
            w.add_tensor(t.name, data, raw_shape=data.shape, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    with tempfile.TemporaryDirectory() as d:
        # every type we write; the K-quants need rows of 256 values
        types = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
        for name in types:
            qt = Q[name]
            width = "256" if name.endswith("_K") else "64"
            ours = os.path.join(d, f"ours-{name}.gguf")
            theirs = os.path.join(d, f"gguf-py-{name}.gguf")
            run("synth", "--out", ours, "--type", name, "--seed", "9", "--std", "0.1", "--width", width)
            r = check_layout(ours, qt)
            rewrite(r, theirs)
            check_layout(theirs, qt)
            a = json.loads(run("score", "--model", ours, "--text", TEXT, "--json"))
            b = json.loads(run("score", "--model", theirs, "--text", TEXT, "--json"))
            assert a == b, f"{name}: scores differ between our file and gguf-py's"
            print(f"ok {name}: names, types and keys match gguf.constants; gguf-py's rewrite scores identically "
                  f"({len(a['tokens'])} tokens, total {a['total']:.4f} nats)")


main()
