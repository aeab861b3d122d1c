// Shows an action's stdout the way a GitHub runner's log does, for the demo: values sent with
// ::add-mask:: are replaced by *** (in every later line), workflow commands become the lines a
// person reads (a group's title, "Error: ..."), and debug lines stay hidden unless
// RUNNER_DEBUG=1. Reads stdin, writes stdout. Plain Node, no build.
import { createInterface } from 'node:readline';

const masks = [];
const decode = (s) =>
  s
    .replace(/%0D/g, '\r')
    .replace(/%0A/g, '\n')
    .replace(/%3A/g, ':')
    .replace(/%2C/g, ',')
    .replace(/%25/g, '%');
const mask = (s) => masks.reduce((out, m) => out.split(m).join('***'), s);
const shown = {
  group: (m) => `▼ ${m}`,
  endgroup: () => '▲',
  error: (m) => `Error: ${m}`,
  warning: (m) => `Warning: ${m}`,
  notice: (m) => `Notice: ${m}`,
  debug: (m) => (process.env.RUNNER_DEBUG === '1' ? `##[debug]${m}` : undefined),
};

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const command = /^::([a-z-]+)(?: [^:]*)?::(.*)$/.exec(line);
  if (!command) {
    console.log(mask(line));
    continue;
  }
  const [, name, message] = command;
  if (name === 'add-mask') {
    const value = decode(message);
    // The runner masks each value, and each line of a multi-line one, longest first.
    for (const v of [value, ...value.split('\n')]) if (v.trim() && !masks.includes(v)) masks.push(v);
    masks.sort((a, b) => b.length - a.length);
    continue;
  }
  const render = shown[name];
  const text = render ? render(decode(message)) : undefined; // save-state, set-output: not shown
  if (text !== undefined) console.log(mask(text));
}
