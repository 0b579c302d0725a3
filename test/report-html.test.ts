// report.html and `edge-distill report`: the Pareto front on hand-made points, then a real run's report rebuilt by
// the CLI and opened in headless Chromium — it must fetch nothing but itself, and every chart must be drawn with
// one mark per row it charts.
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { dominates, paretoFront } from '../pipeline/report/pareto.ts';
import { MARKS } from '../pipeline/report/charts.ts';
import type { Report } from '../pipeline/report/types.ts';
import { cli, SHARED_TEACHER_CACHE, tempDir, launchChromium } from './helpers.ts';

/** A phone held upright. */
const VIEWPORT = { width: 390, height: 844 };
/** The SVG elements of one chart layer (see MARKS). */
const marks = (chart: string, layer: string) => `#${chart} [class~="${layer}_marks"] path`;

test('paretoFront keeps exactly the points no other point dominates, ties included', () => {
  const p = (name: string, accuracy: number, latencyMs: number, bytes: number) => ({ name, accuracy, latencyMs, bytes });
  const points = [
    p('a', 0.9, 1, 100),
    p('b', 0.95, 2, 200), // the most accurate
    p('c', 0.85, 0.5, 300), // the fastest
    p('d', 0.88, 1.5, 150), // worse than a in all three
    p('e', 0.9, 1, 120), // equal to a but bigger: dominated
    p('f', 0.8, 3, 50), // the smallest
    p('g', 0.9, 1, 100), // a's twin: neither dominates the other
  ];
  assert.deepEqual(paretoFront(points).map((x) => x.name), ['a', 'b', 'c', 'f', 'g']);
  assert.equal(dominates(points[0]!, points[4]!), true);
  assert.equal(dominates(points[4]!, points[0]!), false);
  assert.equal(dominates(points[0]!, points[6]!), false);
  assert.deepEqual(paretoFront([]), []);
});

describe('report.html of a real run', () => {
  let run: string;
  let report: Report;
  let browser: Browser | undefined;

  before(() => {
    run = tempDir('report-run');
    // Two batch sizes, so the throughput chart is drawn too.
    const r = cli(['run', '--steps', '200', '--methods', 'label,kd', '--runs', '20', '--warmup', '2', '--bench-batch', '1,8', '--out', run, '--cache-dir', SHARED_TEACHER_CACHE, '--quiet']);
    assert.equal(r.status, 0, `run failed: ${r.stderr.slice(-3000)}`);
    report = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8'));
  });
  after(() => browser?.close());

  async function openPage(html: string): Promise<{ page: Page; requests: string[] }> {
    browser ??= await launchChromium('opening report.html');
    const page = await browser.newPage({ viewport: VIEWPORT });
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(pathToFileURL(html).href);
    return { page, requests };
  }

  test('the run writes report.html beside report.md', () => {
    const html = readFileSync(join(run, 'report.html'), 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.ok(existsSync(join(run, 'report.md')));
  });

  test('edge-distill report rebuilds report.md and report.html; the page loads nothing and draws every chart', async () => {
    const out = tempDir('report-html');
    const r = cli(['report', '--from', join(run, 'report.json'), '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(out, 'report.md'), 'utf8'), readFileSync(join(run, 'report.md'), 'utf8'));
    const html = join(out, 'report.html');
    assert.doesNotMatch(readFileSync(html, 'utf8'), /<script|<link|@import|url\(|src=/i, 'report.html must not reference any resource');

    const { page, requests } = await openPage(html);
    assert.deepEqual(requests, [pathToFileURL(html).href], 'the page requested something other than itself');
    const png = join(out, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    assert.ok(statSync(png).size > 50_000, `screenshot is only ${statSync(png).size} bytes`);
    // Readable on a phone: the page itself never scrolls sideways (wide tables scroll inside their own box).
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= VIEWPORT.width);

    const batch = Math.min(...report.benchmarks.map((b) => b.batch));
    assert.equal(batch, 1);
    for (const id of ['chart-latency', 'chart-accuracy-latency', 'chart-throughput']) {
      const box = await page.locator(`#${id} svg`).boundingBox();
      assert.ok(box && box.width > 100 && box.height > 100, `#${id} svg is not drawn: ${JSON.stringify(box)}`);
    }
    const count = (selector: string) => page.locator(selector).count();
    // Every bar has a real width: a bar from zero on a log axis would be drawn 0 px wide.
    const barWidths = await page.locator(marks('chart-latency', MARKS.latencyBar)).evaluateAll((els) => els.map((e) => (e as SVGGraphicsElement).getBBox().width));
    assert.equal(barWidths.length, report.benchmarks.filter((b) => b.batch === batch).length, 'one latency bar per batch-1 benchmark');
    assert.ok(barWidths.every((w) => w > 0), `zero-width bars: ${barWidths}`);
    assert.equal(await count(marks('chart-latency', MARKS.latencyWhisker)), barWidths.length, 'one p90 marker per bar');
    assert.equal(await count(marks('chart-accuracy-latency', MARKS.point)), report.artifacts.length, 'one point per artifact');
    assert.equal(await count(marks('chart-throughput', MARKS.throughput)), report.benchmarks.length, 'one throughput point per benchmark');

    // The Pareto front, recomputed here from report.json: each artifact at its fastest batch-1 p50.
    const points = report.artifacts.filter((a) => !a.rejected).map((a) => ({
      name: a.name,
      accuracy: a.accuracy,
      bytes: a.bytes,
      latencyMs: Math.min(...report.benchmarks.filter((b) => b.artifact === a.name && b.batch === batch).map((b) => b.p50Ms)),
    }));
    const front = paretoFront(points).sort((a, b) => a.latencyMs - b.latencyMs || b.accuracy - a.accuracy).map((p) => p.name);
    assert.ok(front.length >= 1);
    assert.deepEqual(await page.locator('#chart-accuracy-latency ol.front li strong').allTextContents(), front, 'the listed front');
    const numbers = await page.locator(`#chart-accuracy-latency [class*="${MARKS.frontLabel}_"] text`).allTextContents();
    assert.deepEqual(numbers.map(Number).sort((a, b) => a - b), front.map((_, i) => i + 1), 'the front numbered on the chart');
    assert.equal(await count(marks('chart-accuracy-latency', MARKS.frontLine)), 1, 'the front connected by a line');

    assert.equal(await count('#artifacts tbody tr'), report.artifacts.length);
    assert.equal(await count('#benchmarks tbody tr'), report.benchmarks.length);
    await page.close();
  });

  test('report rebuilt in a run\'s folder keeps its manifest.json true', () => {
    const dir = tempDir('report-manifest');
    const manifest = JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8'));
    // As if the reports had been written by an older edge-distill: the manifest lists other bytes for them.
    for (const f of manifest.files) if (f.path === 'report.md' || f.path === 'report.html') Object.assign(f, { bytes: 1, sha256: '0'.repeat(64) });
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    writeFileSync(join(dir, 'report.json'), readFileSync(join(run, 'report.json')));
    const r = cli(['report', '--from', dir]);
    assert.equal(r.status, 0, r.stderr);
    const updated = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    for (const name of ['report.md', 'report.html']) {
      const bytes = readFileSync(join(dir, name));
      assert.deepEqual(updated.files.find((f: { path: string }) => f.path === name), { path: name, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
    assert.equal(updated.files.length, manifest.files.length);
  });

  test('without benchmarks the charts give way to a note', async () => {
    const dir = tempDir('report-nobench');
    const from = join(dir, 'report.json');
    writeFileSync(from, JSON.stringify({ ...report, benchmarks: [], benchmarksSkipped: [] }));
    const r = cli(['report', '--from', dir]); // a folder: its report.json, written beside it
    assert.equal(r.status, 0, r.stderr);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.doesNotMatch(html, /<svg/);
    assert.match(html, /No benchmarks in this report/);
    const { page, requests } = await openPage(join(dir, 'report.html'));
    assert.equal(requests.length, 1);
    assert.equal(await page.locator('#artifacts tbody tr').count(), report.artifacts.length);
    await page.close();
  });

  test('report names the missing or malformed file and what to pass', () => {
    const dir = tempDir('report-errors');
    const missing = join(dir, 'nope.json');
    let r = cli(['report', '--from', missing]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /E_FILE_NOT_FOUND: report not found: .*nope\.json\. Pass --from/);
    writeFileSync(join(dir, 'bad.json'), '{"teacher": 1}');
    r = cli(['report', '--from', join(dir, 'bad.json')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /E_DATA_FORMAT: .*bad\.json is not an edge-distill report: tool: .*teacher: /);
    r = cli(['report']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /E_CONFIG: Missing required argument: from/);
  });
});
