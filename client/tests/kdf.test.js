// The client's own key derivation and key backup modules, run in Node against the published test
// vectors (docs/kdf-vectors.json). The Rust test examples/tests/kdf_vectors.rs checks the same
// file with an independent Argon2id and HKDF, so the vectors pin the specification, not this code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkKdf, DEFAULT_KDF, deriveKeys, keysFromMaster, masterKey, newKdf, UnsafeKdfError,
} from '../../nexchat-axum/client/kdf.js';
import {
  openBackup, openBackupV1, sealBackup, sealBackupV1, WrongPasswordError,
} from '../../nexchat-axum/client/vault.js';
import { fromBase64, generateIdentity } from '../../nexchat-axum/client/crypto.js';

const VECTOR_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'kdf-vectors.json');
const VECTORS = JSON.parse(fs.readFileSync(VECTOR_FILE, 'utf8'));
const hex = (bytes) => Buffer.from(bytes).toString('hex');

/** Proves that a non-extractable vault key equals `keyHex`: it opens what that key sealed. */
async function assertVaultKeyIs(vaultKey, keyHex) {
  const iv = randomBytes(12);
  const aad = Buffer.from('vault key check');
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(keyHex, 'hex'), iv);
  cipher.setAAD(aad);
  const sealed = Buffer.concat([cipher.update('the same key'), cipher.final(), cipher.getAuthTag()]);
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, vaultKey, sealed);
  assert.equal(Buffer.from(plain).toString(), 'the same key');
}

test('the vector file covers the default parameters and a non-ASCII password in two normal forms', () => {
  const [first, nfc, nfd] = VECTORS.vectors;
  assert.deepEqual({ ...first.kdf, salt: undefined }, { ...DEFAULT_KDF, salt: undefined });
  assert.notEqual(nfc.password, nfd.password);
  assert.equal(nfc.password, nfd.password.normalize('NFC'));
  assert.match(nfc.password, /[^\x00-\x7f]/);
});

for (const v of VECTORS.vectors) {
  test(`vector: ${v.name}`, { timeout: 60_000 }, async () => {
    const master = await masterKey(v.password, v.kdf);
    assert.equal(hex(master), v.master, 'Argon2id master');
    const fromMaster = await keysFromMaster(master);
    assert.equal(fromMaster.authKey, v.authKey, 'auth key');
    await assertVaultKeyIs(fromMaster.vaultKey, v.vaultKey);

    const keys = await deriveKeys(v.password, v.kdf);
    assert.equal(keys.authKey, v.authKey);
    assert.equal(fromBase64(keys.authKey).length, 32);
    assert.notEqual(v.vaultKey, hex(fromBase64(v.authKey)), 'auth and vault keys differ');
    await assertVaultKeyIs(keys.vaultKey, v.vaultKey);
  });
}

test('the published version 2 backup opens with the vector\'s vault key, for its user only', { timeout: 60_000 }, async () => {
  const { backup } = VECTORS;
  const v = VECTORS.vectors[backup.vector];
  const { vaultKey } = await deriveKeys(v.password, v.kdf);
  assert.deepEqual(await openBackup(backup.encryptedPrivateKey, backup.username, vaultKey), backup.privateKey);
  // The AAD names the user lowercased: any spelling of the name opens it, another name does not.
  assert.deepEqual(await openBackup(backup.encryptedPrivateKey, backup.username.toUpperCase(), vaultKey), backup.privateKey);
  await assert.rejects(openBackup(backup.encryptedPrivateKey, 'mallory', vaultKey), WrongPasswordError);
  const other = VECTORS.vectors[1];
  const wrong = await deriveKeys(other.password, other.kdf);
  await assert.rejects(openBackup(backup.encryptedPrivateKey, backup.username, wrong.vaultKey), WrongPasswordError);
  // The format version is bound too: the same bytes labelled otherwise are refused.
  await assert.rejects(openBackup({ ...backup.encryptedPrivateKey, v: 1 }, backup.username, vaultKey), /Unknown key backup format/);
});

test('a sealed backup round-trips, and a flipped bit or a bad IV is refused', { timeout: 60_000 }, async () => {
  const v = VECTORS.vectors[1];
  const { vaultKey } = await deriveKeys(v.password, v.kdf);
  const id = await generateIdentity();
  const blob = await sealBackup(id.jwk, 'Bob_42', vaultKey);
  assert.deepEqual(Object.keys(blob).sort(), ['ciphertext', 'format', 'iv', 'v']);
  assert.equal(blob.format, 'nexchat-key-backup');
  assert.equal(blob.v, 2);
  assert.equal(fromBase64(blob.iv).length, 12);
  assert.deepEqual(await openBackup(blob, 'bob_42', vaultKey), id.jwk);
  const bytes = fromBase64(blob.ciphertext);
  bytes[5] ^= 1;
  await assert.rejects(openBackup({ ...blob, ciphertext: Buffer.from(bytes).toString('base64') }, 'bob_42', vaultKey), WrongPasswordError);
  await assert.rejects(openBackup({ ...blob, iv: 'AAAA' }, 'bob_42', vaultKey), /damaged/);
});

test('a version 1 backup still opens with its password, and not with another', { timeout: 60_000 }, async () => {
  const id = await generateIdentity();
  const blob = await sealBackupV1(id.jwk, 'an old password');
  assert.equal(blob.v, 1);
  assert.deepEqual(await openBackupV1(blob, 'an old password'), id.jwk);
  await assert.rejects(openBackupV1(blob, 'another password'), WrongPasswordError);
  await assert.rejects(openBackupV1({ ...blob, iterations: 1000 }, 'an old password'), /unsafe parameters/);
});

test('new parameters are the defaults with a fresh 16-byte salt', () => {
  const a = newKdf();
  const b = newKdf();
  assert.deepEqual({ ...a, salt: undefined }, { alg: 'argon2id', v: 19, m: 65536, t: 3, p: 1, salt: undefined });
  assert.equal(fromBase64(a.salt).length, 16);
  assert.notEqual(a.salt, b.salt);
  assert.equal(checkKdf(a).m, 65536);
});

test('parameters below the floor or above the caps are refused before any work', async () => {
  const good = { alg: 'argon2id', v: 19, m: 19456, t: 2, p: 1, salt: Buffer.alloc(16, 7).toString('base64') };
  assert.equal(checkKdf(good).salt.length, 16);
  const bad = {
    'm below 19456': { m: 19455 },
    't below 2': { t: 1 },
    'p below 1': { p: 0 },
    'm above 1 GiB': { m: 1048577 },
    't above 20': { t: 21 },
    'p above 8': { p: 9 },
    'salt of 15 bytes': { salt: Buffer.alloc(15, 1).toString('base64') },
    'salt of 65 bytes': { salt: Buffer.alloc(65, 1).toString('base64') },
    'salt not base64': { salt: '!!not base64!!' },
    'salt missing': { salt: undefined },
    'm as a string': { m: '65536' },
    'fractional t': { t: 2.5 },
    'argon2i': { alg: 'argon2i' },
    'version 0x10': { v: 16 },
  };
  for (const [what, change] of Object.entries(bad)) {
    assert.throws(() => checkKdf({ ...good, ...change }), UnsafeKdfError, what);
    await assert.rejects(deriveKeys('a password', { ...good, ...change }), UnsafeKdfError, what);
  }
  for (const notAnObject of [null, undefined, 'argon2id', 42]) {
    assert.throws(() => checkKdf(notAnObject), UnsafeKdfError);
  }
});
