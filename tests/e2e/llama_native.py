"""Native llama.cpp (llama-cpp-python, the version .ci/setup pins) on one thread, the benchmarks'
peer: prefill of the first N tokens of a text and decoding after it, each the best of a few runs.
Usage: python3 llama_native.py MODEL.gguf N TEXT   (prints JSON: prefill and decode tokens/s)"""
import json
import sys
import time

import llama_cpp

path, n, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
llm = llama_cpp.Llama(model_path=path, n_threads=1, n_threads_batch=1, n_ctx=0, n_batch=512, verbose=False)
tokens = llm.tokenize(text.encode(), add_bos=False, special=False)[:n]
DECODE = 32
prefill, decode = 0.0, 0.0
for _ in range(3):  # the first run pages the weights in
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    t1 = time.perf_counter()
    for i in range(DECODE):
        llm.eval([tokens[i % len(tokens)]])
    t2 = time.perf_counter()
    prefill = max(prefill, len(tokens) / (t1 - t0))
    decode = max(decode, DECODE / (t2 - t1))
print(json.dumps({"version": llama_cpp.__version__, "promptTokens": len(tokens), "prefill": prefill, "decode": decode}))
