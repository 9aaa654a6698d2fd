// The worker protocol, defined once: `{command, id, ...}` from the page, `{status, id, ...}` back.
// Every message that answers a command carries that command's `id`.

/** Commands the page sends. */
export const Command = Object.freeze({
  /** {command, id, url} or {command, id, bytes: ArrayBuffer, name}: load a GGUF */
  LOAD: 'load',
  /** {command, id, prompt, options: GenerateOptions, maxTokens} */
  GENERATE: 'generate',
  /** {command}: end the running generation after the current token */
  STOP: 'stop',
  /** {command, id, text}: per-token log-probabilities */
  SCORE: 'score',
});

/** Statuses the worker sends. */
export const Status = Object.freeze({
  /** {status, id, loaded, total}: bytes so far (total 0 when unknown) */
  PROGRESS: 'progress',
  /** {status, id, info, source: 'network'|'cache'|'file', seconds} */
  LOADED: 'loaded',
  /** {status, id, tokens, pieces, attention?} the prompt as the model saw it */
  PROMPT: 'prompt',
  /** {status, id, token, text, piece, prob, rank, entropy, position, top, attention?, stop, tokensSec} */
  TOKEN: 'token',
  /** {status, id, reason: 'stopped'|'maxTokens'|'eos'|'context', tokens, tokensSec} */
  DONE: 'done',
  /** {status, id, tokens, pieces, logprobs, total, perplexity} */
  SCORED: 'scored',
  /** {status, id, command, message}: the command failed; the worker keeps its previous model */
  ERROR: 'error',
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
