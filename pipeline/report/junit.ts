// Budget verdicts as JUnit XML, the report format every CI system (GitHub Actions reporters, GitLab, Jenkins)
// reads: one testcase per budget and artifact, so a broken build names what broke without opening report.json.
import type { BudgetResult } from './types.ts';

export const JUNIT_CLASSNAME = 'edge-distill.budgets';

/**
 * Escape text for XML 1.0 attributes and content. Characters XML 1.0 cannot carry at all (most C0 controls, lone
 * surrogates, U+FFFE/U+FFFF) would make the whole file unparseable, so they become U+FFFD.
 */
export function xmlEscape(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    // Parsers normalise literal newlines and tabs in attributes to spaces; character references survive.
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
    .replace(/\t/g, '&#9;');
}

/** The testcase name: the budget, then the artifact it was checked on (when there was one). */
export function testcaseName(r: BudgetResult): string {
  return r.artifact ? `${r.budget} — ${r.artifact}` : r.budget;
}

/**
 * A JUnit XML document of budget verdicts: one <testsuite> named `name`, a <testcase> per result, and a
 * <failure message=...> on each broken one. No timestamps or durations, so the same verdicts give the same bytes.
 */
export function junitXml(results: BudgetResult[], opts: { name: string }): string {
  const failures = results.filter((r) => !r.ok).length;
  const counts = `tests="${results.length}" failures="${failures}" errors="0" skipped="0"`;
  const cases = results.map((r) => {
    const open = `    <testcase classname="${JUNIT_CLASSNAME}" name="${xmlEscape(testcaseName(r))}" time="0"`;
    if (r.ok) return `${open}/>`;
    const detail = [
      `budget: ${r.budget}`,
      `artifact: ${r.artifact ?? '-'}`,
      `limit: ${r.limit} ${r.unit}`,
      `actual: ${r.actual === null ? '-' : `${r.actual} ${r.unit}`}`,
      r.message,
    ].join('\n');
    return [`${open}>`, `      <failure type="budget" message="${xmlEscape(r.message)}">${xmlEscape(detail)}</failure>`, `    </testcase>`].join('\n');
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(opts.name)}" ${counts}>`,
    `  <testsuite name="${xmlEscape(opts.name)}" ${counts}>`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
