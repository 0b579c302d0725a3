// A dependency-free static server for the example app: the app itself at /, an edge-distill --out folder at
// /bundles/, and the browser builds of onnxruntime-web and TF.js from this repo's node_modules at /vendor/, so the
// page loads nothing from the internet.
//   node examples/web-app/serve.mjs <edge-distill --out folder> [--port N]      (PORT env works too; 0 = any free port)
import { createServer } from 'node:http';
import { createReadStream, existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const APP_DIR = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/**
 * The vendor files the page may load, by URL folder: the list edge-distill's browser benchmarks serve too. An explicit
 * list rather than whole dist folders: the served surface stays small and a missing file fails here, not as a 404
 * deep inside a runtime's loader. Order of the TF.js scripts matters to the page (core first), not to the server.
 */
const VENDOR = require('../../runtimes/browser/vendor-packages.json');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.md': 'text/markdown; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** A package's folder of vendor files as Node resolves it (so hoisted or nested installs both work): its main entry's folder, or `dir` under its root. */
function distDir(pkg, dir) {
  return dir === undefined ? dirname(require.resolve(pkg)) : join(dirname(require.resolve(`${pkg}/package.json`)), dir);
}

/** URL path under /vendor/ -> absolute file, for exactly the listed files. */
function vendorTable() {
  const table = new Map();
  for (const [folder, { pkg, dir: sub, files }] of Object.entries(VENDOR)) {
    const dir = distDir(pkg, sub);
    for (const f of files) {
      const path = join(dir, f);
      if (!existsSync(path)) throw new Error(`${pkg} has no ${f} in ${dir}; run npm ci`);
      table.set(`${folder}/${f}`, path);
    }
  }
  return table;
}

/**
 * The file under `root` that URL path `rel` names, or null. Both the lexical path and the real path (after
 * symlinks) must stay inside the root, so neither `..` nor a symlink in a bundles folder can reach other files.
 */
function fileUnder(root, rel) {
  if (rel.includes('\0')) return null;
  const realRoot = realpathSync(root);
  const path = resolve(realRoot, '.' + sep + rel);
  if (path !== realRoot && !path.startsWith(realRoot + sep)) return null;
  try {
    const real = realpathSync(path);
    if (!real.startsWith(realRoot + sep)) return null;
    return statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}

function send(res, status, text) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text + '\n');
}

/**
 * Start the server. `bundles` is an edge-distill --out folder (or any folder holding bundles), served at /bundles/.
 * Resolves once listening; `close()` also drops keep-alive connections so a test ends promptly.
 */
export async function startServer({ bundles, port = 0, host = '127.0.0.1' }) {
  const bundlesDir = resolve(bundles);
  if (!existsSync(bundlesDir) || !statSync(bundlesDir).isDirectory()) throw new Error(`bundles folder ${bundlesDir} does not exist`);
  const vendor = vendorTable();

  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'only GET and HEAD');
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return send(res, 400, 'bad URL');
    }
    let file = null;
    if (pathname.startsWith('/vendor/')) file = vendor.get(pathname.slice('/vendor/'.length)) ?? null;
    else if (pathname.startsWith('/bundles/')) file = fileUnder(bundlesDir, pathname.slice('/bundles/'.length));
    else file = fileUnder(APP_DIR, pathname === '/' ? 'index.html' : pathname.slice(1));
    if (!file) return send(res, 404, `not found: ${pathname}`);

    const size = statSync(file).size;
    // no-store: re-exporting into the same folder must not leave a browser running the previous model.
    res.writeHead(200, { 'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': size, 'cache-control': 'no-store' });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });

  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(undefined));
  });
  const address = server.address();
  const url = `http://${host}:${typeof address === 'object' && address ? address.port : port}`;
  return {
    url,
    server,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok(undefined));
      }),
  };
}

/** Page URLs for the bundles found under <out>/artifacts/<method>/<format>/deploy.json, to print for the user. */
export function exampleUrls(bundles, base) {
  const artifacts = join(resolve(bundles), 'artifacts');
  if (!existsSync(artifacts)) return [];
  const urls = [];
  for (const method of readdirSync(artifacts).sort()) {
    const has = (format) => existsSync(join(artifacts, method, format, 'deploy.json'));
    const tfjs = has('tfjs-graph') ? 'tfjs-graph' : has('tfjs-layers') ? 'tfjs-layers' : null;
    const params = [];
    if (has('onnx')) params.push(`onnx=/bundles/artifacts/${method}/onnx/deploy.json`);
    if (tfjs) params.push(`tfjs=/bundles/artifacts/${method}/${tfjs}/deploy.json`);
    if (params.length) urls.push(`${base}/?${params.join('&')}&image=/sample.png`);
  }
  return urls;
}

function parseArgs(argv) {
  let bundles = null;
  let port = process.env.PORT !== undefined ? Number(process.env.PORT) : 8080;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') port = Number(argv[++i]);
    else if (argv[i]?.startsWith('--port=')) port = Number(argv[i].slice('--port='.length));
    else bundles = argv[i];
  }
  if (!bundles || !Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('usage: node examples/web-app/serve.mjs <edge-distill --out folder> [--port N]   (PORT env also works; 0 = any free port)');
    process.exit(2);
  }
  return { bundles, port };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { bundles, port } = parseArgs(process.argv.slice(2));
  try {
    const { url } = await startServer({ bundles, port });
    console.log(`serving the example app at ${url}/ (bundles from ${resolve(bundles)} at ${url}/bundles/)`);
    const urls = exampleUrls(bundles, url);
    if (urls.length) console.log(`open in a browser:\n${urls.map((u) => `  ${u}`).join('\n')}`);
    else console.log(`no bundles under ${resolve(bundles)}/artifacts yet: run \`edge-distill export\` or \`run\` with --out ${bundles}`);
    console.log('Ctrl-C stops it.');
  } catch (err) {
    console.error(`serve.mjs: ${err.message}`);
    process.exit(1);
  }
}
