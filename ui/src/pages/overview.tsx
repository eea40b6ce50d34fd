// Overview: nodes with capacity and allocations (cordon, uncordon, drain), apps that need a
// look, and the latest events.
import { get, path } from '../api';
import { Action, Ago, Badge, Bar, bytes, ErrorBox, Link, Loading, Section, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage } from '../page';
import type { AppList, NodeView } from './types';

function NodeCapacity({ n }: { n: NodeView }) {
  const cpu = n.capacity.cpu_millis ?? 0;
  const mem = n.capacity.memory_bytes ?? 0;
  return (
    <div class="capacity">
      <div>
        CPU {((n.allocated.cpu_millis ?? 0) / 1000).toFixed(2)} / {(cpu / 1000).toFixed(2)}
        <Bar total={cpu} label={`CPU allocated on ${n.id}`} segments={[{ value: n.allocated.cpu_millis ?? 0, class: 'seg-new', label: 'allocated' }]} />
      </div>
      <div>
        Memory {bytes(n.allocated.memory_bytes)} / {bytes(mem)}
        <Bar total={mem} label={`Memory allocated on ${n.id}`} segments={[{ value: n.allocated.memory_bytes ?? 0, class: 'seg-new', label: 'allocated' }]} />
      </div>
    </div>
  );
}

export function Nodes() {
  const nodes = useLive(() => get<{ nodes: NodeView[] }>('/v1/nodes'), [], (c) => c.topic === 'nodes');
  return (
    <Section title="Nodes">
      <ErrorBox error={nodes.error} />
      {nodes.loading && !nodes.data ? (
        <Loading />
      ) : (
        <Table
          caption="Nodes"
          rows={nodes.data?.nodes ?? []}
          rowKey={(n) => n.id}
          empty="No node has joined. `berthd dev` as root runs one; `berthd agent` joins others."
          columns={[
            { label: 'Node', cell: (n) => <strong>{n.id}</strong> },
            { label: 'Status', cell: (n) => <Badge state={n.status} /> },
            { label: 'Instances', cell: (n) => `${n.ready} ready / ${n.instances}` },
            { label: 'Allocated', cell: (n) => <NodeCapacity n={n} /> },
            { label: 'Address', cell: (n) => n.address },
            {
              label: 'Actions',
              cell: (n) => (
                <div class="row">
                  {n.status === 'ready' && <Action label="Cordon" method="POST" path={path`/v1/nodes/${n.id}/cordon`} done={`${n.id} cordoned`} />}
                  {(n.status === 'cordoned' || n.status === 'draining') && (
                    <Action label="Uncordon" method="POST" path={path`/v1/nodes/${n.id}/uncordon`} done={`${n.id} uncordoned`} />
                  )}
                  {n.status !== 'draining' && n.status !== 'down' && (
                    <Action
                      label="Drain"
                      danger
                      method="POST"
                      path={path`/v1/nodes/${n.id}/drain`}
                      confirm={`Move every instance off ${n.id}? It takes no new ones until uncordoned.`}
                      done={`${n.id} draining`}
                    />
                  )}
                </div>
              ),
            },
          ]}
        />
      )}
    </Section>
  );
}

function AppsNeedingALook() {
  const apps = useLive(() => get<AppList>('/v1/apps?health=unhealthy&limit=20'), [], (c) => c.topic === 'apps', 1000);
  const counts = apps.data?.health_counts ?? {};
  const all = Object.values(counts).reduce((a, b) => a + b, 0);
  return (
    <Section title="Apps" actions={<Link to="/apps">All apps</Link>}>
      <ErrorBox error={apps.error} />
      {apps.loading && !apps.data ? (
        <Loading />
      ) : (
        <>
          <p class="counts" data-testid="app-counts">
            <Badge state="healthy" label={`${counts.healthy ?? 0} healthy`} /> <Badge state="progressing" label={`${counts.progressing ?? 0} progressing`} />{' '}
            <Badge state="degraded" label={`${counts.degraded ?? 0} degraded`} /> <span class="muted">of {all}</span>
          </p>
          <Table
            caption="Apps that are not healthy"
            rows={apps.data?.apps ?? []}
            rowKey={(a) => `${a.namespace}/${a.name}`}
            empty="Every app is healthy."
            columns={[
              { label: 'App', cell: (a) => <Link to={`/apps/${a.namespace}/${a.name}`}>{`${a.namespace}/${a.name}`}</Link> },
              { label: 'Health', cell: (a) => <Badge state={a.health ?? 'pending'} /> },
              { label: 'Services', cell: (a) => a.services.map((s) => `${s.name} ${s.ready}/${s.desired}`).join(', ') },
            ]}
          />
        </>
      )}
    </Section>
  );
}

interface EventLine {
  namespace: string;
  app: string;
  time_ms: number;
  type: string;
  service: string;
  reason: string;
  message: string;
}

function RecentEvents() {
  const events = useLive(() => get<{ events: EventLine[] }>('/v1/events?limit=15'), [], (c) => c.topic === 'apps', 1000);
  return (
    <Section title="Recent events">
      <ErrorBox error={events.error} />
      <Table
        caption="Recent events"
        rows={events.data?.events ?? []}
        rowKey={(e) => `${e.namespace}/${e.app}/${e.time_ms}/${e.reason}/${e.message}`}
        empty="No events yet."
        columns={[
          { label: 'When', cell: (e) => <Ago ms={e.time_ms} /> },
          { label: 'App', cell: (e) => <Link to={`/apps/${e.namespace}/${e.app}`}>{`${e.namespace}/${e.app}`}</Link> },
          { label: 'Type', cell: (e) => <Badge state={e.type === 'Warning' ? 'warning' : 'ready'} label={e.reason} /> },
          { label: 'Message', cell: (e) => (e.service ? `${e.service}: ${e.message}` : e.message) },
        ]}
      />
    </Section>
  );
}

definePage({
  path: '/',
  title: 'Overview',
  nav: { label: 'Overview', order: 0 },
  render: () => (
    <>
      <h1>Overview</h1>
      <div class="grid">
        <AppsNeedingALook />
        <RecentEvents />
      </div>
      <Nodes />
    </>
  ),
});
