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
  /** {command, id, text, steps, lr, seed, trains?}: fine-tune on `text` every weight ('all') or
   * the norms and biases ('vectors'; by default what the model's size allows; split into
   * context-long windows), one AdamW step at a time; answers TUNE_STEP per step, then TUNED. One
   * tuning (TUNE or PREFER) at a time; refused, with the model untouched, on bad settings */
  TUNE: 'tune',
  /** {command}: end the tuning under way (TUNE or PREFER) after the step in progress; the weights
   * tuned so far are kept, and TUNED or PREFERRED answers as usual with `stopped: true` */
  STOP_TUNE: 'stopTune',
  /** {command, id}: the weights as they were loaded, bit for bit (answers TUNE_RESET) */
  RESET_TUNE: 'resetTune',
  /** {command, id, prompt, items: [{text, good}], steps, lr, beta, seed}: preference tuning (DPO)
   * on every (good, bad) pair of the rated completions of `prompt`, against a frozen copy of the
   * starting weights; answers PREFER_STEP per step, then PREFERRED */
  PREFER: 'prefer',
  /** {command, id}: a GGUF file of the weights now in use (answers EXPORTED) */
  EXPORT_TUNED: 'exportTuned',
});

/** Statuses the worker sends. */
export const Status = Object.freeze({
  /** {status, id, loaded, total, source, header?}: bytes so far (total 0 when unknown); `header`,
   * once the file's header is in: {name, tensors, bytesByType: [[type, bytes, tensors], ...]} */
  PROGRESS: 'progress',
  /** {status, id, info, tune: TuneInfo|null, source: 'network'|'cache'|'file', streamed, threads, seconds} (`streamed`:
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
  /** {status, id, wasmBytes, heapBytes}: the engine's wasm memory, and the bytes its heap holds now */
  MEMORY: 'memory',
  /** {status, id, why}: null when the file fits, else why not (in words) */
  FITS: 'fits',
  /** {status, id, step, steps, loss, tokens, windows}: one fine-tuning step done (`loss`: mean
   * cross-entropy over the windows, nats per token; `tokens`, `windows`: the text trained on) */
  TUNE_STEP: 'tuneStep',
  /** {status, id, steps, stepsAfterStop, seconds, tokensPerSec, stopped, tokens, windows, info}:
   * fine-tuning ended (all steps, or STOP_TUNE) and the tuned weights are the model now
   * (generation, scoring and inspection all use them). `steps`: steps done; `stepsAfterStop`:
   * steps finished after STOP_TUNE arrived (at most 1), null without a stop; `info`: TuneInfo */
  TUNED: 'tuned',
  /** {status, id, info: TuneInfo}: the loaded weights are back */
  TUNE_RESET: 'tuneReset',
  /** {status, id, step, steps, loss, margin}: one preference step done (`margin`: mean over the
   * pairs of the good completion's implicit reward minus the bad one's) */
  PREFER_STEP: 'preferStep',
  /** {status, id, pairs, steps, stepsAfterStop, seconds, stopped, rows: [{text, good, logpTuned,
   * logpRef, reward}], info: TuneInfo}: preference tuning ended, the tuned weights are the model */
  PREFERRED: 'preferred',
  /** {status, id, bytes: ArrayBuffer, transferred}: the GGUF file (`transferred`: the engine's
   * copy was moved to the page, not copied again) */
  EXPORTED: 'exported',
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

/**
 * @typedef {object} TuneInfo
 * @property {boolean} tuned the engine runs tuned weights (not the loaded ones)
 * @property {number} trainable parameters that training changes
 * @property {number} total parameters of the model
 * @property {'all'|'vectors'} trains every weight, or the norms and biases only (the choice of the
 * run under way, else what the model's size allows: vectors above maxParams)
 * @property {number} vectors parameters in the norms and biases
 * @property {number} maxParams the largest model whose every weight trains
 */

/** Cache API bucket for downloaded weights; bump the version when the cached format changes. */
export const CACHE_NAME = 'inside-gpt-weights-v1';
