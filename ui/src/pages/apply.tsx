// Apply a spec (YAML or JSON, or a Compose file): a dry run first shows what would change
// (POST /v1/apps?dry_run=1), then Apply stores it. Opened from an app, the editor starts
// with that app's stored spec.
import { useEffect, useState } from 'preact/hooks';
import { useAllowed } from '../access';
import { api, get, path } from '../api';
import { Diff, type DiffLine } from '../components/diff';
import { toast } from '../components/toast';
import { ErrorBox } from '../components/ui';
import { definePage, type PageProps } from '../page';
import { navigate } from '../router';

interface ApplyResult {
  namespace: string;
  name: string;
  action: string;
  dry_run: boolean;
  diff: DiffLine[];
  rolling: string[];
}

const EXAMPLE = `namespace: default
name: hello
services:
  web:
    image: hello:v1
    replicas: 2
    ports: [{name: http, containerPort: 8080}]
`;

function ApplyPage({ query }: PageProps) {
  const ns = query.get('ns');
  const app = query.get('app');
  const [text, setText] = useState(ns && app ? '' : EXAMPLE);
  const [result, setResult] = useState<ApplyResult | null>(null);
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const ok = useAllowed({ method: 'POST', path: '/v1/apps' });

  useEffect(() => {
    if (!ns || !app) return;
    get<{ spec: unknown }>(path`/v1/apps/${ns}/${app}`)
      .then((a) => setText(JSON.stringify(a.spec, null, 2)))
      .catch((e) => setError(e));
  }, [ns, app]);

  const send = async (dry: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await api<ApplyResult>('POST', `/v1/apps${dry ? '?dry_run=1' : ''}`, text, 'application/yaml');
      setResult(r);
      if (!dry) {
        toast(`${r.namespace}/${r.name} ${r.action}`);
        navigate(`/apps/${r.namespace}/${r.name}`);
      }
    } catch (e) {
      setResult(null);
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h1>Apply a spec</h1>
      <p class="muted">An app spec in YAML or JSON (src/orchestrator/README.md). Dry run first: it shows what would change and stores nothing.</p>
      <label class="field">
        <span>Spec</span>
        <textarea
          class="editor"
          spellcheck={false}
          rows={20}
          value={text}
          onInput={(e) => {
            setText((e.target as HTMLTextAreaElement).value);
            setResult(null);
          }}
        />
      </label>
      {ok === false && <p class="muted">This token may not apply specs (operator or admin may).</p>}
      <div class="row">
        {ok && (
          <button class="btn" type="button" disabled={busy} onClick={() => send(true)}>
            Dry run
          </button>
        )}
        {ok && (
          <button class="btn btn-primary" type="button" disabled={busy || !result?.dry_run} onClick={() => send(false)} title={result?.dry_run ? '' : 'Run a dry run first'}>
            Apply
          </button>
        )}
      </div>
      <ErrorBox error={error} />
      {result?.dry_run && (
        <section class="card" aria-label="Dry run">
          <h2>
            Dry run: {result.namespace}/{result.name} would be {result.action}
          </h2>
          {result.rolling.length > 0 && <p>New versions would roll out for: {result.rolling.join(', ')}.</p>}
          <Diff lines={result.diff} empty="Nothing would change." />
        </section>
      )}
    </>
  );
}

definePage({
  path: '/apply',
  title: 'Apply a spec',
  requires: { method: 'GET', path: '/v1/apps' },
  render: (p) => <ApplyPage {...p} />,
});
