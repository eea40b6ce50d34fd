// Instances: every assigned instance across apps, paged and filtered on the server
// (GET /v1/instances), live.
import { useState } from 'preact/hooks';
import { get } from '../api';
import { Ago, Badge, ErrorBox, Link, Loading, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage, type PageProps } from '../page';
import { setQuery } from '../router';

export interface InstanceRow {
  namespace: string;
  app: string;
  service: string;
  id: string;
  node: string;
  state: string;
  deploy_hash: string;
  message?: string;
  ip?: string;
  restarts?: number;
  readySinceMs?: number;
  cpuMillis?: number;
}

const PAGE = 100;

function InstancesPage({ query }: PageProps) {
  const q = query.get('q') ?? '';
  const state = query.get('state') ?? '';
  const after = query.get('after') ?? '';
  const [stack, setStack] = useState<string[]>([]);
  const [text, setText] = useState(q);
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (q) params.set('q', q);
  if (state) params.set('state', state);
  if (after) params.set('continue', after);
  const list = useLive(
    () => get<{ instances: InstanceRow[]; total: number; continue?: string }>(`/v1/instances?${params}`),
    [q, state, after],
    (c) => c.topic === 'apps',
    500,
  );
  return (
    <>
      <h1>Instances</h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setStack([]);
          setQuery('after', null);
          setQuery('q', text.trim());
        }}
      >
        <label class="field inline">
          <span>Filter</span>
          <input type="search" placeholder="ns/app/id or service" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field inline">
          <span>State</span>
          <select
            value={state}
            onChange={(e) => {
              setStack([]);
              setQuery('after', null);
              setQuery('state', (e.target as HTMLSelectElement).value);
            }}
          >
            <option value="">any</option>
            {['pending', 'starting', 'ready', 'unready', 'stopping', 'stopped', 'failed'].map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <button class="btn" type="submit">
          Filter
        </button>
      </form>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? (
        <Loading />
      ) : (
        <>
          <p class="muted">{list.data?.total ?? 0} instances</p>
          <Table
            caption="Instances"
            rows={list.data?.instances ?? []}
            rowKey={(i) => `${i.namespace}/${i.app}/${i.id}`}
            empty="No instances."
            columns={[
              { label: 'Instance', cell: (i) => <Link to={`/instances/${i.namespace}/${i.app}/${i.id}`}>{i.id}</Link> },
              { label: 'App', cell: (i) => <Link to={`/apps/${i.namespace}/${i.app}`}>{`${i.namespace}/${i.app}`}</Link> },
              { label: 'Service', cell: (i) => i.service },
              { label: 'Node', cell: (i) => i.node },
              { label: 'State', cell: (i) => <Badge state={i.state} /> },
              { label: 'Ready since', cell: (i) => <Ago ms={i.readySinceMs} /> },
              { label: 'Restarts', cell: (i) => i.restarts ?? 0 },
              { label: 'Message', cell: (i) => <span class="small">{i.message ?? ''}</span> },
            ]}
          />
          <nav class="pager" aria-label="Pages">
            <button
              class="btn"
              type="button"
              disabled={stack.length === 0}
              onClick={() => {
                setStack(stack.slice(0, -1));
                setQuery('after', stack[stack.length - 1] || null);
              }}
            >
              Previous
            </button>
            <button
              class="btn"
              type="button"
              disabled={!list.data?.continue}
              onClick={() => {
                setStack([...stack, after]);
                setQuery('after', list.data!.continue!);
              }}
            >
              Next
            </button>
          </nav>
        </>
      )}
    </>
  );
}

definePage({
  path: '/instances',
  title: 'Instances',
  nav: { label: 'Instances', order: 20 },
  requires: { method: 'GET', path: '/v1/instances' },
  render: (p) => <InstancesPage {...p} />,
});
