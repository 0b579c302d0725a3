// Image sources: class folders, a folder of unlabeled images, or a CSV / JSON Lines listing of files and labels,
// decoded and resized by sharp (libvips) and turned into input rows by image-preprocess.js, the same function image
// bundles ship. Images stream into row stores a block at a time (never the whole set in memory); the teacher can
// get its own rows (another size, channel count, normalization or layout) from the same decode.
import { readFileSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Metadata } from 'sharp';
import { EdgeDistillError } from '../errors.ts';
import { parseCsv } from './csv.ts';
import { BlockedRows, type RowWriter, type Rows } from './rows.ts';
import type { ImageSettings } from './schema.ts';
import { IMAGE_PREPROCESS_VERSION, preprocessImage, type ImagePreprocessSpec } from './image-preprocess.js';

export type ImageSource = { format: 'images'; path: string; file?: string; label?: string };

/** File extensions taken as images (lowercase). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif'] as const;
/** sharp's names for the formats those extensions hold. */
const DECODABLE = new Set(['png', 'jpeg', 'webp', 'gif', 'tiff', 'heif']);

/** The teacher's own preprocessing: any field it leaves out is the student's; layout defaults to NCHW (PyTorch). */
export interface TeacherImageSettings {
  size?: [number, number];
  channels?: 1 | 3;
  mean?: number[];
  std?: number[];
  resize?: 'fill' | 'cover' | 'contain';
  layout?: 'nchw' | 'nhwc';
}

export interface ImageEntry {
  /** Absolute path. */
  file: string;
  /** The path relative to the source folder (or the listing's folder), with '/' separators. */
  id: string;
  /** The class folder's name or the listing's label; null when unlabeled. */
  label: string | null;
}

const isImageName = (name: string) => (IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase());
const hidden = (name: string) => name.startsWith('.');
const byName = (a: Dirent, b: Dirent) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const posixId = (root: string, file: string) => relative(root, file).split(sep).join('/');

function notAnImage(file: string): EdgeDistillError {
  return new EdgeDistillError('E_IMAGE', `${file} is not an image (extension "${extname(file) || '(none)'}")`, `Keep only images (${IMAGE_EXTENSIONS.join(', ')}) in class folders; move other files out.`);
}

/** Every file under dir, recursively, sorted by name at each level; dot-files and dot-folders are skipped. */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort(byName)) {
    if (hidden(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** A folder: one subfolder per class (recursively), or images directly in it (unlabeled). */
function listFolder(root: string): ImageEntry[] {
  const entries = readdirSync(root, { withFileTypes: true }).filter((e) => !hidden(e.name)).sort(byName);
  const folders = entries.filter((e) => e.isDirectory());
  const loose = entries.filter((e) => !e.isDirectory() && isImageName(e.name));
  if (folders.length === 0) return loose.map((e) => ({ file: join(root, e.name), id: e.name, label: null }));
  if (loose.length > 0) {
    throw new EdgeDistillError('E_DATA_FORMAT', `${root} has class folders and also images outside them (${join(root, loose[0]!.name)})`, 'Put every image in its class folder, or list the files in a CSV/JSONL listing.');
  }
  const out: ImageEntry[] = [];
  for (const f of folders) {
    const dir = join(root, f.name);
    const files = walk(dir);
    if (files.length === 0) throw new EdgeDistillError('E_DATA_EMPTY', `class folder ${dir} has no images`, 'Add images to it or remove it (an empty class cannot be learned or tested).');
    for (const file of files) {
      if (!isImageName(file)) throw notAnImage(file);
      out.push({ file, id: posixId(root, file), label: f.name });
    }
  }
  return out;
}

/** A listed file, resolved against the listing's folder; it may not leave that folder. */
function listedFile(listing: string, name: string, where: string): string {
  const root = dirname(listing);
  const file = resolve(root, name);
  const rel = relative(root, file);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new EdgeDistillError('E_DATA_FORMAT', `${where} names ${JSON.stringify(name)}, which is outside the listing's folder ${root}`, 'List files by paths inside the folder that holds the listing (no "../", no absolute paths elsewhere).');
  }
  return file;
}

/** A CSV (with a header) or JSON Lines listing: one image per row, an optional label column / key. */
function listListing(path: string, fileKey: string, labelKey: string): ImageEntry[] {
  const text = readFileSync(path, 'utf8');
  const raw: { name: string; label: string | null; where: string }[] = [];
  if (/\.jsonl?$/i.test(path)) {
    let labeled: boolean | null = null;
    text.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      const where = `${path} line ${i + 1}`;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line);
      } catch (err) {
        throw new EdgeDistillError('E_DATA_FORMAT', `${where} is not JSON (${(err as Error).message})`, 'Write one JSON object per line, e.g. {"file": "cats/1.png", "label": "cat"}.');
      }
      if (typeof o?.[fileKey] !== 'string' || !o[fileKey]) throw new EdgeDistillError('E_DATA_FORMAT', `${where} has no file path under ${JSON.stringify(fileKey)}`, 'Give every line the image path (set data.<split>.file to the key that holds it).');
      const has = o[labelKey] !== undefined && o[labelKey] !== null;
      if (labeled !== null && has !== labeled) throw new EdgeDistillError('E_DATA_FORMAT', `${where} ${has ? 'has' : 'lacks'} ${JSON.stringify(labelKey)} unlike the lines before it`, 'Label every line or none.');
      labeled = has;
      raw.push({ name: o[fileKey] as string, label: has ? String(o[labelKey]) : null, where });
    });
  } else {
    const rows = parseCsv(text, path);
    const header = rows.shift() ?? [];
    const f = header.indexOf(fileKey);
    if (f < 0) throw new EdgeDistillError('E_DATA_FORMAT', `${path} has no ${JSON.stringify(fileKey)} column (header: ${header.join(', ') || 'empty'})`, 'Give the listing a header with a file column (set data.<split>.file to its name).');
    const l = header.indexOf(labelKey);
    rows.forEach((r, i) => {
      const where = `${path} row ${i + 2}`;
      if (r.length === 1 && r[0] === '') return;
      if (!r[f]) throw new EdgeDistillError('E_DATA_FORMAT', `${where} has an empty ${JSON.stringify(fileKey)} cell`, 'Give every row an image path.');
      raw.push({ name: r[f]!, label: l >= 0 ? (r[l] ?? '') : null, where });
    });
  }
  return raw.map(({ name, label, where }) => {
    const file = listedFile(path, name, where);
    let st;
    try {
      st = statSync(file);
    } catch {
      throw new EdgeDistillError('E_FILE_NOT_FOUND', `${where} names ${file}, which does not exist`, 'Fix the path in the listing (it is relative to the listing\'s folder) or add the file.');
    }
    if (!st.isFile()) throw new EdgeDistillError('E_DATA_FORMAT', `${where} names ${file}, which is not a file`, 'List image files, not folders.');
    if (!isImageName(file)) throw notAnImage(file);
    return { file, id: posixId(dirname(path), file), label };
  });
}

/** The images of a source, in a fixed order (names sorted within each folder; a listing's own order). */
export function listImages(src: ImageSource, baseDir: string): ImageEntry[] {
  const path = resolve(baseDir, src.path);
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new EdgeDistillError('E_FILE_NOT_FOUND', `image source ${path} does not exist`, 'Point data.<split>.path at a folder of class folders or at a CSV/JSONL listing.');
  }
  return st.isDirectory() ? listFolder(path) : listListing(path, src.file ?? 'file', src.label ?? 'label');
}

/** What the first look at a file tells: its size after EXIF rotation and its colour channels without alpha. */
interface Probe {
  width: number;
  height: number;
  channels: 1 | 3;
}

function decodeError(file: string, err: unknown, maxPixels: number): EdgeDistillError {
  const msg = (err as Error).message ?? String(err);
  if (/pixel limit/i.test(msg)) return tooLarge(file, null, maxPixels);
  // libvips repeats a warning per scanline and says little about a warning it was told to fail on.
  const reason = /failOn/.test(msg) ? 'libvips reported it truncated or corrupt while decoding' : msg.replace(/\s+/g, ' ').trim().replace(/(\S.{10,}?)(?: \1)+/g, '$1');
  return new EdgeDistillError('E_IMAGE', `${file} cannot be decoded (${reason.length > 240 ? `${reason.slice(0, 240)}…` : reason})`, 'Replace or remove the file: it is truncated, corrupt or not an image.', { cause: err });
}

function tooLarge(file: string, pixels: number | null, maxPixels: number): EdgeDistillError {
  return new EdgeDistillError('E_IMAGE', `${file} has ${pixels === null ? 'more' : pixels} pixels${pixels === null ? ' than' : ', over'} data.image.maxPixels (${maxPixels})`, 'Shrink the image, or raise data.image.maxPixels if it is genuine (decoding takes 4 bytes per pixel).');
}

// 'truncated': a truncated or corrupt file fails; a recoverable libvips warning (stray bytes after a JPEG's end) does not.
const sharpOptions = (maxPixels: number) => ({ limitInputPixels: maxPixels, failOn: 'truncated' as const });

type Sharp = (typeof import('sharp'))['default'];
let sharpModule: Promise<Sharp> | null = null;

/**
 * sharp, loaded on first use: a platform without its prebuilt libvips can still run everything but image sources,
 * which then fail with a coded error saying what is missing.
 */
function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then(
    (m) => m.default,
    (err: unknown) => {
      sharpModule = null;
      throw new EdgeDistillError('E_RUNTIME', `image sources need sharp (libvips), which did not load on ${process.platform}-${process.arch}: ${(err as Error).message.split('\n')[0]}`, 'Reinstall with `npm ci` on this machine (sharp ships prebuilt binaries for Linux, macOS and Windows on x64 and arm64); elsewhere install libvips and see https://sharp.pixelplumbing.com/install.', { cause: err });
    },
  );
  return sharpModule;
}

async function probe(file: string, bytes: Buffer, maxPixels: number): Promise<Probe> {
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    meta = await sharp(bytes, sharpOptions(maxPixels)).metadata();
  } catch (err) {
    throw decodeError(file, err, maxPixels);
  }
  if (!meta.format || !DECODABLE.has(meta.format)) {
    throw new EdgeDistillError('E_IMAGE', `${file} is a ${meta.format ?? 'unknown'} file, not a supported image format`, `Convert it to PNG or JPEG (supported: ${IMAGE_EXTENSIONS.join(', ')}).`);
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w * h > maxPixels) throw tooLarge(file, w * h, maxPixels);
  const rotated = (meta.orientation ?? 1) >= 5;
  const colour = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0);
  return { width: rotated ? h : w, height: rotated ? w : h, channels: colour === 1 ? 1 : 3 };
}

/** RGB pixels (3 per pixel, 0..255) of the image rotated by its EXIF orientation, alpha dropped, at height x width. */
async function decodeRgb(file: string, bytes: Buffer, height: number, width: number, fit: ImagePreprocessSpec['resize'], maxPixels: number): Promise<Buffer> {
  const sharp = await loadSharp();
  try {
    const { data, info } = await sharp(bytes, sharpOptions(maxPixels))
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .resize(width, height, { fit, position: 'centre', background: { r: 0, g: 0, b: 0 } })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== width || info.height !== height) throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`);
    return data;
  } catch (err) {
    throw decodeError(file, err, maxPixels);
  }
}

/** The student's preprocessing from data.image, completed by the first image where size or channels are unset. */
export function studentImageSpec(settings: ImageSettings, first: Probe): ImagePreprocessSpec {
  const [height, width] = settings.size ?? [first.height, first.width];
  return spec({ height, width, channels: settings.channels ?? first.channels, mean: settings.mean, std: settings.std, resize: settings.resize, layout: 'nhwc' }, 'data.image');
}

/** The teacher's: its own fields over the student's, NCHW unless it says otherwise. */
export function teacherImageSpec(student: ImagePreprocessSpec, t: TeacherImageSettings): ImagePreprocessSpec {
  const [height, width] = t.size ?? [student.height, student.width];
  return spec({ height, width, channels: t.channels ?? student.channels, mean: t.mean ?? student.mean, std: t.std ?? student.std, resize: t.resize ?? student.resize, layout: t.layout ?? 'nchw' }, 'teacher.image');
}

function spec(s: Omit<ImagePreprocessSpec, 'kind' | 'version'>, where: string): ImagePreprocessSpec {
  for (const k of ['mean', 'std'] as const) {
    if (s[k].length !== 1 && s[k].length !== s.channels) {
      throw new EdgeDistillError('E_CONFIG', `${where}.${k} [${s[k].join(', ')}] has ${s[k].length} values for ${s.channels}-channel images`, `Give ${where}.${k} one value, or one per channel (${s.channels})${where === 'teacher.image' ? '; the teacher takes data.image\'s where it gives none' : ''}.`);
    }
  }
  return { kind: 'image', version: IMAGE_PREPROCESS_VERSION, ...s };
}

/** The row shape of a spec: [H, W, C] channels last, [C, H, W] channels first. */
export function imageRowShape(s: ImagePreprocessSpec): number[] {
  return s.layout === 'nhwc' ? [s.height, s.width, s.channels] : [s.channels, s.height, s.width];
}

/** True when two specs give the same values in the same memory order (NCHW and NHWC agree for one channel). */
function sameRows(a: ImagePreprocessSpec, b: ImagePreprocessSpec): boolean {
  const eq = (x: number[], y: number[]) => x.length === y.length && x.every((v, i) => v === y[i]);
  return a.height === b.height && a.width === b.width && a.channels === b.channels && a.resize === b.resize && eq(a.mean, b.mean) && eq(a.std, b.std) && (a.layout === b.layout || a.channels === 1);
}

export interface StreamedImages {
  /** The student's rows (NHWC). */
  features: Rows;
  featureShape: number[];
  spec: ImagePreprocessSpec;
  /** The teacher's rows when asked for: `features` itself when they would be identical. */
  teacher: { features: Rows; featureShape: number[]; spec: ImagePreprocessSpec } | null;
  rows: number;
  labels: string[] | null;
  ids: string[];
}

/**
 * How many images are decoded at once (sharp runs them on libuv's thread pool). A large photo decodes to tens of MB
 * before it is resized, so this bounds the memory a folder of photos takes.
 */
const IN_FLIGHT = 4;

/**
 * Decode every image of `src` into `writer` (and, with `teacher`, the teacher's rows into `teacherWriter`). Any bad
 * file stops the load with a coded error naming it; the writers are aborted, so nothing partial is left.
 */
export async function streamImages(
  src: ImageSource,
  baseDir: string,
  settings: ImageSettings,
  writer: RowWriter,
  teacher: { settings: TeacherImageSettings; writer: () => RowWriter } | null,
  like: ImagePreprocessSpec | null = null,
): Promise<StreamedImages> {
  let teacherWriter: RowWriter | null = null;
  try {
    const entries = listImages(src, baseDir);
    if (entries.length === 0) {
      throw new EdgeDistillError('E_DATA_EMPTY', `image source ${resolve(baseDir, src.path)} has no images`, `Add images (${IMAGE_EXTENSIONS.join(', ')}) in one folder per class, or list them in a CSV/JSONL listing.`);
    }
    const { maxPixels } = settings;
    const firstBytes = await readBytes(entries[0]!.file);
    const firstProbe = await probe(entries[0]!.file, firstBytes, maxPixels);
    // Later splits take the train split's size and channels where data.image leaves them to the images.
    const first = like ? { width: like.width, height: like.height, channels: like.channels } : firstProbe;
    const firstName = like ? 'the training images' : `${entries[0]!.file} (the first image)`;
    const studentSpec = studentImageSpec(settings, first);
    const teacherSpec = teacher ? teacherImageSpec(studentSpec, teacher.settings) : null;
    const ownTeacherRows = teacherSpec !== null && !sameRows(studentSpec, teacherSpec);
    const rows = new BlockedRows(writer, studentSpec.height * studentSpec.width * studentSpec.channels);
    if (ownTeacherRows) teacherWriter = teacher!.writer();
    const teacherRows = teacherWriter ? new BlockedRows(teacherWriter, teacherSpec!.height * teacherSpec!.width * teacherSpec!.channels) : null;

    const load = async (e: ImageEntry, i: number) => {
      const bytes = i === 0 ? firstBytes : await readBytes(e.file);
      const p = i === 0 ? firstProbe : await probe(e.file, bytes, maxPixels);
      // Unset size or channels mean "as the images are": every image must then agree with the first.
      if (!settings.size && (p.height !== first.height || p.width !== first.width)) {
        throw new EdgeDistillError('E_SHAPE_MISMATCH', `${e.file} is ${p.width}x${p.height} but ${firstName} ${like ? 'are' : 'is'} ${first.width}x${first.height}`, 'Set data.image.size to [height, width] to resize every image to one size.');
      }
      if (settings.channels === undefined && p.channels !== first.channels) {
        throw new EdgeDistillError('E_SHAPE_MISMATCH', `${e.file} has ${p.channels} colour channel(s) but ${firstName} ${like ? 'have' : 'has'} ${first.channels}`, 'Set data.image.channels to 1 (grayscale) or 3 (RGB) to convert every image.');
      }
      const student = await decodeRgb(e.file, bytes, studentSpec.height, studentSpec.width, studentSpec.resize, maxPixels);
      const forTeacher = !ownTeacherRows ? null
        : teacherSpec!.height === studentSpec.height && teacherSpec!.width === studentSpec.width && teacherSpec!.resize === studentSpec.resize ? student
          : await decodeRgb(e.file, bytes, teacherSpec!.height, teacherSpec!.width, teacherSpec!.resize, maxPixels);
      return { student, teacher: forTeacher };
    };

    // Decode IN_FLIGHT images at a time; rows are written in file order.
    const pending: Promise<Awaited<ReturnType<typeof load>>>[] = [];
    let next = 0;
    const fill = () => {
      while (next < entries.length && pending.length < IN_FLIGHT) {
        const p = load(entries[next]!, next);
        p.catch(() => {}); // awaited below, in order; this only keeps an early failure from being reported as unhandled
        pending.push(p);
        next++;
      }
    };
    fill();
    while (pending.length > 0) {
      const d = await pending.shift()!;
      preprocessImage(d.student, studentSpec, 3, rows.next());
      rows.commit();
      if (teacherRows) {
        preprocessImage(d.teacher!, teacherSpec!, 3, teacherRows.next());
        teacherRows.commit();
      }
      fill();
    }
    const features = rows.finish();
    const teacherFeatures = teacherRows ? teacherRows.finish() : null;
    const labeled = entries.every((e) => e.label !== null);
    return {
      features,
      featureShape: imageRowShape(studentSpec),
      spec: studentSpec,
      teacher: teacherSpec ? { features: teacherFeatures ?? features, featureShape: imageRowShape(teacherSpec), spec: teacherSpec } : null,
      rows: entries.length,
      labels: labeled ? entries.map((e) => e.label!) : null,
      ids: entries.map((e) => e.id),
    };
  } catch (err) {
    writer.abort();
    teacherWriter?.abort();
    throw err;
  }
}

async function readBytes(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new EdgeDistillError('E_FILE_NOT_FOUND', `${file} does not exist`, 'Restore the file or remove it from the listing.');
    throw err;
  }
}
