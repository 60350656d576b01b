// Accounts only their owner can unlock (protocol v1.1 key separation), in real Chromium against
// the real server: every request the page sends while registering, signing in, changing the
// password and deleting the account is recorded, and the password is in none of them (as text,
// base64 or hex). The new password opens the old history in a fresh browser, the old one fails,
// a v1 account is moved to v1.1 at its first sign-in, and a server that offers weak key
// derivation parameters is refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNeverSent, assertNoProblems, befriend, carrying, friendButton, launchBrowser, login, messageByText,
  openChat, openClient, register, requestsTo, send, SLOW, startServer, tokensIn, waitOnline,
} from './helpers.js';

const ALICE = 'alice';
const BOB = 'Bob_42';
const CAROL = 'carol';
/** Non-ASCII on purpose: the derivation normalizes and encodes it before Argon2id. */
const ALICE_PW = 'Grüße aus Köln, 日本 2026';
const ALICE_PW2 = 'a new passphrase for alice';
const BOB_PW = 'bobs own password 42';
const CAROL_PW = 'carol from version one';
const BEFORE_CHANGE = 'Before the change: quince-3141';
const AFTER_CHANGE = 'After the change: damson-2718';

let server;
let browser;
let alice;
let bob;

async function params(name) {
  const res = await fetch(new URL(`auth/params?username=${encodeURIComponent(name)}`, server.url));
  assert.equal(res.status, 200, `GET /auth/params for ${name}`);
  return (await res.json()).kdf;
}

function assertKdfShape(kdf) {
  assert.deepEqual(Object.keys(kdf).sort(), ['alg', 'm', 'p', 'salt', 't', 'v']);
  assert.equal(kdf.alg, 'argon2id');
  assert.equal(kdf.v, 19);
  assert.equal(kdf.m, 65536);
  assert.equal(kdf.t, 3);
  assert.equal(kdf.p, 1);
  assert.equal(Buffer.from(kdf.salt, 'base64').length, 16);
}

function assertAuthKey(value, password) {
  assert.match(value, /^[A-Za-z0-9+/]{43}=$/, 'the auth key is 32 bytes of base64');
  assert.notEqual(value, password);
}

function assertBackupV2(blob) {
  assert.deepEqual(Object.keys(blob).sort(), ['ciphertext', 'format', 'iv', 'v']);
  assert.equal(blob.format, 'nexchat-key-backup');
  assert.equal(blob.v, 2);
}

async function openSettings(page) {
  await page.locator('#settings-btn').click();
  await page.locator('#settings-dialog[open]').waitFor();
  await page.locator('#sessions-list li.session').first().waitFor({ timeout: SLOW });
}

before(async () => {
  server = await startServer('account');
  browser = await launchBrowser();
  alice = await openClient(browser, server.url);
  bob = await openClient(browser, server.url);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('registering and chatting never send the password; the server gets an auth key, kdf and a v2 backup', { timeout: 4 * SLOW }, async () => {
  await register(alice, ALICE, ALICE_PW);
  await register(bob, BOB, BOB_PW);
  await befriend(alice, ALICE, bob, BOB);
  await openChat(alice, BOB);
  await openChat(bob, ALICE);
  await send(alice, BEFORE_CHANGE);
  await messageByText(bob, BEFORE_CHANGE).waitFor();

  const [reg] = requestsTo(alice.traffic, 'POST', 'auth/register');
  assert.ok(reg, 'the register request was recorded');
  const body = JSON.parse(reg.body);
  assert.equal(body.username, ALICE);
  assertAuthKey(body.password, ALICE_PW);
  assertKdfShape(body.kdf);
  assertBackupV2(body.encryptedPrivateKey);
  assert.deepEqual(Object.keys(body.publicKey).sort(), ['crv', 'kty', 'x', 'y']);
  const [loginReq] = requestsTo(alice.traffic, 'POST', 'auth/login');
  assert.equal(JSON.parse(loginReq.body).password, body.password, 'the same auth key signs in');
  assert.deepEqual(await params(ALICE), body.kdf, 'the server keeps the kdf as sent');

  // The socket opens with a ticket, never with the token.
  const sockets = alice.traffic.filter((e) => e.kind === 'ws');
  assert.ok(sockets.length >= 1, 'a WebSocket was opened');
  for (const ws of sockets) {
    assert.match(new URL(ws.url).search, /^\?ticket=[^&]+$/, ws.url);
  }
  const tokens = tokensIn(alice.traffic);
  assert.ok(tokens.length >= 1, 'the REST requests carried a token');
  for (const token of tokens) {
    assert.deepEqual(alice.traffic.filter((e) => e.url.includes(token)).map((e) => e.url), [], 'no URL carries the token');
  }
  assert.ok(requestsTo(alice.traffic, 'POST', 'auth/ws-ticket').length >= 1, 'a ticket was asked for');
  assert.ok(alice.traffic.some((e) => e.kind === 'frame'), 'socket frames were recorded');

  assertNeverSent(alice.traffic, ALICE_PW, 'alice registering and chatting');
  assertNeverSent(bob.traffic, BOB_PW, 'bob registering and chatting');
  assertNoProblems(alice, bob);
});

test('a wrong password is refused after the derivation, and nothing is sent in its place', { timeout: 2 * SLOW }, async () => {
  const page = await openClient(browser, server.url);
  await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.locator('#auth-username').fill(ALICE);
  await page.locator('#auth-password').fill('not the password of alice');
  await page.locator('#auth-submit').click();
  await page.locator('#auth-error', { hasText: 'Wrong username or password' }).waitFor({ timeout: SLOW });
  assert.equal(requestsTo(page.traffic, 'GET', 'auth/params').length, 1);
  assertNeverSent(page.traffic, 'not the password of alice', 'a failed sign-in');
  await page.context().close();
});

test('changing the password re-wraps the key here, signs out other devices, and this tab goes on', { timeout: 5 * SLOW }, async () => {
  const other = await openClient(browser, server.url);
  await login(other, ALICE, ALICE_PW);
  const oldKdf = await params(ALICE);

  alice.traffic.length = 0;
  await openSettings(alice);
  await alice.locator('#pw-current').fill(ALICE_PW);
  await alice.locator('#pw-new').fill(ALICE_PW2);
  await alice.locator('#pw-confirm').fill(ALICE_PW2);
  await alice.locator('#password-submit').click();
  await alice.locator('#toasts .toast', { hasText: 'Password changed' }).waitFor({ timeout: SLOW });

  // The other device is back at the sign-in screen, told why.
  await other.locator('#auth-screen').waitFor({ state: 'visible', timeout: SLOW });
  await other.locator('#auth-error', { hasText: 'signed out' }).waitFor();

  const [change] = requestsTo(alice.traffic, 'POST', 'auth/password');
  assert.ok(change, 'the password change was recorded');
  const body = JSON.parse(change.body);
  assertAuthKey(body.currentPassword, ALICE_PW);
  assertAuthKey(body.newPassword, ALICE_PW2);
  assert.notEqual(body.currentPassword, body.newPassword);
  assertKdfShape(body.kdf);
  assert.notEqual(body.kdf.salt, oldKdf.salt, 'a fresh salt');
  assertBackupV2(body.encryptedPrivateKey);
  assert.deepEqual(await params(ALICE), body.kdf);
  assertNeverSent(alice.traffic, ALICE_PW, 'the password change (old password)');
  assertNeverSent(alice.traffic, ALICE_PW2, 'the password change (new password)');

  // This tab goes on with the returned token: a new socket with a new ticket, and it still sends.
  await alice.locator('#settings-close').click();
  await waitOnline(alice);
  assert.ok(alice.traffic.some((e) => e.kind === 'ws'), 'a new socket was opened after the change');
  await send(alice, AFTER_CHANGE);
  await messageByText(bob, AFTER_CHANGE).waitFor();
  await other.context().close();
  assertNoProblems(alice);
});

test('a fresh browser opens the old history with the new password; the old password fails', { timeout: 4 * SLOW }, async () => {
  const fresh = await openClient(browser, server.url);
  await fresh.getByRole('tab', { name: 'Sign in' }).click();
  await fresh.locator('#auth-username').fill(ALICE);
  await fresh.locator('#auth-password').fill(ALICE_PW);
  await fresh.locator('#auth-submit').click();
  await fresh.locator('#auth-error', { hasText: 'Wrong username or password' }).waitFor({ timeout: SLOW });

  await login(fresh, ALICE, ALICE_PW2);
  await openChat(fresh, BOB);
  await messageByText(fresh, BEFORE_CHANGE).waitFor({ timeout: SLOW });
  await messageByText(fresh, AFTER_CHANGE).waitFor({ timeout: SLOW });
  assert.equal(await fresh.locator('#timeline .undecryptable').count(), 0, 'every message decrypts');
  // Bob sees no key change: the private key is the same, only its wrapping changed.
  assert.equal(await bob.locator('#timeline .notice', { hasText: /key/i }).count(), 0, 'no key-change notice');
  assertNeverSent(fresh.traffic, ALICE_PW2, 'signing in with the new password');
  assert.equal(carrying(fresh.traffic, ALICE_PW).length, 0);
  await fresh.context().close();
});

test('a v1 account signs in with its password once and is moved to v1.1 at once', { timeout: 5 * SLOW }, async () => {
  const page = await openClient(browser, server.url);
  // Made over raw REST exactly as a v1 client made accounts: the password itself, a PBKDF2 backup
  // written by the client's own v1 code, no kdf.
  const status = await page.evaluate(async ({ name, password }) => {
    const { generateIdentity } = await import('./crypto.js');
    const { sealBackupV1 } = await import('./vault.js');
    const id = await generateIdentity();
    const res = await fetch('auth/register', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        username: name, password, publicKey: id.publicJwk, encryptedPrivateKey: await sealBackupV1(id.jwk, password),
      }),
    });
    return res.status;
  }, { name: CAROL, password: CAROL_PW });
  assert.equal(status, 201);
  assert.equal(await params(CAROL), null, 'a v1 account has no kdf');
  page.traffic.length = 0;

  await login(page, CAROL, CAROL_PW);
  const kdf = await params(CAROL);
  assert.ok(kdf, 'after the first sign-in the account has a kdf');
  assertKdfShape(kdf);

  // The password went to the v1 login and, as the current password, to the one password change
  // that moves the account; to nothing else.
  const leaks = carrying(page.traffic, CAROL_PW);
  assert.deepEqual(leaks.map((e) => `${e.method} ${new URL(e.url).pathname}`).sort(), ['POST /auth/login', 'POST /auth/password']);
  const [change] = requestsTo(page.traffic, 'POST', 'auth/password');
  const body = JSON.parse(change.body);
  assert.equal(body.currentPassword, CAROL_PW);
  assertAuthKey(body.newPassword, CAROL_PW);
  assert.deepEqual(body.kdf, kdf);
  assertBackupV2(body.encryptedPrivateKey);

  // From now on the server never sees it again: a fresh browser signs in with the auth key.
  const fresh = await openClient(browser, server.url);
  await login(fresh, CAROL, CAROL_PW);
  assertNeverSent(fresh.traffic, CAROL_PW, 'signing in to the moved account');
  assertNoProblems(page, fresh);
  await fresh.context().close();
  await page.context().close();
});

test('a server offering weak key derivation parameters is refused before anything is sent', { timeout: 2 * SLOW }, async () => {
  const page = await openClient(browser, server.url);
  await page.route(/\/auth\/params\?/, (route) => route.fulfill({
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({
      kdf: {
        alg: 'argon2id', v: 19, m: 1024, t: 1, p: 1, salt: Buffer.alloc(16, 3).toString('base64'),
      },
    }),
  }));
  await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.locator('#auth-username').fill(ALICE);
  await page.locator('#auth-password').fill(ALICE_PW2);
  await page.locator('#auth-submit').click();
  await page.locator('#auth-error', { hasText: 'unsafe key derivation parameters' }).waitFor({ timeout: SLOW });
  assert.equal(requestsTo(page.traffic, 'POST', 'auth/login').length, 0, 'no login was attempted');
  await page.context().close();
});

test('deleting the account needs the typed name, sends no password, and ends at the sign-in screen', { timeout: 4 * SLOW }, async () => {
  bob.traffic.length = 0;
  await openSettings(bob);
  const submit = bob.locator('#delete-submit');
  await bob.locator('#delete-confirm').fill('bob_4');
  assert.equal(await submit.isDisabled(), true, 'a wrong name keeps the button disabled');
  await bob.locator('#delete-confirm').fill(BOB.toLowerCase());
  await bob.locator('#delete-password').fill(BOB_PW);
  await submit.click();
  await bob.locator('#auth-screen').waitFor({ state: 'visible', timeout: SLOW });

  const [del] = requestsTo(bob.traffic, 'DELETE', 'auth/account');
  assert.ok(del, 'the deletion was recorded');
  assertAuthKey(JSON.parse(del.body).password, BOB_PW);
  assertNeverSent(bob.traffic, BOB_PW, 'deleting the account');

  // Alice's list loses Bob; Bob can no longer sign in, and the name stays reserved.
  await friendButton(alice, BOB).waitFor({ state: 'detached', timeout: SLOW });
  await bob.getByRole('tab', { name: 'Sign in' }).click();
  await bob.locator('#auth-username').fill(BOB);
  await bob.locator('#auth-password').fill(BOB_PW);
  await bob.locator('#auth-submit').click();
  await bob.locator('#auth-error', { hasText: 'Wrong username or password' }).waitFor({ timeout: SLOW });
  await bob.getByRole('tab', { name: 'Create account' }).click();
  await bob.locator('#auth-username').fill(BOB);
  await bob.locator('#auth-password').fill(BOB_PW);
  await bob.locator('#auth-confirm').fill(BOB_PW);
  await bob.locator('#auth-submit').click();
  await bob.locator('#auth-error', { hasText: 'already taken' }).waitFor({ timeout: SLOW });
  assertNoProblems(alice);
});
