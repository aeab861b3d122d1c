// ncc emits an ES module; dist/package.json tells node to load dist/index.js as one.
import { writeFileSync } from 'node:fs';
writeFileSync(
  new URL('../dist/package.json', import.meta.url),
  JSON.stringify({ type: 'module' }, null, 2) + '\n',
);
