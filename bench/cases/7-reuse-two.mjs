// Case 7: case 6 to two registries, the second without the base.
import { BED, CONFIG } from '../lib/config.mjs';
import { caseReuse } from './reuse.mjs';

export default { id: '7', key: 'reuseTwo', run: () => caseReuse(7, BED.regs, CONFIG.rounds) };
