// The worker protocol, defined once: `{command, id, ...}` from the page, `{status, id, ...}` back.
// Every message that answers a command carries that command's `id`.

/** Commands the page sends. */
export const Command = Object.freeze({
  /** {command, id, url, expect?: {bytes, sha256}} or {command, id, file: File|Blob, name} (or
   * `bytes: ArrayBuffer` instead of `file`): load a GGUF, streamed into the engine (`expect`: a listed
   * model's size and SHA-256, its cache key; `kernels: 'candle'` for the baseline) */
  LOAD: 'load',
  /** {command, id, slot, prompt, options: GenerateOptions, maxTokens}: start and stream tokens */
  GENERATE: 'generate',
  /** {command, slot?}: end the generation in `slot` (all slots if absent) after the current token */
  STOP: 'stop',
  /** {command, id, slot, prompt, options}: run the prompt only; answers PROMPT with `candidates` */
  START: 'start',
  /** {command, id, slot, token?}: one token (the reader's pick, or sampled); answers TOKEN with `candidates` */
  STEP: 'step',
  /** {command, id, text, context?}: per-token log-probabilities of `text` (after `context`, when given) */
  SCORE: 'score',
  /** {command, id, text, channels}: every stage of the network on `text` */
  INSPECT: 'inspect',
  /** {command, id, text}: token ids and pieces */
  TOKENIZE: 'tokenize',
  /** {command, id}: the engine's memory (answers MEMORY) */
  MEMORY: 'memory',
  /** {command, id, bytes}: whether a file of `bytes` can load beside the engine now (answers FITS) */
  FITS: 'fits',
  /** {command, id, kind: 'panic'|'oom', steps?}: tests only (a worker started with `?test-hooks`):
   * the `steps`-th step from now (default 1) traps the engine, so that recovery can be tested on a
   * real trap */
  FAIL_NEXT_STEP: 'failNextStep',
});

/** Statuses the worker sends. */
export const Status = Object.freeze({
  /** {status, id, loaded, total, source, header?}: bytes so far (total 0 when unknown); `header`,
   * once the file's header is in: {name, tensors, bytesByType: [[type, bytes, tensors], ...]} */
  PROGRESS: 'progress',
  /** {status, id, info, source: 'network'|'cache'|'file', streamed, threads, seconds} (`streamed`:
   * the file went into the engine chunk by chunk, never whole in the worker's memory; false for a
   * download of unknown size, read whole first; `threads`: 1, or the size of the pool the matrix
   * products run on) */
  LOADED: 'loaded',
  /** {status, id, slot, tokens, pieces, attention?, candidates?, profile?} the prompt as the model saw it */
  PROMPT: 'prompt',
  /** {status, id, slot, token, text, piece, prob, rank, entropy, position, top, attention?, stop, tokensSec, candidates?} */
  TOKEN: 'token',
  /** {status, id, slot, reason: 'stopped'|'maxTokens'|'eos'|'context', tokens, tokensAfterStop, tokensSec, profile?}
   * (`tokensAfterStop`: tokens finished after the Stop message arrived, at most 1; `profile`, when
   * the options asked for it: {matmulMs, lmHeadMs, attentionMs, otherMs, samplingMs, calls}) */
  DONE: 'done',
  /** {status, id, tokens, pieces, logprobs, total, perplexity, contextTokens} */
  SCORED: 'scored',
  /** {status, id, tokens, pieces, stages, attention, next} */
  INSPECTED: 'inspected',
  /** {status, id, tokens, pieces} */
  TOKENIZED: 'tokenized',
  /** {status, id, wasmBytes}: the engine's wasm memory */
  MEMORY: 'memory',
  /** {status, id, why}: null when the file fits, else why not (in words) */
  FITS: 'fits',
  /** {status, id, command, message}: the command failed; the worker keeps its previous model */
  ERROR: 'error',
  /** {status, id, command, message, panic}: the engine trapped (a panic, memory exhausted) while
   * running `command`; this worker is dead and answers nothing more: the page starts a fresh one
   * and loads the model again. `panic`: the panic's message, or null (e.g. out of memory). */
  CRASHED: 'crashed',
});

/**
 * @typedef {object} GenerateOptions
 * @property {number} [temperature] 0 = greedy
 * @property {number} [topK] 0 = all
 * @property {number} [topP] in (0, 1]
 * @property {number} [seed]
 * @property {number} [topN] candidates reported per token
 * @property {boolean} [attention] report attention weights
 */

/** Cache API bucket for downloaded weights; bump the version when the cached format changes. */
export const CACHE_NAME = 'inside-gpt-weights-v1';
