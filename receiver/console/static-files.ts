/**
 * Serves the built console (Vite output, `dist/console`) under `/ui/`: files with their content
 * types, the single-page app's `index.html` for deep links (`/ui/events/<id>`), and a 503 page
 * naming the build command when the build output is missing (a checkout run from sources).
 */
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendResponse } from '../http/index.ts';

/** Content types of the files Vite emits (RFC 9239 for JavaScript). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * Response headers of every console page: the Content-Security-Policy keeps every request of the
 * page on this origin (no CDN, no font or image from elsewhere; `connect-src 'self'`), and the page
 * cannot be framed.
 */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** A file Vite writes with `build.manifest: true`; marks a directory as a console build (not the sources). */
const BUILD_MARKER = join('.vite', 'manifest.json');

/**
 * The default build directories, in order: `dist/console` beside the sources (running from a
 * checkout), and `../console` relative to the compiled `dist/receiver/console` (running from `dist`).
 */
export function defaultConsoleDirs(): string[] {
  return [fileURLToPath(new URL('../../dist/console/', import.meta.url)), fileURLToPath(new URL('../../console/', import.meta.url))];
}

/** The first directory that holds a console build, or undefined. */
export async function findConsoleBuild(dirs: ReadonlyArray<string>): Promise<string | undefined> {
  for (const dir of dirs) {
    try {
      if ((await stat(join(dir, BUILD_MARKER))).isFile()) return resolve(dir);
    } catch {
      // Not this one.
    }
  }
  return undefined;
}

function notBuiltPage(dirs: ReadonlyArray<string>): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>otel-audit console not built</title></head>
<body><main><h1>The otel-audit console is not built</h1>
<p>The receiver found no console build in ${dirs.map((d) => `<code>${escapeHtml(d)}</code>`).join(' or ')}.</p>
<p>Build it from the project directory with <code>npm run build</code> (which <code>npm ci</code> runs), then reload this page.</p>
</main></body></html>\n`;
}

/** HTML-escape text for the small server-made pages. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A handler serving `/ui/…` from a console build. */
export function createStaticHandler(options: {
  distDir?: string;
  mountPath: string;
}): (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<void> {
  const dirs = options.distDir !== undefined ? [resolve(options.distDir)] : defaultConsoleDirs();
  let root: string | undefined;
  return async (req, res, pathname) => {
    // Looked up until found: a build made while the receiver runs is picked up without a restart.
    root ??= await findConsoleBuild(dirs);
    if (root === undefined) {
      sendResponse(req, res, 503, 'text/html; charset=utf-8', notBuiltPage(dirs), {
        ...CONSOLE_SECURITY_HEADERS,
        'cache-control': 'no-store',
        'retry-after': '60',
      });
      return;
    }
    let rel: string;
    try {
      rel = decodeURIComponent(pathname.slice(options.mountPath.length));
    } catch {
      sendResponse(req, res, 400, 'text/plain; charset=utf-8', 'bad path encoding\n', CONSOLE_SECURITY_HEADERS);
      return;
    }
    // No traversal, no dot files (the build marker lives in .vite/), no NUL.
    const parts = rel.split('/').filter((p) => p !== '');
    if (rel.includes('\0') || parts.some((p) => p === '..' || p.startsWith('.'))) {
      sendResponse(req, res, 404, 'text/plain; charset=utf-8', 'not found\n', CONSOLE_SECURITY_HEADERS);
      return;
    }
    const file = normalize(join(root, ...parts));
    if (file !== root && !file.startsWith(root + sep)) {
      sendResponse(req, res, 404, 'text/plain; charset=utf-8', 'not found\n', CONSOLE_SECURITY_HEADERS);
      return;
    }
    const ext = extname(file);
    let body: Buffer | undefined;
    if (parts.length > 0 && CONTENT_TYPES[ext] !== undefined) {
      try {
        body = await readFile(file);
      } catch {
        body = undefined;
      }
    }
    if (body !== undefined) {
      // Vite puts content hashes in the names under assets/: they never change.
      const immutable = parts[0] === 'assets';
      sendResponse(req, res, 200, CONTENT_TYPES[ext], body, {
        ...CONSOLE_SECURITY_HEADERS,
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
      return;
    }
    if (parts[0] === 'assets' || (ext !== '' && ext !== '.html')) {
      sendResponse(req, res, 404, 'text/plain; charset=utf-8', `no such file: ${rel}\n`, CONSOLE_SECURITY_HEADERS);
      return;
    }
    // A deep link of the single-page app: its index.html routes on the client.
    try {
      const index = await readFile(join(root, 'index.html'));
      sendResponse(req, res, 200, CONTENT_TYPES['.html'], index, { ...CONSOLE_SECURITY_HEADERS, 'cache-control': 'no-cache' });
    } catch {
      root = undefined;
      sendResponse(req, res, 503, 'text/html; charset=utf-8', notBuiltPage(dirs), {
        ...CONSOLE_SECURITY_HEADERS,
        'cache-control': 'no-store',
      });
    }
  };
}
