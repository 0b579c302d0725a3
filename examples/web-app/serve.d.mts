// Types for serve.mjs, which stays plain JavaScript so `node examples/web-app/serve.mjs` needs no build step or tsx.
import type { Server } from 'node:http';

export interface RunningServer {
  /** Origin without a trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serve the app at /, `bundles` (an edge-distill --out folder) at /bundles/ and the runtimes at /vendor/. */
export function startServer(options: { bundles: string; port?: number; host?: string }): Promise<RunningServer>;

/** Ready-to-open page URLs for the bundles found under <bundles>/artifacts. */
export function exampleUrls(bundles: string, base: string): string[];
