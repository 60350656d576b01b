// Calls end to end: a real WebRTC video call between two Chromium contexts (fake camera and
// microphone), signalled through the real server; the call log in both chats afterwards; a
// declined call labelled declined on both sides (not a missed call); and the call history merged
// into a chat opened later.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoProblems, befriend, launchBrowser, login, openChat, openClient, register, screenshot, send,
  SLOW, startServer,
} from './helpers.js';

const CAROL = 'carol';
const DAVE = 'dave.k';

let server;
let browser;
let carol;
let dave;

before(async () => {
  server = await startServer('call');
  browser = await launchBrowser();
  carol = await openClient(browser, server.url);
  dave = await openClient(browser, server.url);
  await register(carol, CAROL);
  await register(dave, DAVE);
  await befriend(carol, CAROL, dave, DAVE);
  await openChat(carol, DAVE);
  await send(carol, 'Can you hop on a video call?');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The remote <video> shows real frames and keeps playing. */
async function remoteVideoPlays(page) {
  await page.waitForFunction(() => {
    const v = document.getElementById('remote-video');
    return v && v.videoWidth > 0 && v.videoHeight > 0 && v.currentTime > 0.2 && !v.paused;
  }, null, { timeout: SLOW });
  const t0 = await page.locator('#remote-video').evaluate((v) => v.currentTime);
  await page.waitForFunction((t) => document.getElementById('remote-video').currentTime > t + 0.5, t0, { timeout: SLOW });
}

test('a video call connects on both sides with remote video playing', { timeout: 3 * SLOW }, async () => {
  await carol.getByRole('button', { name: `Start video call with ${DAVE}` }).click();
  await carol.locator('#call-overlay:not([hidden])').waitFor();
  await dave.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
  assert.match(await dave.locator('#incoming-kind').textContent(), /video call/i);
  // The callee hears the ringtone, the caller the ringback, until the call is answered.
  await dave.locator('html[data-sound="ringtone"]').waitFor({ state: 'attached' });
  await carol.locator('html[data-sound="ringback"]').waitFor({ state: 'attached' });
  await dave.locator('#accept-call-btn').click();
  for (const page of [carol, dave]) await page.locator('html[data-sound]').waitFor({ state: 'detached', timeout: SLOW });

  await remoteVideoPlays(carol);
  await remoteVideoPlays(dave);
  for (const page of [carol, dave]) {
    const local = await page.locator('#local-video').evaluate((v) => ({ w: v.videoWidth, visible: !v.hidden }));
    assert.ok(local.w > 0 && local.visible, 'local picture-in-picture shows the camera');
    await page.locator('#call-overlay[data-state="active"]').waitFor();
  }
  // Let the call run for two seconds on the in-call clock, so it has a duration.
  await carol.locator('#call-status', { hasText: /^0:0[2-9]$|^0:[1-5]\d$/ }).waitFor({ timeout: SLOW });
  await screenshot(carol, 'call.png');

  // The whole picture or the screen filled: the button switches how the remote video is fitted.
  const fit = () => carol.locator('#remote-video').evaluate((v) => getComputedStyle(v).objectFit);
  const before = await fit();
  await carol.locator('#fit-btn').click();
  assert.notEqual(await fit(), before);
  assert.equal(await carol.locator('#fit-btn').getAttribute('aria-pressed'), String(before === 'cover'));
  await carol.locator('#fit-btn').click();
  assert.equal(await fit(), before);

  // Mute and camera toggles act on the local tracks.
  await carol.getByRole('button', { name: 'Mute microphone', exact: true }).click();
  await carol.getByRole('button', { name: 'Unmute microphone', exact: true }).waitFor();
  await carol.getByRole('button', { name: 'Turn camera off' }).click();
  await carol.getByRole('button', { name: 'Turn camera on' }).click();
});

test('after hang-up both chats show the completed call with its duration', { timeout: 2 * SLOW }, async () => {
  await carol.getByRole('button', { name: 'Hang up' }).click();
  for (const page of [carol, dave]) {
    await page.locator('#call-overlay').waitFor({ state: 'hidden' });
    await page.locator(`#chat[data-peer="${page === carol ? DAVE : CAROL}"]`).waitFor();
  }
  const carolRecord = carol.locator('#timeline li.call-record[data-status="completed"]');
  const daveRecord = dave.locator('#timeline li.call-record[data-status="completed"]');
  await carolRecord.waitFor({ timeout: SLOW });
  await daveRecord.waitFor({ timeout: SLOW });
  assert.match(await carolRecord.textContent(), /Outgoing video call/);
  assert.match(await daveRecord.textContent(), /Incoming video call/);
  const dc = await carolRecord.locator('.call-duration').textContent();
  const dd = await daveRecord.locator('.call-duration').textContent();
  assert.match(dc, /^\d+:\d\d$/);
  assert.equal(dc, dd, 'both sides show the same duration');
  assert.notEqual(dc, '0:00', 'a call that ran shows a duration');
  assertNoProblems(carol, dave);
});

test('a declined call shows as declined in both chats, missed in neither', { timeout: 2 * SLOW }, async () => {
  await carol.getByRole('button', { name: `Start voice call with ${DAVE}` }).click();
  await dave.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
  assert.match(await dave.locator('#incoming-kind').textContent(), /voice call/i);
  // On a wide screen the banner leaves the open chat's header (and its buttons) free.
  await dave.locator('#incoming-call.show').waitFor();
  await dave.waitForFunction(() => getComputedStyle(document.getElementById('incoming-call')).transform === 'none');
  const banner = await dave.locator('#incoming-call').boundingBox();
  const header = await dave.locator('#chat .chat-header').boundingBox();
  const overlap = banner.x < header.x + header.width && header.x < banner.x + banner.width
    && banner.y < header.y + header.height && header.y < banner.y + banner.height;
  assert.equal(overlap, false, `the banner ${JSON.stringify(banner)} covers the chat header ${JSON.stringify(header)}`);
  await dave.getByRole('button', { name: `Decline call from ${CAROL}` }).click();
  await carol.locator('#call-overlay').waitFor({ state: 'hidden', timeout: SLOW });
  await dave.locator('#incoming-call').waitFor({ state: 'hidden' });
  // The record's status is `missed` (never answered); its endReason says the callee declined.
  const carolDeclined = carol.locator('#timeline li.call-record[data-status="missed"][data-reason="declined"]');
  await carolDeclined.waitFor({ timeout: SLOW });
  assert.match(await carolDeclined.textContent(), new RegExp(`Voice call · ${DAVE} declined`));
  const daveDeclined = dave.locator('#timeline li.call-record[data-status="missed"][data-reason="declined"]');
  await daveDeclined.waitFor({ timeout: SLOW });
  assert.match(await daveDeclined.textContent(), /Declined voice call/);
  for (const r of [carolDeclined, daveDeclined]) assert.doesNotMatch(await r.getAttribute('class'), /\bmissed\b/);
  assertNoProblems(carol, dave);
});

test('a voice call connects, and the callee can hang up', { timeout: 2 * SLOW }, async () => {
  await carol.getByRole('button', { name: `Start voice call with ${DAVE}` }).click();
  await dave.getByRole('button', { name: `Accept voice call from ${CAROL}` }).click();
  for (const page of [carol, dave]) {
    await page.locator('#call-overlay[data-state="active"][data-video="false"]').waitFor({ timeout: SLOW });
    await page.locator('#call-voice-art').waitFor();
    const audio = await page.locator('#remote-video').evaluate((v) => v.srcObject?.getAudioTracks().map((t) => t.readyState));
    assert.deepEqual(audio, ['live'], 'the remote stream carries live audio');
  }
  await dave.getByRole('button', { name: 'Hang up' }).click();
  for (const page of [carol, dave]) {
    await page.locator('#call-overlay').waitFor({ state: 'hidden', timeout: SLOW });
    await page.locator('#timeline li.call-record[data-status="completed"][data-type="voice"]').waitFor({ timeout: SLOW });
  }
  assertNoProblems(carol, dave);
});

test('a chat opened later shows the call log merged into the timeline', { timeout: 2 * SLOW }, async () => {
  const fresh = await openClient(browser, server.url);
  try {
    await login(fresh, DAVE);
    await openChat(fresh, CAROL);
    await fresh.locator('#timeline li.call-record[data-status="completed"][data-type="video"]').waitFor({ timeout: SLOW });
    await fresh.locator('#timeline li.call-record[data-status="completed"][data-type="voice"]').waitFor();
    await fresh.locator('#timeline li.call-record[data-status="missed"]').waitFor();
    await fresh.locator('#timeline li.msg', { hasText: 'Can you hop on a video call?' }).waitFor();
    // Oldest first: the message came before the three calls.
    const kinds = await fresh.locator('#timeline > li:not(.day-sep)').evaluateAll((els) => els.map((e) => e.className.split(' ')[0]));
    assert.deepEqual(kinds, ['msg', 'call-record', 'call-record', 'call-record']);
    await screenshot(fresh, 'call-log.png');
    assertNoProblems(fresh);
  } finally {
    await fresh.context().close();
  }
});

test('notifications while the tab is hidden show the sender, and the text only with previews on; a muted ringtone stays quiet', { timeout: 2 * SLOW }, async () => {
  await dave.context().grantPermissions(['notifications']);
  // The page is told it is hidden, and every notification it makes is recorded as well as shown.
  await dave.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { get: () => 'hidden', configurable: true });
    const Real = window.Notification;
    window.shownNotifications = [];
    window.Notification = class extends Real {
      constructor(title, options) {
        super(title, options);
        window.shownNotifications.push({ title, body: options?.body });
      }
    };
  });
  await dave.locator('#settings-btn').click();
  await dave.locator('#alert-prefs input[name="notify"]').check();
  await dave.locator('#alert-prefs input[name="previews"]:not(:disabled)').waitFor();
  await dave.locator('#alert-prefs input[name="ringtone"]').uncheck();
  await dave.locator('#settings-close').click();

  await send(carol, 'Private words: damson-61');
  await dave.waitForFunction(() => window.shownNotifications.length === 1);
  assert.deepEqual(await dave.evaluate(() => window.shownNotifications[0]), { title: CAROL, body: 'New message' });
  await dave.locator('#settings-btn').click();
  await dave.locator('#alert-prefs input[name="previews"]').check();
  await dave.locator('#settings-close').click();
  await send(carol, 'Shown in full: sloe-62');
  await dave.waitForFunction(() => window.shownNotifications.length === 2);
  assert.deepEqual(await dave.evaluate(() => window.shownNotifications[1]), { title: CAROL, body: 'Shown in full: sloe-62' });

  // The ringtone is off on this device: the banner shows, with no sound.
  await carol.getByRole('button', { name: `Start voice call with ${DAVE}` }).click();
  await dave.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
  await dave.waitForFunction(() => window.shownNotifications.some((n) => n.body === 'Incoming voice call'));
  assert.equal(await dave.locator('html[data-sound]').count(), 0, 'no ringtone when it is turned off');
  await carol.locator('html[data-sound="ringback"]').waitFor({ state: 'attached' });
  await carol.getByRole('button', { name: 'Hang up' }).click();
  await dave.locator('#incoming-call').waitFor({ state: 'hidden', timeout: SLOW });
  await dave.evaluate(() => { delete document.visibilityState; });
  await dave.locator('#settings-btn').click();
  await dave.locator('#alert-prefs input[name="ringtone"]').check();
  await dave.locator('#settings-close').click();
});

test('calling a friend who is offline says so and logs a missed call', { timeout: 2 * SLOW }, async () => {
  await dave.context().close();
  await carol.locator(`#friends-list button[data-friend="${DAVE}"] .online-dot[data-online="false"]`).waitFor({ timeout: SLOW });
  const before = await carol.locator('#timeline li.call-record[data-status="missed"]').count();
  await carol.getByRole('button', { name: `Start video call with ${DAVE}` }).click();
  await carol.locator('#toasts .toast', { hasText: `${DAVE} is offline.` }).waitFor({ timeout: SLOW });
  await carol.locator('#call-overlay').waitFor({ state: 'hidden' });
  await carol.waitForFunction((n) => document.querySelectorAll('#timeline li.call-record[data-status="missed"]').length === n + 1, before, { timeout: SLOW });
  const offline = carol.locator('#timeline li.call-record[data-reason="offline"]');
  assert.equal(await offline.locator('.call-title').textContent(), `Video call · ${DAVE} was offline`);
  // The refusal is an `error {code: "offline"}` by design; nothing else went wrong.
  const unexpected = carol.problems.filter((p) => !p.includes('"code":"offline"'));
  assert.deepEqual(unexpected, []);
});
