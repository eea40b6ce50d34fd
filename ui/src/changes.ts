// The console's one live connection: GET /v1/changes, which names every app, node, gateway
// route and registry service as it changes. Pages subscribe (live.ts) and read again what
// they show. Reconnects with backoff, resuming from the last revision seen; when that was
// compacted (410), every subscriber reads again and the feed restarts from now.
import { ApiError, streamLines } from './api';
import { signal } from './signal';

export interface Change {
  topic: 'apps' | 'nodes' | 'gateway' | 'registry' | 'resync';
  namespace?: string;
  name: string;
  type: 'changed' | 'deleted';
  revision: number;
}

type Listener = (c: Change) => void;
const listeners = new Set<Listener>();
export const feedState = signal<'connecting' | 'live' | 'retrying'>('connecting');

let controller: AbortController | null = null;
let nextRevision = 0;

export function subscribe(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(c: Change): void {
  for (const fn of [...listeners]) fn(c);
}

async function run(signal: AbortSignal): Promise<void> {
  let delay = 500;
  while (!signal.aborted) {
    const from = nextRevision > 0 ? `&revision=${nextRevision}` : '';
    try {
      feedState.set('connecting');
      await streamLines(
        `/v1/changes?topics=apps,nodes,gateway,registry${from}`,
        (line) => {
          feedState.set('live');
          delay = 500;
          if (line.error) throw new ApiError(line.error.code === 'compacted' ? 410 : 503, line.error.code, line.error.message);
          if (typeof line.revision === 'number' && line.revision + 1 > nextRevision) nextRevision = line.revision + 1;
          if (line.type === 'progress') return;
          emit(line as Change);
        },
        signal,
      );
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && e.status === 401) return;
      if (e instanceof ApiError && e.status === 410) {
        nextRevision = 0;
        emit({ topic: 'resync', name: '', type: 'changed', revision: 0 });
      }
    }
    if (signal.aborted) return;
    feedState.set('retrying');
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

export function startFeed(): void {
  stopFeed();
  controller = new AbortController();
  nextRevision = 0;
  void run(controller.signal);
}

export function stopFeed(): void {
  controller?.abort();
  controller = null;
}
