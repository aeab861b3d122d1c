// Case 1: a fresh 30 MiB image (random bytes) to two registries × four tags, after a warm-up.
import { CONFIG } from '../lib/config.mjs';
import { casePublish } from '../lib/rounds.mjs';

export default {
  id: '1',
  key: 'publish',
  run: () => casePublish(1, CONFIG.smallMiB, CONFIG.rounds, CONFIG.warmup, true),
};
