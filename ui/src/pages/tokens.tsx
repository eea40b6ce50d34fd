// API tokens (admin): list, create (the secret is shown once), revoke.
import { useState } from 'preact/hooks';
import { get, path, post } from '../api';
import { toast } from '../components/toast';
import { Action, Ago, Dialog, ErrorBox, Loading, Section, Table } from '../components/ui';
import { useLive } from '../live';
import { definePage } from '../page';

interface TokenRow {
  id: string;
  name: string;
  role: string;
  node: string;
  created_ms: number;
  created_by: string;
}

function TokensPage() {
  const list = useLive(() => get<{ tokens: TokenRow[] }>('/v1/tokens'), [], null);
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [secret, setSecret] = useState<string | null>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await post<{ token: string }>('/v1/tokens', { name, role });
      setSecret(r.token);
      setName('');
      list.reload();
    } catch (err) {
      toast(`Create token: ${(err as Error).message}`, 'error');
    }
  };
  return (
    <>
      <h1>API tokens</h1>
      <Section title="New token">
        <form class="row" onSubmit={create}>
          <label class="field inline">
            <span>Name</span>
            <input required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </label>
          <label class="field inline">
            <span>Role</span>
            <select value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
              <option value="viewer">viewer</option>
              <option value="operator">operator</option>
              <option value="admin">admin</option>
            </select>
          </label>
          <button class="btn btn-primary" type="submit">
            Create
          </button>
        </form>
      </Section>
      <Dialog open={secret !== null} title="Token created" onClose={() => setSecret(null)}>
        <p>Copy it now: it is shown only once.</p>
        <p>
          <code data-testid="new-token">{secret}</code>
        </p>
        <button class="btn" type="button" onClick={() => setSecret(null)}>
          Done
        </button>
      </Dialog>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? (
        <Loading />
      ) : (
        <Table
          caption="Tokens"
          rows={list.data?.tokens ?? []}
          rowKey={(t) => t.id}
          columns={[
            { label: 'Name', cell: (t) => t.name },
            { label: 'Role', cell: (t) => t.role },
            { label: 'Node', cell: (t) => t.node },
            { label: 'Created', cell: (t) => <Ago ms={t.created_ms} /> },
            { label: 'By', cell: (t) => t.created_by },
            { label: 'Id', cell: (t) => <code>{t.id}</code> },
            {
              label: '',
              cell: (t) => <Action label="Revoke" danger class="btn-small" method="DELETE" path={path`/v1/tokens/${t.id}`} confirm={`Revoke ${t.name}? Whoever uses it is refused at once.`} onDone={list.reload} done={`${t.name} revoked`} />,
            },
          ]}
        />
      )}
    </>
  );
}

definePage({
  path: '/tokens',
  title: 'API tokens',
  nav: { label: 'Tokens', order: 90 },
  requires: { method: 'GET', path: '/v1/tokens' },
  render: () => <TokensPage />,
});
