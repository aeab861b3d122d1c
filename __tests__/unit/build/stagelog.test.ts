import { describe, expect, it } from '@jest/globals';
import { ClassicStages } from '../../../src/build/stagelog.js';

/** A classic build of a two-stage Dockerfile, as docker 28 printed it here (ids shortened). */
const log = [
  'Sending build context to Docker daemon  4.096kB',
  'Step 1/8 : FROM 127.0.0.1:5101/base:1 AS deps',
  ' ---> 3eca74a675ff',
  'Step 2/8 : COPY deps.txt /deps.txt',
  ' ---> Using cache',
  ' ---> 1111111111aa',
  'Step 3/8 : RUN sleep 6 && echo > /deps.stamp',
  ' ---> Using cache',
  ' ---> 2222222222bb',
  'Step 4/8 : COPY src/ /src/',
  ' ---> 3333333333cc',
  'Step 5/8 : RUN wc -c /src/app.txt > /build.txt',
  ' ---> Running in d71176db3cd5',
  'Removing intermediate container d71176db3cd5',
  ' ---> 4444444444dd',
  'Step 6/8 : FROM 127.0.0.1:5101/base:1',
  ' ---> 3eca74a675ff',
  'Step 7/8 : COPY --from=deps /deps.stamp /deps.stamp',
  ' ---> 5555555555ee',
  'Step 8/8 : COPY --from=deps /build.txt /build.txt',
  ' ---> 6666666666ff',
  'Successfully built 6666666666ff',
];

describe("the classic builder's stage images, from its log", () => {
  const stages = new ClassicStages();
  for (const l of log) stages.line(l);

  it.each([
    ['deps', '4444444444dd', { steps: 4, cached: 2 }],
    ['DEPS', '4444444444dd', { steps: 4, cached: 2 }],
    ['nope', undefined, { steps: 0, cached: 0 }],
  ])('stage %s ended with %s; its steps %j', (name, id, stats) => {
    expect(stages.imageOf(name)).toBe(id);
    expect(stages.statsOf(name)).toEqual(stats);
  });
});
