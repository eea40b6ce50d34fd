// Gateway: the routes table with each route's request rate, error rate and p99 (from two
// readings of /metrics, 5 s apart), and an editor that validates a change with a dry run
// (POST /v1/routes:apply?dry_run) before saving it (PUT /v1/routes/{name}).
import { useEffect, useState } from 'preact/hooks';
import { useAllowed } from '../access';
import { api, get, path } from '../api';
import { Diff, diffJson } from '../components/diff';
import { toast } from '../components/toast';
import { Action, ErrorBox, Loading, Section, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage } from '../page';

interface StoredRoute {
  name: string;
  owner?: string;
  mod_revision: number;
  route: Record<string, unknown>;
}

interface RouteStats {
  rps: number;
  errorRate: number; // 5xx share
  p99?: number; // ms
}

type Sample = { t: number; requests: Map<string, number[]>; buckets: Map<string, [number, number][]> };

// Reads the per-route counters and latency buckets from Prometheus text.
function parseMetrics(text: string): Sample {
  const requests = new Map<string, number[]>(); // route -> [all, 5xx]
  const buckets = new Map<string, [number, number][]>(); // route -> [le, cumulative]
  for (const line of text.split('\n')) {
    let m = /^berth_gateway_route_requests_total\{route="((?:[^"\\]|\\.)*)",class="(\d)xx"\} (\d+)/.exec(line);
    if (m) {
      const v = requests.get(m[1]) ?? [0, 0];
      v[0] += Number(m[3]);
      if (m[2] === '5') v[1] += Number(m[3]);
      requests.set(m[1], v);
      continue;
    }
    m = /^berth_gateway_route_latency_ms_bucket\{route="((?:[^"\\]|\\.)*)",le="([^"]+)"\} (\d+)/.exec(line);
    if (m) {
      const list = buckets.get(m[1]) ?? [];
      list.push([m[2] === '+Inf' ? Infinity : Number(m[2]), Number(m[3])]);
      buckets.set(m[1], list);
    }
  }
  return { t: Date.now(), requests, buckets };
}

function quantile(list: [number, number][], q: number): number | undefined {
  const total = list.length ? list[list.length - 1][1] : 0;
  if (total <= 0) return undefined;
  const want = q * total;
  for (const [le, c] of list) if (c >= want) return le;
  return undefined;
}

function useRouteStats(): Map<string, RouteStats> {
  const [stats, setStats] = useState(new Map<string, RouteStats>());
  useEffect(() => {
    let last: Sample | null = null;
    let live = true;
    const read = async () => {
      try {
        const res = await fetch('/metrics', { headers: { Authorization: `Bearer ${sessionStorage.getItem('berth.token') ?? ''}` } });
        if (!res.ok || !live) return;
        const now = parseMetrics(await res.text());
        if (last) {
          const dt = (now.t - last.t) / 1000;
          const out = new Map<string, RouteStats>();
          for (const [route, [all, bad]] of now.requests) {
            const [all0, bad0] = last.requests.get(route) ?? [0, 0];
            const n = all - all0;
            const b0 = last.buckets.get(route) ?? [];
            const window = (now.buckets.get(route) ?? []).map(([le, c], i): [number, number] => [le, c - (b0[i]?.[1] ?? 0)]);
            out.set(route, { rps: n / dt, errorRate: n > 0 ? (bad - bad0) / n : 0, p99: quantile(n > 0 ? window : now.buckets.get(route) ?? [], 0.99) });
          }
          setStats(out);
        }
        last = now;
      } catch {
        // the next reading will tell
      }
    };
    void read();
    const timer = setInterval(read, 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  return stats;
}

function target(r: Record<string, unknown>): string {
  const targets = (r.targets as any[]) ?? [];
  return targets
    .map((t) => {
      const what = t.service ? `${t.namespace ?? 'default'}/${t.service}${t.port ? ':' + t.port : ''}${t.tags ? ' [' + t.tags.join(',') + ']' : ''}` : (t.upstreams ?? []).join(', ');
      return targets.length > 1 ? `${what} (${t.weight ?? 1})` : what;
    })
    .join(' · ');
}

const NEW_ROUTE = { match: { prefix: '/new/' }, targets: [{ service: 'web', namespace: 'default' }] };

function Editor({ initial, onDone }: { initial: StoredRoute | null; onDone: () => void }) {
  const [name, setName] = useState(initial?.name ?? '');
  const [text, setText] = useState(JSON.stringify(initial?.route ?? NEW_ROUTE, null, 2));
  const [force, setForce] = useState(false);
  const [dry, setDry] = useState<{ action: string; diff: ReturnType<typeof diffJson> } | null>(null);
  const [error, setError] = useState<Error | undefined>();
  const canSave = useAllowed({ method: 'PUT', path: path`/v1/routes/${name || 'x'}` });
  const parsed = (): Record<string, unknown> => {
    const r = JSON.parse(text);
    if (typeof r !== 'object' || !r || Array.isArray(r)) throw new Error('a route is a JSON object');
    return r;
  };
  const dryRun = async () => {
    setError(undefined);
    setDry(null);
    try {
      const route = parsed();
      const r = await api<{ items: { kind: string; name: string; action: string }[] }>(
        'POST',
        `/v1/routes:apply?dry_run=1${force ? '&force=1' : ''}`,
        { routes: [{ ...route, name }] },
      );
      const item = r.items.find((i) => i.kind === 'route' && i.name === name) ?? r.items[0];
      const { name: _n, ...before } = (initial?.route ?? {}) as Record<string, unknown>;
      const { name: _m, ...after } = route;
      setDry({ action: item?.action ?? 'unchanged', diff: diffJson(initial ? before : {}, after) });
    } catch (e) {
      setError(e as Error);
    }
  };
  const save = async () => {
    try {
      const route = parsed();
      await api('PUT', path`/v1/routes/${name}` + (force ? '?force=1' : ''), { ...route, name });
      toast(`route ${name} saved`);
      onDone();
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <section class="card" aria-label="Route editor" data-testid="route-editor">
      <h2>{initial ? `Edit route ${initial.name}` : 'New route'}</h2>
      {!initial && (
        <label class="field">
          <span>Name</span>
          <input value={name} name="route-name" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
      )}
      <label class="field">
        <span>Route (JSON, as in routes.yaml)</span>
        <textarea
          class="editor"
          rows={12}
          spellcheck={false}
          value={text}
          name="route-json"
          onInput={(e) => {
            setText((e.target as HTMLTextAreaElement).value);
            setDry(null);
          }}
        />
      </label>
      {initial?.owner && (
        <label class="field inline">
          <input type="checkbox" checked={force} onChange={(e) => setForce((e.target as HTMLInputElement).checked)} />
          <span>Change it although {initial.owner} manages it (force)</span>
        </label>
      )}
      <div class="row">
        <button class="btn" type="button" onClick={dryRun} disabled={!name}>
          Dry run
        </button>
        {canSave && (
          <button class="btn btn-primary" type="button" onClick={save} disabled={!dry} title={dry ? '' : 'Run a dry run first'}>
            Save
          </button>
        )}
        <button class="btn" type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
      <ErrorBox error={error} />
      {dry && (
        <div data-testid="route-dry-run">
          <p>
            Dry run: the route would be <strong>{dry.action}</strong>.
          </p>
          <Diff lines={dry.diff} empty="Nothing would change." />
        </div>
      )}
    </section>
  );
}

function GatewayPage() {
  const routes = useLive(() => get<{ routes: StoredRoute[] }>('/v1/routes'), [], (c) => c.topic === 'gateway', 300);
  const stats = useRouteStats();
  const [editing, setEditing] = useState<StoredRoute | null | 'new'>(null);
  const canWrite = useAllowed({ method: 'PUT', path: '/v1/routes/x' });
  return (
    <>
      <header class="page-head">
        <h1>Gateway</h1>
        {canWrite && (
          <button class="btn btn-primary" type="button" onClick={() => setEditing('new')}>
            New route
          </button>
        )}
      </header>
      {editing && <Editor key={editing === 'new' ? 'new' : editing.name} initial={editing === 'new' ? null : editing} onDone={() => setEditing(null)} />}
      <Section title="Routes">
        <ErrorBox error={routes.error} />
        {routes.loading && !routes.data ? (
          <Loading />
        ) : (
          <Table
            caption="Routes"
            rows={routes.data?.routes ?? []}
            rowKey={(r) => r.name}
            empty="No routes: apps' expose entries and routes you add appear here."
            columns={[
              { label: 'Route', cell: (r) => <strong>{r.name}</strong> },
              { label: 'Match', cell: (r) => <code>{JSON.stringify(r.route.match ?? {})}</code> },
              { label: 'Target', cell: (r) => target(r.route) },
              { label: 'Owner', cell: (r) => r.owner ?? '' },
              { label: 'Req/s', cell: (r) => (stats.get(r.name)?.rps ?? 0).toFixed(1), class: 'num' },
              { label: 'Errors', cell: (r) => `${((stats.get(r.name)?.errorRate ?? 0) * 100).toFixed(1)}%`, class: 'num' },
              { label: 'p99', cell: (r) => (stats.get(r.name)?.p99 !== undefined ? `≤ ${stats.get(r.name)!.p99} ms` : '—'), class: 'num' },
              {
                label: '',
                cell: (r) =>
                  canWrite ? (
                    <div class="row">
                      <button class="btn btn-small" type="button" data-action="Edit route" onClick={() => setEditing(r)}>
                        Edit
                      </button>
                      <Action label="Delete" danger class="btn-small" method="DELETE" path={path`/v1/routes/${r.name}` + (r.owner ? '?force=1' : '')} confirm={`Delete route ${r.name}?`} done={`route ${r.name} deleted`} />
                    </div>
                  ) : null,
              },
            ]}
          />
        )}
      </Section>
    </>
  );
}

definePage({
  path: '/gateway',
  title: 'Gateway',
  nav: { label: 'Gateway', order: 40 },
  requires: { method: 'GET', path: '/v1/routes' },
  render: () => <GatewayPage />,
});
