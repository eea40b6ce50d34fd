// Audit log (admin): every mutating call and every refused one, newest first; read again
// every 5 s while open (audit records are not in the change feed).
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { Ago, Badge, ErrorBox, Loading, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage } from '../page';

interface Record_ {
  time_ms: number;
  actor: string;
  token_id: string;
  action: string;
  status: number;
  result: string;
  remote: string;
}

function AuditPage() {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 5000);
    return () => clearInterval(t);
  }, []);
  const list = useLive(() => get<{ records: Record_[] }>('/v1/audit?limit=200'), [], null);
  useEffect(() => {
    if (tick) list.reload();
  }, [tick]);
  return (
    <>
      <h1>Audit log</h1>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? (
        <Loading />
      ) : (
        <Table
          caption="Audit records"
          rows={list.data?.records ?? []}
          rowKey={(r) => `${r.time_ms}/${r.action}/${r.token_id}/${r.remote}`}
          columns={[
            { label: 'When', cell: (r) => <Ago ms={r.time_ms} /> },
            { label: 'Who', cell: (r) => r.actor || <span class="muted">anonymous</span> },
            { label: 'Action', cell: (r) => <code>{r.action}</code> },
            { label: 'Status', cell: (r) => <Badge state={r.status < 400 ? 'ready' : r.status === 403 || r.status === 401 ? 'critical' : 'warning'} label={String(r.status)} /> },
            { label: 'Result', cell: (r) => <span class="small">{r.result}</span> },
            { label: 'From', cell: (r) => r.remote },
          ]}
        />
      )}
    </>
  );
}

definePage({
  path: '/audit',
  title: 'Audit log',
  nav: { label: 'Audit log', order: 80 },
  requires: { method: 'GET', path: '/v1/audit' },
  render: () => <AuditPage />,
});
