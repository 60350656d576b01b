// Shared by the browser tests: start the real server binary on a free port with a fresh SQLite
// file, launch Debian's Chromium through playwright-core, and drive the UI like a person.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const CLIENT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(CLIENT_DIR, '..');
/** The files the server serves: the folder nexchat-axum embeds (feature `client`). */
export const WEB_DIR = path.join(REPO_DIR, 'nexchat-axum', 'client');
export const RESULTS_DIR = path.join(CLIENT_DIR, 'test-results');
export const PASSWORD = 'correct horse battery staple';

/** Generous, because Argon2id (64 MiB) and a cold server take a moment on 2 cores. */
export const SLOW = 60_000;

export function serverBin() {
  const bin = process.env.NEXCHAT_SERVER_BIN || '../target/release/nexchat-server';
  return path.resolve(CLIENT_DIR, bin);
}

/**
 * The `nexchat` terminal client: NEXCHAT_CLI_BIN, else the one beside the server binary (one
 * cargo build makes both into the same target folder).
 */
export function cliBin() {
  const bin = process.env.NEXCHAT_CLI_BIN || path.join(path.dirname(serverBin()), 'nexchat');
  return path.resolve(CLIENT_DIR, bin);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function spawnServer(bin, port, db, cwd, extraArgs = []) {
  const addr = `http://127.0.0.1:${port}`;
  const proc = spawn(bin, ['--addr', `127.0.0.1:${port}`, '--sqlite', db, '--bcrypt-cost', '4',
    // Every test registers its users from 127.0.0.1: no limit on registrations.
    '--registrations-per-hour', '0', ...extraArgs], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env },
  });
  const state = { proc, output: '', exited: null };
  state.ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not print ${addr} within 30 s:\n${state.output}`)), 30_000);
    let listening = false;
    const onData = (chunk) => {
      state.output += chunk.toString();
      if (state.output.length > 2_000_000) state.output = state.output.slice(-1_000_000);
      if (!listening && state.output.includes(addr)) {
        listening = true;
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code, signal) => {
      state.exited = { code, signal };
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${state.output}`));
    });
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  state.ready.catch(() => {});
  state.stop = async () => {
    if (state.exited) return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  };
  return state;
}

/**
 * Starts `nexchat-server --addr 127.0.0.1:PORT --sqlite DIR/chat.db --bcrypt-cost 4
 * --registrations-per-hour 0 --client-dir WEB_DIR` and waits
 * for the line that names its address. `bin` and `args` start another program that takes
 * those flags (and `args` besides).
 */
export async function startServer(name, { bin = serverBin(), args = [] } = {}) {
  if (!fs.existsSync(bin)) throw new Error(`server binary not found: ${bin} (set NEXCHAT_SERVER_BIN)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nexchat-client-test-'));
  const db = path.join(dir, 'chat.db');
  const port = await freePort();
  // The example server serves the client of the tree it was built from unless told otherwise:
  // these tests are about the client of this tree.
  if (bin === serverBin() && !args.includes('--client-dir')) args = ['--client-dir', WEB_DIR, ...args];
  let current = spawnServer(bin, port, db, REPO_DIR, args);
  let log = '';
  await current.ready;
  return {
    url: `http://127.0.0.1:${port}/`,
    db,
    dir,
    output: () => log + current.output,
    /** Stops the server; `start()` brings it back on the same port and database. */
    async kill() {
      await current.stop();
      log += `${current.output}\n--- server stopped ---\n`;
    },
    async start() {
      current = spawnServer(bin, port, db, REPO_DIR, args);
      await current.ready;
    },
    async stop() {
      await current.stop();
      fs.mkdirSync(RESULTS_DIR, { recursive: true });
      fs.writeFileSync(path.join(RESULTS_DIR, `server-${name}.log`), log + current.output);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
  });
}

/**
 * Records everything the pages of `context` send from now on: every HTTP request (method, URL,
 * headers, body), every WebSocket URL and every frame sent on it. Entries are {kind, method, url,
 * headers, body, text}, where `text` is all of it together, for searching.
 */
export function recordTraffic(context) {
  const sent = [];
  const watch = (page) => page.on('websocket', (ws) => {
    sent.push({
      kind: 'ws', method: 'GET', url: ws.url(), headers: {}, body: '', text: ws.url(),
    });
    ws.on('framesent', ({ payload }) => {
      const body = typeof payload === 'string' ? payload : Buffer.from(payload).toString('latin1');
      sent.push({
        kind: 'frame', method: '', url: ws.url(), headers: {}, body, text: body,
      });
    });
  });
  context.pages().forEach(watch);
  context.on('page', watch);
  context.on('request', (req) => {
    const body = req.postData() ?? '';
    const headers = req.headers();
    sent.push({
      kind: 'http', method: req.method(), url: req.url(), headers, body, text: `${req.method()} ${req.url()}\n${JSON.stringify(headers)}\n${body}`,
    });
  });
  return sent;
}

/** The spellings of a secret to look for: as text, JSON-escaped, URL-encoded, base64 and hex of its UTF-8. */
export function secretForms(secret) {
  const forms = new Set();
  for (const s of new Set([secret, secret.normalize('NFC'), secret.normalize('NFD')])) {
    const bytes = Buffer.from(s, 'utf8');
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1));
    forms.add(s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
    forms.add(encodeURIComponent(s));
    forms.add(bytes.toString('base64'));
    forms.add(bytes.toString('base64').replace(/=+$/, ''));
    forms.add(bytes.toString('base64url'));
    forms.add(bytes.toString('hex'));
    forms.add(bytes.toString('hex').toUpperCase());
  }
  return [...forms];
}

/** The recorded entries that carry `secret` in any of its spellings. */
export function carrying(traffic, secret) {
  const forms = secretForms(secret);
  return traffic.filter((e) => {
    let decoded = e.text;
    try { decoded = decodeURIComponent(e.text); } catch { /* not URL-encoded */ }
    return forms.some((f) => e.text.includes(f) || decoded.includes(f));
  });
}

/** Fails when any recorded entry carries `secret`, naming the entries that do. */
export function assertNeverSent(traffic, secret, what) {
  const leaks = carrying(traffic, secret);
  if (leaks.length) {
    throw new Error(`${what}: the secret was sent in ${leaks.length} request(s):\n${leaks.map((e) => `${e.kind} ${e.method} ${e.url}`).join('\n')}`);
  }
}

/** The recorded HTTP requests to `path` (relative to the server root), e.g. 'auth/login'. */
export function requestsTo(traffic, method, path) {
  return traffic.filter((e) => e.kind === 'http' && e.method === method && new URL(e.url).pathname === `/${path}`);
}

/** The bearer tokens the recorded requests carried. */
export function tokensIn(traffic) {
  const tokens = new Set();
  for (const e of traffic) {
    const auth = e.headers?.authorization;
    if (auth?.startsWith('Bearer ')) tokens.add(auth.slice(7));
  }
  return [...tokens];
}

/** A fresh browser profile with one page on the client; records page errors and CSP reports. */
export async function openClient(browser, url, { viewport = { width: 1280, height: 820 } } = {}) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'], viewport });
  const page = await context.newPage();
  /** Everything this profile sends (see recordTraffic). */
  page.traffic = recordTraffic(context);
  watchProblems(page);
  await page.goto(url);
  await page.locator('#auth-screen').waitFor({ state: 'visible' });
  return page;
}

/**
 * Another tab of the profile `page` belongs to, on the client: it shares the saved session, so it
 * signs in by itself. Resolves once its socket is online.
 */
export async function openTab(page, url) {
  const tab = await page.context().newPage();
  watchProblems(tab);
  await tab.goto(url);
  await waitOnline(tab);
  return tab;
}

/** Collects page errors, CSP reports and `error` events from the server into `page.problems`. */
function watchProblems(page) {
  page.problems = [];
  page.on('pageerror', (err) => page.problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content[- ]Security[- ]Policy|Refused to (load|execute|apply|connect)/i.test(text)) page.problems.push(`csp: ${text}`);
  });
  // The client speaks the protocol exactly: any `error` event the server sends back is a bug.
  page.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload === 'string' && payload.includes('"error"')) {
        try {
          const ev = JSON.parse(payload);
          if (ev.type === 'error') page.problems.push(`server error event: ${payload}`);
        } catch { /* not JSON */ }
      }
    });
  });
}

export async function waitOnline(page) {
  await page.locator('#connection-state[data-state="online"]').waitFor({ timeout: SLOW });
}

export async function register(page, username, password = PASSWORD) {
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.locator('#auth-username').fill(username);
  await page.locator('#auth-password').fill(password);
  await page.locator('#auth-confirm').fill(password);
  await page.locator('#auth-submit').click();
  await page.locator('#app-screen').waitFor({ state: 'visible', timeout: SLOW });
  await waitOnline(page);
}

export async function login(page, username, password = PASSWORD) {
  await page.getByRole('tab', { name: 'Sign in' }).click();
  await page.locator('#auth-username').fill(username);
  await page.locator('#auth-password').fill(password);
  await page.locator('#auth-submit').click();
  await page.locator('#app-screen').waitFor({ state: 'visible', timeout: SLOW });
  await waitOnline(page);
}

export function friendButton(page, name) {
  return page.locator(`#friends-list button[data-friend="${name}"]`);
}

/** `a` finds `b` by search and asks; `b` accepts from the requests list; both see each other. */
export async function befriend(a, nameA, b, nameB) {
  await a.locator('#search-input').fill(nameB.slice(0, 3));
  const add = a.locator(`#search-list button[data-action="add"][data-user="${nameB}"]`);
  await add.click();
  await b.locator(`#requests-list [data-request="${nameA}"][data-direction="received"]`).waitFor();
  await b.getByRole('button', { name: `Accept friend request from ${nameA}` }).click();
  await friendButton(a, nameB).waitFor();
  await friendButton(b, nameA).waitFor();
  await a.locator('#search-input').fill('');
}

export async function openChat(page, peer) {
  await friendButton(page, peer).click();
  await page.locator(`#chat[data-peer="${peer}"]`).waitFor();
}

export async function send(page, text) {
  const input = page.locator('#composer-input');
  await input.fill(text);
  await input.press('Enter');
  await page.locator('#timeline li.msg.out .text', { hasText: text }).waitFor();
}

export function messageByText(page, text) {
  return page.locator('#timeline li.msg', { has: page.locator('.text', { hasText: text }) });
}

/**
 * Dismisses the notices in the corner with their own Dismiss buttons (clicked without moving
 * the focus) and waits until they are gone, rather than for the 5 s they stay by themselves.
 */
export async function dismissToasts(page) {
  await page.evaluate(() => {
    for (const close of document.querySelectorAll('#toasts .toast-close')) close.click();
  });
  await page.locator('#toasts .toast').first().waitFor({ state: 'detached', timeout: 15_000 });
}

export async function screenshot(page, file) {
  // No notice covers the picture.
  await dismissToasts(page);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const out = path.join(RESULTS_DIR, file);
  await page.screenshot({ path: out });
  return out;
}

const AXE_SOURCE = fs.readFileSync(path.join(CLIENT_DIR, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/**
 * Runs axe-core (the npm dev dependency) in the page as it is now, with every rule of WCAG 2.2 A
 * and AA and axe's best practices. The script is evaluated through the browser's debugging
 * protocol, so the page's Content-Security-Policy stays as strict as it is. Resolves to the
 * violations, each as {id, impact, help, nodes: [selector and what failed]}.
 */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 6).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1).join(' ').trim()}`),
    }));
  });
}

/**
 * Measures the contrast of every piece of text on screen against what is really rendered behind
 * it (glass, gradients, images): the text is made transparent, the page photographed, and the
 * text's colour compared with each pixel behind it; the contrast of a piece of text is the 10th
 * percentile over those pixels, so a gradient counts by its worst part and an icon's edge does not.
 * Resolves to the pieces below WCAG AA (4.5:1, or 3:1 for text of at least 24 px, or 18.66 px
 * bold), each as "text (selector): ratio < required". Disabled controls are exempt, as in WCAG.
 */
export async function contrastFailures(page) {
  // The page may re-render a list between marking and photographing it (a presence or a receipt
  // arriving): then the new nodes show their text in the picture, so the whole probe is redone.
  for (let attempt = 1; ; attempt++) {
    const probe = await probeOnce(page);
    if (probe.intact) return measure(page, probe);
    if (attempt === 5) throw new Error('the page kept re-rendering while its contrast was measured');
  }
}

/** Marks the text transparent, photographs the page, and puts the colours back. */
async function probeOnce(page) {
  await settled(page);
  const { items, count } = await page.evaluate(() => {
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!node.textContent.trim() || !el || seen.has(el)) continue;
      // Screen-reader-only text (clipped to a pixel) is not seen, so it has no contrast to keep.
      if (el.closest('[aria-hidden="true"], :disabled, .visually-hidden, option, script, style, title')) continue;
      const style = getComputedStyle(el);
      if (style.visibility !== 'visible' || el.checkVisibility?.({ opacityProperty: true }) === false) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      // The part of the text that its scrolling or clipping boxes and the viewport let through.
      const clips = [{ left: 0, top: 0, right: innerWidth, bottom: innerHeight }];
      for (let a = el; a; a = a.parentElement) {
        const cs = getComputedStyle(a);
        if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') clips.push(a.getBoundingClientRect());
      }
      const rects = [...range.getClientRects()].map((r) => {
        const left = Math.max(r.left, ...clips.map((c) => c.left));
        const top = Math.max(r.top, ...clips.map((c) => c.top));
        const right = Math.min(r.right, ...clips.map((c) => c.right));
        const bottom = Math.min(r.bottom, ...clips.map((c) => c.bottom));
        return { left, top, width: right - left, height: bottom - top };
      }).filter((r) => r.width >= 2 && r.height >= 6);
      // Only text that is on top where it stands: not under a modal's backdrop or a call screen,
      // not scrolled out of its box.
      const onTop = rects.filter((r) => {
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return hit && (hit === el || el.contains(hit) || hit.contains(el));
      });
      if (!onTop.length) continue;
      rects.splice(0, rects.length, ...onTop);
      seen.add(el);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      out.push({
        text: node.textContent.trim().slice(0, 40),
        where: el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`,
        color: style.color,
        required: large ? 3 : 4.5,
        rects: rects.map((r) => ({ x: r.left, y: r.top, w: r.width, h: r.height })),
      });
    }
    // Only once every colour is read: a child inheriting its colour would otherwise read as transparent.
    for (const el of seen) {
      el.dataset.contrastProbe = '';
      el.style.setProperty('color', 'transparent', 'important');
      el.style.setProperty('-webkit-text-fill-color', 'transparent', 'important');
      el.style.setProperty('text-shadow', 'none', 'important');
    }
    return { items: out, count: seen.size };
  });
  await nextFrames(page);
  let shot;
  let intact = false;
  try {
    shot = (await page.screenshot({ animations: 'disabled', caret: 'hide' })).toString('base64');
    intact = await page.evaluate((n) => document.querySelectorAll('[data-contrast-probe]').length === n, count);
  } finally {
    await page.evaluate(() => {
      for (const el of document.querySelectorAll('[data-contrast-probe]')) {
        delete el.dataset.contrastProbe;
        for (const p of ['color', '-webkit-text-fill-color', 'text-shadow']) el.style.removeProperty(p);
      }
    });
  }
  return { items, shot, intact };
}

/** The items of a probe below AA, from the photograph of the page with their text removed. */
function measure(page, { items, shot }) {
  return page.evaluate(async ({ items, png }) => {
    const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(bitmap, 0, 0);
    const scale = bitmap.width / innerWidth;
    const lin = (c) => { const v = c / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    const parse = (css) => {
      const [r, g, b, a = 1] = css.match(/[\d.]+/g).map(Number);
      return { rgb: [r, g, b], a };
    };
    const failures = [];
    for (const item of items) {
      const fg = parse(item.color);
      const ratios = [];
      for (const r of item.rects) {
        const x0 = Math.max(0, Math.floor(r.x * scale));
        const y0 = Math.max(0, Math.floor(r.y * scale));
        const w = Math.min(bitmap.width - x0, Math.ceil(r.w * scale));
        const h = Math.min(bitmap.height - y0, Math.ceil(r.h * scale));
        if (w <= 0 || h <= 0) continue;
        const data = ctx.getImageData(x0, y0, w, h).data;
        const step = Math.max(1, Math.floor(Math.sqrt((w * h) / 400)));
        for (let y = 0; y < h; y += step) {
          for (let x = 0; x < w; x += step) {
            const i = (y * w + x) * 4;
            const bg = [data[i], data[i + 1], data[i + 2]];
            const text = fg.rgb.map((c, k) => c * fg.a + bg[k] * (1 - fg.a));
            const [hi, lo] = [lum(text), lum(bg)].sort((a, b) => b - a);
            ratios.push((hi + 0.05) / (lo + 0.05));
          }
        }
      }
      if (!ratios.length) continue;
      ratios.sort((a, b) => a - b);
      const ratio = ratios[Math.floor(ratios.length * 0.1)];
      if (ratio < item.required) failures.push(`"${item.text}" (${item.where}): ${ratio.toFixed(2)} < ${item.required}`);
    }
    return failures;
  }, { items, png: shot });
}

/** Resolves after the page has painted twice (a theme switch or a style change is on screen). */
export function nextFrames(page) {
  return page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

/** Resolves once no CSS transition is running (colours fading after a theme switch, a banner sliding in). */
export async function settled(page) {
  await page.waitForFunction(() => !document.getAnimations().some((a) => a instanceof CSSTransition && a.playState === 'running'));
  await nextFrames(page);
}

/** Fails when a page threw or the Content-Security-Policy blocked something. */
export function assertNoProblems(...pages) {
  const problems = pages.flatMap((p) => p.problems ?? []);
  if (problems.length) throw new Error(`browser problems:\n${problems.join('\n')}`);
}
