// Spec differences as the API reports them ({path, before, after}), or computed here between
// two JSON values (for history entries).
export interface DiffLine {
  path: string;
  before: unknown;
  after: unknown;
}

function flatten(v: unknown, prefix: string, out: Map<string, unknown>): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v as Record<string, unknown>);
    if (keys.length === 0) out.set(prefix, {});
    for (const k of keys) flatten((v as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, out);
    return;
  }
  out.set(prefix, v);
}

export function diffJson(before: unknown, after: unknown): DiffLine[] {
  const a = new Map<string, unknown>();
  const b = new Map<string, unknown>();
  flatten(before, '', a);
  flatten(after, '', b);
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  return paths
    .filter((p) => JSON.stringify(a.get(p)) !== JSON.stringify(b.get(p)))
    .map((p) => ({ path: p, before: a.get(p), after: b.get(p) }));
}

const show = (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));

export function Diff({ lines, empty }: { lines: DiffLine[]; empty?: string }) {
  if (lines.length === 0) return <p class="muted">{empty ?? 'No differences.'}</p>;
  return (
    <table class="table diff" data-testid="diff">
      <caption class="sr-only">Differences</caption>
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {lines.map((l) => (
          <tr key={l.path}>
            <td>
              <code>{l.path || '(whole)'}</code>
            </td>
            <td class="del">
              <code>{show(l.before)}</code>
            </td>
            <td class="ins">
              <code>{show(l.after)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
