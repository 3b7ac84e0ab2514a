import { href, html, type Html } from './html.js';
import type { View } from './page.js';

export interface NavEntry {
  label: string;
  path: string;
}

/** The frame of every page: navigation, who is logged in, the content. */
export function layout(o: { title: string; nav: NavEntry[]; view: View; body: Html; scripts?: string[] }): Html {
  const login = o.view.user
    ? html`<form method="post" action="/logout" class="inline">
        <input type="hidden" name="csrf" value="${o.view.csrf ?? ''}" />
        <span class="who">${o.view.user}</span> <button type="submit">log out</button>
      </form>`
    : html`<a href="${href('/login', { next: o.view.url })}">log in</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>${o.title} · ksci</title>
<link rel="stylesheet" href="/assets/style.css" />
${(o.scripts ?? []).length ? html`<link rel="stylesheet" href="/assets/uplot/uPlot.min.css" />` : ''}
</head>
<body>
<header>
  <a class="brand" href="/">ksci</a>
  <nav>${o.nav.map((n) => html`<a href="${n.path}">${n.label}</a>`)}</nav>
  <div class="login">${login}</div>
</header>
<main>
${o.body}
</main>
${(o.scripts ?? []).map((s) => html`<script src="${s}"></script>`)}
</body>
</html>`;
}

/** A verdict or status as a coloured word. */
export function badge(status: string | null): Html {
  const s = status ?? 'none';
  return html`<span class="badge ${`b-${s.replace(/[^a-z-]/g, '')}`}">${s}</span>`;
}

export function when(iso: string | null): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')}</time>`;
}

/** A duration in the unit a person reads: 45 s, 12 min, 3.5 h. */
export function duration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms < 90_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 90 * 60_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 48 * 3600_000) return `${(ms / 3600_000).toFixed(1)} h`;
  return `${(ms / 86400_000).toFixed(1)} d`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/** Previous / next links of a paginated list. */
export function pager(o: { url: string; page: number; hasNext: boolean }): Html {
  const at = (page: number) => {
    const u = new URL(o.url, 'http://x');
    u.searchParams.set('page', String(page));
    return `${u.pathname}${u.search}`;
  };
  return html`<p class="pager">
    ${o.page > 1 ? html`<a rel="prev" href="${at(o.page - 1)}">← newer</a>` : ''}
    <span>page ${o.page}</span>
    ${o.hasNext ? html`<a rel="next" href="${at(o.page + 1)}">older →</a>` : ''}
  </p>`;
}

/** A form that posts an admin action; shown only to someone logged in. */
export function actionForm(view: View, action: string, label: string, fields: Html = html``): Html {
  if (!view.user) return html``;
  return html`<form method="post" action="${action}" class="inline action">
    <input type="hidden" name="csrf" value="${view.csrf ?? ''}" />${fields}
    <button type="submit">${label}</button>
  </form>`;
}
