// Sign-in: paste a token once (kept in this tab's sessionStorage), or arrive through the
// one-time link `berth ui` opens (/ui/login#code=...), which is exchanged for a session token.
import { useEffect, useState } from 'preact/hooks';
import { clearAccess } from '../access';
import { ApiError, get, post } from '../api';
import { navigate } from '../router';
import { session, signedOutReason, who, type WhoAmI } from '../session';
import { useSignal } from '../signal';

export function Login() {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const reason = useSignal(signedOutReason);

  const signIn = async (t: string) => {
    setBusy(true);
    setError('');
    session.set(t);
    clearAccess();
    try {
      const me = await get<WhoAmI>('/v1/auth/whoami');
      signedOutReason.set('');
      who.set(me);
      if (location.pathname.endsWith('/login')) navigate('/', true);
    } catch (e) {
      session.clear();
      setError(e instanceof ApiError && e.status === 401 ? `The server refused this token: ${e.message}` : (e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    const m = /code=([0-9a-f]{64})/.exec(location.hash);
    if (!m) return;
    history.replaceState(null, '', location.pathname); // the code is single-use: drop it from the URL
    setBusy(true);
    post<{ token: string }>('/v1/auth/login', { code: m[1] })
      .then((r) => signIn(r.token))
      .catch((e) => {
        setBusy(false);
        setError(`This sign-in link did not work: ${(e as Error).message}`);
      });
  }, []);

  return (
    <main class="login">
      <form
        class="card login-card"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) void signIn(token.trim());
        }}
      >
        <h1>Berth</h1>
        <p class="muted">Sign in with an API token. It stays in this browser tab only.</p>
        {reason && <p class="error" role="alert">Signed out: {reason}</p>}
        <label class="field">
          <span>API token</span>
          <input
            type="password"
            name="token"
            autoComplete="off"
            placeholder="berth_…"
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="btn btn-primary" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="muted small">
          The admin token of <code>berthd dev</code> is in its data directory (<code>admin.token</code>); <code>berth ui</code> opens this
          console signed in.
        </p>
      </form>
    </main>
  );
}
