'use strict';
// A small service-like workload on pg.Pool, instrumented by the OpenTelemetry
// JS SDK and instrumentation-pg, exporting OTLP/JSON over HTTP.
//
// Environment:
//   MODE         traces-old | traces-new | metrics
//                traces-old: @opentelemetry/instrumentation-pg 0.72.0 (installed
//                            as the npm alias instrumentation-pg-0.72), default
//                            (old) database semantic conventions
//                traces-new: @opentelemetry/instrumentation-pg 0.76.0, which emits
//                            only the stable database semantic conventions
//                metrics:    instrumentation-pg 0.76.0, pool and operation
//                            metrics only, 1 s periodic export
//   OTLP_URL     base URL of the OTLP/HTTP receiver, e.g. http://127.0.0.1:40000
//   PGHOST PGPORT PGUSER PGDATABASE   the throwaway cluster
const { trace, context, SpanKind } = require('@opentelemetry/api');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');

const MODE = process.env.MODE;
const OTLP_URL = process.env.OTLP_URL;
if (!['traces-old', 'traces-new', 'metrics'].includes(MODE) || !OTLP_URL) {
  console.error('set MODE=traces-old|traces-new|metrics and OTLP_URL');
  process.exit(2);
}

const resource = defaultResource().merge(
  resourceFromAttributes({
    'service.name': 'poolcast-otlp-producer',
    'service.version': '0.1.0',
    'deployment.environment.name': 'test',
  }),
);

const PgInstrumentation =
  MODE === 'traces-old'
    ? require('instrumentation-pg-0.72').PgInstrumentation
    : require('@opentelemetry/instrumentation-pg').PgInstrumentation;

let tracerProvider;
let meterProvider;
if (MODE.startsWith('traces')) {
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
  const exporter = new OTLPTraceExporter({
    url: `${OTLP_URL}/v1/traces`,
    compression: 'none',
  });
  tracerProvider = new NodeTracerProvider({
    resource,
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        scheduledDelayMillis: 250,
        maxExportBatchSize: 128,
        maxQueueSize: 4096,
      }),
    ],
  });
  tracerProvider.register(); // global provider + AsyncLocalStorage context manager
} else {
  const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
  const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
  const exporter = new OTLPMetricExporter({
    url: `${OTLP_URL}/v1/metrics`,
    compression: 'none',
    // temporalityPreference left at its default (cumulative)
  });
  meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: 1000,
        exportTimeoutMillis: 900,
      }),
    ],
  });
}

registerInstrumentations({
  instrumentations: [new PgInstrumentation()],
  tracerProvider,
  meterProvider,
});

// pg must be required after the instrumentation is registered.
const pg = require('pg');

// Deterministic PRNG (mulberry32), one stream per worker.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const sleep = ms => new Promise(r => setTimeout(r, ms));
const ACCOUNTS = 100000; // pgbench -i -s 1

const tracer = trace.getTracer('poolcast-otlp-producer', '0.1.0');

// One "request": 1-3 statements through the pool, sometimes a transaction on a
// checked-out client, sometimes a statement that fails (caught and ignored).
async function handleRequest(pool, rand, worker, iteration) {
  const aid = 1 + Math.floor(rand() * ACCOUNTS);
  const delta = Math.floor(rand() * 10001) - 5000;
  const roll = rand();
  const kind =
    roll < 0.05 ? 'bad-column' :
    roll < 0.10 ? 'division-by-zero' :
    roll < 0.35 ? 'transfer' :
    roll < 0.45 ? 'report' :
    roll < 0.75 ? 'write' : 'read';
  await tracer.startActiveSpan(
    'handle-request',
    {
      kind: SpanKind.SERVER,
      attributes: { 'app.request.kind': kind, 'app.worker': worker, 'app.iteration': iteration },
    },
    async span => {
      try {
        await pool.query('SELECT aid, bid, abalance FROM pgbench_accounts WHERE aid = $1', [aid]);
        switch (kind) {
          case 'read':
            break;
          case 'write':
            await pool.query('UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2', [delta, aid]);
            break;
          case 'report':
            await pool.query('SELECT count(*) FROM pgbench_accounts WHERE bid = $1 AND abalance > $2', [1, delta]);
            break;
          case 'transfer': {
            const client = await pool.connect();
            try {
              await client.query('BEGIN');
              await client.query('UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2', [delta, aid]);
              await sleep(5 + Math.floor(rand() * 20)); // application work inside the transaction
              await client.query(
                'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, now())',
                [1 + (aid % 10), 1, aid, delta],
              );
              await client.query('COMMIT');
            } catch (e) {
              await client.query('ROLLBACK');
              throw e;
            } finally {
              client.release();
            }
            break;
          }
          case 'bad-column':
            try {
              await pool.query('SELECT no_such_column FROM pgbench_accounts WHERE aid = $1', [aid]);
            } catch (e) {
              if (e.code !== '42703') throw e;
            }
            break;
          case 'division-by-zero':
            try {
              await pool.query('SELECT abalance / $1::int FROM pgbench_accounts WHERE aid = $2', [0, aid]);
            } catch (e) {
              if (e.code !== '22012') throw e;
            }
            break;
        }
      } finally {
        span.end();
      }
    },
  );
}

async function worker(pool, id, seed, until) {
  const rand = rng(seed);
  for (let i = 0; until(i); i++) {
    await handleRequest(pool, rand, id, i);
    await sleep(5 + Math.floor(rand() * 26)); // think time 5-30 ms
  }
}

async function main() {
  const base = {
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT),
    user: process.env.PGUSER,
    database: process.env.PGDATABASE,
  };
  if (MODE.startsWith('traces')) {
    // 4 concurrent clients x 25 requests on a pool of at most 3 connections.
    const pool = new pg.Pool({ ...base, max: 3, idleTimeoutMillis: 10000 });
    const seedBase = 1000;
    await Promise.all(
      [0, 1, 2, 3].map(w => worker(pool, w, seedBase + w, i => i < 25)),
    );
    await pool.end();
    await tracerProvider.shutdown(); // flushes the batch processor
  } else {
    // Concurrency ramps 1 -> 2 -> 4 -> 8 -> 16 -> 4 -> 2 -> 0 on a pool of 4
    // (so requests queue at the peak), with idle connections closed after 3 s
    // so the pool also shrinks. [seconds, concurrent workers] per phase.
    const pool = new pg.Pool({ ...base, max: 4, idleTimeoutMillis: 3000 });
    const phases = [
      [8, 1], [10, 2], [10, 4], [12, 8], [12, 16], [10, 4], [10, 2], [8, 0],
    ];
    let phaseNo = 0;
    for (const [seconds, concurrency] of phases) {
      const end = Date.now() + seconds * 1000;
      const ws = [];
      for (let w = 0; w < concurrency; w++) {
        ws.push(worker(pool, w, 5000 + phaseNo * 100 + w, () => Date.now() < end));
      }
      if (ws.length) await Promise.all(ws);
      else await sleep(seconds * 1000);
      phaseNo++;
    }
    await pool.end();
    await sleep(1500); // let one more periodic export see the ended pool
    await meterProvider.shutdown(); // final collect + export
  }
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
