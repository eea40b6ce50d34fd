// Instances: every assigned instance across apps, paged and filtered on the server
// (GET /v1/instances), live.
import { get } from '../api';
import { Filters, Pager, QuerySelect, usePaging } from '../components/paging';
import { Ago, Badge, ErrorBox, Link, Loading, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage, type PageProps } from '../page';

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
  const paging = usePaging(query);
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (q) params.set('q', q);
  if (state) params.set('state', state);
  if (paging.after) params.set('continue', paging.after);
  const list = useLive(
    () => get<{ instances: InstanceRow[]; total: number; continue?: string }>(`/v1/instances?${params}`),
    [q, state, paging.after],
    (c) => c.topic === 'apps',
    500,
  );
  return (
    <>
      <h1>Instances</h1>
      <Filters q={q} placeholder="ns/app/id or service" paging={paging}>
        <QuerySelect
          label="State"
          name="state"
          value={state}
          paging={paging}
          options={[['', 'any'], ...['pending', 'starting', 'ready', 'unready', 'stopping', 'stopped', 'failed'].map((s): [string, string] => [s, s])]}
        />
      </Filters>
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
          <Pager paging={paging} next={list.data?.continue} />
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
