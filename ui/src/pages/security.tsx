// Security: the image scanner's findings for what runs (GET /v1/security/findings, ignores
// applied: images with findings at the chosen severity, or not scanned), by image and by
// running instance; the admission policy of each namespace
// (GET /v1/security/policies); and, for admins, the admission decisions recorded in the audit
// log. Read again when instances change (a new image) and every 15 s (scans finish on their own).
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { Ago, Badge, ErrorBox, Link, Loading, Section, Table } from '../components/ui';
import { useAllowed } from '../access';
import { useLive } from '../live';
import { definePage, type PageProps } from '../page';
import { setQuery } from '../router';

export interface Finding {
  advisory: string;
  severity: string;
  package: string;
  version: string;
  fixed?: string;
  summary?: string;
  url?: string;
}
interface ImageFindings {
  image: string;
  scanned: boolean;
  scanned_ms?: number;
  error?: string;
  instances: { namespace: string; app: string; service: string; id: string }[];
  findings?: Finding[]; // absent when not scanned
}
interface Policy {
  namespace: string;
  policy: { mode?: string; level?: string; denySeverity?: string; requireScan?: boolean; allowedRegistries?: string[] };
}
interface AuditRecord {
  time_ms: number;
  actor: string;
  action: string;
  status: number;
  result: string;
}

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'none', 'unknown'];
const severityState: Record<string, string> = { critical: 'critical', high: 'failed', medium: 'warning', low: 'stopped', none: 'stopped', unknown: 'stopped' };
// The ?severity= choices: the least severity shown ('unknown' shows every finding).
const AT_LEAST: [string, string][] = [
  ['unknown', 'any'],
  ['low', 'low'],
  ['medium', 'medium'],
  ['high', 'high'],
  ['critical', 'critical'],
];

// Findings counted by severity: {critical: 2, high: 0, ...}.
export function countBySeverity(findings: Finding[]): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  for (const f of findings) out[f.severity] = (out[f.severity] ?? 0) + 1;
  return out;
}

function Counts({ findings = [], scanned, error }: { findings?: Finding[]; scanned: boolean; error?: string }) {
  if (!scanned) return <Badge state="pending" label={error ? 'scan failed' : 'not scanned'} />;
  const c = countBySeverity(findings);
  if (findings.length === 0) return <Badge state="ready" label="no findings" />;
  return (
    <span class="row">
      {SEVERITIES.filter((s) => c[s] > 0).map((s) => (
        <Badge state={severityState[s]} label={`${s} ${c[s]}`} />
      ))}
    </span>
  );
}

function FindingsTable({ findings }: { findings: Finding[] }) {
  return (
    <Table
      caption="Findings"
      rows={findings}
      rowKey={(f) => `${f.advisory}/${f.package}/${f.version}`}
      empty="No findings at this severity."
      columns={[
        { label: 'Advisory', cell: (f) => (f.url ? <a href={f.url} rel="noreferrer noopener" target="_blank">{f.advisory}</a> : f.advisory) },
        { label: 'Severity', cell: (f) => <Badge state={severityState[f.severity] ?? 'stopped'} label={f.severity} /> },
        { label: 'Package', cell: (f) => `${f.package} ${f.version}` },
        { label: 'Fixed in', cell: (f) => f.fixed || <span class="muted">no fix</span> },
        { label: 'Summary', cell: (f) => <span class="small">{f.summary ?? ''}</span> },
      ]}
    />
  );
}

function ByImage({ images }: { images: ImageFindings[] }) {
  if (images.length === 0) return <p class="empty">No running image has a finding at this severity.</p>;
  return (
    <div data-testid="findings-by-image">
      {images.map((im) => (
        <details class="card finding-image" key={im.image}>
          <summary>
            <strong>{im.image}</strong> <Counts findings={im.findings} scanned={im.scanned} error={im.error} />{' '}
            <span class="muted small">
              {im.instances.length} running, scanned <Ago ms={im.scanned_ms} />
            </span>
          </summary>
          {im.error && <p class="error">{im.error}</p>}
          <FindingsTable findings={im.findings ?? []} />
        </details>
      ))}
    </div>
  );
}

function ByInstance({ images }: { images: ImageFindings[] }) {
  const rows = images.flatMap((im) => im.instances.map((i) => ({ ...i, image: im }))).sort((a, b) => `${a.namespace}/${a.app}/${a.id}`.localeCompare(`${b.namespace}/${b.app}/${b.id}`));
  return (
    <Table
      caption="Findings by running instance"
      rows={rows}
      rowKey={(r) => `${r.namespace}/${r.app}/${r.id}`}
      empty="No running instance has a finding at this severity."
      columns={[
        { label: 'Instance', cell: (r) => <Link to={`/instances/${r.namespace}/${r.app}/${r.id}`}>{`${r.namespace}/${r.app}/${r.id}`}</Link> },
        { label: 'Service', cell: (r) => r.service },
        { label: 'Image', cell: (r) => <code>{r.image.image}</code> },
        { label: 'Findings', cell: (r) => <Counts findings={r.image.findings} scanned={r.image.scanned} error={r.image.error} /> },
      ]}
    />
  );
}

function Policies() {
  const list = useLive(() => get<{ policies: Policy[] }>('/v1/security/policies'), [], null);
  return (
    <Section title="Admission policies">
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? (
        <Loading />
      ) : (
        <Table
          caption="Admission policy per namespace"
          rows={list.data?.policies ?? []}
          rowKey={(p) => p.namespace}
          empty="No namespace has a policy: everything is admitted."
          columns={[
            { label: 'Namespace', cell: (p) => p.namespace },
            { label: 'Mode', cell: (p) => <Badge state={p.policy.mode === 'enforce' ? 'ready' : 'warning'} label={p.policy.mode ?? 'enforce'} /> },
            { label: 'Level', cell: (p) => p.policy.level ?? '—' },
            { label: 'Refuses fixable', cell: (p) => (p.policy.denySeverity ? `${p.policy.denySeverity} and above` : '—') },
            { label: 'Needs a scan', cell: (p) => (p.policy.requireScan ? 'yes' : 'no') },
            { label: 'Registries', cell: (p) => (p.policy.allowedRegistries ?? []).join(', ') || 'any' },
          ]}
        />
      )}
    </Section>
  );
}

// Admission decisions are audit records ("admission app shop/web"): admins only.
function Decisions() {
  const list = useLive(() => get<{ records: AuditRecord[] }>('/v1/audit?limit=500'), [], (c) => c.topic === 'apps', 2000);
  const decisions = (list.data?.records ?? []).filter((r) => r.action.startsWith('admission '));
  return (
    <Section title="Admission decisions">
      <ErrorBox error={list.error} />
      <Table
        caption="Admission decisions, newest first"
        rows={decisions}
        rowKey={(r) => `${r.time_ms}/${r.action}`}
        empty="No admission decision in the recent audit log."
        columns={[
          { label: 'When', cell: (r) => <Ago ms={r.time_ms} /> },
          { label: 'What', cell: (r) => r.action.replace(/^admission /, '') },
          { label: 'Who', cell: (r) => r.actor },
          { label: 'Decision', cell: (r) => <Badge state={r.status >= 400 ? 'critical' : r.result.includes('warning') ? 'warning' : 'ready'} label={r.status >= 400 ? 'refused' : 'admitted'} /> },
          { label: 'Why', cell: (r) => <span class="small">{r.result}</span> },
        ]}
      />
    </Section>
  );
}

function SecurityPage({ query }: PageProps) {
  const severity = query.get('severity') ?? 'unknown';
  const tab = query.get('by') === 'instance' ? 'instance' : 'image';
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 15_000);
    return () => clearInterval(t);
  }, []);
  const findings = useLive(() => get<{ images: ImageFindings[] }>(`/v1/security/findings?severity=${encodeURIComponent(severity)}`), [severity], (c) => c.topic === 'apps', 2000);
  useEffect(() => {
    if (tick) findings.reload();
  }, [tick]);
  const canAudit = useAllowed({ method: 'GET', path: '/v1/audit' });
  const images = findings.data?.images ?? [];
  return (
    <>
      <h1>Security</h1>
      <Section
        title="Findings in running images"
        actions={
          <label class="field inline">
            <span>At least</span>
            <select name="severity" value={severity} onChange={(e) => setQuery('severity', (e.target as HTMLSelectElement).value)}>
              {AT_LEAST.map(([v, label]) => (
                <option value={v}>{label}</option>
              ))}
            </select>
          </label>
        }
      >
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={tab === 'image'} class={tab === 'image' ? 'tab active' : 'tab'} onClick={() => setQuery('by', null)}>
            By image
          </button>
          <button type="button" role="tab" aria-selected={tab === 'instance'} class={tab === 'instance' ? 'tab active' : 'tab'} onClick={() => setQuery('by', 'instance')}>
            By instance
          </button>
        </div>
        <ErrorBox error={findings.error} />
        {findings.loading && !findings.data ? <Loading /> : tab === 'image' ? <ByImage images={images} /> : <ByInstance images={images} />}
      </Section>
      <Policies />
      {canAudit && <Decisions />}
    </>
  );
}

definePage({
  path: '/security',
  title: 'Security',
  nav: { label: 'Security', order: 70 },
  requires: { method: 'GET', path: '/v1/security/findings' },
  render: (props) => <SecurityPage {...props} />,
});
