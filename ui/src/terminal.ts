// The browser terminal: xterm.js on a WebSocket to GET /v1/containers/{id}/terminal
// (docs/api.md). Loaded on demand (its own chunk) when a terminal is opened. Binary
// messages are terminal bytes both ways; {"resize":{rows,cols}} follows the window; the
// server's {"exit_code":N} ends it. The token rides in the subprotocol list, as a browser
// cannot set headers on a WebSocket.
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';

export function openTerminal(host: HTMLElement, id: string, token: string, status: (s: string) => void): () => void {
  const term = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false, scrollback: 5000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  fit.fit();
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const q = new URLSearchParams({ cmd: '/bin/sh', rows: String(term.rows), cols: String(term.cols) });
  const ws = new WebSocket(`${scheme}://${location.host}/v1/containers/${encodeURIComponent(id)}/terminal?${q}`, [
    'berth.terminal.v1',
    `bearer.${token}`,
  ]);
  ws.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  ws.onopen = () => {
    status(`connected to ${id} (/bin/sh)`);
    term.focus();
  };
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') {
      const m = JSON.parse(e.data);
      if (m.exit_code !== undefined) status(`exited with code ${m.exit_code}`);
      if (m.error) status(`could not start: ${m.error.message}`);
      return;
    }
    term.write(new Uint8Array(e.data as ArrayBuffer));
  };
  ws.onclose = (e) => {
    if (e.code !== 1000) status(`disconnected (${e.code}${e.reason ? ': ' + e.reason : ''})`);
  };
  const input = term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(encoder.encode(d)));
  const resized = term.onResize(({ rows, cols }) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ resize: { rows, cols } })));
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(host);
  return () => {
    observer.disconnect();
    input.dispose();
    resized.dispose();
    ws.close(1000);
    term.dispose();
  };
}
