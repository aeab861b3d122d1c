// Case 3: case 1 with a 300 MiB image, and the action's peak RSS.
import { CONFIG } from '../lib/config.mjs';
import { casePublish } from '../lib/rounds.mjs';

export default {
  id: '3',
  key: 'publishBig',
  run: () => casePublish(3, CONFIG.bigMiB, CONFIG.bigRounds, 0, CONFIG.bigAllTags > 0),
};
