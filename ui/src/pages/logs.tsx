// Logs: the log center through Loki's HTTP API (docs/api.md, "Log center"). A LogQL box with
// stream pickers (label values), the volume of matching lines over the range drawn as a
// histogram (sum(count_over_time(...)) by step), then tabs: the lines newest first with their
// labels, the patterns of the selected lines and their stack traces grouped by fingerprint
// (GET /v1/logs/patterns, /v1/logs/exceptions); and live tail (GET /loki/api/v1/tail, JSON
// lines). The query, range and tab live in the URL.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, streamLines } from '../api';
import { Ago, Badge, ErrorBox, Loading, Section, Table } from '../components/ui';
import { definePage, type PageProps } from '../page';
import { setQuery } from '../router';

type Labels = Record<string, string>;
interface Stream {
  stream: Labels;
  values: [string, string][];
}
interface QueryResult {
  data: { resultType: 'streams' | 'matrix' | 'vector' | 'scalar'; result: any[] };
}
export interface LogLine {
  ns: string; // nanoseconds since the epoch, as Loki writes them
  labels: Labels;
  line: string;
}

const RANGES: [string, number][] = [
  ['5m', 300],
  ['15m', 900],
  ['1h', 3600],
  ['6h', 21600],
  ['24h', 86400],
];
const LIMIT = 200;
const TAIL_KEEP = 500;
const BUCKETS = 60;

// Whether `q` is a log query (a selector and a pipeline) rather than a metric one.
export function isLogQuery(q: string): boolean {
  return q.trim().startsWith('{');
}

// Every line of a streams result, newest first.
export function flatten(streams: Stream[]): LogLine[] {
  const out: LogLine[] = [];
  for (const s of streams) for (const [ns, line] of s.values) out.push({ ns, labels: s.stream, line });
  return out.sort((a, b) => (a.ns.length !== b.ns.length ? b.ns.length - a.ns.length : b.ns < a.ns ? -1 : b.ns > a.ns ? 1 : 0));
}

function nsTime(ns: string): string {
  const ms = Number(ns.slice(0, -6) || '0');
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 23);
}

function qs(params: Record<string, string | number>): string {
  return new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();
}

// The histogram: one bar per step, its height the share of the fullest step.
function Volume({ points, step, total }: { points: [number, number][]; step: number; total: number }) {
  const max = Math.max(1, ...points.map((p) => p[1]));
  return (
    <figure class="volume">
      <svg viewBox={`0 0 ${points.length} 40`} preserveAspectRatio="none" role="img" aria-label={`Log volume: ${total} lines, in steps of ${step} s`} data-testid="log-volume">
        {points.map(([, v], i) => (
          <rect x={i + 0.1} width={0.8} y={40 - (40 * v) / max} height={(40 * v) / max} class="volume-bar">
            <title>{v} lines</title>
          </rect>
        ))}
      </svg>
      <figcaption class="muted small">
        {total} lines matched, {step} s a bar
      </figcaption>
    </figure>
  );
}

// A matrix answer laid on the range's steps, start to end inclusive (missing steps count
// zero): the point at t counts the lines of (t - step, t].
export function buckets(result: any[], start: number, end: number, step: number): [number, number][] {
  const n = Math.floor((end - start) / step) + 1;
  const out: [number, number][] = Array.from({ length: n }, (_, i) => [start + i * step, 0]);
  for (const series of result) {
    for (const [t, v] of series.values as [number | string, string][]) {
      const i = Math.round((Number(t) - start) / step);
      if (i >= 0 && i < n) out[i][1] += Number(v);
    }
  }
  return out;
}

function StreamPicker({ onPick }: { onPick: (selector: string) => void }) {
  const [namespaces, setNamespaces] = useState<string[]>([]);
  const [apps, setApps] = useState<string[]>([]);
  const [ns, setNs] = useState('');
  useEffect(() => {
    get<{ data?: string[] }>('/loki/api/v1/label/namespace/values').then((r) => setNamespaces(r.data ?? []), () => setNamespaces([]));
  }, []);
  useEffect(() => {
    if (!ns) return setApps([]);
    const sel = `{namespace="${ns}"}`;
    get<{ data?: Labels[] }>(`/loki/api/v1/series?${qs({ 'match[]': sel })}`).then(
      (r) => setApps([...new Set((r.data ?? []).map((l) => l.app).filter((a): a is string => !!a))].sort()),
      () => setApps([]),
    );
  }, [ns]);
  return (
    <>
      <label class="field inline">
        <span>Namespace</span>
        <select
          name="pick-namespace"
          value={ns}
          onChange={(e) => {
            const v = (e.target as HTMLSelectElement).value;
            setNs(v);
            if (v) onPick(`{namespace="${v}"}`);
          }}
        >
          <option value="">pick…</option>
          {namespaces.map((n) => (
            <option value={n}>{n}</option>
          ))}
        </select>
      </label>
      <label class="field inline">
        <span>App</span>
        <select name="pick-app" disabled={!ns} onChange={(e) => onPick(`{namespace="${ns}", app="${(e.target as HTMLSelectElement).value}"}`)}>
          <option value="">pick…</option>
          {apps.map((a) => (
            <option value={a}>{a}</option>
          ))}
        </select>
      </label>
    </>
  );
}

function LabelChips({ labels }: { labels: Labels }) {
  const shown = ['app', 'service', 'instance', 'stream'].filter((k) => labels[k]);
  return (
    <span class="small">
      {shown.map((k) => (
        <span class="label-chip" title={k}>
          {k}={labels[k]}
        </span>
      ))}
    </span>
  );
}

// Live tail of `query`: new lines as the log center stores them, newest first.
function useTail(query: string, on: boolean): { lines: LogLine[]; error?: ApiError } {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  useEffect(() => {
    setLines([]);
    setError(undefined);
    if (!on || !query) return;
    const abort = new AbortController();
    const start = `${Date.now()}000000`;
    streamLines(
      `/loki/api/v1/tail?${qs({ query, start, limit: 100 })}`,
      (msg) => {
        const fresh = flatten(msg.streams ?? []);
        if (fresh.length) setLines((old) => [...fresh, ...old].slice(0, TAIL_KEEP));
      },
      abort.signal,
    ).catch((e) => {
      if (!abort.signal.aborted) setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));
    });
    return () => abort.abort();
  }, [query, on]);
  return { lines, error };
}

function LinesTable({ lines, caption }: { lines: LogLine[]; caption: string }) {
  return (
    <Table
      caption={caption}
      rows={lines}
      rowKey={(l) => `${l.ns}/${l.labels.instance ?? ''}/${l.labels.stream ?? ''}/${l.line.slice(0, 40)}`}
      empty="No line matches."
      columns={[
        { label: 'Time (UTC)', cell: (l) => <time class="small nowrap">{nsTime(l.ns)}</time> },
        { label: 'Labels', cell: (l) => <LabelChips labels={l.labels} /> },
        { label: 'Line', cell: (l) => <code class="log-line">{l.line}</code> },
      ]}
    />
  );
}

interface Answer {
  lines?: LogLine[];
  series?: { labels: Labels; value: string }[];
  volume?: { points: [number, number][]; step: number; total: number };
}

async function runQuery(query: string, seconds: number): Promise<Answer> {
  const end = Math.floor(Date.now() / 1000);
  const start = end - seconds;
  const step = Math.max(1, Math.ceil(seconds / BUCKETS));
  const main = get<QueryResult>(`/loki/api/v1/query_range?${qs({ query, start, end, limit: LIMIT, direction: 'backward', step })}`);
  const volume = isLogQuery(query)
    ? get<QueryResult>(`/loki/api/v1/query_range?${qs({ query: `sum(count_over_time(${query} [${step}s]))`, start, end, step })}`)
    : Promise.resolve(null);
  const [r, v] = await Promise.all([main, volume]);
  const answer: Answer = {};
  if (r.data.resultType === 'streams') {
    answer.lines = flatten(r.data.result);
  } else {
    answer.series = r.data.result.map((s: any) => ({ labels: s.metric ?? {}, value: s.values ? s.values[s.values.length - 1]?.[1] : s.value?.[1] }));
  }
  if (v) {
    const points = buckets(v.data.result, start, end, step);
    answer.volume = { points, step, total: points.reduce((a, p) => a + p[1], 0) };
  }
  return answer;
}

interface Pattern {
  id: string;
  template: string;
  count: number;
  last_seen_ms: number;
  trend: number[];
  new?: boolean;
}
interface ExceptionGroup {
  fingerprint: string;
  language: string;
  type: string;
  message: string;
  count: number;
  last_seen_ms: number;
  instances: string[];
  example: string;
}
interface Analysis {
  lines_scanned: number;
  truncated: boolean;
  patterns?: Pattern[];
  exceptions?: ExceptionGroup[];
}

// One of the log center's analyses of the query's lines over the range.
function useAnalysis(kind: 'patterns' | 'exceptions', q: string, range: string, runs: number) {
  const [data, setData] = useState<Analysis | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  useEffect(() => {
    setData(undefined);
    setError(undefined);
    if (!q) return;
    let live = true;
    get<Analysis>(`/v1/logs/${kind}?${qs({ query: q, since: range, limit: 50 })}`).then(
      (a) => live && setData(a),
      (e) => live && setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e))),
    );
    return () => {
      live = false;
    };
  }, [kind, q, range, runs]);
  return { data, error };
}

function Scanned({ a }: { a: Analysis }) {
  return (
    <p class="muted small">
      {a.lines_scanned} lines read{a.truncated ? ' (stopped at the limit: narrow the query or the range)' : ''}
    </p>
  );
}

function Patterns({ q, range, runs }: { q: string; range: string; runs: number }) {
  const { data, error } = useAnalysis('patterns', q, range, runs);
  return (
    <>
      <ErrorBox error={error} />
      {!data && !error && <Loading />}
      {data && <Scanned a={data} />}
      {data && (
        <div data-testid="log-patterns">
          <Table
            caption="Patterns of the matching lines, most frequent first"
            rows={data.patterns ?? []}
            rowKey={(p) => p.id}
            empty="No pattern: no line matches."
            columns={[
              { label: 'Count', cell: (p) => p.count },
              { label: 'Pattern', cell: (p) => <code class="log-line">{p.template}</code> },
              { label: 'Trend', cell: (p) => <span class="mono small" aria-label={`counts over the range: ${p.trend.join(', ')}`}>{spark(p.trend)}</span> },
              { label: 'Last seen', cell: (p) => <Ago ms={p.last_seen_ms} /> },
              { label: 'New', cell: (p) => (p.new ? <Badge state="warning" label="new" /> : null) },
            ]}
          />
        </div>
      )}
    </>
  );
}

function Exceptions({ q, range, runs }: { q: string; range: string; runs: number }) {
  const { data, error } = useAnalysis('exceptions', q, range, runs);
  return (
    <>
      <ErrorBox error={error} />
      {!data && !error && <Loading />}
      {data && <Scanned a={data} />}
      {data && (data.exceptions ?? []).length === 0 && <p class="empty">No stack trace in these lines.</p>}
      {(data?.exceptions ?? []).map((x) => (
        <details class="card finding-image" key={x.fingerprint}>
          <summary>
            <strong>{x.type}</strong> <Badge state="failed" label={`${x.count}×`} /> <span class="small">{x.message}</span>
            <span class="muted small">
              {x.language}, last <Ago ms={x.last_seen_ms} />, on {x.instances.join(', ')}
            </span>
          </summary>
          <pre class="log-line small">{x.example}</pre>
        </details>
      ))}
    </>
  );
}

// A trend as a line of block characters (▁ to █), one per slice of the range.
export function spark(counts: number[]): string {
  const bars = '▁▂▃▄▅▆▇█';
  const max = Math.max(1, ...counts);
  return counts.map((c) => (c === 0 ? ' ' : bars[Math.min(7, Math.floor((7 * c) / max))])).join('');
}

const TABS: [string, string][] = [
  ['lines', 'Lines'],
  ['patterns', 'Patterns'],
  ['exceptions', 'Exceptions'],
];

function LogsPage({ query }: PageProps) {
  const tab = query.get('tab') ?? 'lines';
  const q = query.get('q') ?? '';
  const range = query.get('range') ?? '1h';
  const seconds = RANGES.find(([r]) => r === range)?.[1] ?? 3600;
  const [text, setText] = useState(q);
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [tailing, setTailing] = useState(false);
  const [runs, setRuns] = useState(0);
  useEffect(() => setText(q), [q]);
  useEffect(() => {
    setAnswer(null);
    setError(undefined);
    if (!q) return;
    let live = true;
    setBusy(true);
    runQuery(q, seconds)
      .then(
        (a) => live && setAnswer(a),
        (e) => live && setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e))),
      )
      .finally(() => live && setBusy(false));
    return () => {
      live = false;
    };
  }, [q, seconds, runs]);
  const tail = useTail(isLogQuery(q) ? q : '', tailing);
  return (
    <>
      <h1>Logs</h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery('q', text.trim());
          setRuns((n) => n + 1);
        }}
      >
        <StreamPicker onPick={(sel) => setText(sel)} />
        <label class="field inline grow">
          <span>LogQL</span>
          <input type="search" name="logql" class="mono" placeholder='{namespace="shop"} |= "error"' value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field inline">
          <span>Range</span>
          <select name="range" value={range} onChange={(e) => setQuery('range', (e.target as HTMLSelectElement).value)}>
            {RANGES.map(([r]) => (
              <option value={r}>last {r}</option>
            ))}
          </select>
        </label>
        <button class="btn btn-primary" type="submit">
          Run
        </button>
      </form>
      <ErrorBox error={error} />
      {!q && <p class="muted">Pick a stream or write a LogQL query, then run it.</p>}
      {busy && !answer && <Loading />}
      {answer?.volume && <Volume {...answer.volume} />}
      {isLogQuery(q) && (
        <Section
          title="Live tail"
          actions={
            <button type="button" class="btn btn-small" aria-pressed={tailing} data-testid="tail-toggle" onClick={() => setTailing((t) => !t)}>
              {tailing ? 'Stop' : 'Start'}
            </button>
          }
        >
          <ErrorBox error={tail.error} />
          {tailing ? <LinesTable lines={tail.lines} caption="Lines as they arrive" /> : <p class="muted small">Off: start it to see new lines as they are stored.</p>}
        </Section>
      )}
      {isLogQuery(q) && (
        <div class="tabs" role="tablist">
          {TABS.map(([id, label]) => (
            <button type="button" role="tab" aria-selected={tab === id} class={tab === id ? 'tab active' : 'tab'} onClick={() => setQuery('tab', id === 'lines' ? null : id)}>
              {label}
            </button>
          ))}
        </div>
      )}
      {tab === 'patterns' && isLogQuery(q) && <Patterns q={q} range={range} runs={runs} />}
      {tab === 'exceptions' && isLogQuery(q) && <Exceptions q={q} range={range} runs={runs} />}
      {tab === 'lines' && answer?.lines && (
        <Section title={`Lines (${answer.lines.length}${answer.lines.length >= LIMIT ? `, the newest ${LIMIT}` : ''})`}>
          <div data-testid="log-results">
            <LinesTable lines={answer.lines} caption="Matching lines, newest first" />
          </div>
        </Section>
      )}
      {answer?.series && (
        <Section title={`Series (${answer.series.length})`}>
          <Table
            caption="Metric series, last value"
            rows={answer.series}
            rowKey={(s) => JSON.stringify(s.labels)}
            empty="No series."
            columns={[
              { label: 'Labels', cell: (s) => <code class="small">{JSON.stringify(s.labels)}</code> },
              { label: 'Last value', cell: (s) => s.value },
            ]}
          />
        </Section>
      )}
    </>
  );
}

definePage({
  path: '/logs',
  title: 'Logs',
  nav: { label: 'Logs', order: 60 },
  requires: { method: 'GET', path: '/loki/api/v1/query_range' },
  render: (props) => <LogsPage {...props} />,
});
