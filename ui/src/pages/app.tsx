// One app: its services with instances per node, rollouts drawn as they progress (old and
// new replicas), scale, canary promote/abort, history with spec diffs and undo (shown as a
// dry run first), events.
import { useState } from 'preact/hooks';
import { useAllowed } from '../access';
import { get, path, post } from '../api';
import { Diff, diffJson, type DiffLine } from '../components/diff';
import { toast } from '../components/toast';
import { Action, Ago, Badge, Bar, Dialog, ErrorBox, Link, Loading, Section, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage, type PageProps } from '../page';
import { navigate } from '../router';
import type { AppView, InstanceView, Rollout, ServiceView } from './types';

function RolloutProgress({ s }: { s: ServiceView }) {
  const r = s.rollout as Rollout;
  const starting = Math.max(0, r.new_total - r.new_available - r.new_failed);
  const canary = r.canary;
  return (
    <div class="rollout" data-testid={`rollout-${s.name}`} data-phase={r.phase}>
      <div class="row">
        <Badge state={r.phase} label={r.is_rollback ? `rollback ${r.phase}` : `rollout ${r.phase}`} />
        <span>
          to <code>{r.image}</code> · new {r.new_available}/{r.desired} available
          {starting > 0 && `, ${starting} starting`}
          {r.new_failed > 0 && `, ${r.new_failed} failed`}
          {r.outdated > 0 && ` · ${r.outdated} old`}
        </span>
        <Ago ms={r.started_ms} />
      </div>
      <Bar
        total={r.desired}
        label={`new ${r.new_available} available, ${starting} starting, ${r.new_failed} failed, old ${r.outdated}`}
        segments={[
          { value: r.new_available, class: 'seg-ready', label: 'new, available' },
          { value: starting, class: 'seg-new', label: 'new, starting' },
          { value: r.new_failed, class: 'seg-bad', label: 'new, failed' },
          { value: r.outdated, class: 'seg-old', label: 'old' },
        ]}
      />
      {r.reason && r.phase !== 'complete' && <p class="muted small">{r.reason}</p>}
      {canary && (
        <p class="small">
          Canary {canary.state}: {canary.replicas} replica(s) at {canary.weight}% of traffic; stable <code>{canary.stable_image}</code>{' '}
          {canary.stable_available}/{canary.stable_total} available.
        </p>
      )}
    </div>
  );
}

function InstancesByNode({ ns, app, instances }: { ns: string; app: string; instances: InstanceView[] }) {
  const byNode = new Map<string, InstanceView[]>();
  for (const i of instances) byNode.set(i.node, [...(byNode.get(i.node) ?? []), i]);
  const nodes = [...byNode.keys()].sort();
  if (nodes.length === 0) return <p class="muted">No instances.</p>;
  return (
    <table class="table">
      <caption class="sr-only">Instances by node</caption>
      <thead>
        <tr>
          <th scope="col">Node</th>
          <th scope="col">Instances</th>
        </tr>
      </thead>
      <tbody>
        {nodes.map((n) => (
          <tr key={n}>
            <td>{n || <span class="muted">unscheduled</span>}</td>
            <td>
              <ul class="chips">
                {byNode
                  .get(n)!
                  .sort((a, b) => a.id.localeCompare(b.id))
                  .map((i) => (
                    <li key={i.id} class="instance-chip" data-instance={i.id} data-state={i.state} title={i.message ?? ''}>
                      <Link to={`/instances/${ns}/${app}/${i.id}`}>{i.id}</Link> <Badge state={i.state} />
                      {!i.up_to_date && <span class="tag">old</span>}
                      {(i.restarts ?? 0) > 0 && <span class="tag">{i.restarts} restarts</span>}
                    </li>
                  ))}
              </ul>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Scale({ ns, app, s }: { ns: string; app: string; s: ServiceView }) {
  const target = path`/v1/apps/${ns}/${app}/services/${s.name}/scale`;
  const ok = useAllowed({ method: 'POST', path: target });
  const [n, setN] = useState(String(s.desired));
  if (!ok) return null;
  return (
    <form
      class="row scale"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await post(target, { replicas: Number(n) });
          toast(`${s.name} scaled to ${n}`);
        } catch (err) {
          toast(`Scale ${s.name}: ${(err as Error).message}`, 'error');
        }
      }}
    >
      <label class="field inline">
        <span>Replicas</span>
        <input type="number" min={0} max={1000} value={n} name={`replicas-${s.name}`} onInput={(e) => setN((e.target as HTMLInputElement).value)} />
      </label>
      <button class="btn" type="submit" data-action="Scale">
        Scale
      </button>
    </form>
  );
}

interface HistoryEntry {
  revision: number;
  deploy_hash: string;
  time_ms: number;
  cause: string;
  image: string;
  current: boolean;
  spec?: unknown;
}

function UndoButton({ ns, app, svc, revision, label }: { ns: string; app: string; svc: string; revision?: number; label: string }) {
  const target = path`/v1/apps/${ns}/${app}/services/${svc}/rollout/undo`;
  const ok = useAllowed({ method: 'POST', path: target });
  const [preview, setPreview] = useState<DiffLine[] | null>(null);
  const [busy, setBusy] = useState(false);
  if (!ok) return null;
  const body = revision ? { revision } : {};
  const dryRun = async () => {
    try {
      const r = await post<{ diff: DiffLine[] }>(`${target}?dry_run=1`, body);
      setPreview(r.diff);
    } catch (e) {
      toast(`${label}: ${(e as Error).message}`, 'error');
    }
  };
  const run = async () => {
    setBusy(true);
    try {
      await post(target, body);
      toast(`${svc}: undo started`);
      setPreview(null);
    } catch (e) {
      toast(`${label}: ${(e as Error).message}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class="btn" data-action="Undo" onClick={dryRun}>
        {label}
      </button>
      <Dialog open={preview !== null} title={`${label}: ${svc}`} onClose={() => setPreview(null)}>
        <p>Dry run: these fields of {svc} would change.</p>
        <Diff lines={preview ?? []} />
        <div class="row">
          <button type="button" class="btn btn-primary" disabled={busy} onClick={run} data-action="Confirm undo">
            Roll back
          </button>
          <button type="button" class="btn" onClick={() => setPreview(null)}>
            Cancel
          </button>
        </div>
      </Dialog>
    </>
  );
}

function History({ ns, app, svc }: { ns: string; app: string; svc: string }) {
  const hist = useLive(
    () => get<{ history: HistoryEntry[] }>(path`/v1/apps/${ns}/${app}/services/${svc}/rollout` + '?specs=1'),
    [ns, app, svc],
    (c) => c.topic === 'apps' && c.namespace === ns && c.name === app,
    1000,
  );
  const [open, setOpen] = useState<number | null>(null);
  const entries = [...(hist.data?.history ?? [])].reverse();
  const current = entries.find((e) => e.current);
  return (
    <div class="history">
      <ErrorBox error={hist.error} />
      <Table
        caption={`Rollout history of ${svc}`}
        rows={entries}
        rowKey={(e) => String(e.revision)}
        empty="No history yet."
        columns={[
          { label: 'Revision', cell: (e) => <>{e.revision}{e.current && <span class="tag">current</span>}</> },
          { label: 'Image', cell: (e) => <code>{e.image}</code> },
          { label: 'Cause', cell: (e) => e.cause },
          { label: 'When', cell: (e) => <Ago ms={e.time_ms} /> },
          {
            label: '',
            cell: (e) =>
              e.current ? null : (
                <div class="row">
                  <button type="button" class="btn btn-small" onClick={() => setOpen(open === e.revision ? null : e.revision)}>
                    {open === e.revision ? 'Hide diff' : 'Diff'}
                  </button>
                  <UndoButton ns={ns} app={app} svc={svc} revision={e.revision} label={`Back to ${e.revision}`} />
                </div>
              ),
          },
        ]}
      />
      {open !== null && current && (
        <div class="card inset">
          <h3>
            Revision {open} → current ({current.revision})
          </h3>
          <Diff lines={diffJson(entries.find((e) => e.revision === open)?.spec, current.spec)} />
        </div>
      )}
    </div>
  );
}

function ServiceCard({ a, s }: { a: AppView; s: ServiceView }) {
  const [tab, setTab] = useState<'instances' | 'history'>('instances');
  const base = path`/v1/apps/${a.namespace}/${a.name}/services/${s.name}/rollout`;
  const r = s.rollout;
  const canaryWaits = r?.strategy === 'canary' && r.canary?.state === 'canary';
  return (
    <section class="card service" aria-label={`Service ${s.name}`} data-service={s.name}>
      <header class="card-head">
        <h2>
          {s.name} <Badge state={s.ready >= s.desired ? 'ready' : 'pending'} label={`${s.ready}/${s.desired} ready`} />
        </h2>
        <div class="row">
          <Scale ns={a.namespace} app={a.name} s={s} />
          <UndoButton ns={a.namespace} app={a.name} svc={s.name} label="Undo" />
          {canaryWaits && (
            <>
              <Action label="Promote" method="POST" path={`${base}/promote`} done={`${s.name}: canary promoted`} />
              <Action label="Abort" danger method="POST" path={`${base}/abort`} confirm={`Abort the canary of ${s.name} and go back to the stable version?`} done={`${s.name}: canary aborted`} />
            </>
          )}
        </div>
      </header>
      <p class="muted">
        <code>{s.image}</code> · {s.instances_total} instances, {s.available} available, {s.up_to_date} up to date
        {s.autoscale && ` · autoscale ${s.autoscale.min}–${s.autoscale.max}`}
        {s.cpu_millis_per_ready !== undefined && ` · ${s.cpu_millis_per_ready}m CPU per ready instance`}
      </p>
      {s.unschedulable && (
        <p class="error">
          {s.unschedulable.count} cannot be placed: {s.unschedulable.reason}
        </p>
      )}
      {r && <RolloutProgress s={s} />}
      <div class="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === 'instances'} class={tab === 'instances' ? 'tab active' : 'tab'} onClick={() => setTab('instances')}>
          Instances
        </button>
        <button type="button" role="tab" aria-selected={tab === 'history'} class={tab === 'history' ? 'tab active' : 'tab'} onClick={() => setTab('history')}>
          History
        </button>
      </div>
      {tab === 'instances' ? <InstancesByNode ns={a.namespace} app={a.name} instances={s.instances ?? []} /> : <History ns={a.namespace} app={a.name} svc={s.name} />}
    </section>
  );
}

function AppPage({ params }: PageProps) {
  const { ns, app } = params;
  const live = useLive(() => get<AppView>(path`/v1/apps/${ns}/${app}`), [ns, app], (c) => c.topic === 'apps' && c.namespace === ns && c.name === app, 250);
  const a = live.data;
  const canApply = useAllowed({ method: 'POST', path: '/v1/apps', namespace: ns });
  return (
    <>
      <header class="page-head">
        <h1>
          {ns}/{app} {a?.health && <Badge state={a.health} />}
        </h1>
        <div class="row">
          {canApply && (
            <Link to={`/apply?ns=${encodeURIComponent(ns)}&app=${encodeURIComponent(app)}`} class="btn">
              Edit spec
            </Link>
          )}
          <Action
            label="Delete"
            danger
            method="DELETE"
            path={path`/v1/apps/${ns}/${app}`}
            confirm={`Delete ${ns}/${app}? Its instances stop and its routes go.`}
            onDone={() => navigate('/apps')}
            done={`${ns}/${app} deleted`}
          />
        </div>
      </header>
      <ErrorBox error={live.error} />
      {!a && live.loading && <Loading />}
      {a && a.services.map((s) => <ServiceCard key={s.name} a={a} s={s} />)}
      {a && (
        <Section title="Events">
          <Table
            caption="Events"
            rows={[...(a.events ?? [])].reverse()}
            rowKey={(e) => `${e.time_ms}/${e.reason}/${e.message}`}
            empty="No events."
            columns={[
              { label: 'When', cell: (e) => <Ago ms={e.time_ms} /> },
              { label: 'Reason', cell: (e) => <Badge state={e.type === 'Warning' ? 'warning' : 'ready'} label={e.reason} /> },
              { label: 'Service', cell: (e) => e.service },
              { label: 'Message', cell: (e) => e.message },
            ]}
          />
        </Section>
      )}
    </>
  );
}

definePage({
  path: '/apps/:ns/:app',
  title: (p) => `${p.ns}/${p.app}`,
  requires: { method: 'GET', path: '/v1/apps' },
  render: (p) => <AppPage {...p} />,
});
