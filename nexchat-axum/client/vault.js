// The private key backup (`encryptedPrivateKey`), which the server stores unread.
//
// Version 2 (protocol v1.1, written by this client): the private JWK sealed with AES-GCM-256 under
// the vault key (kdf.js), the AAD naming the format, its version and the user:
//   {format: "nexchat-key-backup", v: 2, iv: base64(12 bytes), ciphertext: base64}
//   AAD = UTF-8("nexchat-key-backup|v2|" + lowercased username)
//
// Version 1 (accounts made before v1.1): sealed under PBKDF2-SHA-256(password). Read once at the
// sign-in that moves such an account to version 2.
import {
  fromBase64, privateJwkOf, randomBytes, toBase64,
} from './crypto.js';

export const BACKUP_FORMAT = 'nexchat-key-backup';

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder();

export class WrongPasswordError extends Error {}

function backupAad(username) {
  return enc.encode(`${BACKUP_FORMAT}|v2|${username.toLowerCase()}`);
}

/** Seals the private JWK of `username` under the vault key: a version 2 backup. */
export async function sealBackup(jwk, username, vaultKey) {
  const iv = randomBytes(12);
  const plain = enc.encode(JSON.stringify(privateJwkOf(jwk)));
  const ciphertext = await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: backupAad(username) }, vaultKey, plain);
  return { format: BACKUP_FORMAT, v: 2, iv: toBase64(iv), ciphertext: toBase64(ciphertext) };
}

/**
 * The private JWK inside a version 2 backup. Throws WrongPasswordError when it does not open under
 * this vault key and name (a wrong password, or a backup of another account).
 */
export async function openBackup(blob, username, vaultKey) {
  if (!blob || typeof blob !== 'object' || blob.format !== BACKUP_FORMAT || blob.v !== 2) {
    throw new Error('Unknown key backup format');
  }
  let iv;
  let ciphertext;
  try {
    iv = fromBase64(blob.iv);
    ciphertext = fromBase64(blob.ciphertext);
  } catch {
    throw new Error('The key backup is damaged');
  }
  if (iv.length !== 12) throw new Error('The key backup is damaged');
  let plain;
  try {
    plain = await subtle.decrypt({ name: 'AES-GCM', iv, additionalData: backupAad(username) }, vaultKey, ciphertext);
  } catch {
    throw new WrongPasswordError('Your key backup could not be unlocked with this password');
  }
  return privateJwkOf(JSON.parse(dec.decode(plain)));
}

// ---- version 1 ----

const PBKDF2_ITERATIONS = 600_000;
/** A v1 backup claiming fewer rounds than this is refused: the server must not weaken it. */
const MIN_ITERATIONS = 100_000;
const MAX_ITERATIONS = 10_000_000;
const V1_AAD = enc.encode('nexchat-v1|private-key');

async function pbkdf2Key(password, salt, iterations) {
  const base = await subtle.importKey('raw', enc.encode(password), 'PBKDF2', false, ['deriveKey']);
  return subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

/**
 * A version 1 backup `{v: 1, salt, iv, iterations, ciphertext}` as clients before v1.1 wrote it.
 * The app writes only version 2; this writer keeps the old format reproducible, so that the
 * migration of an old account is tested against exactly what old clients stored.
 */
export async function sealBackupV1(jwk, password) {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await pbkdf2Key(password, salt, PBKDF2_ITERATIONS);
  const plain = enc.encode(JSON.stringify(privateJwkOf(jwk)));
  const ciphertext = await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: V1_AAD }, key, plain);
  return { v: 1, salt: toBase64(salt), iv: toBase64(iv), iterations: PBKDF2_ITERATIONS, ciphertext: toBase64(ciphertext) };
}

/** The private JWK inside a version 1 backup. */
export async function openBackupV1(blob, password) {
  if (!blob || typeof blob !== 'object' || blob.v !== 1) throw new Error('Unknown key backup format');
  const { iterations } = blob;
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new Error('The key backup has unsafe parameters');
  }
  const salt = fromBase64(blob.salt);
  const iv = fromBase64(blob.iv);
  if (salt.length < 16 || iv.length !== 12) throw new Error('The key backup has unsafe parameters');
  const key = await pbkdf2Key(password, salt, iterations);
  let plain;
  try {
    plain = await subtle.decrypt({ name: 'AES-GCM', iv, additionalData: V1_AAD }, key, fromBase64(blob.ciphertext));
  } catch {
    throw new WrongPasswordError('Your key backup could not be unlocked with this password');
  }
  return privateJwkOf(JSON.parse(dec.decode(plain)));
}
