// After ncc: dist/package.json tells node to load dist/*.js as ES modules, and the chunks
// that ncc splits off for dynamic imports get minified too (ncc minifies only index.js).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { minify } from 'terser';

const dist = new URL('../dist/', import.meta.url);
writeFileSync(new URL('package.json', dist), JSON.stringify({ type: 'module' }, null, 2) + '\n');
for (const name of readdirSync(dist)) {
  if (!/^\d+\.index\.js$/.test(name)) continue;
  const file = new URL(name, dist);
  const out = await minify(readFileSync(file, 'utf8'), { module: true, ecma: 2022 });
  if (out.code === undefined) throw new Error(`terser produced nothing for dist/${name}`);
  writeFileSync(file, out.code);
}
