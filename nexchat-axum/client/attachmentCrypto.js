// Attachments (protocol version 1.3, docs/protocol.md "Attachments"), on WebCrypto only.
//
// Every file gets a fresh random AES-GCM-256 key and an 8-byte nonce. Its plaintext is cut into
// chunks of CHUNK bytes; chunk i is sealed with IV nonce ‖ uint32be(i) and the AAD
// `nexchat-v1|attachment|{i}|{last}` (last = 1 for the final chunk only, so a blob cut short does
// not open), and the uploaded blob is the chunks' ciphertexts one after the other. The key, nonce,
// chunk size, plaintext size and the SHA-256 of the uploaded ciphertext travel inside the message
// body, which is itself encrypted; the server only ever holds the ciphertext.
//
// The plaintext is read from the File (or Blob) one chunk at a time, and the ciphertext is written
// into one buffer of its final size, so the whole file is never held twice.
import { VERSION, fromBase64, randomBytes, toBase64 } from './crypto.js';

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();

/** Plaintext bytes per chunk. */
export const CHUNK = 65_536;
/** The AES-GCM tag each chunk's ciphertext carries. */
export const TAG = 16;
const KEY_BYTES = 32;
const NONCE_BYTES = 8;
/** A chunk size from a message body is taken between these (a hostile one cannot stall the tab). */
const MIN_CHUNK = 1024;
const MAX_CHUNK = 1 << 24;
/** At most this many attachments in one message (`Limits::max_attachments_per_message`). */
export const MAX_PER_MESSAGE = 10;
/** The largest thumbnail a body may carry: a data URL of 8 KiB. */
export const MAX_THUMBNAIL = 8192;

/** How many chunks a plaintext of `size` bytes makes: an empty file is one empty final chunk. */
export function chunkCount(size, chunk = CHUNK) {
  return Math.max(1, Math.ceil(size / chunk));
}

/** The size of the uploaded ciphertext of a plaintext of `size` bytes. */
export function ciphertextSize(size, chunk = CHUNK) {
  return size + chunkCount(size, chunk) * TAG;
}

/** The 12-byte IV of chunk `i`: the file's nonce, then `i` as 4 bytes big-endian. */
export function chunkIv(nonce, i) {
  const iv = new Uint8Array(12);
  iv.set(nonce, 0);
  new DataView(iv.buffer).setUint32(8, i, false);
  return iv;
}

export function chunkAad(i, last) {
  return enc.encode(`${VERSION}|attachment|${i}|${last ? 1 : 0}`);
}

/**
 * Encrypts `blob` chunk by chunk. Resolves to {bytes, meta}: the ciphertext to upload, and what
 * the message body needs besides the id, name and type ({key, nonce, chunk, size, digest}).
 * onProgress(fraction) after each chunk.
 */
export async function encryptAttachment(blob, { onProgress } = {}) {
  const raw = randomBytes(KEY_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const key = await subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt']);
  const size = blob.size;
  const n = chunkCount(size);
  const out = new Uint8Array(ciphertextSize(size));
  for (let i = 0; i < n; i++) {
    const start = i * CHUNK;
    const plain = new Uint8Array(await blob.slice(start, Math.min(size, start + CHUNK)).arrayBuffer());
    const sealed = await subtle.encrypt(
      { name: 'AES-GCM', iv: chunkIv(nonce, i), additionalData: chunkAad(i, i === n - 1) },
      key,
      plain,
    );
    out.set(new Uint8Array(sealed), i * (CHUNK + TAG));
    onProgress?.((i + 1) / n);
  }
  const digest = toBase64(await subtle.digest('SHA-256', out));
  return {
    bytes: out,
    meta: {
      key: toBase64(raw), nonce: toBase64(nonce), chunk: CHUNK, size, digest,
    },
  };
}

/**
 * Checks a downloaded ciphertext against the body's size and digest, then opens it chunk by chunk.
 * Resolves to a Blob of `type`; throws when anything does not match or a chunk does not open.
 */
export async function decryptAttachment(bytes, meta, type = 'application/octet-stream') {
  const { chunk, size } = meta;
  if (bytes.length !== ciphertextSize(size, chunk)) throw new Error('the file has the wrong size');
  const digest = toBase64(await subtle.digest('SHA-256', bytes));
  if (digest !== meta.digest) throw new Error('the file does not match its fingerprint');
  const key = await subtle.importKey('raw', fromBase64(meta.key), { name: 'AES-GCM' }, false, ['decrypt']);
  const nonce = fromBase64(meta.nonce);
  const n = chunkCount(size, chunk);
  const parts = [];
  for (let i = 0; i < n; i++) {
    const start = i * (chunk + TAG);
    const end = i === n - 1 ? bytes.length : start + chunk + TAG;
    parts.push(await subtle.decrypt(
      { name: 'AES-GCM', iv: chunkIv(nonce, i), additionalData: chunkAad(i, i === n - 1) },
      key,
      bytes.subarray(start, end),
    ));
  }
  return new Blob(parts, { type });
}

const isInt = (v, min, max) => Number.isSafeInteger(v) && v >= min && v <= max;
const isBase64 = (s) => typeof s === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0;

function decodedLength(s) {
  try { return fromBase64(s).length; } catch { return -1; }
}

/** A file name as shown and saved: no folders, no control characters, not endless. */
export function cleanName(name, fallback = 'file') {
  const base = String(name ?? '').split(/[\\/]/).pop().replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '').trim();
  return (base || fallback).slice(0, 200);
}

/**
 * The attachments a decrypted message body lists, each checked: entries that are not well formed
 * (a key that is not 32 bytes, a thumbnail that is not a small JPEG data URL, ...) are left out.
 */
export function parseAttachments(list) {
  if (!Array.isArray(list)) return [];
  const out = [];
  for (const a of list.slice(0, MAX_PER_MESSAGE)) {
    if (!a || typeof a !== 'object') continue;
    if (typeof a.id !== 'string' || !a.id || a.id.length > 200) continue;
    if (!isBase64(a.key) || decodedLength(a.key) !== KEY_BYTES) continue;
    if (!isBase64(a.nonce) || decodedLength(a.nonce) !== NONCE_BYTES) continue;
    if (!isInt(a.chunk, MIN_CHUNK, MAX_CHUNK) || !isInt(a.size, 0, Number.MAX_SAFE_INTEGER)) continue;
    if (!isBase64(a.digest) || decodedLength(a.digest) !== 32) continue;
    const entry = {
      id: a.id,
      key: a.key,
      nonce: a.nonce,
      chunk: a.chunk,
      size: a.size,
      digest: a.digest,
      type: typeof a.type === 'string' && /^[\w.+-]+\/[\w.+-]+(;.{0,100})?$/.test(a.type) ? a.type.slice(0, 200) : 'application/octet-stream',
      name: cleanName(a.name),
    };
    if (typeof a.thumbnail === 'string' && a.thumbnail.length <= MAX_THUMBNAIL
      && /^data:image\/jpeg;base64,[A-Za-z0-9+/]+={0,2}$/.test(a.thumbnail)) entry.thumbnail = a.thumbnail;
    if (isInt(a.width, 1, 100_000) && isInt(a.height, 1, 100_000)) {
      entry.width = a.width;
      entry.height = a.height;
    }
    if (isInt(a.duration, 0, 24 * 3600 * 1000)) entry.duration = a.duration;
    if (isBase64(a.waveform) && a.waveform.length <= 1024) entry.waveform = a.waveform;
    out.push(entry);
  }
  return out;
}

/** The entry of one attachment in a message body (protocol order), from what this client keeps. */
export function bodyEntry(a) {
  const e = {
    id: a.id, key: a.key, nonce: a.nonce, chunk: a.chunk, size: a.size, digest: a.digest, type: a.type, name: a.name,
  };
  for (const k of ['thumbnail', 'width', 'height', 'duration', 'waveform']) if (a[k] != null) e[k] = a[k];
  return e;
}

/** A waveform (base64, one byte per bar) as numbers 0–255; empty when there is none. */
export function waveformBars(waveform) {
  if (!waveform) return [];
  try { return [...fromBase64(waveform)]; } catch { return []; }
}

export function encodeWaveform(bars) {
  return toBase64(Uint8Array.from(bars, (v) => Math.max(0, Math.min(255, Math.round(v)))));
}
