// The browser client and the `nexchat` terminal client (nexchat-client) together against one
// real server: a friendship asked for in one and accepted in the other, messages both ways with
// their ticks, each account opened in the other client from its key backup, and the same safety
// number on both sides. The two clients implement the cryptography separately (WebCrypto in
// JavaScript, RustCrypto in Rust), so each step is also a check that they agree on the wire.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  assertNoProblems, cliBin, friendButton, launchBrowser, login, messageByText, openChat, openClient,
  register, RESULTS_DIR, screenshot, send, SLOW, startServer,
} from './helpers.js';

const WEB = 'bea.web';
const TERM = 'Tom_cli';
// Not ASCII, so both clients must normalise it the same way before deriving the keys from it.
const SECRET = 'Kennwort grün «🔑» 42';
// Quotes, a backslash and text outside the BMP: a JSON line or an escaping slip would show.
const FROM_TERM = 'Réponse du terminal : «ça marche», "double", \'single\', C:\\temp — 🐧 quince-3141';
const FROM_WEB = 'Grüße aus dem Browser: „Zitat“ "quoted" 日本語 ✓ 🦀 fig-2718';
const FROM_WEB_IN_TERM = 'Von bea im Terminal: "gleicher Schlüssel" ✓ plum-1618';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** How long the listener may take to print an event the server has already pushed. */
const EVENT_WAIT = 30_000;

let server;
let serverUrl;
let browser;
/** WEB in Chromium (registered there). */
let web;
/** TERM in a fresh browser profile, once test 2 has signed in there. */
let termInBrowser;
/** The config folders of the two terminal sessions: TERM's, and WEB's once signed in there. */
let termDir;
let webDir;
/** TERM's `nexchat listen --seen`, running from the first test on. */
let listener;
/** What the first test sent, for the later tests to find again. */
const sent = {};
const tempDirs = [];

before(async () => {
  if (!fs.existsSync(cliBin())) throw new Error(`nexchat binary not found: ${cliBin()} (set NEXCHAT_CLI_BIN)`);
  server = await startServer('terminal');
  // Typed the way a person would type it; the client trims a trailing slash anyway.
  serverUrl = server.url.replace(/\/$/, '');
  browser = await launchBrowser();
  web = await openClient(browser, server.url);
  termDir = configDir();
});

after(async () => {
  await listener?.stop();
  await browser?.close();
  await server?.stop();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A config folder of its own for one terminal session (`NEXCHAT_CONFIG_DIR`). */
function configDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexchat-cli-test-'));
  tempDirs.push(dir);
  return dir;
}

function cliEnv(dir) {
  return { ...process.env, NEXCHAT_SERVER: serverUrl, NEXCHAT_CONFIG_DIR: dir };
}

/** Every line of `out` as JSON; the terminal client promises nothing else on stdout. */
function jsonLines(out, what) {
  return out.split('\n').filter((line) => line !== '').map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`${what} printed a line that is not JSON: ${line}`);
    }
  });
}

/**
 * Runs `nexchat ARGS` as the user whose session is kept in `dir`, with `stdin` on its standard
 * input; resolves to its JSON lines once it exits 0, and fails with its stderr otherwise.
 */
function nexchat(dir, args, { stdin = '' } = {}) {
  const what = `nexchat ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const proc = spawn(cliBin(), args, { env: cliEnv(dir), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (chunk) => { out += chunk; });
    proc.stderr.on('data', (chunk) => { err += chunk; });
    const timer = setTimeout(() => proc.kill('SIGKILL'), SLOW);
    proc.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${what} failed (${code ?? signal}):\nstderr: ${err}\nstdout: ${out}`));
        return;
      }
      try {
        resolve(jsonLines(out, what));
      } catch (error) {
        reject(error);
      }
    });
    // A command that reads nothing may exit before its input is written.
    proc.stdin.on('error', () => {});
    proc.stdin.end(stdin);
  });
}

/**
 * `nexchat listen --seen` as the user of `dir`: its JSON lines are kept as they come, and
 * `next(what, match)` resolves to the first one that matches (printed already or later).
 */
function listen(dir) {
  const proc = spawn(cliBin(), ['listen', '--seen'], { env: cliEnv(dir), stdio: ['ignore', 'pipe', 'pipe'] });
  const state = { events: [], lines: [], stderr: '', exited: null, waiters: new Set() };
  const log = () => `stdout:\n${state.lines.join('\n')}\nstderr:\n${state.stderr}`;
  const fail = (error) => {
    for (const w of state.waiters) w.reject(error);
    state.waiters.clear();
  };
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    state.lines.push(line);
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      fail(new Error(`nexchat listen printed a line that is not JSON: ${line}`));
      return;
    }
    state.events.push(event);
    for (const w of [...state.waiters]) {
      if (w.match(event)) {
        state.waiters.delete(w);
        w.resolve(event);
      }
    }
  });
  proc.stderr.on('data', (chunk) => { state.stderr += chunk; });
  proc.once('exit', (code, signal) => {
    state.exited = { code, signal };
    fail(new Error(`nexchat listen exited (${code ?? signal}):\n${log()}`));
  });
  return {
    events: state.events,
    next(what, match) {
      const seen = state.events.find(match);
      if (seen) return Promise.resolve(seen);
      if (state.exited) return Promise.reject(new Error(`nexchat listen had exited before printing "${what}":\n${log()}`));
      return new Promise((resolve, reject) => {
        const waiter = { match };
        const timer = setTimeout(() => {
          state.waiters.delete(waiter);
          reject(new Error(`nexchat listen printed nothing for "${what}" within ${EVENT_WAIT / 1000} s:\n${log()}`));
        }, EVENT_WAIT);
        waiter.resolve = (event) => { clearTimeout(timer); resolve(event); };
        waiter.reject = (error) => { clearTimeout(timer); reject(error); };
        state.waiters.add(waiter);
      });
    },
    assertRunning() {
      assert.equal(state.exited, null, `nexchat listen stopped:\n${log()}`);
      assert.equal(state.lines.length, state.events.length, `nexchat listen printed a line that is not JSON:\n${log()}`);
    },
    async stop() {
      if (!state.exited) {
        const gone = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await gone;
      }
      fs.mkdirSync(RESULTS_DIR, { recursive: true });
      fs.writeFileSync(path.join(RESULTS_DIR, 'terminal-listen.log'), log());
    },
  };
}

const receiptOf = (id, status) => (e) => e.type === 'receipt' && e.status === status && e.ids?.includes(id);

/**
 * From now on, the page notes every status its messages show (`data-status`), in order, per
 * message id: a status shown for one render only is noted too, as each socket event is handled
 * in a task of its own.
 */
function noteTicks(page) {
  return page.evaluate(() => {
    window.ticksShown = {};
    const note = () => {
      for (const li of document.querySelectorAll('#timeline li.msg[data-id]')) {
        const shown = (window.ticksShown[li.dataset.id] ??= []);
        if (shown.at(-1) !== li.dataset.status) shown.push(li.dataset.status);
      }
    };
    new MutationObserver(note).observe(document.getElementById('timeline'), {
      subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'],
    });
    note();
  });
}

/** The safety number the open chat's dialog shows, read after it is open; the dialog is closed again. */
async function safetyNumberShown(page) {
  await page.locator('#safety-btn').click();
  const digits = page.locator('#safety-dialog[open] #safety-digits[aria-label]');
  const label = await digits.getAttribute('aria-label');
  // The groups on screen are the ones read out.
  assert.equal((await digits.locator('span').allTextContents()).join(' '), label);
  await page.keyboard.press('Escape');
  await page.locator('#safety-dialog[open]').waitFor({ state: 'detached' });
  return label;
}

test('a friendship across the two clients, then messages both ways with delivered and seen ticks', { timeout: 4 * SLOW }, async () => {
  // Both registrations run Argon2id (64 MiB); side by side they cost the time of one.
  const [, registered] = await Promise.all([
    register(web, WEB, SECRET),
    nexchat(termDir, ['register', TERM, '--password-stdin'], { stdin: `${SECRET}\n` }),
  ]);
  assert.deepEqual(registered, [{ username: TERM, server: serverUrl }]);
  listener = listen(termDir);
  await listener.next('greeting', (e) => e.type === 'connected');

  // The terminal asks; the browser accepts from its requests list.
  assert.deepEqual(await nexchat(termDir, ['friends', 'add', WEB]), [{ user: WEB, status: 'pending' }]);
  await web.getByRole('button', { name: `Accept friend request from ${TERM}` }).click();
  await friendButton(web, TERM).waitFor();
  const added = await listener.next(`friend_added for ${WEB}`, (e) => e.type === 'friend_added');
  assert.deepEqual(added, { type: 'friend_added', user: WEB, online: true });
  assert.deepEqual(await nexchat(termDir, ['friends']), [{ friends: [WEB], pendingReceived: [], pendingSent: [] }]);

  // Terminal → browser while the chat is closed: the browser acknowledges delivery at once and
  // counts it unread; it is seen only once the chat is opened.
  const [fromTerm] = await nexchat(termDir, ['send', WEB, FROM_TERM]);
  assert.equal(fromTerm.to, WEB);
  assert.match(fromTerm.id, UUID);
  assert.ok(Number.isSafeInteger(fromTerm.timestamp), `a timestamp in ms: ${fromTerm.timestamp}`);
  sent.fromTerm = fromTerm;
  await friendButton(web, TERM).locator('.unread-badge', { hasText: /^1$/ }).waitFor();
  const delivered = await listener.next('delivered receipt', receiptOf(fromTerm.id, 'delivered'));
  assert.deepEqual(delivered, { type: 'receipt', peer: WEB, ids: [fromTerm.id], status: 'delivered' });
  assert.equal(listener.events.some(receiptOf(fromTerm.id, 'seen')), false, 'seen before the chat was opened');

  await openChat(web, TERM);
  const incoming = web.locator(`#timeline li.msg.in[data-id="${fromTerm.id}"]`);
  await incoming.waitFor();
  assert.equal(await incoming.locator('.text').textContent(), FROM_TERM);
  const seen = await listener.next('seen receipt', receiptOf(fromTerm.id, 'seen'));
  assert.deepEqual(seen, { type: 'receipt', peer: WEB, ids: [fromTerm.id], status: 'seen' });
  await friendButton(web, TERM).locator('.unread-badge').waitFor({ state: 'detached' });

  // Browser → terminal: the typing indicator, then the message, which the listener decrypts
  // under the id the browser gave it and acknowledges as delivered, then as seen.
  await web.locator('#composer-input').pressSequentially('Grü', { delay: 20 });
  const typing = await listener.next('typing', (e) => e.type === 'typing' && e.typing === true);
  assert.deepEqual(typing, { type: 'typing', from: WEB, typing: true });
  await noteTicks(web);
  await send(web, FROM_WEB);
  const outgoing = messageByText(web, FROM_WEB);
  const id = await outgoing.getAttribute('data-id');
  assert.match(id, UUID);
  const received = await listener.next('the browser\'s message', (e) => e.type === 'message' && e.id === id);
  assert.deepEqual(received, {
    type: 'message', id, sender: WEB, receiver: TERM, text: FROM_WEB, attachments: [], timestamp: received.timestamp, status: 'sent',
  });
  sent.fromWeb = received;
  await outgoing.and(web.locator('[data-status="seen"]')).waitFor();
  const shown = await web.evaluate((msgId) => window.ticksShown[msgId], id);
  assert.deepEqual(shown.slice(shown.indexOf('delivered')), ['delivered', 'seen'], `ticks shown, in order: ${shown}`);
  const tickColor = await outgoing.locator('.ticks .tick').evaluate((el) => getComputedStyle(el).color);
  assert.equal(tickColor, 'rgb(43, 125, 233)', 'seen ticks are blue');

  // What the terminal keeps of it: both messages, decrypted, oldest first, both seen.
  assert.deepEqual(await nexchat(termDir, ['history', WEB]), [
    {
      type: 'message', id: fromTerm.id, sender: TERM, receiver: WEB, text: FROM_TERM, attachments: [], timestamp: fromTerm.timestamp, status: 'seen',
    },
    { ...received, status: 'seen' },
  ]);
  await screenshot(web, 'terminal.png');
  listener.assertRunning();
  assertNoProblems(web);
});

test('each account opens in the other client from its key backup, with the conversation decrypted', { timeout: 4 * SLOW }, async () => {
  assert.ok(sent.fromTerm && sent.fromWeb, 'the first test sent both messages');
  const expected = [
    {
      type: 'message', id: sent.fromTerm.id, sender: TERM, receiver: WEB, text: FROM_TERM, attachments: [], timestamp: sent.fromTerm.timestamp, status: 'seen',
    },
    { ...sent.fromWeb, status: 'seen' },
  ];
  // The browser's account in the terminal, and the terminal's in a fresh browser profile: two
  // key derivations, side by side.
  webDir = configDir();
  termInBrowser = await openClient(browser, server.url);
  const [signedIn] = await Promise.all([
    nexchat(webDir, ['login', WEB, '--password-stdin'], { stdin: `${SECRET}\n` }),
    login(termInBrowser, TERM, SECRET),
  ]);
  assert.deepEqual(signedIn, [{ username: WEB, server: serverUrl }]);
  assert.deepEqual(await nexchat(webDir, ['history', TERM]), expected);

  await openChat(termInBrowser, WEB);
  const mine = termInBrowser.locator(`#timeline li.msg.out[data-id="${sent.fromTerm.id}"]`);
  const theirs = termInBrowser.locator(`#timeline li.msg.in[data-id="${sent.fromWeb.id}"]`);
  await mine.and(termInBrowser.locator('[data-status="seen"]')).waitFor();
  await theirs.waitFor();
  assert.equal(await mine.locator('.text').textContent(), FROM_TERM);
  assert.equal(await theirs.locator('.text').textContent(), FROM_WEB);
  assert.equal(await termInBrowser.locator('#timeline li.msg').count(), 2);
  assert.equal(await termInBrowser.locator('#timeline .undecryptable').count(), 0, 'every message decrypts');

  // The key restored in the terminal also seals: a message from WEB's terminal session opens
  // in TERM's browser and in TERM's listener, under one id.
  const [again] = await nexchat(webDir, ['send', TERM, FROM_WEB_IN_TERM]);
  const arrived = termInBrowser.locator(`#timeline li.msg.in[data-id="${again.id}"]`);
  await arrived.waitFor();
  assert.equal(await arrived.locator('.text').textContent(), FROM_WEB_IN_TERM);
  const heard = await listener.next('the message from WEB\'s terminal', (e) => e.type === 'message' && e.id === again.id);
  assert.deepEqual([heard.sender, heard.receiver, heard.text], [WEB, TERM, FROM_WEB_IN_TERM]);
  // WEB's browser shows it too, as its own, sent from another device.
  await web.locator(`#timeline li.msg.out[data-id="${again.id}"]`, { hasText: FROM_WEB_IN_TERM }).waitFor();
  listener.assertRunning();
  assertNoProblems(web, termInBrowser);
});

test('the safety number is the same in both clients, from either side', { timeout: 2 * SLOW }, async () => {
  assert.ok(termInBrowser && webDir, 'the second test signed each account in to the other client');
  const digits = await safetyNumberShown(web);
  assert.match(digits, /^(\d{5} ){5}\d{5}$/);
  assert.deepEqual(await nexchat(termDir, ['safety-number', WEB]), [{ user: WEB, safetyNumber: digits }]);
  assert.deepEqual(await nexchat(webDir, ['safety-number', TERM]), [{ user: TERM, safetyNumber: digits }]);
  assert.equal(await safetyNumberShown(termInBrowser), digits);
  listener.assertRunning();
  assertNoProblems(web, termInBrowser);
});
