// Accessibility in real Chromium: axe-core (the npm dev dependency, injected into the page by the
// test) finds no violations on any screen a user reaches, at a laptop size and a phone size:
// sign-in and registration, the conversation list with a friend request, a conversation, the
// settings, the safety number, an incoming call and a call in progress; every text on those
// screens meets WCAG AA contrast, measured on the rendered page, in the light and the dark theme;
// tap targets on the phone are at least 44 px.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  axeViolations, CLIENT_DIR, contrastFailures, friendButton, launchBrowser, nextFrames, login, openChat, openClient, register, screenshot, send, settled, SLOW,
  startServer,
} from './helpers.js';

const SIZES = { laptop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };
const IVY = 'ivy';
const JON = 'jon.v';

let server;
let browser;
let ivy;
let jon;

before(async () => {
  server = await startServer('a11y');
  browser = await launchBrowser();
  ivy = await openClient(browser, server.url, { viewport: SIZES.laptop });
  jon = await openClient(browser, server.url, { viewport: SIZES.laptop });
  await register(ivy, IVY);
  await register(jon, JON);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * Fails with axe's own words for every violation on the page as it is now, and with every piece
 * of text whose measured contrast is under WCAG AA.
 */
async function expectAccessible(page, screen) {
  // Both themes, reached the way a user's system reaches them: prefers-color-scheme.
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    await page.locator(`html[data-theme="${colorScheme}"]`).waitFor({ state: 'attached' });
    await nextFrames(page);
    const where = `${screen}, ${colorScheme}`;
    const violations = await axeViolations(page);
    assert.deepEqual(violations, [], `${where}: axe found ${violations.length} violation(s):\n${JSON.stringify(violations, null, 2)}`);
    const faint = await contrastFailures(page);
    assert.deepEqual(faint, [], `${where}: text under AA contrast:\n${faint.join('\n')}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/**
 * The README's pictures: this screen in both themes, into test-results/ and, when
 * NEXCHAT_SCREENSHOTS names a folder (relative to client/), there too.
 */
async function keepScreenshots(page, size) {
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    await page.locator(`html[data-theme="${colorScheme}"]`).waitFor({ state: 'attached' });
    await settled(page);
    const file = await screenshot(page, `${colorScheme}-${size}.png`);
    if (process.env.NEXCHAT_SCREENSHOTS) {
      const dir = path.resolve(CLIENT_DIR, process.env.NEXCHAT_SCREENSHOTS);
      fs.mkdirSync(dir, { recursive: true });
      fs.copyFileSync(file, path.join(dir, path.basename(file)));
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/** The buttons and fields on screen that are smaller than 44 × 44 px, as "name: w×h". */
function smallTargets(page) {
  return page.evaluate(() => [...document.querySelectorAll('button, input, textarea')]
    .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden' && !el.closest('dialog:not([open])'))
    .map((el) => ({ el: el.id || el.getAttribute('aria-label') || el.textContent.trim(), ...el.getBoundingClientRect().toJSON() }))
    .filter((b) => b.width > 1 && (b.width < 44 || b.height < 44))
    .map((b) => `${b.el}: ${Math.round(b.width)}x${Math.round(b.height)}`));
}

test('the sign-in and registration screens have no axe violations at both sizes', { timeout: 2 * SLOW }, async () => {
  for (const [size, viewport] of Object.entries(SIZES)) {
    const page = await openClient(browser, server.url, { viewport });
    await expectAccessible(page, `sign-in (${size})`);
    await page.getByRole('tab', { name: 'Create account' }).click();
    await expectAccessible(page, `registration (${size})`);
    await page.locator('#auth-username').fill('x');
    await page.locator('#auth-submit').click();
    await page.locator('#auth-error:not([hidden])').waitFor();
    await expectAccessible(page, `registration with an error (${size})`);
    await page.context().close();
  }
});

test('the app screens have no axe violations on a laptop', { timeout: 4 * SLOW }, async () => {
  // A request waiting in the list.
  await jon.locator('#search-input').fill(IVY);
  await jon.getByRole('button', { name: `Send friend request to ${IVY}` }).click();
  await ivy.locator(`#requests-list [data-request="${JON}"]`).waitFor();
  await expectAccessible(ivy, 'list with a request (laptop)');
  await expectAccessible(jon, 'list with a sent request and search results (laptop)');
  await ivy.getByRole('button', { name: `Accept friend request from ${JON}` }).click();
  await friendButton(ivy, JON).waitFor();
  await jon.locator('#search-input').fill('');

  await openChat(jon, IVY);
  await send(jon, 'Is this readable for everyone?');
  await friendButton(ivy, JON).locator('.unread-badge').waitFor();
  await expectAccessible(ivy, 'list with an unread conversation (laptop)');
  await openChat(ivy, JON);
  await send(ivy, 'It should be.');
  await expectAccessible(ivy, 'conversation (laptop)');
  await keepScreenshots(ivy, 'laptop');

  await ivy.locator('#settings-btn').click();
  await ivy.locator('#sessions-list[aria-busy="false"] li.session').first().waitFor({ timeout: SLOW });
  await expectAccessible(ivy, 'settings (laptop)');
  await ivy.locator('#settings-close').click();

  await ivy.locator('#safety-btn').click();
  await ivy.locator('#safety-dialog[open]').waitFor();
  await expectAccessible(ivy, 'safety number (laptop)');
  await ivy.keyboard.press('Escape');

  await jon.getByRole('button', { name: `Start voice call with ${IVY}` }).click();
  await ivy.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
  await expectAccessible(ivy, 'incoming call (laptop)');
  await ivy.getByRole('button', { name: `Accept voice call from ${JON}` }).click();
  for (const page of [ivy, jon]) await page.locator('#call-overlay[data-state="active"]').waitFor({ timeout: SLOW });
  await expectAccessible(ivy, 'call in progress (laptop)');
  await expectAccessible(jon, 'call in progress, caller (laptop)');
  await jon.getByRole('button', { name: 'Hang up' }).click();
  await ivy.locator('#call-overlay').waitFor({ state: 'hidden', timeout: SLOW });
  await ivy.locator('#timeline li.call-record').waitFor({ timeout: SLOW });
  await expectAccessible(ivy, 'conversation with a call record (laptop)');
});

test('the app screens have no axe violations on a phone, and tap targets are 44 px', { timeout: 4 * SLOW }, async () => {
  const phone = await openClient(browser, server.url, { viewport: SIZES.phone });
  await login(phone, IVY);
  await friendButton(phone, JON).waitFor();
  // A friend request waiting in the phone's list.
  const kim = await openClient(browser, server.url, { viewport: SIZES.laptop });
  await register(kim, 'kim');
  await kim.locator('#search-input').fill(IVY);
  await kim.getByRole('button', { name: `Send friend request to ${IVY}` }).click();
  await phone.locator('#requests-list [data-request="kim"]').waitFor();
  await expectAccessible(phone, 'list with a request (phone)');
  assert.deepEqual(await smallTargets(phone), [], 'tap targets under 44 px in the phone list');
  await kim.context().close();
  await phone.locator('#settings-btn').click();
  await phone.locator('#sessions-list[aria-busy="false"] li.session').first().waitFor({ timeout: SLOW });
  await expectAccessible(phone, 'settings (phone)');
  await phone.locator('#settings-close').click();

  await friendButton(phone, JON).click();
  await phone.locator(`#chat[data-peer="${JON}"]`).waitFor();
  await phone.locator('#timeline li.msg').first().waitFor();
  await expectAccessible(phone, 'conversation (phone)');
  await keepScreenshots(phone, 'phone');
  assert.deepEqual(await smallTargets(phone), [], 'tap targets under 44 px in the phone chat');

  await phone.locator('#safety-btn').click();
  await phone.locator('#safety-dialog[open]').waitFor();
  await expectAccessible(phone, 'safety number (phone)');
  await phone.keyboard.press('Escape');

  await jon.getByRole('button', { name: `Start video call with ${IVY}` }).click();
  await phone.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
  await expectAccessible(phone, 'incoming call (phone)');
  await phone.getByRole('button', { name: `Accept video call from ${JON}` }).click();
  await phone.locator('#call-overlay[data-state="active"]').waitFor({ timeout: SLOW });
  await expectAccessible(phone, 'call in progress (phone)');
  await phone.getByRole('button', { name: 'Hang up' }).click();
  await jon.locator('#call-overlay').waitFor({ state: 'hidden', timeout: SLOW });
  await phone.context().close();
});
