// One instance: its state, restarts and probes; live logs (tail, search, download, the
// previous run of a crashed container); a terminal in the browser (xterm.js over a
// WebSocket, loaded only when opened).
import { useEffect, useRef, useState } from 'preact/hooks';
import { useAllowed } from '../access';
import { get, path, streamLines } from '../api';
import { Ago, Badge, ErrorBox, Link, Loading, Section } from '../components/ui';
import { useLive } from '../live';
import { definePage, type PageProps } from '../page';
import { session } from '../session';
import type { AppView } from './types';
import type { InstanceRow } from './instances';

interface LogLine {
  time: string;
  stream: string;
  text: string;
}

const MAX_LINES = 5000;

function Logs({ id }: { id: string }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [search, setSearch] = useState('');
  const [previous, setPrevious] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setError(undefined);
    let pending: LogLine[] = [];
    let timer = 0;
    const flush = () => {
      timer = 0;
      const add = pending;
      pending = [];
      setLines((old) => {
        const next = old.concat(add);
        return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
      });
    };
    const url = path`/v1/containers/${id}/logs` + (previous ? '?previous=1&tail=1000' : '?tail=500&follow=1');
    streamLines(
      url,
      (l) => {
        if (l.error) {
          setError(new Error(l.error.message));
          return false;
        }
        pending.push(l as LogLine);
        if (!timer) timer = window.setTimeout(flush, 100);
        return true;
      },
      abort.signal,
    ).catch((e) => !abort.signal.aborted && setError(e));
    return () => {
      abort.abort();
      if (timer) clearTimeout(timer);
    };
  }, [id, previous]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);

  const shown = search ? lines.filter((l) => l.text.toLowerCase().includes(search.toLowerCase())) : lines;
  const download = () => {
    const text = lines.map((l) => `${l.time} ${l.stream} ${l.text}`).join('\n') + '\n';
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    a.download = `${id}${previous ? '-previous' : ''}.log`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  const mark = (text: string) => {
    if (!search) return text;
    const i = text.toLowerCase().indexOf(search.toLowerCase());
    if (i < 0) return text;
    return (
      <>
        {text.slice(0, i)}
        <mark>{text.slice(i, i + search.length)}</mark>
        {text.slice(i + search.length)}
      </>
    );
  };
  return (
    <div>
      <div class="row filters">
        <label class="field inline">
          <span>Search</span>
          <input type="search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} placeholder="text in the lines" />
        </label>
        <label class="field inline">
          <input type="checkbox" checked={previous} onChange={(e) => setPrevious((e.target as HTMLInputElement).checked)} />
          <span>Previous run</span>
        </label>
        <label class="field inline">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} />
          <span>Follow</span>
        </label>
        <button class="btn" type="button" onClick={download}>
          Download
        </button>
        <span class="muted small">
          {shown.length} of {lines.length} lines
        </span>
      </div>
      <ErrorBox error={error} />
      <div class="logs" ref={box} data-testid="logs" tabIndex={0} aria-label="Log lines">
        {shown.length === 0 && <span class="muted">{previous ? 'No output from an earlier run.' : 'No output yet.'}</span>}
        {shown.map((l, i) => (
          <div key={i} class={l.stream === 'stderr' ? 'stderr' : ''}>
            {mark(l.text)}
          </div>
        ))}
      </div>
    </div>
  );
}

function Terminal({ id }: { id: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting…');
  useEffect(() => {
    let disposed = false;
    let cleanup = () => {};
    import('../terminal').then(({ openTerminal }) => {
      if (disposed || !host.current) return;
      cleanup = openTerminal(host.current, id, session.token(), setStatus);
    });
    return () => {
      disposed = true;
      cleanup();
    };
  }, [id]);
  return (
    <div>
      <p class="muted small" data-testid="terminal-status">
        {status}
      </p>
      <div class="terminal" ref={host} data-testid="terminal" />
    </div>
  );
}

function probeText(p: any): string {
  const how = p.http ? `HTTP GET ${p.http.path ?? '/'} on port ${p.http.port}` : p.tcp ? `TCP connect to port ${p.tcp.port}` : p.exec ? `exec ${(p.exec.command ?? p.exec).join?.(' ') ?? ''}` : 'custom';
  const every = p.period ? ` every ${p.period}` : '';
  const timeout = p.timeout ? `, timeout ${p.timeout}` : '';
  const fails = p.failureThreshold ? `, ${p.failureThreshold} failures to fail` : '';
  return `${how}${every}${timeout}${fails}`;
}

function Probes({ spec }: { spec: any }) {
  const probes = spec?.probes ?? {};
  const names = Object.keys(probes);
  if (names.length === 0) return <p class="muted">No probes.</p>;
  return (
    <dl class="facts">
      {names.map((n) => (
        <>
          <dt key={n}>{n}</dt>
          <dd title={JSON.stringify(probes[n])}>{probeText(probes[n])}</dd>
        </>
      ))}
    </dl>
  );
}

function InstancePage({ params }: PageProps) {
  const { ns, app, id } = params;
  const [tab, setTab] = useState<'logs' | 'terminal'>('logs');
  const inst = useLive(
    async () => {
      const r = await get<{ instances: InstanceRow[] }>(`/v1/instances?${new URLSearchParams({ namespace: ns, app, q: id })}`);
      return r.instances.find((i) => i.id === id) ?? null;
    },
    [ns, app, id],
    (c) => c.topic === 'apps' && c.namespace === ns && c.name === app,
    500,
  );
  const appView = useLive(() => get<AppView>(path`/v1/apps/${ns}/${app}`), [ns, app], null);
  const terminalOk = useAllowed({ method: 'GET', path: path`/v1/containers/${id}/terminal`, namespace: ns });
  const i = inst.data;
  const svcSpec = i && appView.data?.spec?.services?.[i.service];
  return (
    <>
      <header class="page-head">
        <h1>
          {id} {i && <Badge state={i.state} />}
        </h1>
        <Link to={`/apps/${ns}/${app}`}>{`${ns}/${app}`}</Link>
      </header>
      <ErrorBox error={inst.error} />
      {inst.loading && !inst.data && <Loading />}
      {inst.data === null && !inst.loading && <p class="error">No instance {id} in {ns}/{app} (it may have been replaced).</p>}
      {i && (
        <div class="grid">
          <Section title="Instance">
            <dl class="facts">
              <dt>Service</dt>
              <dd>{i.service}</dd>
              <dt>Node</dt>
              <dd>{i.node}</dd>
              <dt>Address</dt>
              <dd>{i.ip ?? '—'}</dd>
              <dt>Ready since</dt>
              <dd>
                <Ago ms={i.readySinceMs} />
              </dd>
              <dt>Restarts</dt>
              <dd data-testid="restarts">{i.restarts ?? 0}</dd>
              <dt>Version</dt>
              <dd>
                <code>{i.deploy_hash}</code>
              </dd>
              {i.message && (
                <>
                  <dt>Last message</dt>
                  <dd>{i.message}</dd>
                </>
              )}
            </dl>
          </Section>
          <Section title="Probes">
            <Probes spec={svcSpec} />
          </Section>
        </div>
      )}
      <section class="card" aria-label="Logs and terminal">
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={tab === 'logs'} class={tab === 'logs' ? 'tab active' : 'tab'} onClick={() => setTab('logs')}>
            Logs
          </button>
          {terminalOk && (
            <button type="button" role="tab" aria-selected={tab === 'terminal'} class={tab === 'terminal' ? 'tab active' : 'tab'} onClick={() => setTab('terminal')}>
              Terminal
            </button>
          )}
        </div>
        {tab === 'logs' ? <Logs id={id} /> : <Terminal id={id} />}
      </section>
    </>
  );
}

definePage({
  path: '/instances/:ns/:app/:id',
  title: (p) => p.id,
  requires: { method: 'GET', path: '/v1/instances' },
  render: (p) => <InstancePage {...p} />,
});
