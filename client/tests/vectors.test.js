// The client's cryptography (crypto.js, kdf.js, vault.js, groupCrypto.js, attachmentCrypto.js),
// run in Node against the published test vectors (docs/crypto-vectors.json). The Rust client's
// nexchat-client/src/crypto/vectors.rs checks the same file, so the two implementations agree
// byte for byte: every ciphertext is opened here with the client's own functions and also
// sealed again, from the vector's IV and the AAD docs/protocol.md gives, to the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decryptMessageBody, deriveMessageKey, fromBase64, importIdentity, messageBody, privateJwkOf,
  safetyNumber, toBase64,
} from '../../nexchat-axum/client/crypto.js';
import { deriveKeys } from '../../nexchat-axum/client/kdf.js';
import { openBackup, openBackupV1, WrongPasswordError } from '../../nexchat-axum/client/vault.js';
import {
  decryptGroupMessageBody, decryptKeyMessage, groupKeyAad, groupMessageAad, importSenderKey,
  openField, sealedFieldAad,
} from '../../nexchat-axum/client/groupCrypto.js';
import {
  chunkAad, chunkCount, chunkIv, ciphertextSize, decryptAttachment, parseAttachments,
} from '../../nexchat-axum/client/attachmentCrypto.js';

const VECTOR_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'crypto-vectors.json');
const V = JSON.parse(fs.readFileSync(VECTOR_FILE, 'utf8'));
const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder();
const low = (name) => name.toLowerCase();

/** An AES-GCM key from its bytes (hex or raw), to seal with a vector's IV. */
function rawKey(bytes) {
  const raw = typeof bytes === 'string' ? Buffer.from(bytes, 'hex') : bytes;
  return subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt']);
}

/** Base64 of the AES-GCM ciphertext of `plain` (a string or bytes) under `key`, `iv` and `aad`. */
async function seal(key, iv, aad, plain) {
  const data = typeof plain === 'string' ? enc.encode(plain) : plain;
  const sealed = await subtle.encrypt({ name: 'AES-GCM', iv: fromBase64(iv), additionalData: enc.encode(aad) }, key, data);
  return toBase64(sealed);
}

/** Both users' identities as the browser holds them, and the pair key from either side. */
async function users() {
  const alice = await importIdentity(V.users.alice.privateKey);
  const bob = await importIdentity(V.users.bob.privateKey);
  const a = V.users.alice.username;
  const b = V.users.bob.username;
  return {
    alice,
    bob,
    aliceSide: await deriveMessageKey(alice.privateKey, a, b, bob.publicJwk),
    bobSide: await deriveMessageKey(bob.privateKey, b.toUpperCase(), a, alice.publicJwk),
    aliceSelf: await deriveMessageKey(alice.privateKey, a, a, alice.publicJwk),
  };
}

test('the vector identities are the published public keys', async () => {
  const { alice, bob } = await users();
  assert.deepEqual(alice.publicJwk, V.users.alice.publicKey);
  assert.deepEqual(bob.publicJwk, V.users.bob.publicKey);
  assert.deepEqual(privateJwkOf(V.users.alice.privateKey), V.users.alice.privateKey);
  assert.notEqual(V.users.alice.username, low(V.users.alice.username), 'a mixed-case name');
});

test('1:1 messages open with the pair key from either side and seal again to the same bytes', async () => {
  const { aliceSide, bobSide } = await users();
  const pairKey = await rawKey(V.messageKey);
  assert.equal(V.messages.length, 2);
  for (const m of V.messages) {
    const aad = `nexchat-v1|message|${m.id}|${low(m.sender)}|${low(m.receiver)}`;
    assert.equal(m.aad, aad, m.name);
    for (const key of [aliceSide, bobSide]) {
      const { text, attachments } = await decryptMessageBody(key, m);
      assert.equal(dec.decode(messageBody(text, attachments)), m.body, m.name);
      assert.deepEqual(parseAttachments(attachments), attachments, `${m.name}: the browser keeps every attachment`);
    }
    assert.equal(await seal(pairKey, m.iv, aad, m.body), m.ciphertext, m.name);
  }
  const [first, withPhoto] = V.messages;
  assert.match(JSON.parse(first.body).text, /\u0001.*\u2028.*\u{1f511}/su, 'the text exercises the JSON writer');
  assert.equal(JSON.parse(withPhoto.body).attachments.length, 1);
});

test('a moved or tampered message does not open', async () => {
  const { aliceSide } = await users();
  const m = V.messages[0];
  const bytes = fromBase64(m.ciphertext);
  bytes[3] ^= 1;
  const cases = {
    'a flipped bit': { ...m, ciphertext: toBase64(bytes) },
    'sender and receiver swapped': { ...m, sender: m.receiver, receiver: m.sender },
    'another id': { ...m, id: V.messages[1].id },
  };
  for (const [what, moved] of Object.entries(cases)) {
    await assert.rejects(decryptMessageBody(aliceSide, moved), undefined, what);
  }
});

test('the safety number is the published one, whoever computes it', async () => {
  const { alice: a, bob: b } = V.users;
  assert.deepEqual(await safetyNumber(a.username, a.publicKey, b.username, b.publicKey), V.safetyNumber);
  assert.deepEqual(await safetyNumber(b.username.toUpperCase(), b.publicKey, a.username, a.publicKey), V.safetyNumber);
  assert.equal(V.safetyNumber.length, 6);
  for (const group of V.safetyNumber) assert.match(group, /^\d{5}$/);
});

test('the version 2 backup opens with the keys of its password, for its user only', { timeout: 60_000 }, async () => {
  const b = V.backup;
  assert.equal(b.kdf.m, 19456);
  const keys = await deriveKeys(b.password, b.kdf);
  assert.equal(keys.authKey, b.authKey);
  assert.deepEqual(await openBackup(b.encryptedPrivateKey, b.username, keys.vaultKey), b.privateKey);
  await assert.rejects(openBackup(b.encryptedPrivateKey, V.users.alice.username, keys.vaultKey), WrongPasswordError);
  const aad = `nexchat-key-backup|v2|${low(b.username)}`;
  const again = await seal(await rawKey(b.vaultKey), b.encryptedPrivateKey.iv, aad, JSON.stringify(privateJwkOf(b.privateKey)));
  assert.equal(again, b.encryptedPrivateKey.ciphertext);
});

test('the version 1 backup opens with its password', async () => {
  const b = V.backupV1;
  assert.deepEqual(await openBackupV1(b.encryptedPrivateKey, b.password), b.privateKey);
  await assert.rejects(openBackupV1(b.encryptedPrivateKey, 'another password'), WrongPasswordError);
});

test('the group key messages, chat message, title and avatar open and seal again to the same bytes', async () => {
  const { bobSide, aliceSelf } = await users();
  const g = V.group;
  const raw = fromBase64(g.senderKey.key);
  assert.equal(raw.length, 32);
  for (const k of g.keyMessages) {
    const toSelf = low(k.to) === low(g.senderKey.owner);
    const { keyId, raw: got } = await decryptKeyMessage(toSelf ? aliceSelf : bobSide, { group: g.id, ...k });
    assert.equal(keyId, g.senderKey.keyId, k.name);
    assert.deepEqual(got, raw, k.name);
    assert.equal(k.body, JSON.stringify({ v: 1, keyId, key: toBase64(got) }), k.name);
    const aad = `nexchat-v1|group-key|${g.id}|${k.id}|${low(k.sender)}|${low(k.to)}`;
    assert.equal(k.aad, aad, k.name);
    assert.equal(dec.decode(groupKeyAad({ group: g.id, ...k })), aad, k.name);
    const pair = await rawKey(toSelf ? g.selfMessageKey : V.messageKey);
    assert.equal(await seal(pair, k.iv, aad, k.body), k.ciphertext, k.name);
  }

  const senderKey = await importSenderKey(raw);
  const sealer = await rawKey(raw);
  const m = g.message;
  const { text } = await decryptGroupMessageBody(senderKey, { group: g.id, ...m });
  assert.equal(dec.decode(messageBody(text)), m.body);
  const aad = `nexchat-v1|group-message|${g.id}|${low(m.sender)}|${m.keyId}|${m.id}`;
  assert.equal(m.aad, aad);
  assert.equal(dec.decode(groupMessageAad({ group: g.id, ...m })), aad);
  assert.equal(await seal(sealer, m.iv, aad, m.body), m.ciphertext);
  await assert.rejects(decryptGroupMessageBody(senderKey, { group: g.id, ...m, sender: V.users.bob.username }));

  for (const [kind, f] of [['title', g.title], ['avatar', g.avatar]]) {
    assert.equal(await openField(kind, senderKey, f, g.id), f.text, kind);
    const fieldAad = `nexchat-v1|group-${kind}|${g.id}|${low(f.by)}|${f.keyId}`;
    assert.equal(f.aad, fieldAad, kind);
    assert.equal(dec.decode(sealedFieldAad(kind, { group: g.id, ...f })), fieldAad, kind);
    assert.equal(await seal(sealer, f.iv, fieldAad, f.text), f.ciphertext, kind);
  }
  await assert.rejects(openField('avatar', senderKey, g.title, g.id));
});

test('the attachments decrypt, match their digests and seal again chunk by chunk to the same bytes', async () => {
  assert.deepEqual(V.attachments.map((a) => a.size), [2600, 2048, 0]);
  for (const a of V.attachments) {
    const bytes = fromBase64(a.ciphertext);
    assert.equal(bytes.length, ciphertextSize(a.size, a.chunk), a.name);
    assert.equal(createHash('sha256').update(bytes).digest('base64'), a.digest, a.name);
    // The browser reads a descriptor with this chunk size (it refuses chunks under 1024).
    assert.equal(parseAttachments([{ id: 'x', ...a }]).length, 1, a.name);
    const blob = await decryptAttachment(bytes, a);
    assert.equal(toBase64(new Uint8Array(await blob.arrayBuffer())), a.plaintext, a.name);

    const key = await rawKey(fromBase64(a.key));
    const nonce = fromBase64(a.nonce);
    const plain = fromBase64(a.plaintext);
    const n = chunkCount(a.size, a.chunk);
    const parts = [];
    for (let i = 0; i < n; i++) {
      const last = i === n - 1;
      assert.equal(dec.decode(chunkAad(i, last)), `nexchat-v1|attachment|${i}|${last ? 1 : 0}`);
      const iv = chunkIv(nonce, i);
      const chunk = plain.subarray(i * a.chunk, Math.min(a.size, (i + 1) * a.chunk));
      parts.push(Buffer.from(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: chunkAad(i, last) }, key, chunk)));
    }
    assert.equal(Buffer.concat(parts).toString('base64'), a.ciphertext, a.name);
  }
  const [photo] = JSON.parse(V.messages[1].body).attachments;
  const first = V.attachments[0];
  assert.deepEqual([photo.key, photo.nonce, photo.digest, photo.size], [first.key, first.nonce, first.digest, first.size]);

  const tampered = fromBase64(first.ciphertext);
  tampered[1500] ^= 1;
  await assert.rejects(decryptAttachment(tampered, first), /fingerprint/);
});
