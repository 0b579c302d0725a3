// The benchmark page's only origin: a node:http server on 127.0.0.1 that serves the page, the vendor runtime
// builds (vendor.ts) and, per job, the model's folder and the input examples. Every response carries the
// cross-origin-isolation headers, because wasm threads need SharedArrayBuffer and that needs an isolated page.
import { createServer, type ServerResponse } from 'node:http';
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vendorFiles } from './vendor.ts';

const PAGE_DIR = dirname(fileURLToPath(import.meta.url));
/** The page's own files; nothing else in this folder (the TS sources) is served. */
const PAGE_FILES = new Map([
  ['/', 'page.html'],
  ['/page.js', 'page.js'],
]);

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
};

const HEADERS = {
  // COOP + COEP make the page crossOriginIsolated (SharedArrayBuffer, wasm threads, 5 µs timers instead of 100 µs);
  // CORP lets the isolated page embed our own responses. no-store: a re-export must never be served stale.
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** What one job exposes under /jobs/<key>/: the model's folder and the examples as raw little-endian float32. */
export interface JobMount {
  modelDir: string;
  inputs: Float32Array;
}

export interface BenchServer {
  url: string;
  /** Serve a job's files under /jobs/<key>/ until `unmount(key)`; returns that URL prefix. */
  mount(key: string, job: JobMount): string;
  unmount(key: string): void;
  close(): Promise<void>;
}

/**
 * The file under `root` that URL path `rel` names, or null. Both the lexical path and the real path (after
 * symlinks) must stay inside the root, so neither `..` nor a symlink can reach files beside the model.
 */
export function fileUnder(root: string, rel: string): string | null {
  if (rel.includes('\0')) return null;
  try {
    const realRoot = realpathSync(root);
    const path = resolve(realRoot, '.' + sep + rel);
    if (!path.startsWith(realRoot + sep)) return null;
    const real = realpathSync(path);
    return real.startsWith(realRoot + sep) && statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}

function send(res: ServerResponse, status: number, type: string, body: Buffer | string, head = false): void {
  res.writeHead(status, { ...HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

function sendFile(res: ServerResponse, file: string, head: boolean): void {
  const type = MIME[extname(file).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, { ...HEADERS, 'content-type': type, 'content-length': statSync(file).size });
  if (head) return void res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

/** Start listening on a free port of 127.0.0.1. `close()` also drops keep-alive connections. */
export async function startBenchServer(): Promise<BenchServer> {
  const vendor = vendorFiles();
  const jobs = new Map<string, JobMount>();

  /** URL path -> file or in-memory body; null for anything not served. */
  const lookup = (pathname: string): { file: string } | { body: Buffer } | null => {
    const page = PAGE_FILES.get(pathname);
    if (page) return { file: resolve(PAGE_DIR, page) };
    if (pathname.startsWith('/vendor/')) {
      const file = vendor.get(pathname.slice('/vendor/'.length));
      return file ? { file } : null;
    }
    const m = /^\/jobs\/([^/]+)\/(inputs\.bin|model\/(.+))$/.exec(pathname);
    const job = m ? jobs.get(m[1]!) : undefined;
    if (!m || !job) return null;
    if (m[2] === 'inputs.bin') return { body: Buffer.from(job.inputs.buffer, job.inputs.byteOffset, job.inputs.byteLength) };
    const file = fileUnder(job.modelDir, m[3]!);
    return file ? { file } : null;
  };

  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET and HEAD\n');
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return send(res, 400, 'text/plain', 'bad URL\n');
    }
    const found = lookup(pathname);
    if (!found) return send(res, 404, 'text/plain', `not found: ${pathname}\n`);
    if ('body' in found) return send(res, 200, 'application/octet-stream', found.body, req.method === 'HEAD');
    sendFile(res, found.file, req.method === 'HEAD');
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the bench server has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    mount(key, job) {
      if (!/^[A-Za-z0-9_-]+$/.test(key)) throw new Error(`job key ${JSON.stringify(key)} is not URL-safe`);
      jobs.set(key, job);
      return `/jobs/${key}/`;
    },
    unmount: (key) => void jobs.delete(key),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
