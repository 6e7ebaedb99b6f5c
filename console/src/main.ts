/**
 * The otel-audit operator console: a read-only single-page app under `/ui/` (docs/console.md).
 * Routes: /ui/events, /ui/events/<eventId>, /ui/integrity, /ui/status.
 */
import './styles.css';
import { ApiError, apiJson, clearToken, getToken, type Session, setToken } from './api.ts';
import { h, notice, replace } from './dom.ts';
import { renderEvent } from './pages/event.ts';
import { renderEvents } from './pages/events.ts';
import { renderIntegrity } from './pages/integrity.ts';
import { renderStatus } from './pages/status.ts';

const BASE = '/ui';
const main = document.getElementById('main') as HTMLElement;
const sessionBox = document.getElementById('session') as HTMLElement;

/** What a page gets. */
export interface PageContext {
  session: Session;
  /** Navigate inside the console (pushes history). */
  navigate(path: string, state?: unknown): void;
  /** Replace the current URL without rendering again (filters reflected in the URL). */
  replaceUrl(path: string): void;
  /** Set when the user leaves the page (stop timers, abort streams). */
  signal: AbortSignal;
}

let session: Session | undefined;
let leave: AbortController | undefined;
/** False until the first page rendered. */
let navigated = false;

function navigate(path: string, state?: unknown): void {
  history.pushState(state ?? null, '', path);
  void render();
}

function replaceUrl(path: string): void {
  history.replaceState(history.state, '', path);
}

/** Links inside the console navigate without a reload (modifier clicks keep their browser meaning). */
document.addEventListener('click', (ev) => {
  const a = (ev.target as Element | null)?.closest?.('a');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const href = a.getAttribute('href');
  if (!href?.startsWith(`${BASE}/`) || a.hasAttribute('download') || a.target === '_blank') return;
  ev.preventDefault();
  navigate(href, a.dataset.state ? JSON.parse(a.dataset.state) : undefined);
});
window.addEventListener('popstate', () => void render());

function renderSessionBox(): void {
  if (!session) {
    replace(sessionBox);
    return;
  }
  const who = session.authEnabled ? `Signed in as ${session.principal ?? '?'}` : 'No auth configured (loopback only)';
  const scope = session.boundTenantId ? ` · tenant ${session.boundTenantId}` : '';
  replace(
    sessionBox,
    h('span', {}, who + scope),
    session.authEnabled
      ? h(
          'button',
          {
            type: 'button',
            class: 'link-button',
            onclick: () => {
              clearToken();
              session = undefined;
              void render();
            },
          },
          'Sign out',
        )
      : null,
  );
}

function tokenForm(message?: string): HTMLElement {
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
    'aria-describedby': 'token-help',
  });
  const form = h(
    'form',
    {
      class: 'card token-form',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        setToken(input.value.trim());
        void render();
      },
    },
    h('h1', {}, 'Sign in to the otel-audit console'),
    message ? notice('error', message) : null,
    h('label', { for: 'token' }, 'Bearer token'),
    input,
    h(
      'p',
      { id: 'token-help', class: 'help' },
      'One of the receiver’s auth tokens. It is kept for this browser tab session only and sent as an Authorization header, never in a URL.',
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  queueMicrotask(() => input.focus());
  return form;
}

function markNav(section: string): void {
  for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function render(): Promise<void> {
  leave?.abort();
  leave = new AbortController();
  const signal = leave.signal;
  if (!session) {
    try {
      session = await apiJson<Session>('/v1/audit/console/session');
    } catch (err) {
      renderSessionBox();
      if (err instanceof ApiError && err.status === 401) {
        const had = getToken() !== undefined;
        if (had) clearToken();
        replace(main, tokenForm(had ? `The token was refused: ${err.message}` : undefined));
        return;
      }
      replace(main, notice('error', `Cannot reach the receiver: ${(err as Error).message}`));
      return;
    }
  }
  renderSessionBox();
  const path = location.pathname.replace(/\/+$/, '');
  const rest = path.startsWith(BASE) ? path.slice(BASE.length) : path;
  const ctx: PageContext = { session, navigate, replaceUrl, signal };
  const eventMatch = /^\/events\/([^/]+)$/.exec(rest);
  try {
    if (rest === '' || rest === '/') {
      history.replaceState(null, '', `${BASE}/events`);
      markNav('events');
      await renderEvents(main, ctx);
    } else if (rest === '/events') {
      markNav('events');
      await renderEvents(main, ctx);
    } else if (eventMatch) {
      markNav('events');
      await renderEvent(main, ctx, decodeURIComponent(eventMatch[1]!));
    } else if (rest === '/integrity') {
      markNav('integrity');
      await renderIntegrity(main, ctx);
    } else if (rest === '/status') {
      markNav('status');
      await renderStatus(main, ctx);
    } else {
      markNav('');
      replace(
        main,
        h('h1', {}, 'Not found'),
        h('p', {}, 'No console page at ', h('code', {}, location.pathname), '. ', h('a', { href: `${BASE}/events` }, 'Go to events')),
      );
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      clearToken();
      session = undefined;
      void render();
      return;
    }
    if (signal.aborted) return;
    replace(main, notice('error', (err as Error).message));
  }
  // After an in-app navigation, move focus to the new content for keyboard and screen-reader users
  // (not on the first load: there the first Tab must reach the skip link).
  if (!signal.aborted && navigated && (document.activeElement === document.body || document.activeElement?.closest('nav')))
    main.focus({ preventScroll: true });
  navigated = true;
}

void render();
