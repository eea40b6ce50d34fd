// The console's small shared pieces: status badges, tables, links, empty and error states,
// relative times, progress bars and the guarded action button.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useAllowed } from '../access';
import { api, ApiError } from '../api';
import { BASE, navigate } from '../router';
import { toast } from './toast';

const stateClass: Record<string, string> = {
  ready: 'ok',
  passing: 'ok',
  running: 'ok',
  complete: 'ok',
  healthy: 'ok',
  promoted: 'ok',
  pending: 'warn',
  starting: 'warn',
  progressing: 'warn',
  paused: 'warn',
  warning: 'warn',
  cordoned: 'warn',
  draining: 'warn',
  restarting: 'warn',
  degraded: 'bad',
  canary: 'warn',
  failed: 'bad',
  critical: 'bad',
  down: 'bad',
  exited: 'bad',
  stopped: 'muted',
  stopping: 'muted',
  aborted: 'muted',
};

export function Badge({ state, label }: { state: string; label?: string }) {
  return <span class={`badge badge-${stateClass[state] ?? 'muted'}`}>{label ?? state}</span>;
}

export function Link({ to, children, class: cls }: { to: string; children: ComponentChildren; class?: string }) {
  return (
    <a
      href={BASE + to}
      class={cls}
      onClick={(e: MouseEvent) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

export interface Column<T> {
  label: string;
  cell: (row: T) => ComponentChildren;
  class?: string;
}

export function Table<T>({
  rows,
  columns,
  rowKey,
  empty,
  caption,
}: {
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string;
  empty?: ComponentChildren;
  caption?: string;
}) {
  if (rows.length === 0) return <p class="empty">{empty ?? 'Nothing here yet.'}</p>;
  return (
    <table class="table">
      {caption && <caption class="sr-only">{caption}</caption>}
      <thead>
        <tr>
          {columns.map((c) => (
            <th scope="col" class={c.class}>
              {c.label || <span class="sr-only">Actions</span>}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={rowKey(r)}>
            {columns.map((c) => (
              <td class={c.class}>{c.cell(r)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ErrorBox({ error }: { error: ApiError | Error | undefined }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      {error.message}
    </div>
  );
}

export function Loading() {
  return <p class="muted">Loading…</p>;
}

export function Ago({ ms }: { ms: number | undefined }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => tick((x) => x + 1), 10_000);
    return () => clearInterval(t);
  }, []);
  if (!ms) return <span class="muted">—</span>;
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  const text = s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : s < 86400 ? `${Math.floor(s / 3600)}h ago` : `${Math.floor(s / 86400)}d ago`;
  return <time dateTime={new Date(ms).toISOString()} title={new Date(ms).toLocaleString()}>{text}</time>;
}

// A bar of segments (old, new ready, new starting...), each a share of `total`.
export function Bar({ segments, total, label }: { segments: { value: number; class: string; label: string }[]; total: number; label: string }) {
  const sum = Math.max(total, segments.reduce((a, s) => a + s.value, 0), 1);
  return (
    <div class="bar" role="img" aria-label={label}>
      {segments
        .filter((s) => s.value > 0)
        .map((s) => (
          <div class={`bar-seg ${s.class}`} style={{ width: `${(100 * s.value) / sum}%` }} title={`${s.label}: ${s.value}`} />
        ))}
    </div>
  );
}

export function bytes(n: number | undefined): string {
  if (n === undefined || n === null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function Dialog({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class="dialog" aria-label={title} onClose={onClose}>
      <h2>{title}</h2>
      {open && children}
    </dialog>
  );
}

export interface ActionProps {
  label: string;
  method: string;
  path: string;
  body?: unknown | (() => unknown);
  confirm?: string; // asks first, with this text
  danger?: boolean;
  done?: string | ((result: any) => string); // message after success
  onDone?: (result: any) => void;
  class?: string;
  disabled?: boolean;
}

// A button that makes one API request. It is not rendered at all unless the server says the
// caller may make that request (POST /v1/auth/access), so a viewer sees no mutating button.
export function Action(props: ActionProps) {
  const ok = useAllowed({ method: props.method, path: props.path });
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  if (!ok) return null;
  const run = async () => {
    setAsking(false);
    setBusy(true);
    try {
      const body = typeof props.body === 'function' ? (props.body as () => unknown)() : props.body;
      const result = await api(props.method, props.path, body === undefined && props.method !== 'GET' && props.method !== 'DELETE' ? {} : body);
      const msg = typeof props.done === 'function' ? props.done(result) : props.done ?? `${props.label}: done`;
      toast(msg);
      props.onDone?.(result);
    } catch (e) {
      toast(`${props.label}: ${(e as Error).message}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        class={`btn ${props.danger ? 'btn-danger' : ''} ${props.class ?? ''}`}
        disabled={busy || props.disabled}
        data-action={props.label}
        onClick={() => (props.confirm ? setAsking(true) : run())}
      >
        {busy ? `${props.label}…` : props.label}
      </button>
      {props.confirm && (
        <Dialog open={asking} title={props.label} onClose={() => setAsking(false)}>
          <p>{props.confirm}</p>
          <div class="row">
            <button type="button" class={`btn ${props.danger ? 'btn-danger' : 'btn-primary'}`} onClick={run}>
              {props.label}
            </button>
            <button type="button" class="btn" onClick={() => setAsking(false)}>
              Cancel
            </button>
          </div>
        </Dialog>
      )}
    </>
  );
}

export function Section({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="card" aria-label={title}>
      <header class="card-head">
        <h2>{title}</h2>
        {actions && <div class="row">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

export function Field({ label, children }: { label: string; children: JSX.Element }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
    </label>
  );
}
