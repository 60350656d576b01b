// The demo client as an app embeds it: served by nexchat-axum's `demo_client` helper under
// /chat/ of a host app (the nexchat-mounted example binary), next to the app's own routes. Two
// users register, befriend each other, chat and send a file; everything the page asks for stays
// under /chat/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  assertNoProblems, befriend, launchBrowser, messageByText, openChat, openClient, register, send,
  serverBin, SLOW, startServer,
} from './helpers.js';

/** The host app binary, built beside nexchat-server by the same cargo build. */
function mountedBin() {
  return process.env.NEXCHAT_MOUNTED_BIN || path.join(path.dirname(serverBin()), 'nexchat-mounted');
}

let server;
let browser;

before(async () => {
  server = await startServer('mounted', {
    bin: mountedBin(),
    args: ['--jwt-secret', 'a test secret of at least thirty-two bytes'],
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('/chat redirects to /chat/, which is the page with its security headers', async () => {
  const bare = await fetch(`${server.url}chat`, { redirect: 'manual' });
  assert.equal(bare.status, 308);
  assert.equal(bare.headers.get('location'), '/chat/');
  const page = await fetch(`${server.url}chat/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  assert.match(page.headers.get('permissions-policy'), /camera=\(self\)/);
  assert.match(await page.text(), /<script type="module" src="app.js">/);
  // The app's own root is the app's.
  assert.equal(await (await fetch(server.url)).text(), 'my app; the chat is at /chat/');
  const missing = await fetch(`${server.url}chat/no-such-file.js`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error, 'not_found');
});

test('two users chat through the client served under /chat', { timeout: 5 * SLOW }, async () => {
  const alice = await openClient(browser, `${server.url}chat`);
  const bob = await openClient(browser, `${server.url}chat/`);
  assert.equal(alice.url(), `${server.url}chat/`);
  await register(alice, 'alice');
  await register(bob, 'bob');
  await befriend(alice, 'alice', bob, 'bob');
  await openChat(alice, 'bob');
  await send(alice, 'Hello from under a prefix');
  await openChat(bob, 'alice');
  await messageByText(bob, 'Hello from under a prefix').waitFor({ timeout: SLOW });

  // A file too: uploaded to /chat/attachments, downloaded from /chat/attachments/ID.
  const file = Buffer.from('Attached under a prefix: '.repeat(4000));
  await alice.locator('#composer-file').setInputFiles([{ name: 'prefix.txt', mimeType: 'text/plain', buffer: file }]);
  await alice.locator('#composer-tray li.draft').waitFor();
  await alice.locator('#send-btn').click();
  const save = bob.getByRole('button', { name: /^Download prefix\.txt/ });
  await save.waitFor({ timeout: SLOW });
  const [download] = await Promise.all([bob.waitForEvent('download', { timeout: SLOW }), save.click()]);
  assert.ok(fs.readFileSync(await download.path()).equals(file), 'the file arrives byte for byte');
  assert.ok(alice.traffic.some((e) => e.kind === 'http' && e.method === 'POST' && new URL(e.url).pathname === '/chat/attachments'));
  assert.ok(bob.traffic.some((e) => e.kind === 'http' && e.method === 'GET' && new URL(e.url).pathname.startsWith('/chat/attachments/')));

  // Every request and socket of the pages went under /chat/; only Alice's first visit, to
  // /chat itself, was redirected there.
  const outside = (page) => page.traffic
    .filter((e) => (e.kind === 'http' || e.kind === 'ws') && !new URL(e.url).pathname.startsWith('/chat/'))
    .map((e) => `${e.method} ${e.url}`);
  assert.deepEqual(outside(alice), [`GET ${server.url}chat`]);
  assert.deepEqual(outside(bob), []);
  assert.ok(alice.traffic.some((e) => e.kind === 'ws' && new URL(e.url).pathname === '/chat/ws'));
  assertNoProblems(alice, bob);
  await alice.context().close();
  await bob.context().close();
});
