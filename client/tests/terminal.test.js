// The browser client and the `nexchat` terminal client (nexchat-client) together against one
// real server: a friendship asked for in one and accepted in the other, messages both ways with
// their ticks, each account opened in the other client from its key backup, and the same safety
// number on both sides; then group chats, where each client's sender keys, handed over in key
// messages, open in the other, before and after a member is removed. The two clients implement
// the cryptography separately (WebCrypto in JavaScript, RustCrypto in Rust), so each step is also
// a check that they agree on the wire.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  assertNoProblems, befriend, cliBin, friendButton, launchBrowser, login, messageByText, openChat, openClient,
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
// The group test's third member, in the browser only; mixed case, as every name in an AAD is lowercased.
const CARA = 'Cara.Web';
const GROUP_TITLE = 'Tür & Tor «Gruppe» 🧪';
const G = {
  fromWeb: 'An die Gruppe: „Zitat“ "quoted" \'single\' C:\\pfad — 日本語 🦀 elm-1123',
  fromTerm: 'Le terminal au groupe : «ça marche», "double", \\ 🐧 oak-5813',
  termAfter: 'Terminal, after Cara was removed: "still opens" ✓ ash-2134',
  webAfter: 'Bea nach der Entfernung: „neuer Schlüssel“ 🔑 yew-3455',
  termMade: 'Der Terminal-Gruppe erste Zeile: "ohne Titel" ✓ fir-8914',
  webInTermMade: 'Bea answers the terminal\'s group: «oui» 🌲 pine-2333',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** How long the listener may take to print an event the server has already pushed. */
const EVENT_WAIT = 30_000;

let server;
let serverUrl;
let browser;
/** WEB in Chromium (registered there). */
let web;
/** TERM in a fresh browser profile, once test 2 has signed in there (closed by the group test). */
let termInBrowser;
/** CARA in Chromium, registered by the group test. */
let cara;
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
    /** Freezes the process (SIGSTOP): it reads, prints and acknowledges nothing until `resume`. */
    pause() {
      proc.kill('SIGSTOP');
    },
    resume() {
      proc.kill('SIGCONT');
    },
    assertRunning() {
      assert.equal(state.exited, null, `nexchat listen stopped:\n${log()}`);
      assert.equal(state.lines.length, state.events.length, `nexchat listen printed a line that is not JSON:\n${log()}`);
    },
    async stop() {
      if (!state.exited) {
        // A stopped process would hold the SIGTERM until it ran again.
        proc.kill('SIGCONT');
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
 * From now on, the page notes every status the messages in the list with the id `timeline` (its
 * 1:1 chat; `group-timeline` for its open group) show (`data-status`), in order, per message id:
 * a status shown for one render only is noted too, as each socket event is handled in a task of
 * its own.
 */
function noteTicks(page, timeline = 'timeline') {
  return page.evaluate((list) => {
    window.ticksShown = {};
    const note = () => {
      for (const li of document.querySelectorAll(`#${list} li.msg[data-id]`)) {
        const shown = (window.ticksShown[li.dataset.id] ??= []);
        if (shown.at(-1) !== li.dataset.status) shown.push(li.dataset.status);
      }
    };
    new MutationObserver(note).observe(document.getElementById(list), {
      subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'],
    });
    note();
  }, timeline);
}

const groupButton = (page, gid) => page.locator(`#groups-list button[data-group="${gid}"]`);
const groupLine = (page, id) => page.locator(`#group-timeline li.msg[data-id="${id}"]`);

async function openGroup(page, gid) {
  await groupButton(page, gid).click();
  await page.locator(`#group-chat[data-group="${gid}"]`).waitFor();
}

/** Sends `text` from the page's open group; resolves to the id the browser gave the message. */
async function sendToGroup(page, text) {
  const input = page.locator('#group-composer-input');
  await input.fill(text);
  await input.press('Enter');
  const line = page.locator('#group-timeline li.msg.out', { has: page.locator('.text', { hasText: text }) });
  await line.waitFor();
  const id = await line.getAttribute('data-id');
  assert.match(id, UUID);
  return id;
}

/**
 * How the page's open group shows the incoming message `id`, once it is no longer waiting for
 * its sender key: opened, or undecryptable (at once when the key it has does not open it, after
 * the client's 20 s when no key came).
 */
async function shownInGroup(page, id) {
  const line = page.locator(`#group-timeline li.msg.in[data-id="${id}"]:not(:has(.text.waiting))`);
  await line.waitFor({ timeout: SLOW });
  return line.evaluate((li) => ({
    text: li.querySelector('.text')?.textContent,
    sender: li.dataset.sender,
    name: li.querySelector('.sender-name')?.textContent ?? null,
    undecryptable: li.querySelector('.undecryptable') !== null,
  }));
}

/** Each member's status of the page's own group message `id`, from its message info dialog. */
async function messageInfo(page, id) {
  await groupLine(page, id).getByRole('button', { name: 'Message info: who has it' }).click();
  await page.locator('#info-dialog[open] #info-list [data-receipt]').first().waitFor();
  const receipts = await page.locator('#info-list [data-receipt]')
    .evaluateAll((els) => Object.fromEntries(els.map((el) => [el.dataset.receipt, el.dataset.status])));
  await page.getByRole('button', { name: 'Done' }).click();
  await page.locator('#info-dialog:not([open])').waitFor({ state: 'attached' });
  return receipts;
}

/** The frames the page's profile sent of `type`, parsed, from entry `from` of its traffic on. */
function framesSent(page, type, from = 0) {
  return page.traffic.slice(from).filter((e) => e.kind === 'frame').map((e) => {
    try { return JSON.parse(e.body); } catch { return null; }
  }).filter((f) => f && f.type === type);
}

const groupChange = (gid, kind) => (e) => e.type === 'group_changed' && e.group?.id === gid && e.change?.kind === kind;
const groupMessageOf = (id) => (e) => e.type === 'group_message' && e.id === id;
const byName = (a, b) => a.username.localeCompare(b.username);

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

test('a group of two browser users and the terminal user: sender keys open both ways, also after a removal', { timeout: 4 * SLOW }, async () => {
  assert.ok(listener && termInBrowser, 'the earlier tests made WEB and TERM friends and started the listener');
  // From here on TERM is only the terminal: its browser profile would acknowledge group messages too.
  await termInBrowser.context().close();
  cara = await openClient(browser, server.url);
  await register(cara, CARA);
  await befriend(web, WEB, cara, CARA);

  // WEB, a friend of both (who are not friends of each other), makes the group in the browser.
  await web.getByRole('button', { name: 'New group' }).click();
  await web.locator('#new-group-dialog[open]').waitFor();
  await web.locator('#new-group-name').fill(GROUP_TITLE);
  await web.getByRole('checkbox', { name: TERM }).check();
  await web.getByRole('checkbox', { name: CARA }).check();
  await web.getByRole('button', { name: 'Create group' }).click();
  await web.locator('#group-chat:not([hidden])').waitFor();
  const gid = await web.locator('#group-chat').getAttribute('data-group');
  assert.match(gid, UUID);
  const members = [{ username: WEB, role: 'admin' }, { username: TERM, role: 'member' }, { username: CARA, role: 'member' }].sort(byName);
  const created = await listener.next('the group made in the browser', groupChange(gid, 'created'));
  assert.deepEqual(created.change, { kind: 'created', by: WEB });
  const listed = await nexchat(termDir, ['groups']);
  assert.deepEqual(listed.map((g) => ({ ...g, members: g.members.sort(byName) })), [{ id: gid, members, unread: 0 }]);
  for (const page of [web, cara]) await groupButton(page, gid).locator('.group-title', { hasText: GROUP_TITLE }).waitFor({ timeout: SLOW });
  await openGroup(cara, gid);

  // Browser → terminal, with the terminal frozen first: Cara's browser has the message and the
  // tick waits for the terminal; once it runs again it opens the message under WEB's key and
  // acknowledges it, and only then is it delivered.
  await noteTicks(web, 'group-timeline');
  let fromWeb;
  listener.pause();
  try {
    fromWeb = await sendToGroup(web, G.fromWeb);
    assert.deepEqual(await shownInGroup(cara, fromWeb), { text: G.fromWeb, sender: WEB, name: WEB, undecryptable: false });
    await groupLine(web, fromWeb).and(web.locator('[data-status="sent"]')).waitFor();
    assert.equal((await messageInfo(web, fromWeb))[TERM], 'sent', 'the frozen terminal has not acknowledged it');
    assert.equal(await groupLine(web, fromWeb).getAttribute('data-status'), 'sent');
  } finally {
    listener.resume();
  }
  const [webFrame] = framesSent(web, 'send_group_message').filter((f) => f.id === fromWeb);
  assert.ok(webFrame && !webFrame.to && UUID.test(webFrame.keyId), `the browser sent a chat message under a sender key: ${JSON.stringify(webFrame)}`);
  const heard = await listener.next('the browser\'s group message', groupMessageOf(fromWeb));
  assert.deepEqual(heard, {
    type: 'group_message', id: fromWeb, group: gid, sender: WEB, keyId: webFrame.keyId, text: G.fromWeb, attachments: [], timestamp: heard.timestamp, status: 'sent',
  });
  await groupLine(web, fromWeb).and(web.locator('[data-status="delivered"]')).waitFor({ timeout: SLOW });
  const shown = await web.evaluate((msgId) => window.ticksShown[msgId], fromWeb);
  assert.deepEqual(shown.slice(shown.indexOf('sent')), ['sent', 'delivered'], `ticks shown, in order: ${shown}`);
  const info = await messageInfo(web, fromWeb);
  assert.deepEqual(Object.keys(info).sort(), [CARA, TERM].sort(), 'the info lists the two other members');
  assert.equal(info[TERM], 'delivered', 'the terminal acknowledged it as delivered, and groups are not marked seen by it');
  assert.equal((await nexchat(termDir, ['groups']))[0].unread, 1, 'the terminal counts it unread');

  // Terminal → browser: a run of `groups send` is a device of its own, so its key reaches both
  // browsers (and the listener, TERM's other device) in key messages before the message.
  const [fromTerm] = await nexchat(termDir, ['groups', 'send', gid, G.fromTerm]);
  assert.deepEqual(Object.keys(fromTerm).sort(), ['group', 'id', 'timestamp']);
  assert.equal(fromTerm.group, gid);
  assert.match(fromTerm.id, UUID);
  for (const page of [web, cara]) {
    assert.deepEqual(await shownInGroup(page, fromTerm.id), { text: G.fromTerm, sender: TERM, name: TERM, undecryptable: false });
  }
  const ownHeard = await listener.next('the terminal\'s group message, on its other device', groupMessageOf(fromTerm.id));
  assert.deepEqual([ownHeard.sender, ownHeard.text, ownHeard.timestamp], [TERM, G.fromTerm, fromTerm.timestamp]);
  assert.notEqual(ownHeard.keyId, webFrame.keyId);
  // Both browsers have the group open: they acknowledge it, delivered and then seen by everyone.
  const groupReceipt = (status) => (e) => e.type === 'group_receipt' && e.group === gid && e.status === status && e.ids.includes(fromTerm.id);
  await listener.next('delivered to both browsers', groupReceipt('delivered'));
  await listener.next('seen in both browsers', groupReceipt('seen'));

  // WEB removes Cara. The terminal hears it; the next run is a new device anyway, and its key
  // goes to the members left.
  await web.locator('#group-members-btn').click();
  await web.locator('#members-dialog[open]').waitFor();
  await web.getByRole('button', { name: `Remove ${CARA} from the group` }).click();
  await web.locator('#confirm-dialog[open]').waitFor();
  await web.locator('#confirm-ok').click();
  await web.locator(`#members-list [data-member="${CARA}"]`).waitFor({ state: 'detached' });
  await web.locator('#members-close').click();
  await web.locator('#members-dialog:not([open])').waitFor({ state: 'attached' });
  // The browser forgets its sender key when this line is added.
  await web.locator('#group-timeline li.system-line', { hasText: `You removed ${CARA}` }).waitFor();
  const removed = await listener.next('Cara\'s removal', groupChange(gid, 'member_removed'));
  assert.deepEqual(removed.change, { kind: 'member_removed', by: WEB, user: CARA });
  assert.deepEqual(removed.group.members.map((m) => m.username).sort(), [TERM, WEB].sort());
  await cara.locator('#group-readonly:not([hidden])', { hasText: 'removed you' }).waitFor();

  const mark = web.traffic.length;
  const [termAfter] = await nexchat(termDir, ['groups', 'send', gid, G.termAfter]);
  assert.deepEqual(await shownInGroup(web, termAfter.id), { text: G.termAfter, sender: TERM, name: TERM, undecryptable: false });
  assert.equal(await groupLine(cara, termAfter.id).count(), 0, 'Cara is no longer sent what the terminal writes');

  // WEB writes again under a new key, handed to TERM (and WEB's own devices) only.
  const webAfter = await sendToGroup(web, G.webAfter);
  const heardAfter = await listener.next('the browser\'s message after the removal', groupMessageOf(webAfter));
  const since = framesSent(web, 'send_group_message', mark);
  const afterFrame = since.find((f) => f.id === webAfter);
  assert.ok(afterFrame && UUID.test(afterFrame.keyId), `the browser sent a chat message under a sender key: ${JSON.stringify(afterFrame)}`);
  assert.notEqual(afterFrame.keyId, webFrame.keyId, 'the browser made a new sender key after the removal');
  assert.deepEqual(since.filter((f) => f.to).map((f) => f.to).sort(), [TERM, WEB].sort(), 'the new key went to the members left');
  assert.deepEqual(heardAfter, {
    type: 'group_message', id: webAfter, group: gid, sender: WEB, keyId: afterFrame.keyId, text: G.webAfter, attachments: [], timestamp: heardAfter.timestamp, status: 'sent',
  });
  await groupLine(web, webAfter).and(web.locator('[data-status="delivered"]')).waitFor({ timeout: SLOW });
  assert.equal(await web.locator('#group-timeline .undecryptable, #group-timeline .waiting').count(), 0, 'every message opens in WEB\'s browser');
  assert.equal(listener.events.filter((e) => e.type === 'undecryptable').length, 0, 'every message opens in the terminal');
  await screenshot(web, 'terminal-group.png');
  listener.assertRunning();
  assertNoProblems(web, cara);
});

test('a group the terminal user makes shows in the browser, and each reads the other there', { timeout: 2 * SLOW }, async () => {
  assert.ok(listener, 'the first test started the listener');
  const [made] = await nexchat(termDir, ['groups', 'create', WEB]);
  assert.match(made.id, UUID);
  assert.deepEqual(made, { id: made.id, members: [{ username: TERM, role: 'admin' }, { username: WEB, role: 'member' }] });
  const created = await listener.next('the group made in the terminal', groupChange(made.id, 'created'));
  assert.deepEqual(created.change, { kind: 'created', by: TERM });
  // Without a title, the browser names it after its other members.
  await groupButton(web, made.id).locator('.group-title', { hasText: new RegExp(`^${TERM}$`) }).waitFor({ timeout: SLOW });

  const [fromTerm] = await nexchat(termDir, ['groups', 'send', made.id, G.termMade]);
  await openGroup(web, made.id);
  assert.deepEqual(await shownInGroup(web, fromTerm.id), { text: G.termMade, sender: TERM, name: TERM, undecryptable: false });
  await web.locator('#group-timeline li.system-line', { hasText: `${TERM} created the group` }).waitFor();

  // The browser's first message there makes its key and hands it to the terminal user.
  const id = await sendToGroup(web, G.webInTermMade);
  const heard = await listener.next('the browser\'s message in the terminal\'s group', groupMessageOf(id));
  assert.deepEqual([heard.group, heard.sender, heard.text], [made.id, WEB, G.webInTermMade]);
  await groupLine(web, id).and(web.locator('[data-status="delivered"]')).waitFor({ timeout: SLOW });
  listener.assertRunning();
  assertNoProblems(web);
});
