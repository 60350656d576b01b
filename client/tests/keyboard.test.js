// The keyboard alone, in real Chromium, at a laptop size and a phone size: on every screen (sign-in,
// registration, the conversation list with a friend request, a conversation, the settings, the
// safety number, a confirmation, an incoming call, a call in progress) the Tab key reaches every
// control, in the order of the page, and each stop shows a focus ring that changes at least a
// 2 px perimeter's worth of pixels by 3:1 or more (WCAG 2.2 "Focus Appearance"), measured on
// photographs of the page with and without the ring. Dialogs keep the focus inside and Escape
// closes them. And a stored theme is on the page before its first paint.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  assertNoProblems, dismissToasts, friendButton, launchBrowser, openChat, openClient, register, RESULTS_DIR, send, settled, SLOW, startServer,
} from './helpers.js';

const SIZES = { laptop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };

let server;
let browser;

before(async () => {
  server = await startServer('keyboard');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * The controls the Tab key must reach in `scope` ('page', 'dialog' for the open modal
 * <dialog>, 'call' for the call screen), each by a name: its id, label, name or text; a group of
 * radio buttons is one stop (the arrow keys move inside it).
 */
function tabbables(page, scope) {
  return page.evaluate((scope) => {
    const root = { page: document, dialog: document.querySelector('dialog[open]'), call: document.getElementById('call-overlay') }[scope];
    const name = (el) => (el.type === 'radio' ? `radio:${el.name}` : el.id || el.getAttribute('aria-label') || el.name || el.textContent.trim().slice(0, 40) || el.tagName);
    return [...new Set([...root.querySelectorAll('a[href], button, input:not([type="hidden"]), textarea, select, summary, [tabindex]')]
      .filter((el) => !el.disabled && el.tabIndex >= 0 && !el.closest('[inert], dialog:not([open])')
        && el.checkVisibility({ visibilityProperty: true }))
      .map(name))];
  }, scope);
}

/**
 * Where the focus is: its name (as in `tabbables`), its place in the document, whether it is
 * inside `scope`, and the box of the element that draws its ring (itself, or the box round a
 * field such as the search field's), marked so that `ringPhotos` can hide the ring.
 */
function focusNow(page, scope) {
  return page.evaluate((scope) => {
    const el = document.activeElement;
    if (!el || el === document.body || el === document.documentElement) return { name: 'outside the page', outside: true };
    const root = { page: document.body, dialog: document.querySelector('dialog[open]'), call: document.getElementById('call-overlay') }[scope];
    let ring = el;
    for (let a = el, up = 0; a && up < 3; a = a.parentElement, up++) {
      const cs = getComputedStyle(a);
      if (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0) { ring = a; break; }
    }
    for (const old of document.querySelectorAll('[data-ring-probe]')) delete old.dataset.ringProbe;
    ring.dataset.ringProbe = '';
    const r = ring.getBoundingClientRect();
    return {
      name: el.type === 'radio' ? `radio:${el.name}` : el.id || el.getAttribute('aria-label') || el.name || el.textContent.trim().slice(0, 40) || el.tagName,
      index: [...document.querySelectorAll('*')].indexOf(el),
      inScope: root.contains(el),
      box: { x: r.x, y: r.y, width: r.width, height: r.height },
    };
  }, scope);
}

/**
 * How visible the focus ring of the focused element is: the pixels round it are photographed with
 * the ring and with its outline made transparent, and compared. Resolves to
 * {changed, required, photo}: the number of CSS pixels whose colour changes by at least 3:1, and the area
 * of a 2 px thick perimeter of the element (the least WCAG 2.2 asks of a focus indicator), and
 * the PNG photographed with the ring, and `intact`: false when the page re-rendered the control
 * meanwhile (a list updated by a presence or a receipt), which makes the comparison meaningless.
 */
async function ringArea(page, box) {
  const vp = page.viewportSize();
  const pad = 8;
  const x = Math.max(0, Math.floor(box.x - pad));
  const y = Math.max(0, Math.floor(box.y - pad));
  const clip = {
    x, y,
    width: Math.min(vp.width, Math.ceil(box.x + box.width + pad)) - x,
    height: Math.min(vp.height, Math.ceil(box.y + box.height + pad)) - y,
  };
  const required = 4 * (box.width + box.height);
  if (clip.width <= 0 || clip.height <= 0) return { changed: 0, required, intact: true };
  const shoot = async () => (await page.screenshot({ clip, animations: 'disabled', caret: 'hide' })).toString('base64');
  const withRing = await shoot();
  await page.evaluate(() => document.querySelector('[data-ring-probe]')?.style.setProperty('outline-color', 'transparent', 'important'));
  let without;
  let intact;
  try {
    without = await shoot();
  } finally {
    // A control rendered anew lost the mark (and kept its ring in both pictures).
    intact = await page.evaluate(() => {
      const el = document.querySelector('[data-ring-probe]');
      el?.style.removeProperty('outline-color');
      if (el) delete el.dataset.ringProbe;
      return el !== null;
    });
  }
  const changed = await page.evaluate(async ([a, b, cssWidth]) => {
    const pixels = async (png) => {
      const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      return { data: ctx.getImageData(0, 0, bitmap.width, bitmap.height).data, scale: bitmap.width / cssWidth };
    };
    const [p, q] = [await pixels(a), await pixels(b)];
    const lin = (c) => { const v = c / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const lum = (d, i) => 0.2126 * lin(d[i]) + 0.7152 * lin(d[i + 1]) + 0.0722 * lin(d[i + 2]);
    let n = 0;
    for (let i = 0; i < p.data.length; i += 4) {
      const [hi, lo] = [lum(p.data, i), lum(q.data, i)].sort((s, t) => t - s);
      if ((hi + 0.05) / (lo + 0.05) >= 3) n++;
    }
    return n / (p.scale * p.scale);
  }, [withRing, without, clip.width]);
  return { changed, required, intact, photo: Buffer.from(withRing, 'base64') };
}

/**
 * Walks the Tab key once round `scope` of the screen the page shows, in the dark and then the
 * light theme, from where the focus is (with `blurred`, from nothing focused; Chromium then goes
 * on from where the focus was, so a walk may start mid-page), and fails when a control is not
 * reached, a stop is out of the page's order, a stop has no visible ring, or the focus leaves a
 * dialog. Resolves to the names of the stops.
 */
async function expectKeyboardReach(page, screen, options = {}) {
  // Notices go first, so that the controls stay put during the walk.
  await dismissToasts(page);
  let names;
  // Both themes, reached the way a user's system reaches them: prefers-color-scheme.
  for (const colorScheme of ['dark', 'light']) {
    await page.emulateMedia({ colorScheme });
    await page.locator(`html[data-theme="${colorScheme}"]`).waitFor({ state: 'attached' });
    names = await walkTabs(page, `${screen}, ${colorScheme}`, options);
  }
  return names;
}

async function walkTabs(page, screen, { scope = 'page', blurred = false }) {
  await settled(page);
  if (blurred) await page.evaluate(() => document.activeElement?.blur());
  const expected = await tabbables(page, scope);
  assert.ok(expected.length > 0, `${screen}: no controls found`);
  const stops = [];
  const faint = [];
  for (let i = 0; i < expected.length + 6; i++) {
    await page.keyboard.press('Tab');
    const stop = await focusNow(page, scope);
    const firstInScope = stops.find((s) => !s.outside);
    if (firstInScope && stop.name === firstInScope.name && stop.index === firstInScope.index) break;
    stops.push(stop);
    if (stop.outside) continue;
    let measured = await ringArea(page, stop.box);
    // The page re-rendered the control while it was photographed: mark the focused control
    // again and measure anew, as contrastFailures does.
    for (let attempt = 1; !measured.intact; attempt++) {
      if (attempt === 5) throw new Error(`${screen}: the page kept re-rendering ${stop.name} while its focus ring was measured`);
      const again = await focusNow(page, scope);
      assert.ok(!again.outside, `${screen}: the focus left the page when ${stop.name} was rendered anew`);
      measured = await ringArea(page, again.box);
    }
    const { changed, required, photo } = measured;
    if (changed < required) {
      const file = path.join(RESULTS_DIR, `faint-ring-${screen}-${stop.name}.png`.replace(/[^\w.-]+/g, '-'));
      fs.mkdirSync(RESULTS_DIR, { recursive: true });
      fs.writeFileSync(file, photo);
      faint.push(`${stop.name}: ${Math.round(changed)} px change by 3:1, under ${Math.round(required)} (${file})`);
    }
  }
  const names = stops.map((s) => s.name);
  const where = `${screen}: Tab stops ${names.join(', ')}`;
  assert.deepEqual(expected.filter((n) => !names.includes(n)), [], `${where}\nnot reached`);
  assert.deepEqual(stops.filter((s) => !s.outside && !s.inScope).map((s) => s.name), [], `${where}\nthe focus left the ${scope}`);
  // Once round: the document order, wrapping once (the walk starts wherever the focus was).
  const indices = stops.filter((s) => !s.outside).map((s) => s.index);
  const descents = indices.filter((v, k) => k > 0 && v < indices[k - 1]).length;
  assert.ok(descents <= 1, `${where}\nout of the page's order`);
  assert.deepEqual(faint, [], `${where}\nfocus rings too faint`);
  return names;
}

/** Escape closes the open modal dialog `id` and the focus returns to `opener`. */
async function expectEscapeCloses(page, id, opener) {
  await page.keyboard.press('Escape');
  await page.locator(`#${id}`).waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement?.id), opener, `focus back on #${opener} after Escape on #${id}`);
}

for (const [size, viewport] of Object.entries(SIZES)) {
  test(`every screen works by keyboard with visible focus rings (${size})`, { timeout: 6 * SLOW }, async () => {
    const me = `kay-${size}`;
    const friend = `lou-${size}`;
    const page = await openClient(browser, server.url, { viewport });
    const other = await openClient(browser, server.url, { viewport: SIZES.laptop });

    await expectKeyboardReach(page, `sign-in (${size})`, { blurred: true });
    // The other tab is reached with the arrow keys (one tab stop for the tab list).
    await page.locator('#tab-login').focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-register');
    await page.locator('#auth-confirm').waitFor();
    await expectKeyboardReach(page, `registration (${size})`, { blurred: true });

    await register(page, me);
    await register(other, friend);
    await other.locator('#search-input').fill(me);
    await other.getByRole('button', { name: `Send friend request to ${me}` }).click();
    await page.locator(`#requests-list [data-request="${friend}"]`).waitFor();
    const list = await expectKeyboardReach(page, `list with a friend request (${size})`, { blurred: true });
    assert.ok(list.includes(`Accept friend request from ${friend}`), 'Tab reaches the request');

    // Accepted from the keyboard.
    await page.getByRole('button', { name: `Accept friend request from ${friend}` }).focus();
    await page.keyboard.press('Enter');
    await friendButton(page, friend).waitFor();
    await openChat(other, me);
    await send(other, 'Can you get everywhere without a mouse?');
    await friendButton(page, friend).locator('.unread-badge').waitFor();
    await expectKeyboardReach(page, `conversation list (${size})`, { blurred: true });

    // A conversation opened and answered from the keyboard.
    await friendButton(page, friend).focus();
    await page.keyboard.press('Enter');
    await page.locator(`#chat[data-peer="${friend}"]`).waitFor();
    await page.locator('#composer-input').focus();
    await page.keyboard.type('Every bit of it.');
    await page.keyboard.press('Enter');
    await page.locator('#timeline li.msg.out .text', { hasText: 'Every bit of it.' }).waitFor();
    const chat = await expectKeyboardReach(page, `conversation (${size})`, { blurred: true });
    for (const id of ['voice-call-btn', 'video-call-btn', 'safety-btn', 'unfriend-btn', 'composer-input', 'send-btn']) {
      assert.ok(chat.includes(id), `Tab reaches #${id} in the conversation (${size})`);
    }

    await page.locator('#safety-btn').focus();
    await page.keyboard.press('Enter');
    await page.locator('#safety-dialog[open]').waitFor();
    await expectKeyboardReach(page, `safety number (${size})`, { scope: 'dialog' });
    await expectEscapeCloses(page, 'safety-dialog', 'safety-btn');

    // Escape in the confirmation cancels: the friend stays.
    await page.locator('#unfriend-btn').focus();
    await page.keyboard.press('Enter');
    await page.locator('#confirm-dialog[open]').waitFor();
    await expectKeyboardReach(page, `confirmation (${size})`, { scope: 'dialog' });
    await expectEscapeCloses(page, 'confirm-dialog', 'unfriend-btn');
    assert.equal(await friendButton(page, friend).count(), 1, 'Escape in the confirmation removed nobody');

    if (size === 'phone') {
      // Escape goes back from the conversation to the list on a phone; the settings are there.
      await page.keyboard.press('Escape');
      await page.locator('#settings-btn').waitFor();
    }
    await page.locator('#settings-btn').focus();
    await page.keyboard.press('Enter');
    await page.locator('#settings-dialog[open]').waitFor();
    await page.locator('#sessions-list[aria-busy="false"] li.session').first().waitFor({ timeout: SLOW });
    await expectKeyboardReach(page, `settings (${size})`, { scope: 'dialog' });
    await expectEscapeCloses(page, 'settings-dialog', 'settings-btn');
    if (size === 'phone') await openChat(page, friend);

    // An incoming call: the banner takes the focus, Tab reaches both buttons, Escape declines.
    await other.getByRole('button', { name: `Start voice call with ${me}` }).click();
    await page.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
    const ringing = await expectKeyboardReach(page, `incoming call (${size})`);
    assert.ok(ringing.includes('accept-call-btn') && ringing.includes('decline-call-btn'), 'Tab reaches the call buttons');
    await page.locator('#accept-call-btn').focus();
    await page.keyboard.press('Escape');
    await page.locator('#incoming-call').waitFor({ state: 'hidden', timeout: SLOW });
    await other.locator('#call-overlay').waitFor({ state: 'hidden', timeout: SLOW });

    // A call accepted with Enter: the call screen keeps the focus to its controls.
    await other.getByRole('button', { name: `Start video call with ${me}` }).click();
    await page.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
    await page.locator('#accept-call-btn').focus();
    await page.keyboard.press('Enter');
    await page.locator('#call-overlay[data-state="active"]').waitFor({ timeout: SLOW });
    const call = await expectKeyboardReach(page, `call in progress (${size})`, { scope: 'call' });
    assert.ok(call.includes('hangup-btn'), 'Tab reaches Hang up');
    await page.locator('#hangup-btn').focus();
    await page.keyboard.press('Enter');
    await page.locator('#call-overlay').waitFor({ state: 'hidden', timeout: SLOW });

    assertNoProblems(page, other);
    await page.context().close();
    await other.context().close();
  });
}

/**
 * Resolves to what the page looked like at the end of parsing (before the app's deferred modules
 * run) and at its first frame: the theme on <html> and the body's text colour, after a reload
 * with `stored` as the theme kept on this device and `system` as the system's preference.
 */
async function firstPaint(page, stored, system) {
  await page.emulateMedia({ colorScheme: system });
  await page.evaluate((choice) => localStorage.setItem('nexchat-theme', choice), stored);
  await page.reload();
  await page.locator('#auth-screen').waitFor({ state: 'visible' });
  await settled(page);
  return page.evaluate(() => ({
    seen: window.firstPaintProbe,
    loaded: { theme: document.documentElement.dataset.theme, color: getComputedStyle(document.body).color },
  }));
}

test('a stored theme is on the page before its first paint', { timeout: SLOW }, async () => {
  const page = await openClient(browser, server.url, { viewport: SIZES.laptop });
  await page.addInitScript(() => {
    window.firstPaintProbe = [];
    const record = (when) => window.firstPaintProbe.push({
      when,
      theme: document.documentElement.dataset.theme ?? null,
      color: document.body ? getComputedStyle(document.body).color : null,
    });
    // "interactive" comes when parsing ends, before deferred and module scripts run.
    document.addEventListener('readystatechange', () => {
      if (document.readyState === 'interactive') record('parsed');
    });
    // The first animation frame comes right before the first paint (once the body is there).
    const frame = () => (document.body ? record('first frame') : requestAnimationFrame(frame));
    requestAnimationFrame(frame);
  });
  const dark = await firstPaint(page, 'dark', 'light');
  const light = await firstPaint(page, 'light', 'dark');
  assert.equal(dark.loaded.theme, 'dark');
  assert.equal(light.loaded.theme, 'light');
  assert.notEqual(dark.loaded.color, light.loaded.color, 'the themes differ in text colour');
  for (const [theme, { seen, loaded }] of [['dark', dark], ['light', light]]) {
    assert.deepEqual(seen.map((s) => s.when).sort(), ['first frame', 'parsed'], `both moments recorded (${theme})`);
    for (const s of seen) {
      assert.deepEqual({ theme: s.theme, color: s.color }, loaded, `stored ${theme}: the page at "${s.when}"`);
    }
  }
  assertNoProblems(page);
  await page.context().close();
});
