// Registry: services by namespace with their instances, health checks and the last check
// output, and the DNS names they answer to. Live from the change feed (registry topic).
import { get, path } from '../api';
import { Ago, Badge, ErrorBox, Link, Loading, Section, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage, type PageProps } from '../page';

interface ServiceRow {
  namespace: string;
  service: string;
  instances: number;
  passing: number;
  tags: string[];
}

interface RegistryInstance {
  id: string;
  address: string;
  port: number;
  tags: string[];
  metadata: Record<string, string>;
  weight: number;
  check?: Record<string, unknown>;
  health: string;
  health_output?: string;
  health_since?: number;
}

function dnsNames(ns: string, svc: string): string[] {
  return ns === 'default' ? [`${svc}.service.berth`, `${svc}.service.default.berth`] : [`${svc}.service.${ns}.berth`];
}

function checkText(c: Record<string, unknown> | undefined): string {
  if (!c) return 'none (TTL or always passing)';
  if (c.http) return `HTTP ${c.http} every ${c.interval ?? '10s'}`;
  if (c.tcp) return `TCP ${c.tcp} every ${c.interval ?? '10s'}`;
  if (c.exec) return `exec ${(c.exec as string[]).join(' ')} every ${c.interval ?? '10s'}`;
  return JSON.stringify(c);
}

function RegistryPage() {
  const list = useLive(() => get<{ services: ServiceRow[] }>('/v1/registry'), [], (c) => c.topic === 'registry', 500);
  return (
    <>
      <h1>Registry</h1>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? (
        <Loading />
      ) : (
        <Table
          caption="Services"
          rows={list.data?.services ?? []}
          rowKey={(s) => `${s.namespace}/${s.service}`}
          empty="No service is registered."
          columns={[
            { label: 'Service', cell: (s) => <Link to={`/registry/${s.namespace}/${s.service}`}>{`${s.namespace}/${s.service}`}</Link> },
            { label: 'Passing', cell: (s) => <Badge state={s.passing === s.instances && s.instances > 0 ? 'passing' : s.passing > 0 ? 'warning' : 'critical'} label={`${s.passing}/${s.instances}`} /> },
            { label: 'DNS', cell: (s) => <code>{dnsNames(s.namespace, s.service)[0]}</code> },
            { label: 'Tags', cell: (s) => s.tags.join(', ') },
          ]}
        />
      )}
    </>
  );
}

function ServicePage({ params }: PageProps) {
  const { ns, svc } = params;
  const view = useLive(
    () => get<{ instances: RegistryInstance[]; index: number }>(path`/v1/registry/${ns}/${svc}`),
    [ns, svc],
    (c) => c.topic === 'registry' && c.namespace === ns && c.name === svc,
    300,
  );
  return (
    <>
      <h1>
        {ns}/{svc}
      </h1>
      <Section title="DNS names">
        <ul>
          {dnsNames(ns, svc).map((n) => (
            <li key={n}>
              <code>{n}</code> (A and SRV, passing instances only)
            </li>
          ))}
        </ul>
      </Section>
      <Section title="Instances">
        <ErrorBox error={view.error} />
        {view.loading && !view.data ? (
          <Loading />
        ) : (
          <Table
            caption="Registered instances"
            rows={view.data?.instances ?? []}
            rowKey={(i) => i.id}
            empty="No instances."
            columns={[
              { label: 'Instance', cell: (i) => i.id },
              { label: 'Address', cell: (i) => `${i.address}:${i.port}` },
              { label: 'Health', cell: (i) => <Badge state={i.health} /> },
              { label: 'Since', cell: (i) => <Ago ms={i.health_since} /> },
              { label: 'Check', cell: (i) => checkText(i.check) },
              { label: 'Last output', cell: (i) => <code class="small">{i.health_output ?? ''}</code> },
              { label: 'Tags', cell: (i) => i.tags.join(', ') },
            ]}
          />
        )}
      </Section>
    </>
  );
}

definePage({
  path: '/registry',
  title: 'Registry',
  nav: { label: 'Registry', order: 30 },
  requires: { method: 'GET', path: '/v1/registry' },
  render: () => <RegistryPage />,
});

definePage({
  path: '/registry/:ns/:svc',
  title: (p) => `${p.ns}/${p.svc}`,
  requires: { method: 'GET', path: '/v1/registry' },
  render: (p) => <ServicePage {...p} />,
});
