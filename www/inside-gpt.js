// Inside GPT's widgets, for any page: <script type="module" src=".../www/inside-gpt.js"></script>
// then, for example, <gpt-generate model="https://.../model.gguf"></gpt-generate>.
// Every widget on a page shares one worker and one loaded model.
import { GptModel } from './widgets/model.js';
import { GptGenerate } from './widgets/generate.js';
import { GptNextToken } from './widgets/next-token.js';
import { GptScore } from './widgets/score.js';
import { GptCompare } from './widgets/compare.js';
import { GptAttention } from './widgets/attention.js';
import { GptTransformer } from './widgets/transformer.js';
import { GptXor } from './widgets/xor.js';
import { GptChoices } from './widgets/choices.js';
import { GptFormats } from './widgets/formats.js';
import { GptCot } from './widgets/cot.js';
import { GptFinetune } from './widgets/finetune.js';
import { GptPrefer } from './widgets/prefer.js';

const ELEMENTS = {
  'gpt-model': GptModel,
  'gpt-generate': GptGenerate,
  'gpt-next-token': GptNextToken,
  'gpt-score': GptScore,
  'gpt-compare': GptCompare,
  'gpt-attention': GptAttention,
  'gpt-transformer': GptTransformer,
  'gpt-xor': GptXor,
  'gpt-choices': GptChoices,
  'gpt-formats': GptFormats,
  'gpt-cot': GptCot,
  'gpt-finetune': GptFinetune,
  'gpt-prefer': GptPrefer,
};

for (const [name, cls] of Object.entries(ELEMENTS)) if (!customElements.get(name)) customElements.define(name, cls);

export { setLang } from './i18n.js';
