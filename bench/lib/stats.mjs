// Statistics: medians, quartiles and ratios of the samples.

export function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function stats(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0, median: null, min: null, max: null, q1: null, q3: null, samples: [] };
  const r = (x) => Math.round(x * 10) / 10;
  return {
    n: v.length,
    median: r(quantile(v, 0.5)),
    min: r(v[0]),
    max: r(v[v.length - 1]),
    q1: r(quantile(v, 0.25)),
    q3: r(quantile(v, 0.75)),
    samples: values.map((x) => (typeof x === 'number' ? r(x) : x)),
  };
}

export const ratio = (a, b) => (a == null || b == null || b === 0 ? null : Math.round((a / b) * 100) / 100);
