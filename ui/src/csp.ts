// The page's Content-Security-Policy allows <style> elements only with the nonce berthd put
// in <meta name="csp-nonce"> for this response (no 'unsafe-inline'). Libraries that create
// style elements (the terminal) cannot be told the nonce, so every <style> made through
// document.createElement gets it at creation, before it is inserted.
export function stampStyleNonces(): void {
  const meta = document.querySelector('meta[name="csp-nonce"]');
  const nonce = meta?.getAttribute('content') ?? '';
  if (!nonce || nonce.startsWith('__')) return;
  const create = document.createElement.bind(document) as (tag: string, options?: ElementCreationOptions) => HTMLElement;
  document.createElement = ((tag: string, options?: ElementCreationOptions) => {
    const el = create(tag, options);
    if (tag.toLowerCase() === 'style') el.setAttribute('nonce', nonce);
    return el;
  }) as typeof document.createElement;
}
