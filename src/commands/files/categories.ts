/**
 * What an upload is, decided from its bytes (issue 15). Rules enforced here:
 * - the category comes from the extension, with seed 004's lists (images: jpg jpeg png gif bmp
 *   webp tiff; documents: txt doc docx xls xlsx ppt pptx hwp hwpx pdf rtf odt ods odp; everything
 *   else: files) — except SVG, which is a document here: it can carry script, so it is never an
 *   image that a browser renders inline;
 * - the *sniffed* type (magic bytes, `file-type`) must agree with that category, else 415
 *   content_mismatch: an image extension needs a raster image; a document extension needs a
 *   document format of that family (PDF, OLE compound file, OOXML/ODF/HWPX zip, RTF), `.txt` and
 *   `.svg` need text (no NUL in the first bytes; SVG also an `<svg` element);
 * - the stored Content-Type is the sniffed one (never the client's claim): unknown bytes in the
 *   files category are application/octet-stream, text is text/plain;
 * - names: the original name without any path, control or bidi-override characters, ≤ 255 chars.
 */
import { fileTypeFromBuffer } from 'file-type';
import { domainError } from '../../errors';
import type { FileCategory } from '../../events/file';

/** Bytes the sniffer looks at (file-type's own sample size). */
export const SNIFF_BYTES = 4100;

const IMAGE_EXTS = ['jpg', 'jpeg', 'png', 'gif', 'bmp', 'webp', 'tiff'];
const DOCUMENT_EXTS = ['txt', 'doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'hwp', 'hwpx', 'pdf', 'rtf', 'odt', 'ods', 'odp', 'svg'];
/** Raster image types as file-type names them (their mimes: RASTER_IMAGE_TYPES, the only ones served inline). */
const RASTER_SNIFFED = new Set(['jpg', 'png', 'gif', 'bmp', 'webp', 'tif']);

/** What a document extension accepts as sniffed type ('text': no magic bytes, no NUL). */
const DOCUMENT_SNIFFED: Record<string, string[]> = {
  pdf: ['pdf'],
  doc: ['cfb'], xls: ['cfb'], ppt: ['cfb'], hwp: ['cfb'],
  docx: ['docx', 'zip'], xlsx: ['xlsx', 'zip'], pptx: ['pptx', 'zip'], hwpx: ['zip'],
  odt: ['odt', 'zip'], ods: ['ods', 'zip'], odp: ['odp', 'zip'],
  rtf: ['rtf'],
  txt: ['text'],
  svg: ['svg'],
};

export function extensionOf(name: string): string {
  const i = name.lastIndexOf('.');
  if (i <= 0 && !name.startsWith('.')) return '';
  const ext = name.slice(i + 1).toLowerCase();
  return /^[a-z0-9]{1,10}$/.test(ext) ? ext : '';
}

export function categoryOf(ext: string): FileCategory {
  if (IMAGE_EXTS.includes(ext)) return 'images';
  if (DOCUMENT_EXTS.includes(ext)) return 'documents';
  return 'files';
}

// eslint-disable-next-line no-control-regex -- removing control characters is the point
const STRIP = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The client's file name without a path or unsafe characters (never empty, ≤ 255 chars). */
export function sanitiseName(raw: string | undefined): string {
  let n = (raw ?? '').split(/[\\/]/).pop() ?? '';
  n = n.replace(STRIP, '').trim();
  if (n === '.' || n === '..') n = '';
  if (n.length > 255) {
    const ext = extensionOf(n);
    n = ext ? `${n.slice(0, 254 - ext.length)}.${ext}` : n.slice(0, 255);
  }
  return n || 'file';
}

export interface Sniffed {
  contentType: string;
}

const mismatch = (ext: string, what: string) =>
  domainError('content_mismatch', `The file's content (${what}) does not match its .${ext || '(none)'} extension.`, { extra: { extension: ext, sniffed: what } });

/** Decides the type of a file from its first bytes (`head`, up to SNIFF_BYTES); throws content_mismatch. */
export async function sniff(ext: string, head: Buffer): Promise<Sniffed> {
  const category = categoryOf(ext);
  const found = await fileTypeFromBuffer(head).catch(() => undefined);
  const isText = !found && !head.includes(0);
  if (category === 'images') {
    if (found && RASTER_SNIFFED.has(found.ext)) return { contentType: found.mime };
    throw mismatch(ext, found?.mime ?? (isText ? 'text' : 'unknown binary'));
  }
  if (category === 'documents') {
    const allowed = DOCUMENT_SNIFFED[ext] ?? [];
    if (allowed.includes('svg')) {
      const looksSvg = (!found || found.ext === 'xml') && !head.includes(0) && /<svg[\s>]/i.test(head.toString('latin1'));
      if (looksSvg) return { contentType: 'image/svg+xml' };
      throw mismatch(ext, found?.mime ?? (isText ? 'text without an <svg> element' : 'unknown binary'));
    }
    if (allowed.includes('text') && isText) return { contentType: 'text/plain' };
    if (found && allowed.includes(found.ext)) return { contentType: found.mime };
    throw mismatch(ext, found?.mime ?? (isText ? 'text' : 'unknown binary'));
  }
  // files: anything, served as an attachment with its sniffed type.
  return { contentType: found?.mime ?? (isText ? 'text/plain' : 'application/octet-stream') };
}
