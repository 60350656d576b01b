// Chat end to end in real Chromium against the real server: register, befriend, messages both
// ways with ticks, typing and unread badges, history on a fresh browser (key restored from its
// backup), and a database that holds no plaintext.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import qrcode from '../../nexchat-axum/client/vendor/qrcode-generator/qrcode.mjs';
import {
  assertNoProblems, befriend, friendButton, launchBrowser, login, messageByText, openChat, openClient,
  PASSWORD, register, screenshot, send, SLOW, startServer,
} from './helpers.js';

const ALICE = 'alice';
const BOB = 'Bob_42';
const TEXTS = {
  a1: 'Hello Bob, the pineapple code is 7731',
  b1: 'Grüße Alice! mango-4482 received',
  a2: 'Lunch at noon? kiwi-9090',
  b2: 'Yes, see you there. papaya-1234',
};
/** Distinctive pieces of the texts that must not appear in the database either. */
const BULK = 52;
const LATE_TEXT = 'Read this when you are back: lychee-8080';
const OFFLINE_TEXT = 'Written while offline: guava-5150';
const FRAGMENTS = ['pineapple', 'Grüße', 'mango-4482', 'kiwi-9090', 'papaya-1234', 'guava-5150', 'lychee-8080', 'Bulk message'];

let server;
let browser;
let alice;
let bob;

before(async () => {
  server = await startServer('chat');
  browser = await launchBrowser();
  alice = await openClient(browser, server.url);
  bob = await openClient(browser, server.url);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('two users register and befriend each other through the UI', { timeout: 4 * SLOW }, async () => {
  await register(alice, ALICE);
  await register(bob, BOB);
  await befriend(alice, ALICE, bob, BOB);
  // Both are online, so each sees the other's green dot.
  await friendButton(alice, BOB).locator('.online-dot[data-online="true"]').waitFor();
  await friendButton(bob, ALICE).locator('.online-dot[data-online="true"]').waitFor();
});

test('registering a taken name shows the server error', { timeout: 2 * SLOW }, async () => {
  const page = await openClient(browser, server.url);
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.locator('#auth-username').fill('ALICE');
  await page.locator('#auth-password').fill('another password');
  await page.locator('#auth-confirm').fill('another password');
  await page.locator('#auth-submit').click();
  await page.locator('#auth-error', { hasText: 'already taken' }).waitFor({ timeout: SLOW });
  await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.locator('#auth-username').fill(ALICE);
  await page.locator('#auth-password').fill('wrong password!');
  await page.locator('#auth-submit').click();
  await page.locator('#auth-error', { hasText: 'Wrong username or password' }).waitFor({ timeout: SLOW });
  await page.context().close();
});

test('typing dots and an unread badge appear, then ticks go from delivered to blue seen', { timeout: 3 * SLOW }, async () => {
  await openChat(alice, BOB);
  // Alice types without sending: Bob's list shows typing dots next to her.
  await alice.locator('#composer-input').pressSequentially('Hello', { delay: 20 });
  await friendButton(bob, ALICE).locator('.sub.typing .dots').waitFor();
  await alice.locator('#composer-input').fill('');

  await send(alice, TEXTS.a1);
  const sent = messageByText(alice, TEXTS.a1);
  // Bob is online and acknowledges at once: grey double tick.
  await sent.and(alice.locator('[data-status="delivered"]')).waitFor();
  await friendButton(bob, ALICE).locator('.unread-badge', { hasText: '1' }).waitFor();
  await friendButton(bob, ALICE).locator('.dots').waitFor({ state: 'detached' });

  // Bob opens the chat: he reads it, and Alice's tick turns blue.
  await openChat(bob, ALICE);
  await messageByText(bob, TEXTS.a1).waitFor();
  await sent.and(alice.locator('[data-status="seen"]')).waitFor();
  const tickColor = await sent.locator('.ticks .tick').evaluate((el) => getComputedStyle(el).color);
  assert.equal(tickColor, 'rgb(43, 125, 233)', 'seen ticks are blue');
  await friendButton(bob, ALICE).locator('.unread-badge').waitFor({ state: 'detached' });

  // In the open chat, the typing indicator shows above the composer.
  await bob.locator('#composer-input').pressSequentially('Grü', { delay: 20 });
  await alice.locator('#typing-indicator:not([hidden])').waitFor();
  await bob.locator('#composer-input').fill('');
});

test('messages go both ways and each side reads the other', { timeout: 3 * SLOW }, async () => {
  await send(bob, TEXTS.b1);
  await messageByText(alice, TEXTS.b1).waitFor();
  // Alice has Bob's chat open and visible, so Bob's message is seen at once.
  await messageByText(bob, TEXTS.b1).and(bob.locator('[data-status="seen"]')).waitFor();
  await send(alice, TEXTS.a2);
  await send(bob, TEXTS.b2);
  for (const page of [alice, bob]) {
    for (const text of Object.values(TEXTS)) await messageByText(page, text).waitFor();
    // Times read as the browser's locale writes them, and today's messages sit under a "Today" separator.
    const times = await page.locator('#timeline li.msg time').evaluateAll((els) => els.map((el) => [el.textContent,
      new Date(el.dateTime).toLocaleTimeString(navigator.language, { hour: 'numeric', minute: '2-digit' })]));
    assert.ok(times.length >= 4 && times.every(([shown, local]) => shown === local && /\d:\d\d/.test(shown)), `times in the locale: ${times}`);
    await page.locator('#timeline .day-sep', { hasText: 'Today' }).waitFor();
  }
  await messageByText(alice, TEXTS.a2).and(alice.locator('[data-status="seen"]')).waitFor();
  await screenshot(alice, 'chat.png');
  assertNoProblems(alice, bob);
});

test('the receiver logs in from a fresh browser and reads the history', { timeout: 3 * SLOW }, async () => {
  const fresh = await openClient(browser, server.url);
  await login(fresh, BOB);
  await openChat(fresh, ALICE);
  for (const text of Object.values(TEXTS)) await messageByText(fresh, text).waitFor({ timeout: SLOW });
  assert.equal(await fresh.locator('#timeline .undecryptable').count(), 0, 'every message decrypts');
  // Both of Bob's browsers show the same safety number, and so does Alice's.
  await fresh.locator('#safety-btn').click();
  const digitsBob = await fresh.locator('#safety-digits').getAttribute('aria-label');
  await alice.locator('#safety-btn').click();
  const digitsAlice = await alice.locator('#safety-digits').getAttribute('aria-label');
  assert.match(digitsBob, /^(\d{5} ){5}\d{5}$/);
  assert.equal(digitsAlice, digitsBob);
  await alice.keyboard.press('Escape');
  assertNoProblems(fresh);
  await fresh.context().close();
});

test('older history loads when scrolling up', { timeout: 4 * SLOW }, async () => {
  // 52 more messages: more than one page (50) of history.
  const input = alice.locator('#composer-input');
  for (let i = 1; i <= BULK; i++) {
    await input.fill(`Bulk message #${i}`);
    await input.press('Enter');
  }
  await messageByText(alice, `Bulk message #${BULK}`).and(alice.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });
  const fresh = await openClient(browser, server.url);
  await login(fresh, BOB);
  await openChat(fresh, ALICE);
  await messageByText(fresh, `Bulk message #${BULK}`).waitFor({ timeout: SLOW });
  assert.equal(await messageByText(fresh, TEXTS.a1).count(), 0, 'the first page holds only the newest messages');
  // Scroll to the top until the oldest message has been fetched and shown.
  await fresh.waitForFunction((text) => {
    const scroller = document.getElementById('messages');
    scroller.scrollTop = 0;
    scroller.dispatchEvent(new Event('scroll'));
    return [...document.querySelectorAll('#timeline .text')].some((p) => p.textContent === text);
  }, TEXTS.a1, { timeout: SLOW, polling: 250 });
  const texts = await fresh.locator('#timeline li.msg .text').allTextContents();
  assert.equal(texts.length, Object.keys(TEXTS).length + BULK, 'every message once, none twice');
  assert.equal(texts[0], TEXTS.a1, 'oldest first');
  assert.equal(texts.at(-1), `Bulk message #${BULK}`);
  assertNoProblems(fresh, alice);
  await fresh.context().close();
});

test('a phone-sized screen shows the list, then the chat', { timeout: SLOW }, async () => {
  const phone = await openClient(browser, server.url, { viewport: { width: 360, height: 740 } });
  await login(phone, ALICE);
  await friendButton(phone, BOB).click();
  await messageByText(phone, `Bulk message #${BULK}`).waitFor();
  assert.equal(await phone.locator('#sidebar').isVisible(), false, 'sidebar collapses when a chat is open');
  await screenshot(phone, 'chat-mobile.png');
  await phone.getByRole('button', { name: 'Back to chats' }).click();
  await friendButton(phone, BOB).waitFor();
  assertNoProblems(phone);
  await phone.context().close();
});

test('a lost connection shows, reconnects with backoff, and a message written offline goes by itself', { timeout: 4 * SLOW }, async () => {
  await server.kill();
  for (const page of [alice, bob]) {
    await page.locator('#connection-state[data-state="reconnecting"]').waitFor({ timeout: SLOW });
  }
  assert.match(await alice.locator('#connection-state').textContent(), /Offline|Reconnecting/);
  // Sent while offline: it shows as not sent yet, to go again once connected.
  const input = alice.locator('#composer-input');
  await input.fill(OFFLINE_TEXT);
  await input.press('Enter');
  const failed = messageByText(alice, OFFLINE_TEXT);
  await failed.and(alice.locator('[data-status="failed"]')).waitFor();
  assert.match(await failed.locator('.failed-row').textContent(), /sending again when connected/);
  const id = await failed.getAttribute('data-id');

  await server.start();
  await alice.locator('#connection-state[data-state="online"]').waitFor({ timeout: SLOW });
  await bob.locator('#connection-state[data-state="online"]').waitFor({ timeout: SLOW });
  // Nobody presses retry: delivered to Bob under the same id, and seen, since Bob has the chat open.
  await bob.locator(`#timeline li.msg[data-id="${id}"]`, { hasText: OFFLINE_TEXT }).waitFor({ timeout: SLOW });
  await alice.locator(`#timeline li.msg[data-id="${id}"][data-status="seen"]`).waitFor({ timeout: SLOW });
  // A presence round trip works on the new sockets too.
  await friendButton(bob, ALICE).locator('.online-dot[data-online="true"]').waitFor();
});

test('a message sent while the receiver is offline arrives when they connect', { timeout: 3 * SLOW }, async () => {
  await bob.context().close();
  await friendButton(alice, BOB).locator('.online-dot[data-online="false"]').waitFor({ timeout: SLOW });
  await send(alice, LATE_TEXT);
  const late = messageByText(alice, LATE_TEXT);
  // Stored, not delivered: a single tick.
  await late.and(alice.locator('[data-status="sent"]')).waitFor();
  bob = await openClient(browser, server.url);
  await login(bob, BOB);
  // Pushed before sync_done: counted as unread, acknowledged as delivered.
  await friendButton(bob, ALICE).locator('.unread-badge', { hasText: '1' }).waitFor();
  await late.and(alice.locator('[data-status="delivered"]')).waitFor({ timeout: SLOW });
  await openChat(bob, ALICE);
  await messageByText(bob, LATE_TEXT).waitFor();
  await late.and(alice.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });
  assertNoProblems(alice, bob);
});

test('a friend request can be declined, and a friend removed', { timeout: 3 * SLOW }, async () => {
  const eve = await openClient(browser, server.url);
  await register(eve, 'eve');
  await eve.locator('#search-input').fill('ali');
  await eve.getByRole('button', { name: `Send friend request to ${ALICE}` }).click();
  await eve.locator('#requests-list [data-request="alice"][data-direction="sent"]').waitFor();
  await alice.getByRole('button', { name: 'Reject friend request from eve' }).click();
  await eve.locator('#toasts .toast', { hasText: 'declined your friend request' }).waitFor();
  await eve.locator('#requests-list [data-request="alice"]').waitFor({ state: 'detached' });

  // A declined request can be sent again; this time Alice accepts, then removes Eve.
  await befriend(eve, 'eve', alice, ALICE);
  await openChat(alice, 'eve');
  await alice.getByRole('button', { name: 'Remove eve from friends' }).click();
  await alice.getByRole('button', { name: 'Remove friend', exact: true }).click();
  await friendButton(alice, 'eve').waitFor({ state: 'detached' });
  await alice.locator('#chat-empty').waitFor();
  await friendButton(eve, ALICE).waitFor({ state: 'detached' });
  await eve.locator('#toasts .toast', { hasText: 'removed you from their friends' }).waitFor();
  assertNoProblems(alice, eve);
  await eve.context().close();
});

test('a safety number shows as a QR code of its digits and can be marked verified', { timeout: SLOW }, async () => {
  await openChat(alice, BOB);
  await alice.locator('#safety-btn').click();
  const digits = (await alice.locator('#safety-digits').getAttribute('aria-label')).replaceAll(' ', '');
  // The canvas holds, module for module, the QR code of the digits (made here by the same library).
  const qr = qrcode(0, 'M');
  qr.addData(`nexchat-safety-number:${digits}`);
  qr.make();
  const expected = Array.from({ length: qr.getModuleCount() }, (_, r) => Array.from({ length: qr.getModuleCount() }, (__, c) => qr.isDark(r, c)));
  const drawn = await alice.locator('#safety-qr').evaluate((canvas, n) => {
    const cell = canvas.width / (n + 8);
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    return Array.from({ length: n }, (_, r) => Array.from({ length: n }, (__, c) => {
      const x = Math.floor((c + 4.5) * cell);
      const y = Math.floor((r + 4.5) * cell);
      return data[(y * canvas.width + x) * 4] < 128;
    }));
  }, qr.getModuleCount());
  assert.deepEqual(drawn, expected);
  await alice.locator('#safety-state', { hasText: 'Not verified yet' }).waitFor();
  await alice.getByRole('button', { name: 'Mark as verified' }).click();
  await alice.locator('#safety-state[data-state="verified"]').waitFor();
  await alice.keyboard.press('Escape');
  await alice.locator('#chat-trust[data-state="verified"]', { hasText: 'Verified' }).waitFor();
});

test('a changed key of a verified friend puts a loud warning into the chat and takes the mark away', { timeout: 2 * SLOW }, async () => {
  await openChat(alice, BOB);
  // Another device of Bob's joins with a new key (as after a lost key backup).
  const other = await openClient(browser, server.url);
  await other.evaluate(async ({ name, password }) => {
    // Signs in as a v1.1 client does: the auth key derived under the account's parameters.
    const { deriveKeys } = await import('./kdf.js');
    const { kdf } = await (await fetch(`auth/params?username=${encodeURIComponent(name)}`)).json();
    const { authKey } = await deriveKeys(password, kdf);
    const res = await fetch(new URL('auth/login', document.baseURI), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: name, password: authKey }),
    });
    const { token } = await res.json();
    const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const ticketRes = await fetch('auth/ws-ticket', { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    const { ticket } = await ticketRes.json();
    const url = new URL('ws', document.baseURI);
    url.protocol = 'ws:';
    url.searchParams.set('ticket', ticket);
    const ws = new WebSocket(url);
    await new Promise((resolve) => { ws.onopen = resolve; });
    ws.send(JSON.stringify({ type: 'join', publicKey: { kty, crv, x, y } }));
  }, { name: BOB, password: PASSWORD });
  await alice.locator('#timeline li.notice.danger', { hasText: 'security key changed since you verified it' }).waitFor({ timeout: SLOW });
  await alice.locator('#chat-trust[data-state="changed"]', { hasText: 'verify again' }).waitFor();
  await alice.locator('#safety-btn').click();
  await alice.locator('#safety-state[data-state="changed"]').waitFor();
  await alice.getByRole('button', { name: 'Mark as verified' }).waitFor();
  await alice.keyboard.press('Escape');
  await other.context().close();
});

test('the database file contains none of the plaintexts', { timeout: SLOW }, async () => {
  const files = [server.db, `${server.db}-wal`, `${server.db}-shm`].filter((f) => fs.existsSync(f));
  const bytes = Buffer.concat(files.map((f) => fs.readFileSync(f)));
  assert.ok(bytes.includes(Buffer.from(ALICE)), 'the check reads the real database (it holds the user names)');
  for (const text of Object.values(TEXTS)) {
    assert.equal(bytes.includes(Buffer.from(text, 'utf8')), false, `plaintext found in the database: ${text}`);
  }
  for (const fragment of FRAGMENTS) {
    assert.equal(bytes.includes(Buffer.from(fragment, 'utf8')), false, `fragment found in the database: ${fragment}`);
  }
});
