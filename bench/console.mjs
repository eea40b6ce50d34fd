// Console benchmark: the web console with 1,000 apps and 10,000 instances, in Debian's
// Chromium (playwright-core), against a release `berthd dev --no-agent` whose instances run on
// ten simulated nodes (registered through /v1/nodes, their instances reported ready through
// the status API, as agents do). The peer: nginx serving the very same console files, for the
// static part of the first load (what the embedded server adds or saves). Prints
// `name value unit` lines with the load average; the targets of issue 20 are beside them.
//
//   node bench/console.mjs [BUILD_DIR]     (default build/release; needs berthd, the console's
//                                           node_modules in BUILD_DIR/ui, nginx, chromium)
//   env: APPS=1000 REPLICAS=10 ROUNDS=5
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const build = path.resolve(process.argv[2] ?? path.join(root, 'build/release'));
const APPS = Number(process.env.APPS ?? 1000);
const REPLICAS = Number(process.env.REPLICAS ?? 10);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const NODES = 10;
const { chromium } = createRequire(path.join(build, 'ui/node_modules/noop.js'))('playwright-core');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-console-'));
fs.chmodSync(work, 0o755);
const children = [];

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function print(name, value, unit, note = '') {
  console.log(`${name} ${value} ${unit}${note ? `  # ${note}` : ''}  (load ${load()})`);
}
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
async function until(fn, what, ms = 600_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`never happened: ${what}`);
}
function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
children.push(
  spawn(path.join(build, 'src/cmd/berthd'), ['dev', '--no-agent', '--data-dir', path.join(work, 'data'), '--api', `127.0.0.1:${port}`, '--dns', 'none', '--gateway', 'none'], {
    stdio: ['ignore', fs.openSync(path.join(work, 'berthd.log'), 'a'), fs.openSync(path.join(work, 'berthd.log'), 'a')],
  }),
);
await until(async () => (await fetch(`${base}/v1/health`)).ok, 'berthd');
const token = fs.readFileSync(path.join(work, 'data/admin.token'), 'utf8').trim();
const call = async (method, p, body, type = 'application/json') => {
  const r = await fetch(base + p, { method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
  return r.json();
};
async function pool(n, items, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

// Ten simulated nodes with room for everything, then APPS apps of REPLICAS replicas each.
const nodes = Array.from({ length: NODES }, (_, i) => `sim-${i}`);
for (const n of nodes) {
  await call('PUT', `/v1/nodes/${n}`, { labels: {}, capacity: { cpu_millis: 1_000_000, memory_bytes: 1 << 40, pids: 1 << 20 }, address: '127.0.0.1', ttl_seconds: 600 });
}
let t = Date.now();
await pool(8, Array.from({ length: APPS }, (_, i) => i), (i) =>
  call('POST', '/v1/apps', `namespace: team-${i % 10}\nname: app-${String(i).padStart(4, '0')}\nservices:\n  web:\n    image: web:v1\n    replicas: ${REPLICAS}\n    resources: {cpu: 10m, memory: 8Mi, pids: 8}\n`, 'application/yaml'),
);
print('setup_apply_apps_s', ((Date.now() - t) / 1000).toFixed(1), 's', `${APPS} apps`);
await until(async () => (await call('GET', '/v1/instances?limit=1')).total >= APPS * REPLICAS, 'every instance assigned');
// Every instance reported ready by "its agent".
t = Date.now();
const all = [];
let cont = '';
do {
  const page = await call('GET', `/v1/instances?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
  all.push(...page.instances);
  cont = page.continue ?? '';
} while (cont);
await pool(16, all, (i) => call('PUT', `/v1/nodes/${i.node}/status/${i.namespace}/${i.app}/${i.id}`, { state: 'ready', readySinceMs: Date.now() - 60_000, message: '' }));
print('setup_report_ready_s', ((Date.now() - t) / 1000).toFixed(1), 's', `${all.length} instances`);

// The same console files from nginx (the peer for the static part of a first load).
const dist = path.join(build, 'ui/dist');
const nginxPort = await freePort();
fs.writeFileSync(
  path.join(work, 'nginx.conf'),
  `daemon off; worker_processes 1; pid ${work}/nginx.pid; error_log ${work}/nginx.err;
events { worker_connections 256; }
http { include /etc/nginx/mime.types; access_log off; gzip_static on; sendfile on;
  server { listen 127.0.0.1:${nginxPort}; location /ui/ { alias ${dist}/; try_files $uri /ui/index.html; } } }`,
);
// nginx's gzip_static serves the .gz beside each file, as berthd serves its embedded gzip.
execFileSync('sh', ['-c', `for f in $(find ${dist} -type f ! -name '*.gz'); do gzip -9 -k -f "$f"; done`]);
children.push(spawn('nginx', ['-c', path.join(work, 'nginx.conf')], { stdio: 'ignore' }));
await until(async () => (await fetch(`http://127.0.0.1:${nginxPort}/ui/index.html`)).ok, 'nginx');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
async function fresh() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.addInitScript((tk) => sessionStorage.setItem('berth.token', tk), token);
  return { context, page: await context.newPage() };
}
// Navigation start to `selector` drawn, in a fresh tab (empty cache).
async function timed(url, ready) {
  const { context, page } = await fresh();
  await page.goto(url);
  await page.waitForFunction(ready, null, { timeout: 120_000 });
  const ms = await page.evaluate(() => performance.now());
  await context.close();
  return ms;
}
const staticLoad = async (origin) => {
  const { context, page } = await fresh();
  await page.goto(`${origin}/ui/index.html`, { waitUntil: 'load' });
  const ms = await page.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd);
  await context.close();
  return ms;
};
const runs = { overview: [], apps: [], instances: [], app: [], berthdStatic: [], nginxStatic: [], apiApps: [], apiInstances: [], apiUnhealthy: [] };
for (let r = 0; r < ROUNDS; r++) {
  runs.berthdStatic.push(await staticLoad(base));
  runs.nginxStatic.push(await staticLoad(`http://127.0.0.1:${nginxPort}`));
  runs.overview.push(await timed(`${base}/ui/`, () => document.querySelector('section[aria-label="Nodes"] tbody tr') && document.querySelector('[data-testid="app-counts"]')));
  runs.apps.push(await timed(`${base}/ui/apps`, () => document.querySelectorAll('a.app-link').length === 50));
  runs.instances.push(await timed(`${base}/ui/instances`, () => document.querySelectorAll('table tbody tr').length === 100));
  runs.app.push(await timed(`${base}/ui/apps/team-3/app-0503`, () => document.querySelectorAll('.instance-chip').length === REPLICAS));
  for (const [key, p] of [['apiApps', '/v1/apps?limit=50'], ['apiInstances', '/v1/instances?limit=100'], ['apiUnhealthy', '/v1/apps?health=unhealthy&limit=20']]) {
    const t0 = performance.now();
    await call('GET', p);
    runs[key].push(performance.now() - t0);
  }
}
await browser.close();
const f = (xs) => median(xs).toFixed(0);
console.log(`# ${APPS} apps, ${APPS * REPLICAS} instances on ${NODES} simulated nodes; medians of ${ROUNDS} rounds; fresh tab each`);
print('console_static_load_berthd_ms', f(runs.berthdStatic), 'ms', `nginx ${f(runs.nginxStatic)} ms, ratio ${(median(runs.berthdStatic) / median(runs.nginxStatic)).toFixed(2)}`);
print('console_static_load_nginx_ms', f(runs.nginxStatic), 'ms', 'the same files (gzip_static)');
print('console_first_page_load_ms', f(runs.overview), 'ms', 'overview drawn; target <= 1000');
print('console_apps_list_ms', f(runs.apps), 'ms', `first 50 of ${APPS} apps drawn; target <= 500`);
print('console_instances_list_ms', f(runs.instances), 'ms', `first 100 of ${APPS * REPLICAS} instances drawn`);
print('console_app_page_ms', f(runs.app), 'ms', `one app with ${REPLICAS} instances drawn`);
print('api_apps_page_ms', f(runs.apiApps), 'ms', 'GET /v1/apps?limit=50');
print('api_instances_page_ms', f(runs.apiInstances), 'ms', 'GET /v1/instances?limit=100');
print('api_apps_unhealthy_ms', f(runs.apiUnhealthy), 'ms', 'GET /v1/apps?health=unhealthy&limit=20 (every app summarized)');
