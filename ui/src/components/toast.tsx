// Short messages after an action (succeeded, or the server's error), announced to screen
// readers through a live region.
import { signal, useSignal } from '../signal';

interface Toast {
  id: number;
  text: string;
  kind: 'ok' | 'error';
}

const toasts = signal<Toast[]>([]);
let nextId = 1;

export function toast(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const t = { id: nextId++, text, kind };
  toasts.set([...toasts.get(), t].slice(-4));
  setTimeout(() => toasts.set(toasts.get().filter((x) => x.id !== t.id)), kind === 'error' ? 10_000 : 4_000);
}

export function Toasts() {
  const list = useSignal(toasts);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}
