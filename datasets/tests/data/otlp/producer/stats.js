'use strict';
// Prints the counts quoted in ../README.md. Usage: node stats.js DIR
const fs = require('fs');
const path = require('path');

const dir = process.argv[2] || path.join(__dirname, '..');
const lines = f =>
  fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(l => l.length > 0).map(l => JSON.parse(l));
const sorted = o => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
const KIND = { 0: 'UNSPECIFIED', 1: 'INTERNAL', 2: 'SERVER', 3: 'CLIENT', 4: 'PRODUCER', 5: 'CONSUMER' };

function spanStats(file) {
  const reqs = lines(file);
  const spans = [];
  const scopes = new Set();
  const linesOfTrace = new Map();
  reqs.forEach((r, lineNo) => {
    for (const rs of r.resourceSpans)
      for (const ss of rs.scopeSpans) {
        scopes.add(`${ss.scope.name}@${ss.scope.version}`);
        for (const s of ss.spans) {
          spans.push({ ...s, scope: ss.scope.name });
          if (!linesOfTrace.has(s.traceId)) linesOfTrace.set(s.traceId, new Set());
          linesOfTrace.get(s.traceId).add(lineNo);
        }
      }
  });
  const byId = new Map(spans.map(s => [s.spanId, s]));
  const client = spans.filter(s => s.kind === 3);
  const isErr = s => s.status && s.status.code === 2;
  const byName = {};
  for (const s of spans) {
    const e = (byName[s.name] ??= { kind: KIND[s.kind], count: 0, error: 0, attributeKeys: new Set(), events: new Set(), parents: {} });
    e.count++;
    if (isErr(s)) e.error++;
    for (const a of s.attributes || []) e.attributeKeys.add(a.key);
    for (const ev of s.events || []) e.events.add(`${ev.name}[${(ev.attributes || []).map(a => a.key).join(',')}]`);
    const p = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
    const pl = !s.parentSpanId ? '(root)' : p ? p.name : '(parent not in file)';
    e.parents[pl] = (e.parents[pl] || 0) + 1;
  }
  for (const v of Object.values(byName)) {
    v.attributeKeys = [...v.attributeKeys].sort();
    v.events = [...v.events].sort();
    v.parents = sorted(v.parents);
  }
  const valueTypes = {};
  for (const s of spans)
    for (const a of s.attributes || []) valueTypes[a.key] = Object.keys(a.value)[0];
  return {
    file,
    bytes: fs.statSync(path.join(dir, file)).size,
    lines: reqs.length,
    spansPerLine: reqs.map(r => r.resourceSpans.reduce((n, rs) => n + rs.scopeSpans.reduce((m, ss) => m + ss.spans.length, 0), 0)),
    scopes: [...scopes].sort(),
    spans: spans.length,
    clientSpans: client.length,
    clientSpansWithErrorStatus: client.filter(isErr).length,
    spansWithErrorStatus: spans.filter(isErr).length,
    distinctTraces: new Set(spans.map(s => s.traceId)).size,
    rootSpans: spans.filter(s => !s.parentSpanId).length,
    tracesSplitAcrossLines: [...linesOfTrace.values()].filter(l => l.size > 1).length,
    byName: sorted(byName),
    attributeValueTypes: sorted(valueTypes),
  };
}

function metricStats(file) {
  const reqs = lines(file);
  const metrics = {};
  let points = 0;
  for (const r of reqs)
    for (const rm of r.resourceMetrics)
      for (const sm of rm.scopeMetrics)
        for (const m of sm.metrics) {
          const type = ['sum', 'gauge', 'histogram', 'exponentialHistogram', 'summary'].find(t => m[t]);
          const e = (metrics[m.name] ??= {
            scope: `${sm.scope.name}@${sm.scope.version}`,
            unit: m.unit,
            type,
            aggregationTemporality: m[type].aggregationTemporality,
            isMonotonic: m[type].isMonotonic,
            linesWithMetric: 0,
            dataPoints: 0,
            attributeKeys: new Set(),
            attributeSets: new Set(),
            series: {},
          });
          e.linesWithMetric++;
          for (const dp of m[type].dataPoints) {
            points++;
            e.dataPoints++;
            const attrs = dp.attributes || [];
            for (const a of attrs) e.attributeKeys.add(a.key);
            const key = JSON.stringify(Object.fromEntries(attrs.map(a => [a.key, Object.values(a.value)[0]])));
            e.attributeSets.add(key);
            const v = type === 'histogram' ? Number(dp.count) : Number(dp.asDouble ?? dp.asInt);
            const st = (e.series[key] ??= { min: v, max: v, last: v });
            st.min = Math.min(st.min, v);
            st.max = Math.max(st.max, v);
            st.last = v;
          }
        }
  for (const v of Object.values(metrics)) {
    v.attributeKeys = [...v.attributeKeys].sort();
    v.attributeSets = [...v.attributeSets].sort();
    // sums: min/max/last value per attribute set; histograms: of the cumulative count
    v.series = sorted(v.series);
  }
  return { file, bytes: fs.statSync(path.join(dir, file)).size, lines: reqs.length, dataPoints: points, metrics: sorted(metrics) };
}

const out = {
  'spans-old-semconv.jsonl': spanStats('spans-old-semconv.jsonl'),
  'spans-new-semconv.jsonl': spanStats('spans-new-semconv.jsonl'),
  'metrics.jsonl': metricStats('metrics.jsonl'),
};
console.log(JSON.stringify(out, null, 2));
