// Case 6: a PR preview on a base the (one) registry already holds.
import { BED, CONFIG } from '../lib/config.mjs';
import { caseReuse } from './reuse.mjs';

export default { id: '6', key: 'reuseSame', run: () => caseReuse(6, [BED.regs[0]], CONFIG.rounds) };
