// The cryptography of group chats (protocol version 1.2), on WebCrypto only.
//
// Every member encrypts to a group under a sender key of their own: 32 random bytes used as an
// AES-GCM-256 key, named by a random UUID (`keyId`). It reaches the other members in key messages,
// each encrypted under the pairwise 1:1 key (crypto.js deriveMessageKey) of the sender and the one
// member it is for. The AADs bind every ciphertext to its group, its sender (or sealer) and its
// key, so the server cannot move a message, a key or a title from one group, sender or id to
// another. Names are lowercased in every AAD.
import {
  VERSION, fromBase64, messageBody, randomBytes, toBase64,
} from './crypto.js';

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder();
const AES = { name: 'AES-GCM', length: 256 };
const KEY_BYTES = 32;

const low = (name) => String(name).toLowerCase();

export function groupMessageAad({ group, sender, keyId, id }) {
  return enc.encode(`${VERSION}|group-message|${group}|${low(sender)}|${keyId}|${id}`);
}

export function groupKeyAad({ group, id, sender, to }) {
  return enc.encode(`${VERSION}|group-key|${group}|${id}|${low(sender)}|${low(to)}`);
}

/** kind: 'title' | 'avatar' */
export function sealedFieldAad(kind, { group, by, keyId }) {
  if (kind !== 'title' && kind !== 'avatar') throw new TypeError('a sealed field is a title or an avatar');
  return enc.encode(`${VERSION}|group-${kind}|${group}|${low(by)}|${keyId}`);
}

/**
 * A sender key as a non-extractable CryptoKey. `usages` ['decrypt'] for one received from
 * someone (it only ever opens their messages), ['encrypt', 'decrypt'] for this device's own.
 */
export function importSenderKey(raw, usages = ['decrypt']) {
  if (!(raw instanceof Uint8Array) || raw.length !== KEY_BYTES) throw new TypeError('a sender key is 32 bytes');
  return subtle.importKey('raw', raw, AES, false, usages);
}

/**
 * A new sender key of this device: its id, its 32 bytes (to hand to members in key messages) and
 * the CryptoKey that encrypts under it.
 */
export async function newSenderKey() {
  const raw = randomBytes(KEY_BYTES);
  return { keyId: globalThis.crypto.randomUUID(), raw, key: await importSenderKey(raw, ['encrypt', 'decrypt']) };
}

async function seal(key, plain, aad) {
  const iv = randomBytes(12);
  const ct = await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, plain);
  return { ciphertext: toBase64(ct), iv: toBase64(iv) };
}

async function open(key, { ciphertext, iv }, aad) {
  const ivBytes = fromBase64(iv);
  if (ivBytes.length !== 12) throw new Error('bad IV');
  return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: ivBytes, additionalData: aad }, key, fromBase64(ciphertext)));
}

/**
 * A chat message to the group: {ciphertext, iv} for `send_group_message` with this keyId. The
 * body is the same as a 1:1 message's: `{v: 1, text}`, with `attachments` when it carries files.
 */
export function encryptGroupMessage(key, text, { group, sender, keyId, id }, attachments = null) {
  return seal(key, messageBody(text, attachments), groupMessageAad({ group, sender, keyId, id }));
}

/** {text, attachments} of a group chat message; throws when it does not open under this key and these names. */
export async function decryptGroupMessageBody(key, { group, sender, keyId, id, ciphertext, iv }) {
  const plain = await open(key, { ciphertext, iv }, groupMessageAad({ group, sender, keyId, id }));
  const body = JSON.parse(dec.decode(plain));
  if (!body || body.v !== 1 || typeof body.text !== 'string') throw new Error('malformed group message');
  return { text: body.text, attachments: Array.isArray(body.attachments) ? body.attachments : [] };
}

/** The text of a group chat message; throws when it does not open under this key and these names. */
export async function decryptGroupMessage(key, m) {
  return (await decryptGroupMessageBody(key, m)).text;
}

/** A key message for one member, under the pairwise key of `sender` and `to`. */
export function encryptKeyMessage(pairKey, { keyId, raw }, { group, id, sender, to }) {
  const body = JSON.stringify({ v: 1, keyId, key: toBase64(raw) });
  return seal(pairKey, enc.encode(body), groupKeyAad({ group, id, sender, to }));
}

/** {keyId, raw} from a key message; throws when it does not open or is malformed. */
export async function decryptKeyMessage(pairKey, { group, id, sender, to, ciphertext, iv }) {
  const plain = await open(pairKey, { ciphertext, iv }, groupKeyAad({ group, id, sender, to }));
  const body = JSON.parse(dec.decode(plain));
  if (!body || body.v !== 1 || typeof body.keyId !== 'string' || typeof body.key !== 'string') {
    throw new Error('malformed key message');
  }
  const raw = fromBase64(body.key);
  if (raw.length !== KEY_BYTES) throw new Error('a sender key is 32 bytes');
  return { keyId: body.keyId, raw };
}

/** A sealed title or avatar as a request sends it: {ciphertext, iv, keyId}. */
export async function sealField(kind, key, keyId, text, { group, by }) {
  const sealed = await seal(key, enc.encode(text), sealedFieldAad(kind, { group, by, keyId }));
  return { ...sealed, keyId };
}

/** The text of a sealed field {ciphertext, iv, keyId, by} of `group`. */
export async function openField(kind, key, field, group) {
  const plain = await open(key, field, sealedFieldAad(kind, { group, by: field.by, keyId: field.keyId }));
  const text = dec.decode(plain);
  if (kind === 'avatar' && !/^data:image\//.test(text)) throw new Error('an avatar is a data:image URL');
  return text;
}
