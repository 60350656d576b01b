// Attachments (protocol 1.3) end to end in real Chromium against the real server: the chunked
// file encryption on its own; photos that carry EXIF (a PNG with an eXIf and a tEXt chunk, a JPEG
// with an APP1 Exif segment) arrive as valid pictures without any of it; a file arrives byte for
// byte; a voice note recorded from Chromium's fake microphone plays on the other side; the same
// in a group of three; the upload and download progress, the errors with the server's limits, the
// attach button gone where the server takes no attachments; keyboard and axe on a laptop and a
// phone. Throughout, neither the requests nor the server's disk ever hold a file's plaintext.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  assertNeverSent, assertNoProblems, axeViolations, befriend, contrastFailures, launchBrowser, login, openChat, openClient,
  register, screenshot, SLOW, startServer,
} from './helpers.js';

const ALICE = 'alice';
const BOB = 'Bob_9';
const CAROL = 'carol';
const GROUP_TITLE = 'Photo club 📷';
/** Strings hidden in the photos' metadata: none may reach the receiver, the requests or the disk. */
const EXIF_SECRET = 'GPS 48.85837N 2.29448E secret-exif-7731';
const TEXT_SECRET = 'Camera serial SN-0042-secret-text';
const JPEG_SECRET = 'Jpeg exif location 51.5007N secret-app1-9090';
/** A marker in the plain file, and its name: the server sees neither. */
const FILE_MARKER = 'PLAINTEXT-MARKER-quarterly-figures-5150';
const FILE_NAME = 'report-q3 (final).pdf';
const CAPTION = 'The view from the tower: harbour-3141';

let server;
let browser;
let alice;
let bob;
let carol;
let gid;
/** Every upload body Alice's, Bob's and Carol's pages sent (POST /attachments), in order. */
const uploads = [];

// --- making files -----------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A big-endian TIFF holding one ImageDescription: the payload of an eXIf chunk or an APP1 segment. */
function tiffWith(text) {
  const str = Buffer.from(`${text}\0`, 'latin1');
  const head = Buffer.alloc(26);
  head.write('MM', 0, 'latin1');
  head.writeUInt16BE(42, 2);
  head.writeUInt32BE(8, 4);
  head.writeUInt16BE(1, 8); // one entry
  head.writeUInt16BE(0x010e, 10); // ImageDescription
  head.writeUInt16BE(2, 12); // ASCII
  head.writeUInt32BE(str.length, 14);
  head.writeUInt32BE(26 + 4, 18); // the string after the next-IFD offset
  head.writeUInt32BE(0, 22);
  return Buffer.concat([head, Buffer.alloc(4), str]);
}

const PNG_W = 64;
const PNG_H = 48;
/** The colour of each pixel of the test PNG: a gradient, so a wrong decode shows. */
const pixelAt = (x, y) => [x * 4, y * 5, (x * 7 + y * 3) % 256];

/** An RGB PNG with an eXIf chunk and a tEXt chunk, both carrying secrets. */
function pngWithExif() {
  const rows = [];
  for (let y = 0; y < PNG_H; y++) {
    const row = Buffer.alloc(1 + PNG_W * 3);
    for (let x = 0; x < PNG_W; x++) row.set(pixelAt(x, y), 1 + x * 3);
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(PNG_W, 0);
  ihdr.writeUInt32BE(PNG_H, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('eXIf', tiffWith(EXIF_SECRET)),
    pngChunk('tEXt', Buffer.from(`Comment\0${TEXT_SECRET}`, 'latin1')),
    pngChunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The chunk types of a PNG, in order; throws when it is not one or a CRC is wrong. */
function pngChunks(buf) {
  assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
  const types = [];
  for (let at = 8; at < buf.length;) {
    const len = buf.readUInt32BE(at);
    const type = buf.subarray(at + 4, at + 8).toString('latin1');
    assert.equal(buf.readUInt32BE(at + 8 + len), crc32(buf.subarray(at + 4, at + 8 + len)), `the CRC of ${type}`);
    types.push(type);
    at += 12 + len;
  }
  return types;
}

/** A JPEG drawn by the page, with an APP1 Exif segment put in after its SOI. */
async function jpegWithExif(page) {
  const b64 = await page.evaluate(async () => {
    const c = document.createElement('canvas');
    c.width = 80;
    c.height = 60;
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#2a7fd0';
    ctx.fillRect(0, 0, 80, 60);
    ctx.fillStyle = '#f0c020';
    ctx.fillRect(20, 15, 40, 30);
    return c.toDataURL('image/jpeg', 0.9).split(',')[1];
  });
  const jpeg = Buffer.from(b64, 'base64');
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiffWith(JPEG_SECRET)]);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), app1, payload, jpeg.subarray(2)]);
}

/** A file of `size` bytes, not compressible, with the marker at its start, middle and end. */
function plainFile(size) {
  const buf = Buffer.alloc(size);
  let x = 12345;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  const m = Buffer.from(FILE_MARKER);
  buf.set(m, 0);
  buf.set(m, Math.floor(size / 2));
  buf.set(m, size - m.length);
  return buf;
}

const FILE_BYTES = plainFile(200_000);

// --- helpers ------------------------------------------------------------------------------

function watchUploads(page) {
  page.context().on('request', (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/attachments') uploads.push(req.postDataBuffer());
  });
}

/** Every file under the server's folder (its SQLite files and its blob directory). */
function filesOnDisk(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesOnDisk(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

/** Fails when the upload bodies or any file on the server's disk hold one of `needles`. */
function assertServerNeverHad(needles, what) {
  for (const body of uploads) {
    for (const n of needles) assert.ok(!body.includes(n), `${what}: an upload body holds plaintext (${String(n).slice(0, 40)})`);
  }
  for (const file of filesOnDisk(server.dir)) {
    const bytes = fs.readFileSync(file);
    for (const n of needles) assert.ok(!bytes.includes(n), `${what}: ${file} holds plaintext (${String(n).slice(0, 40)})`);
  }
}

/** Sends the files (and `text`) from the open 1:1 chat's or group's composer. */
async function sendFiles(page, files, text = '', { group = false } = {}) {
  const p = group ? 'group-' : '';
  await page.locator(`#${p}composer-file`).setInputFiles(files);
  await page.locator(`#${p}composer-tray li.draft[data-draft]`).nth(files.length - 1).waitFor({ timeout: SLOW });
  await page.locator(`#${p}composer-input`).fill(text);
  await page.locator(`#${p}composer-input`).press('Enter');
}

function lastOut(page, { group = false } = {}) {
  return page.locator(`#${group ? 'group-' : ''}timeline li.msg.out`).last();
}

function lastIn(page, { group = false } = {}) {
  return page.locator(`#${group ? 'group-' : ''}timeline li.msg.in`).last();
}

/** Clicks `button` and resolves to the bytes of the download it starts. */
async function downloadOf(page, button) {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: SLOW }), button.click()]);
  return { name: download.suggestedFilename(), bytes: fs.readFileSync(await download.path()) };
}

/** Decodes picture bytes in the page: {width, height, pixels (RGBA, as an array)}. */
function decodeIn(page, bytes, type) {
  return page.evaluate(async ({ b64, type: t }) => {
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bin], { type: t }));
    const c = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = c.getContext('2d');
    ctx.drawImage(bitmap, 0, 0);
    return { width: bitmap.width, height: bitmap.height, pixels: [...ctx.getImageData(0, 0, bitmap.width, bitmap.height).data] };
  }, { b64: bytes.toString('base64'), type });
}

const groupButton = (page) => page.locator(`#groups-list button[data-group="${gid}"]`);

async function openGroup(page) {
  await groupButton(page).click();
  await page.locator(`#group-chat[data-group="${gid}"]`).waitFor();
}

before(async () => {
  server = await startServer('attachments');
  browser = await launchBrowser();
  [alice, bob, carol] = await Promise.all([0, 1, 2].map(() => openClient(browser, server.url)));
  for (const page of [alice, bob, carol]) watchUploads(page);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// --- tests --------------------------------------------------------------------------------

test('file encryption: chunks, IVs, AADs and the digest as the protocol says; a cut or altered blob does not open', { timeout: SLOW }, async () => {
  const r = await alice.evaluate(async () => {
    const ac = await import(new URL('attachmentCrypto.js', document.baseURI));
    const subtle = crypto.subtle;
    const fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    const b64 = (u8) => btoa(String.fromCharCode(...u8));
    const opens = async (fn) => { try { return await fn(); } catch { return false; } };
    const out = {};
    // Two full chunks and a short one.
    const plain = new Uint8Array(2 * 65536 + 1000);
    for (let i = 0; i < plain.length; i += 65536) crypto.getRandomValues(plain.subarray(i, Math.min(plain.length, i + 65536)));
    const progress = [];
    const { bytes, meta } = await ac.encryptAttachment(new Blob([plain]), { onProgress: (f) => progress.push(f) });
    out.progress = progress;
    out.sizes = [bytes.length, ac.ciphertextSize(plain.length), meta.size, meta.chunk];
    out.keyLen = fromB64(meta.key).length;
    out.nonceLen = fromB64(meta.nonce).length;
    out.digest = meta.digest === b64(new Uint8Array(await subtle.digest('SHA-256', bytes)));
    // Chunk 1 opens by hand with IV nonce ‖ 00000001 and the AAD the protocol spells out.
    const key = await subtle.importKey('raw', fromB64(meta.key), 'AES-GCM', false, ['decrypt']);
    const iv = new Uint8Array([...fromB64(meta.nonce), 0, 0, 0, 1]);
    const chunk1 = await opens(async () => new Uint8Array(await subtle.decrypt(
      { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode('nexchat-v1|attachment|1|0') },
      key,
      bytes.subarray(65552, 2 * 65552),
    )));
    out.chunk1 = chunk1 && chunk1.every((v, i) => v === plain[65536 + i]);
    const back = new Uint8Array(await (await ac.decryptAttachment(bytes, meta)).arrayBuffer());
    out.roundTrip = back.length === plain.length && back.every((v, i) => v === plain[i]);
    // Cut after the first two chunks, with a digest and size that match the cut: chunk 1 is not
    // the last one, so it does not open as the end.
    const cut = bytes.slice(0, 2 * 65552);
    const cutMeta = { ...meta, size: 2 * 65536, digest: b64(new Uint8Array(await subtle.digest('SHA-256', cut))) };
    out.cut = await opens(() => ac.decryptAttachment(cut, cutMeta));
    const flipped = bytes.slice();
    flipped[70000] ^= 1;
    out.flippedDigest = await opens(() => ac.decryptAttachment(flipped, meta));
    const flippedDigest = b64(new Uint8Array(await subtle.digest('SHA-256', flipped)));
    out.flippedChunk = await opens(() => ac.decryptAttachment(flipped, { ...meta, digest: flippedDigest }));
    // An empty file is one empty final chunk: its tag alone.
    const empty = await ac.encryptAttachment(new Blob([]));
    out.empty = [empty.bytes.length, (await (await ac.decryptAttachment(empty.bytes, empty.meta)).arrayBuffer()).byteLength];
    // Exactly one chunk: one chunk, the last.
    const one = await ac.encryptAttachment(new Blob([new Uint8Array(65536)]));
    out.one = one.bytes.length;
    // Each file its own key and nonce.
    out.fresh = one.meta.key !== empty.meta.key && one.meta.nonce !== empty.meta.nonce;
    // Bodies from the wire are checked: a short key, a remote thumbnail are not taken.
    const good = { ...meta, id: 'x', type: 'image/png', name: '../../etc/passwd', thumbnail: 'data:image/jpeg;base64,AAAA' };
    out.parsed = ac.parseAttachments([good, { ...good, key: 'AAAA' }, { ...good, thumbnail: 'https://evil.example/t.jpg' }])
      .map((a) => [a.name, a.thumbnail ?? null]);
    return out;
  });
  assert.deepEqual(r.progress, [1 / 3, 2 / 3, 1]);
  assert.deepEqual(r.sizes, [2 * 65536 + 1000 + 3 * 16, 2 * 65536 + 1000 + 3 * 16, 2 * 65536 + 1000, 65536]);
  assert.equal(r.keyLen, 32);
  assert.equal(r.nonceLen, 8);
  assert.equal(r.digest, true, 'the digest is the SHA-256 of the whole ciphertext');
  assert.equal(r.chunk1, true, 'chunk 1 opens with IV nonce ‖ uint32be(1) and AAD nexchat-v1|attachment|1|0');
  assert.equal(r.roundTrip, true);
  assert.equal(r.cut, false, 'a blob cut at a chunk boundary does not open');
  assert.equal(r.flippedDigest, false, 'a changed byte fails the digest');
  assert.equal(r.flippedChunk, false, 'a changed byte fails its chunk even with a matching digest');
  assert.deepEqual(r.empty, [16, 0]);
  assert.equal(r.one, 65552);
  assert.equal(r.fresh, true);
  assert.deepEqual(r.parsed, [['passwd', 'data:image/jpeg;base64,AAAA'], ['passwd', null]]);
});

test('three users register; Alice befriends Bob and Carol; the attach and record buttons show', { timeout: 6 * SLOW }, async () => {
  await register(alice, ALICE);
  await register(bob, BOB);
  await register(carol, CAROL);
  await befriend(alice, ALICE, bob, BOB);
  await befriend(alice, ALICE, carol, CAROL);
  await openChat(alice, BOB);
  await openChat(bob, ALICE);
  await alice.locator('#attach-btn').waitFor({ timeout: SLOW });
  await alice.locator('#mic-btn').waitFor();
  assert.equal(await alice.locator('#attach-btn').getAttribute('aria-label'), 'Attach a photo or file');
});

test('photos with EXIF arrive as valid pictures without it, and the server only ever had ciphertext', { timeout: 4 * SLOW }, async () => {
  const png = pngWithExif();
  const jpeg = await jpegWithExif(alice);
  assert.ok(png.includes(Buffer.from(EXIF_SECRET)) && jpeg.includes(Buffer.from(JPEG_SECRET)), 'the originals carry the secrets');
  const before = uploads.length;
  await alice.locator('#composer-file').setInputFiles([
    { name: 'tower.png', mimeType: 'image/png', buffer: png },
    { name: 'IMG_2041.JPG', mimeType: 'image/jpeg', buffer: jpeg },
  ]);
  // A preview of each before sending, removable.
  const drafts = alice.locator('#composer-tray li.draft[data-kind="photo"]');
  await drafts.nth(1).waitFor({ timeout: SLOW });
  assert.match(await drafts.first().locator('img').getAttribute('src'), /^blob:/);
  assert.equal(await alice.getByRole('button', { name: 'Remove tower.png' }).count(), 1);
  assert.equal(await drafts.nth(1).locator('.draft-name').textContent(), 'IMG_2041.jpg');
  await alice.locator('#composer-input').fill(CAPTION);
  await alice.locator('#composer-input').press('Enter');
  await alice.locator('#composer-tray').waitFor({ state: 'hidden' });

  const out = lastOut(alice);
  await out.locator('.att-photo').nth(1).waitFor();
  await out.and(alice.locator('[data-status="delivered"], [data-status="seen"]')).waitFor({ timeout: SLOW });
  assert.equal(uploads.length - before, 2, 'one upload per photo');

  // Bob: the caption, and each photo as its thumbnail from the message body.
  const msg = lastIn(bob);
  await msg.locator('.text', { hasText: CAPTION }).waitFor({ timeout: SLOW });
  const thumbs = await msg.locator('.att-photo img').evaluateAll((imgs) => imgs.map((i) => ({ src: i.getAttribute('src'), w: i.naturalWidth })));
  assert.equal(thumbs.length, 2);
  for (const t of thumbs) {
    assert.match(t.src, /^data:image\/jpeg;base64,/);
    assert.ok(t.src.length <= 8192, `a thumbnail is at most 8 KiB (${t.src.length})`);
    assert.ok(t.w > 0, 'the thumbnail shows');
  }

  // Opened: downloaded, checked and decrypted on demand, shown in a dialog, saved as it came.
  await msg.getByRole('button', { name: /^Open photo tower\.png/ }).click();
  await bob.locator('#media-dialog[open][data-state="ready"]').waitFor({ timeout: SLOW });
  const shown = await bob.locator('#media-img').evaluate((i) => ({ src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight }));
  assert.match(shown.src, /^blob:/);
  assert.deepEqual([shown.w, shown.h], [PNG_W, PNG_H]);
  const pngBack = await downloadOf(bob, bob.locator('#media-save'));
  assert.equal(pngBack.name, 'tower.png');
  const types = pngChunks(pngBack.bytes);
  assert.equal(types[0], 'IHDR');
  assert.ok(!types.includes('eXIf') && !types.includes('tEXt') && !types.includes('zTXt') && !types.includes('iTXt'), `no metadata chunk: ${types}`);
  for (const s of [EXIF_SECRET, TEXT_SECRET, 'secret']) assert.ok(!pngBack.bytes.includes(Buffer.from(s)), `the received PNG does not hold "${s}"`);
  // The same pixels: PNG is re-encoded without loss.
  const decoded = await decodeIn(bob, pngBack.bytes, 'image/png');
  assert.deepEqual([decoded.width, decoded.height], [PNG_W, PNG_H]);
  for (const [x, y] of [[0, 0], [63, 0], [10, 20], [63, 47]]) {
    const i = (y * PNG_W + x) * 4;
    assert.deepEqual(decoded.pixels.slice(i, i + 3), pixelAt(x, y), `pixel ${x},${y}`);
  }
  await bob.keyboard.press('Escape');
  await bob.locator('#media-dialog:not([open])').waitFor({ state: 'attached' });

  await msg.getByRole('button', { name: /^Open photo IMG_2041\.jpg/ }).click();
  await bob.locator('#media-dialog[open][data-state="ready"]').waitFor({ timeout: SLOW });
  const jpegBack = await downloadOf(bob, bob.locator('#media-save'));
  assert.deepEqual([...jpegBack.bytes.subarray(0, 2)], [0xff, 0xd8], 'a JPEG');
  assert.deepEqual([...jpegBack.bytes.subarray(-2)], [0xff, 0xd9]);
  assert.ok(!jpegBack.bytes.includes(Buffer.from('Exif\0\0', 'latin1')), 'no Exif segment');
  assert.ok(!jpegBack.bytes.includes(Buffer.from(JPEG_SECRET)), 'the received JPEG does not hold the secret');
  const j = await decodeIn(bob, jpegBack.bytes, 'image/jpeg');
  assert.deepEqual([j.width, j.height], [80, 60]);
  await bob.locator('#media-done').click();
  // The photo in the bubble is the decrypted one from now on, not the thumbnail.
  assert.match(await msg.locator('.att-photo img').first().getAttribute('src'), /^blob:/);

  // The server: ciphertext of the re-encoded photos, exactly as large as the protocol says.
  assert.equal(uploads.at(-2).length, pngBack.bytes.length + 16 * Math.max(1, Math.ceil(pngBack.bytes.length / 65536)));
  assert.equal(uploads.at(-1).length, jpegBack.bytes.length + 16 * Math.max(1, Math.ceil(jpegBack.bytes.length / 65536)));
  assertServerNeverHad([
    Buffer.from(EXIF_SECRET), Buffer.from(TEXT_SECRET), Buffer.from(JPEG_SECRET), Buffer.from(CAPTION), Buffer.from('tower.png'),
    pngBack.bytes.subarray(0, 64), png.subarray(0, 64), jpegBack.bytes.subarray(0, 64), Buffer.from('IHDR'),
  ], 'photos');
  // What the server keeps on disk (the example server: a file per blob beside its database) is
  // exactly what was uploaded.
  const stored = filesOnDisk(`${server.db}.blobs`).map((f) => fs.readFileSync(f));
  for (const body of uploads.slice(-2)) assert.ok(stored.some((b) => b.equals(body)), 'the blob on disk is the uploaded ciphertext');
  for (const secret of [EXIF_SECRET, TEXT_SECRET, JPEG_SECRET, CAPTION, 'tower.png', 'IMG_2041']) assertNeverSent(alice.traffic, secret, 'photos');
  assertNoProblems(alice, bob);
});

test('a file arrives byte for byte, with its name and size, saved through a download link', { timeout: 3 * SLOW }, async () => {
  await sendFiles(alice, [{ name: FILE_NAME, mimeType: 'application/pdf', buffer: FILE_BYTES }]);
  const msg = lastIn(bob);
  const block = msg.locator('.att-file');
  await block.locator('.att-name', { hasText: FILE_NAME }).waitFor({ timeout: SLOW });
  assert.equal(await block.locator('.att-size').textContent(), '195 KB');
  // Attachment-only: no empty text line.
  assert.equal(await msg.locator('.text').count(), 0);
  const back = await downloadOf(bob, block.getByRole('button', { name: `Download ${FILE_NAME}, 195 KB` }));
  assert.equal(back.name, FILE_NAME);
  assert.ok(back.bytes.equals(FILE_BYTES), 'the saved file is the original, byte for byte');
  // The list shows what the last message was.
  await bob.locator(`#friends-list button[data-friend="${ALICE}"] .sub, #friends-list button[data-friend="${ALICE}"]`, { hasText: FILE_NAME }).first().waitFor();
  // Alice's own copy is saved from this tab, without a download.
  const own = await downloadOf(alice, lastOut(alice).getByRole('button', { name: new RegExp(`^Download ${FILE_NAME.replace(/[()]/g, '\\$&')}`) }));
  assert.ok(own.bytes.equals(FILE_BYTES));
  assertServerNeverHad([Buffer.from(FILE_MARKER), FILE_BYTES.subarray(1000, 1064), Buffer.from(FILE_NAME)], 'file');
  assertNeverSent(alice.traffic, FILE_MARKER, 'file');
  assertNeverSent(alice.traffic, 'quarterly-figures', 'file');
  assertNeverSent(alice.traffic, FILE_NAME, 'file');
  assertNoProblems(alice, bob);
});

test('uploads and downloads show their progress', { timeout: 3 * SLOW }, async () => {
  // Slow links (Chromium's network emulation), so that the progress can be seen.
  const throttle = async (page, limits) => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: -1, ...limits,
    });
    return cdp;
  };
  const big = plainFile(1_500_000);
  const up = await throttle(alice, { uploadThroughput: 600_000 });
  await sendFiles(alice, [{ name: 'slides.bin', mimeType: 'application/octet-stream', buffer: big }]);
  const sending = lastOut(alice).locator('.att-file');
  await sending.locator('.att-progress:not([hidden])').waitFor({ timeout: SLOW });
  assert.equal(await sending.getAttribute('data-transfer'), 'up');
  assert.equal(await sending.locator('.att-progress').getAttribute('aria-label'), 'Uploading slides.bin');
  await alice.waitForFunction((el) => el.value > 0 && el.value < 1, await sending.locator('.att-progress').elementHandle(), { timeout: SLOW });
  await sending.locator('.att-progress').waitFor({ state: 'hidden', timeout: SLOW });
  await up.detach();

  const receiving = lastIn(bob).locator('.att-file', { has: bob.locator('.att-name', { hasText: 'slides.bin' }) });
  await receiving.waitFor({ timeout: SLOW });
  const down = await throttle(bob, { downloadThroughput: 600_000 });
  const [download] = await Promise.all([
    bob.waitForEvent('download', { timeout: SLOW }),
    (async () => {
      await receiving.getByRole('button', { name: /^Download slides\.bin/ }).click();
      await receiving.locator('.att-progress:not([hidden])').waitFor({ timeout: SLOW });
      assert.equal(await receiving.getAttribute('data-transfer'), 'down');
      await bob.waitForFunction((el) => el.value > 0 && el.value < 1, await receiving.locator('.att-progress').elementHandle(), { timeout: SLOW });
    })(),
  ]);
  await down.detach();
  assert.ok(fs.readFileSync(await download.path()).equals(big));
  assertNoProblems(alice, bob);
});

test('a voice note recorded from the microphone plays on the other side', { timeout: 3 * SLOW }, async () => {
  await alice.getByRole('button', { name: 'Record a voice message' }).click();
  const recorder = alice.locator('#composer-recorder');
  await recorder.waitFor();
  // The live waveform draws and the clock runs.
  await recorder.locator('.rec-time', { hasText: /^0:0[2-9]$/ }).waitFor({ timeout: SLOW });
  assert.equal(await alice.locator('#mic-btn').getAttribute('aria-label'), 'Stop recording');
  const drawn = await recorder.locator('canvas').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) painted += 1;
    return painted;
  });
  assert.ok(drawn > 0, 'the live waveform is drawn');
  await recorder.getByRole('button', { name: 'Stop recording and keep the voice message' }).click();
  const draft = alice.locator('#composer-tray li.draft[data-kind="voice"]');
  await draft.waitFor();
  assert.match(await draft.locator('.draft-name').textContent(), /^Voice message, 0:0[2-9]$/);
  await alice.locator('#send-btn').click();

  const msg = lastIn(bob);
  const voice = msg.locator('.att-voice');
  await voice.waitFor({ timeout: SLOW });
  assert.equal(await voice.locator('.att-wave .bar').count(), 48);
  const heights = await voice.locator('.att-wave .bar').evaluateAll((bars) => bars.map((b) => Number(b.style.getPropertyValue('--h'))));
  assert.ok(new Set(heights).size > 3, `the waveform is not flat: ${heights}`);
  assert.match(await voice.locator('.att-time').textContent(), /^0:0[2-9]$/);
  await voice.getByRole('button', { name: 'Play voice message' }).click();
  await voice.getByRole('button', { name: 'Pause voice message' }).waitFor({ timeout: SLOW });
  const audio = voice.locator('audio');
  await bob.waitForFunction((el) => el.currentTime > 0.3 && !el.paused, await audio.elementHandle(), { timeout: SLOW });
  const state = await audio.evaluate((el) => ({ duration: el.duration, src: el.getAttribute('src'), error: el.error?.code ?? null }));
  assert.ok(Number.isFinite(state.duration) && state.duration > 1.5, `the audio has a duration (${state.duration})`);
  assert.match(state.src, /^blob:/);
  assert.equal(state.error, null);
  // Seeking by the waveform (a slider): the keyboard moves it.
  await voice.getByRole('button', { name: 'Pause voice message' }).click();
  await voice.getByRole('slider').focus();
  await bob.keyboard.press('End');
  assert.ok(await audio.evaluate((el) => el.currentTime > el.duration * 0.9), 'End seeks to the end');
  await bob.keyboard.press('Home');
  assert.ok(await audio.evaluate((el) => el.currentTime < 0.2), 'Home seeks to the start');
  // A click on the waveform seeks there.
  const box = await voice.locator('.att-wave').boundingBox();
  await bob.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  const half = await audio.evaluate((el) => el.currentTime / el.duration);
  assert.ok(half > 0.35 && half < 0.65, `a click in the middle seeks to the middle (${half})`);
  assert.equal(await voice.getByRole('slider').getAttribute('aria-valuemax'), String(Math.round(state.duration)));
  // The sender plays their own note from the recording this tab kept: nothing is downloaded.
  const downloads = () => alice.traffic.filter((e) => e.kind === 'http' && e.method === 'GET' && new URL(e.url).pathname.startsWith('/attachments/')).length;
  const before = downloads();
  const own = lastOut(alice).locator('.att-voice');
  await own.getByRole('button', { name: 'Play voice message' }).click();
  await alice.waitForFunction((el) => el.currentTime > 0.2, await own.locator('audio').elementHandle(), { timeout: SLOW });
  await own.getByRole('button', { name: 'Pause voice message' }).click();
  assert.equal(downloads(), before);
  assertNoProblems(alice, bob);
});

test('the errors say why, with the server\'s limits: too large, over the quota', { timeout: 6 * SLOW }, async () => {
  // A server of its own with small limits: 1 MiB a file, 1 MiB a user.
  const small = await startServer('attachments-limits', { args: ['--max-attachment-mib', '1', '--attachment-quota-mib', '1'] });
  try {
    const [dora, eve] = await Promise.all([0, 1].map(() => openClient(browser, small.url)));
    await register(dora, 'dora');
    await register(eve, 'eve');
    await befriend(dora, 'dora', eve, 'eve');
    await openChat(dora, 'eve');
    await openChat(eve, 'dora');
    await dora.locator('#attach-btn').waitFor({ timeout: SLOW });
    const doraUploads = [];
    dora.context().on('request', (req) => {
      if (req.method() === 'POST' && new URL(req.url()).pathname === '/attachments') doraUploads.push(req);
    });

    // Larger than the limit: refused in the browser, before anything is encrypted or uploaded.
    await dora.locator('#composer-file').setInputFiles([{ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc((1 << 20) + 1) }]);
    const err = dora.locator('#composer-tray .tray-error');
    await err.waitFor();
    assert.equal(await err.textContent(), 'huge.bin is 1.0 MB: the server takes files up to 1 MB.');
    assert.equal(await dora.locator('#composer-tray li.draft').count(), 0);

    // Within the limit, and within the quota: sent.
    await sendFiles(dora, [{ name: 'first.bin', mimeType: 'application/octet-stream', buffer: plainFile(700_000) }]);
    await lastIn(eve).locator('.att-name', { hasText: 'first.bin' }).waitFor({ timeout: SLOW });
    // The second would pass the quota: the server refuses it (413 quota_exceeded), and the
    // message says what is used of what, from GET /attachments.
    await sendFiles(dora, [{ name: 'second.bin', mimeType: 'application/octet-stream', buffer: plainFile(700_000) }]);
    const failed = lastOut(dora);
    await failed.locator('.failed-row').waitFor({ timeout: SLOW });
    const why = 'second.bin was not sent: your files use 684 KB of the 1 MB the server gives you, and this one needs 684 KB.';
    assert.equal(await failed.locator('.failed-row > span').textContent(), `Not sent. ${why}`);
    assert.equal(await failed.locator('.att-error').textContent(), why);
    await dora.locator('#toasts .toast-error', { hasText: why }).waitFor();
    const answers = await Promise.all(doraUploads.map(async (r) => (await r.response())?.status()));
    assert.deepEqual(answers, [201, 413]);

    // Too large by the server's count (a limit lowered since the page loaded): the limit from GET /attachments.
    await dora.route('**/attachments', (route) => (route.request().method() === 'POST'
      ? route.fulfill({ status: 413, contentType: 'application/json', body: JSON.stringify({ error: 'too_large', message: 'too large' }) })
      : route.fallback()));
    await failed.getByRole('button', { name: 'Retry sending this message' }).click();
    await failed.locator('.failed-row', { hasText: 'second.bin was not sent: it is 684 KB, and the server takes files up to 1 MB.' }).waitFor({ timeout: SLOW });
    await dora.unroute('**/attachments');
    // A smaller file goes through.
    await sendFiles(dora, [{ name: 'small.txt', mimeType: 'text/plain', buffer: Buffer.from('a few bytes') }], 'this one fits');
    await lastIn(eve).locator('.att-name', { hasText: 'small.txt' }).waitFor({ timeout: SLOW });
    assertNoProblems(dora, eve);
    await dora.context().close();
    await eve.context().close();
  } finally {
    await small.stop();
  }
});

test('in a group of three, every member gets the photo and the file', { timeout: 6 * SLOW }, async () => {
  await alice.getByRole('button', { name: 'New group' }).click();
  await alice.locator('#new-group-name').fill(GROUP_TITLE);
  await alice.getByRole('checkbox', { name: BOB }).check();
  await alice.getByRole('checkbox', { name: CAROL }).check();
  await alice.getByRole('button', { name: 'Create group' }).click();
  await alice.locator('#group-chat:not([hidden])').waitFor();
  gid = await alice.locator('#group-chat').getAttribute('data-group');
  for (const page of [bob, carol]) {
    await groupButton(page).locator('.group-title', { hasText: GROUP_TITLE }).waitFor({ timeout: SLOW });
    await openGroup(page);
  }
  await alice.locator('#group-attach-btn').waitFor();
  const png = pngWithExif();
  const groupFile = plainFile(70_000);
  await sendFiles(alice, [
    { name: 'club.png', mimeType: 'image/png', buffer: png },
    { name: 'minutes.odt', mimeType: 'application/vnd.oasis.opendocument.text', buffer: groupFile },
  ], 'Minutes and a picture', { group: true });
  await lastOut(alice, { group: true }).and(alice.locator('[data-status="delivered"], [data-status="seen"]')).waitFor({ timeout: SLOW });
  for (const page of [bob, carol]) {
    const msg = lastIn(page, { group: true });
    await msg.locator('.text', { hasText: 'Minutes and a picture' }).waitFor({ timeout: SLOW });
    assert.equal(await msg.locator('.sender-name').textContent(), ALICE);
    const back = await downloadOf(page, msg.getByRole('button', { name: /^Download minutes\.odt/ }));
    assert.ok(back.bytes.equals(groupFile), 'the group file arrives byte for byte');
    await msg.getByRole('button', { name: /^Open photo club\.png/ }).click();
    await page.locator('#media-dialog[open][data-state="ready"]').waitFor({ timeout: SLOW });
    const photo = await downloadOf(page, page.locator('#media-save'));
    assert.ok(!pngChunks(photo.bytes).includes('eXIf'));
    assert.ok(!photo.bytes.includes(Buffer.from(EXIF_SECRET)));
    await page.keyboard.press('Escape');
  }
  // Bob answers the group with a voice note; Carol and Alice can play it.
  await bob.locator('#group-mic-btn').click();
  await bob.locator('#group-composer-recorder .rec-time', { hasText: /^0:0[1-9]$/ }).waitFor({ timeout: SLOW });
  await bob.locator('#group-mic-btn').click(); // the same button stops
  await bob.locator('#group-composer-tray li.draft[data-kind="voice"]').waitFor();
  await bob.locator('#group-send-btn').click();
  for (const page of [alice, carol]) {
    const voice = lastIn(page, { group: true }).locator('.att-voice');
    await voice.waitFor({ timeout: SLOW });
    await voice.getByRole('button', { name: 'Play voice message' }).click();
    await page.waitForFunction((el) => el.currentTime > 0.2 && el.duration > 0, await voice.locator('audio').elementHandle(), { timeout: SLOW });
    await voice.getByRole('button', { name: 'Pause voice message' }).click();
  }
  // The list says what the last message was.
  await groupButton(alice).locator('.sub', { hasText: 'Voice message' }).waitFor();
  assertServerNeverHad([Buffer.from(EXIF_SECRET), groupFile.subarray(5000, 5064), Buffer.from('minutes.odt')], 'group');
  for (const page of [alice, bob]) assertNeverSent(page.traffic, 'minutes.odt', 'group');
  assertNoProblems(alice, bob, carol);
});

test('history on a fresh browser opens the attachments too', { timeout: 4 * SLOW }, async () => {
  const fresh = await openClient(browser, server.url);
  await login(fresh, BOB);
  await openChat(fresh, ALICE);
  const file = fresh.locator('#timeline li.msg.in .att-file', { has: fresh.locator('.att-name', { hasText: FILE_NAME }) });
  await file.waitFor({ timeout: SLOW });
  const back = await downloadOf(fresh, file.getByRole('button', { name: /^Download / }));
  assert.ok(back.bytes.equals(FILE_BYTES));
  await fresh.context().close();
});

test('keyboard, axe and layout with attachments, on a laptop and on a phone', { timeout: 6 * SLOW }, async () => {
  for (const [size, viewport] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    const page = await openClient(browser, server.url, { viewport });
    await login(page, BOB);
    await openChat(page, ALICE);
    const photo = page.locator('#timeline .att-photo').first();
    await photo.waitFor({ timeout: SLOW });
    await page.locator('#timeline .att-voice').last().scrollIntoViewIfNeeded();
    // Nothing wider than the screen.
    const overflow = await page.evaluate(() => {
      const wide = [...document.querySelectorAll('#timeline .bubble')].filter((b) => b.getBoundingClientRect().right > innerWidth + 1);
      return { page: document.documentElement.scrollWidth > innerWidth, bubbles: wide.length };
    });
    assert.deepEqual(overflow, { page: false, bubbles: 0 }, `${size}: the layout fits`);
    // A file waiting in the composer, to see the tray too.
    await page.locator('#composer-file').setInputFiles([{ name: 'draft.txt', mimeType: 'text/plain', buffer: Buffer.from('draft') }]);
    await page.locator('#composer-tray li.draft').waitFor();
    for (const colorScheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme });
      await page.locator(`html[data-theme="${colorScheme}"]`).waitFor({ state: 'attached' });
      await screenshot(page, `attachments-${size}-${colorScheme}.png`);
      const violations = await axeViolations(page);
      assert.deepEqual(violations, [], `${size}, ${colorScheme}: axe:\n${JSON.stringify(violations, null, 2)}`);
      const faint = await contrastFailures(page);
      assert.deepEqual(faint, [], `${size}, ${colorScheme}: text under AA contrast:\n${faint.join('\n')}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    // The tray's remove button from the keyboard; the focus goes back to the message field.
    await page.getByRole('button', { name: 'Remove draft.txt' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('#composer-tray').waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'composer-input');
    // A photo opened from the keyboard, its dialog closed with Escape, the focus back on it.
    await photo.getByRole('button').focus();
    await page.keyboard.press('Enter');
    await page.locator('#media-dialog[open][data-state="ready"]').waitFor({ timeout: SLOW });
    assert.deepEqual(await axeViolations(page), [], `${size}: axe in the photo dialog`);
    await screenshot(page, `attachments-photo-${size}.png`);
    await page.keyboard.press('Escape');
    await page.locator('#media-dialog:not([open])').waitFor({ state: 'attached' });
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('att-thumb')), true);
    // Tab reaches the attach and record buttons.
    const reached = new Set();
    await page.locator('#composer-input').focus();
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Shift+Tab');
      reached.add(await page.evaluate(() => document.activeElement?.id));
    }
    assert.ok(reached.has('attach-btn'), `${size}: Tab reaches the attach button`);
    await page.locator('#composer-input').focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'mic-btn');
    assertNoProblems(page);
    await page.context().close();
  }
});

test('the attach button is not there when the server takes no attachments', { timeout: 3 * SLOW }, async () => {
  const page = await openClient(browser, server.url);
  await page.route('**/client-config', async (route) => {
    const res = await route.fetch();
    const cfg = await res.json();
    delete cfg.maxAttachmentBytes;
    await route.fulfill({ response: res, json: cfg });
  });
  const config = page.waitForResponse((r) => r.url().endsWith('/client-config'));
  await login(page, CAROL);
  await openChat(page, ALICE);
  // The config has arrived, and then some: the buttons stay hidden.
  await config;
  await page.waitForTimeout(500);
  assert.equal(await page.locator('#attach-btn').isHidden(), true);
  assert.equal(await page.locator('#mic-btn').isHidden(), true);
  // What was sent with files still shows (nothing to send them with, though).
  await page.context().close();
});
