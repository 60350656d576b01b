// All cryptography of the client, on the browser's WebCrypto only.
//
// Identity: one ECDH P-256 key pair per account. Only the public half ({kty, crv, x, y}) ever
// leaves the browser in the clear; the private half is backed up to the server sealed under the
// vault key (vault.js, kdf.js).
//
// Messages: per friend, ECDH shared bits -> HKDF-SHA-256 (salt and info bind both usernames, sorted,
// and the version string) -> AES-GCM-256. Each message has a fresh random 96-bit IV, and its AAD
// binds the message id, the sender and the receiver, so the server cannot replay a ciphertext under
// another id or pass one friend's message off as another's.

export const VERSION = 'nexchat-v1';

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder();
const EC = { name: 'ECDH', namedCurve: 'P-256' };

export function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

export function toBase64(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

export function fromBase64(text) {
  if (typeof text !== 'string') throw new TypeError('expected a base64 string');
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The public JWK as sent on the wire: never anything but these four members. */
export function publicJwkOf(jwk) {
  if (!jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new TypeError('not a P-256 public key');
  }
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
}

/** RFC 7638 member order, no whitespace: the same string on every client. */
export function canonicalJwk(jwk) {
  const k = publicJwkOf(jwk);
  return JSON.stringify({ crv: k.crv, kty: k.kty, x: k.x, y: k.y });
}

export function sameKey(a, b) {
  try { return canonicalJwk(a) === canonicalJwk(b); } catch { return false; }
}

function sortedPair(a, b) {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? [x, y] : [y, x];
}

/** The private JWK as sealed in a backup: exactly these five members. */
export function privateJwkOf(jwk) {
  if (!jwk || typeof jwk.d !== 'string') throw new TypeError('not a P-256 private key');
  return { ...publicJwkOf(jwk), d: jwk.d };
}

/** A new identity as its private JWK (to seal into the backup) and its public JWK. */
export async function generateIdentity() {
  const pair = await subtle.generateKey(EC, true, ['deriveBits']);
  const jwk = privateJwkOf(await subtle.exportKey('jwk', pair.privateKey));
  return { jwk, publicJwk: publicJwkOf(jwk) };
}

/** The identity to use in this tab: a non-extractable private key and the public JWK. */
export async function importIdentity(jwk) {
  const clean = privateJwkOf(jwk);
  const privateKey = await subtle.importKey('jwk', clean, EC, false, ['deriveBits']);
  return { privateKey, publicJwk: publicJwkOf(clean) };
}

/** The AES-GCM key shared with one friend. */
export async function deriveMessageKey(privateKey, me, peer, peerJwk) {
  const peerKey = await subtle.importKey('jwk', publicJwkOf(peerJwk), EC, false, []);
  const bits = await subtle.deriveBits({ name: 'ECDH', public: peerKey }, privateKey, 256);
  const ikm = await subtle.importKey('raw', bits, 'HKDF', false, ['deriveKey']);
  const [a, b] = sortedPair(me, peer);
  const salt = await subtle.digest('SHA-256', enc.encode(`${VERSION}|salt|${a}|${b}`));
  const info = enc.encode(`${VERSION}|message-key|${a}|${b}`);
  return subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt, info },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

function messageAad(id, sender, receiver) {
  return enc.encode(`${VERSION}|message|${id}|${sender.toLowerCase()}|${receiver.toLowerCase()}`);
}

/**
 * The plaintext of a message: `{v: 1, text}`, with `attachments` (protocol 1.3: each file's id,
 * key and description, see attachmentCrypto.js) when it carries any.
 */
export function messageBody(text, attachments = null) {
  const body = { v: 1, text };
  if (attachments?.length) body.attachments = attachments;
  return enc.encode(JSON.stringify(body));
}

/** Returns {ciphertext, iv} as base64 for `send_message`. */
export async function encryptMessage(key, text, { id, sender, receiver }, attachments = null) {
  const iv = randomBytes(12);
  const body = messageBody(text, attachments);
  const ct = await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: messageAad(id, sender, receiver) }, key, body);
  return { ciphertext: toBase64(ct), iv: toBase64(iv) };
}

/**
 * {text, attachments} of a message body (attachments as the body lists them, unchecked: see
 * attachmentCrypto.js parseAttachments); throws when it is not one.
 */
export function readBody(plain) {
  const body = JSON.parse(dec.decode(plain));
  if (!body || typeof body.text !== 'string') throw new Error('malformed message body');
  return { text: body.text, attachments: Array.isArray(body.attachments) ? body.attachments : [] };
}

/** {text, attachments}, or throws when the ciphertext does not open under this key and these names. */
export async function decryptMessageBody(key, { id, sender, receiver, ciphertext, iv }) {
  const plain = await subtle.decrypt(
    { name: 'AES-GCM', iv: fromBase64(iv), additionalData: messageAad(id, sender, receiver) },
    key,
    fromBase64(ciphertext),
  );
  return readBody(plain);
}

/** Returns the text, or throws when the ciphertext does not open under this key and these names. */
export async function decryptMessage(key, m) {
  return (await decryptMessageBody(key, m)).text;
}

/**
 * The safety number of two identities: SHA-256 over both canonical public keys, ordered by
 * username, shown as six groups of five digits. Both friends see the same digits.
 */
export async function safetyNumber(nameA, jwkA, nameB, jwkB) {
  const parts = [
    [nameA.toLowerCase(), canonicalJwk(jwkA)],
    [nameB.toLowerCase(), canonicalJwk(jwkB)],
  ].sort((p, q) => (p[0] < q[0] ? -1 : p[0] > q[0] ? 1 : 0));
  const input = `${VERSION}|safety-number|${parts.map(([n, k]) => `${n}|${k}`).join('|')}`;
  const hash = new Uint8Array(await subtle.digest('SHA-256', enc.encode(input)));
  const groups = [];
  for (let i = 0; i < 30; i += 5) {
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + hash[i + j];
    groups.push(String(n % 100000).padStart(5, '0'));
  }
  return groups;
}
