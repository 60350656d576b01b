// Sessions the user controls, in real Chromium against the real server: the device list in the
// settings (this one marked, readable device names, relative times), "sign out" per device and
// "everywhere else" closing the other browser's session at once (4003), sign-out ending the
// session for every tab that shares it, and sockets that open with a fresh ticket each time.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoProblems, launchBrowser, login, openClient, register, requestsTo, SLOW, startServer, tokensIn, waitOnline,
} from './helpers.js';

const DAVE = 'dave';

let server;
let browser;
let laptop;

async function openSettings(page) {
  await page.locator('#settings-btn').click();
  await page.locator('#settings-dialog[open]').waitFor();
  await page.locator('#sessions-list[aria-busy="false"] li.session').first().waitFor({ timeout: SLOW });
}

async function expectSignedOut(page) {
  await page.locator('#auth-screen').waitFor({ state: 'visible', timeout: SLOW });
  await page.locator('#auth-error', { hasText: 'signed out' }).waitFor();
  assert.equal(await page.locator('#app-screen').isHidden(), true);
}

before(async () => {
  server = await startServer('sessions');
  browser = await launchBrowser();
  laptop = await openClient(browser, server.url);
  await register(laptop, DAVE);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the device list marks this session and names the others; sign out everywhere else ends them', { timeout: 4 * SLOW }, async () => {
  const phone = await openClient(browser, server.url);
  await login(phone, DAVE);
  const tablet = await openClient(browser, server.url);
  await login(tablet, DAVE);

  await openSettings(laptop);
  const rows = laptop.locator('#sessions-list li.session');
  await rows.nth(2).waitFor();
  assert.equal(await rows.count(), 3);
  const current = laptop.locator('#sessions-list li.session[data-current="true"]');
  assert.equal(await current.count(), 1, 'exactly one session is this one');
  await current.locator('.this-device', { hasText: 'This device' }).waitFor();
  for (const name of await laptop.locator('#sessions-list .session-name').allTextContents()) {
    assert.equal(name, 'Chrome on Linux', 'the user agent reads as a device name');
  }
  const meta = await laptop.locator('#sessions-list li.session[data-current="false"] .session-meta').allTextContents();
  assert.equal(meta.length, 2);
  for (const text of meta) assert.match(text, /^Last active just now · signed in just now$/);

  // One device by itself: the tablet, the newest session, is listed first.
  const tabletRow = laptop.locator('#sessions-list li.session[data-current="false"]').first();
  await tabletRow.getByRole('button', { name: /^Sign out Chrome on Linux/ }).click();
  await expectSignedOut(tablet);
  await rows.nth(1).waitFor();
  await rows.nth(2).waitFor({ state: 'detached' });
  assert.equal(await phone.locator('#app-screen').isVisible(), true, 'the phone is still signed in');

  // Then all the others at once.
  await laptop.getByRole('button', { name: 'Sign out everywhere else' }).click();
  await expectSignedOut(phone);
  await rows.nth(1).waitFor({ state: 'detached', timeout: SLOW });
  assert.equal(await rows.count(), 1);
  assert.equal(await current.count(), 1);
  const own = await current.getAttribute('data-session');
  assert.equal(requestsTo(laptop.traffic, 'DELETE', `auth/sessions/${own}`).length, 0, 'this session was never ended');

  // The laptop itself goes on.
  await laptop.locator('#settings-close').click();
  await waitOnline(laptop);
  assertNoProblems(laptop, phone, tablet);
  await phone.context().close();
  await tablet.context().close();
});

test('sign-out ends the session on the server, and the other tab of that session returns to sign-in', { timeout: 3 * SLOW }, async () => {
  // A second tab of the same browser profile shares the stored session (and its token).
  const second = await laptop.context().newPage();
  second.problems = [];
  await second.goto(server.url);
  await second.locator('#app-screen').waitFor({ state: 'visible', timeout: SLOW });
  await waitOnline(second);
  await waitOnline(laptop);
  const tokens = tokensIn(laptop.traffic);
  assert.equal(tokens.length, 1, 'the laptop used one token all along');
  const [token] = tokens;

  await laptop.locator('#logout-btn').click();
  await laptop.locator('#auth-screen').waitFor({ state: 'visible' });
  await expectSignedOut(second);
  assert.ok(requestsTo(laptop.traffic, 'POST', 'auth/logout').length >= 1, 'sign-out told the server');

  // The token is dead on the server, not merely forgotten here.
  const res = await fetch(new URL('friends/status', server.url), { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 401);
  await second.close();
});

test('every socket opens with its own fresh ticket, also when it reconnects', { timeout: 4 * SLOW }, async () => {
  const page = await openClient(browser, server.url);
  await login(page, DAVE);
  await server.kill();
  await page.locator('#connection-state[data-state="reconnecting"]').waitFor({ timeout: SLOW });
  await server.start();
  await waitOnline(page);

  const sockets = page.traffic.filter((e) => e.kind === 'ws').map((e) => new URL(e.url));
  assert.ok(sockets.length >= 2, `a reconnect happened (${sockets.length} sockets)`);
  const tickets = sockets.map((u) => u.searchParams.get('ticket'));
  assert.ok(tickets.every((t) => t), 'each socket URL has a ticket');
  assert.equal(new Set(tickets).size, tickets.length, 'no ticket is used twice');
  for (const u of sockets) assert.equal(u.searchParams.has('token'), false);
  assert.ok(requestsTo(page.traffic, 'POST', 'auth/ws-ticket').length >= sockets.length);
  await page.context().close();
});
