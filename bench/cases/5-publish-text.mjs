// Case 5: case 1 with 30 MiB of log-like text, which compresses.
import { CONFIG } from '../lib/config.mjs';
import { casePublish } from '../lib/rounds.mjs';

export default {
  id: '5',
  key: 'publishText',
  run: () => casePublish(5, CONFIG.smallMiB, CONFIG.rounds, 0, false, 'text'),
};
