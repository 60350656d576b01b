// One user on several devices and tabs, in real Chromium against the real server: the conversation
// list (badges, previews, order) after a reload, a read on one device clearing the badge on the
// other, `seen` only for what was scrolled to, a call answered in one tab that stops ringing in the
// others, call labels from each side, long names at phone width with the connection state in the
// open chat, a message written offline that goes by itself, and a former friend's history.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoProblems, befriend, friendButton, launchBrowser, login, messageByText, openChat, openClient,
  openTab, register, screenshot, send, SLOW, startServer, waitOnline,
} from './helpers.js';

const ANN = 'ann';
const BEN = 'ben';
const CY = 'cy_r';
/** 32 characters, the longest name there is, in wide capitals. */
const LONG = 'MAXIMILIAN_ALEXANDER_WOLFGANG_32';
const UNREAD = 24;
const nth = (i) => `Unread ${String(i).padStart(2, '0')}`;

let server;
let browser;
let ann;
let ben1;
let ben2;
let ben3;
let cy;

before(async () => {
  server = await startServer('devices');
  browser = await launchBrowser();
  ann = await openClient(browser, server.url);
  ben1 = await openClient(browser, server.url);
  cy = await openClient(browser, server.url);
  await register(ann, ANN);
  await register(ben1, BEN);
  await register(cy, CY);
  await befriend(ann, ANN, ben1, BEN);
  await befriend(cy, CY, ben1, BEN);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The names in the conversation list, top to bottom. */
function listOrder(page) {
  return page.locator('#friends-list button[data-friend]').evaluateAll((els) => els.map((e) => e.dataset.friend));
}

function badge(page, name, count) {
  return friendButton(page, name).locator('.unread-badge', { hasText: new RegExp(`^${count}$`) });
}

test('unread badges, previews and the recent-first order are there again after a reload', { timeout: 3 * SLOW }, async () => {
  await openChat(ann, BEN);
  await send(ann, 'First from ann');
  await send(ann, 'Second from ann: kumquat-31');
  await openChat(cy, BEN);
  await send(cy, 'From cy: fig-77');
  await badge(ben1, ANN, 2).waitFor();
  await badge(ben1, CY, 1).waitFor();

  await ben1.reload();
  await waitOnline(ben1);
  await badge(ben1, ANN, 2).waitFor({ timeout: SLOW });
  await badge(ben1, CY, 1).waitFor();
  // cy wrote last: cy first, although "ann" comes first in the alphabet.
  assert.deepEqual(await listOrder(ben1), [CY, ANN]);
  assert.equal(await friendButton(ben1, ANN).locator('.sub').textContent(), 'Second from ann: kumquat-31');
  assert.equal(await friendButton(ben1, CY).locator('.sub').textContent(), 'From cy: fig-77');
  assert.equal(await ben1.title(), '(3) nexchat');
  // ann's own list shows her last message as hers.
  assert.equal(await friendButton(ann, BEN).locator('.sub').textContent(), 'You: Second from ann: kumquat-31');
  assertNoProblems(ann, ben1, cy);
});

test('reading on one device clears the badge on the other device of the same user', { timeout: 3 * SLOW }, async () => {
  ben2 = await openClient(browser, server.url);
  await login(ben2, BEN);
  await badge(ben2, ANN, 2).waitFor({ timeout: SLOW });
  await badge(ben2, CY, 1).waitFor();

  await openChat(ben1, ANN);
  await messageByText(ben1, 'Second from ann: kumquat-31').waitFor();
  await messageByText(ann, 'Second from ann: kumquat-31').and(ann.locator('[data-status="seen"]')).waitFor();
  // ben2 learns it through receipt_sync: ann's badge goes, cy's stays.
  await friendButton(ben2, ANN).locator('.unread-badge').waitFor({ state: 'detached' });
  await badge(ben2, CY, 1).waitFor();
  assert.equal(await ben2.title(), '(1) nexchat');
  assertNoProblems(ann, ben1, ben2);
});

test('messages below the view get a "new messages" line and a jump button, and no seen until reached', { timeout: 4 * SLOW }, async () => {
  // ben1 looks at another chat, so nobody reads ann's messages as they come.
  await openChat(ben1, CY);
  const input = ann.locator('#composer-input');
  for (let i = 1; i <= UNREAD; i++) {
    await input.fill(nth(i));
    await input.press('Enter');
  }
  await messageByText(ann, nth(UNREAD)).and(ann.locator('[data-status="delivered"]')).waitFor({ timeout: SLOW });
  await badge(ben2, ANN, UNREAD).waitFor();

  await openChat(ben2, ANN);
  // The line sits right above the first unread message, at the top of the view.
  const line = ben2.locator('#timeline #new-messages-line');
  await line.waitFor();
  assert.match(await ben2.locator('#new-messages-line + li').textContent(), new RegExp(nth(1)));
  await ben2.locator('#jump-latest').waitFor();
  const lineBox = await line.boundingBox();
  const paneBox = await ben2.locator('#messages').boundingBox();
  assert.ok(lineBox.y >= paneBox.y && lineBox.y < paneBox.y + 60, `the line is at the top of the view: ${lineBox.y} vs ${paneBox.y}`);

  // What is on screen is seen; what is below is not.
  await messageByText(ann, nth(1)).and(ann.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });
  assert.equal(await messageByText(ann, nth(UNREAD)).getAttribute('data-status'), 'delivered');
  assert.equal(await ben2.locator('#jump-count').isVisible(), true, 'the jump button counts the unread below');

  await ben2.locator('#jump-latest').click();
  await messageByText(ann, nth(UNREAD)).and(ann.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });
  await ben2.locator('#jump-latest').waitFor({ state: 'hidden' });
  await friendButton(ben2, ANN).locator('.unread-badge').waitFor({ state: 'detached' });
  await screenshot(ben2, 'new-messages.png');
  assertNoProblems(ann, ben2);
});

test('a call answered in one tab stops ringing in the other tab and on the other device', { timeout: 3 * SLOW }, async () => {
  ben3 = await openTab(ben1, server.url);
  await ann.getByRole('button', { name: `Start voice call with ${BEN}` }).click();
  for (const page of [ben1, ben2, ben3]) await page.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
  await ben3.getByRole('button', { name: `Accept voice call from ${ANN}` }).click();
  for (const page of [ben1, ben2]) {
    await page.locator('#incoming-call').waitFor({ state: 'hidden', timeout: SLOW });
    await page.locator('#toasts .toast', { hasText: 'answered on another device' }).waitFor();
    assert.equal(await page.locator('#call-overlay').isHidden(), true);
  }
  for (const page of [ann, ben3]) await page.locator('#call-overlay[data-state="active"]').waitFor({ timeout: SLOW });

  await ann.getByRole('button', { name: 'Hang up' }).click();
  await ben3.locator('#call-overlay').waitFor({ state: 'hidden', timeout: SLOW });
  const record = ann.locator('#timeline li.call-record[data-status="completed"]');
  await record.waitFor({ timeout: SLOW });
  assert.match(await record.textContent(), /Outgoing voice call/);
  assertNoProblems(ann, ben1, ben2, ben3);
});

test('a declined and a cancelled call read right on each side, and only the callee missed one', { timeout: 3 * SLOW }, async () => {
  await openChat(ben1, ANN);
  await ann.getByRole('button', { name: `Start voice call with ${BEN}` }).click();
  await ben1.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
  await ben1.getByRole('button', { name: `Decline call from ${ANN}` }).click();
  await ann.locator('#toasts .toast', { hasText: `${BEN} declined the call` }).waitFor({ timeout: SLOW });
  const annDeclined = ann.locator('#timeline li.call-record[data-reason="declined"]');
  const benDeclined = ben1.locator('#timeline li.call-record[data-reason="declined"]');
  await annDeclined.waitFor({ timeout: SLOW });
  await benDeclined.waitFor({ timeout: SLOW });
  assert.equal(await annDeclined.locator('.call-title').textContent(), `Voice call · ${BEN} declined`);
  assert.equal(await benDeclined.locator('.call-title').textContent(), 'Declined voice call');
  for (const r of [annDeclined, benDeclined]) assert.doesNotMatch(await r.getAttribute('class'), /\bmissed\b/);
  for (const page of [ben2, ben3]) await page.locator('#incoming-call').waitFor({ state: 'hidden', timeout: SLOW });

  // ann gives up while it rings: cancelled for her, missed (in red) for ben.
  await ann.getByRole('button', { name: `Start voice call with ${BEN}` }).click();
  await ben1.locator('#incoming-call:not([hidden])').waitFor({ timeout: SLOW });
  await ann.getByRole('button', { name: 'Hang up' }).click();
  const annCancelled = ann.locator('#timeline li.call-record[data-reason="cancelled"]');
  const benCancelled = ben1.locator('#timeline li.call-record[data-reason="cancelled"]');
  await annCancelled.waitFor({ timeout: SLOW });
  await benCancelled.waitFor({ timeout: SLOW });
  assert.equal(await annCancelled.locator('.call-title').textContent(), 'Cancelled voice call');
  assert.doesNotMatch(await annCancelled.getAttribute('class'), /\bmissed\b/);
  assert.equal(await benCancelled.locator('.call-title').textContent(), 'Missed voice call');
  assert.match(await benCancelled.getAttribute('class'), /\bmissed\b/);
  const red = await benCancelled.locator('.call-title').evaluate((el) => getComputedStyle(el).color);
  const plain = await annCancelled.locator('.call-title').evaluate((el) => getComputedStyle(el).color);
  assert.notEqual(red, plain, 'only the missed call is coloured as missed');
  for (const page of [ben1, ben2, ben3]) await page.locator('#incoming-call').waitFor({ state: 'hidden', timeout: SLOW });
  await screenshot(ann, 'call-labels.png');
  assertNoProblems(ann, ben1, ben2, ben3);
  await ben3.close();
  await ben2.context().close();
});

/** Fails unless `inner` lies within `outer` horizontally. */
function within(inner, outer, what) {
  assert.ok(inner.x >= outer.x - 0.5 && inner.x + inner.width <= outer.x + outer.width + 0.5,
    `${what}: [${inner.x}, ${inner.x + inner.width}] is not within [${outer.x}, ${outer.x + outer.width}]`);
}

/**
 * The boxes of `parts` (selectors inside the element `root` selects; null for that element),
 * read in one go inside the page: a list re-rendered by a push cannot fall between them.
 */
function boxes(page, root, parts) {
  return page.evaluate(([root, parts]) => {
    const el = document.querySelector(root);
    return parts.map((part) => {
      const r = (part ? el.querySelector(part) : el).getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    });
  }, [root, parts]);
}

test('a 32-character name is cut with an ellipsis at 390 px, and the open chat shows the connection', { timeout: 5 * SLOW }, async () => {
  const long = await openClient(browser, server.url);
  await register(long, LONG);
  const phone = await openClient(browser, server.url, { viewport: { width: 390, height: 844 } });
  await login(phone, ANN);
  const viewport = { x: 0, width: 390 };

  // The request from the long name, in the phone's requests list.
  await long.locator('#search-input').fill(ANN);
  await long.getByRole('button', { name: `Send friend request to ${ANN}` }).click();
  const request = phone.locator(`#requests-list [data-request="${LONG}"]`);
  await request.waitFor();
  const [reqName, accept] = await boxes(phone, `#requests-list [data-request="${LONG}"]`, ['.person-name strong', 'button[data-action="accept"]']);
  assert.ok(reqName.x + reqName.width <= accept.x, 'the name stops before the accept button');
  within(accept, viewport, 'accept button');
  await request.getByRole('button', { name: `Accept friend request from ${LONG}` }).click();
  await friendButton(phone, LONG).waitFor();

  // A message from the long name: time and badge beside it, all inside the screen.
  await openChat(long, ANN);
  await send(long, 'Hello from a long name');
  const row = friendButton(phone, LONG);
  await row.locator('.unread-badge').waitFor();
  const [rowBox, nameBox, timeBox, badgeBox] = await boxes(phone, `#friends-list button[data-friend="${LONG}"]`, [null, '.friend-name', '.friend-time', '.unread-badge']);
  within(rowBox, viewport, 'list row');
  within(timeBox, rowBox, 'time');
  within(badgeBox, rowBox, 'badge');
  assert.ok(nameBox.x + nameBox.width <= timeBox.x, 'the name stops before the time');
  assert.ok(timeBox.x + timeBox.width <= badgeBox.x, 'the time stops before the badge');
  assert.equal(await row.locator('.friend-name').evaluate((el) => el.scrollWidth > el.clientWidth
    && getComputedStyle(el).textOverflow === 'ellipsis'), true, 'the name is cut with an ellipsis');

  // The search list too.
  await phone.locator('#search-input').fill('MAX');
  const person = phone.locator(`#search-list li.person[data-user="${LONG}"]`);
  await person.waitFor();
  const [personBox, personName, tag] = await boxes(phone, `#search-list li.person[data-user="${LONG}"]`, [null, '.person-name > span', '.tag']);
  within(personBox, viewport, 'search row');
  within(tag, personBox, 'friend tag');
  assert.ok(personName.x + personName.width <= tag.x, 'the name stops before the tag');
  await phone.locator('#search-input').fill('');
  await screenshot(phone, 'long-name-phone.png');

  // In the open chat on a phone the sidebar is hidden: the chat itself shows a lost connection,
  // and a message written meanwhile goes by itself once the server is back.
  await friendButton(phone, LONG).click();
  await phone.locator(`#chat[data-peer="${LONG}"]`).waitFor();
  assert.equal(await phone.locator('#chat-connection').isVisible(), false, 'nothing to show while connected');
  await server.kill();
  await phone.locator('#chat-connection[data-state="reconnecting"]').waitFor({ timeout: SLOW });
  assert.equal(await phone.locator('#chat-connection').isVisible(), true);
  assert.match(await phone.locator('#chat-connection').textContent(), /Offline|Reconnecting/);
  const input = phone.locator('#composer-input');
  await input.fill('Written in a tunnel: quince-42');
  await input.press('Enter');
  const waiting = messageByText(phone, 'quince-42');
  await waiting.and(phone.locator('[data-status="failed"]')).waitFor();
  const id = await waiting.getAttribute('data-id');
  await screenshot(phone, 'offline-phone.png');
  await server.start();
  await phone.locator(`#timeline li.msg[data-id="${id}"][data-status="seen"]`).waitFor({ timeout: 2 * SLOW });
  await long.locator(`#timeline li.msg[data-id="${id}"]`, { hasText: 'quince-42' }).waitFor({ timeout: SLOW });
  await phone.locator('#chat-connection').waitFor({ state: 'hidden' });
  assertNoProblems(long, phone);
  await long.context().close();
  await phone.context().close();
});

test("a former friend's conversation stays in the list and opens read only", { timeout: 3 * SLOW }, async () => {
  for (const page of [ben1, cy]) await waitOnline(page);
  await openChat(ben1, CY);
  await ben1.getByRole('button', { name: `Remove ${CY} from friends` }).click();
  await ben1.getByRole('button', { name: 'Remove friend', exact: true }).click();
  for (const [page, peer] of [[ben1, CY], [cy, BEN]]) {
    await friendButton(page, peer).and(page.locator('[data-former="true"]')).waitFor({ timeout: SLOW });
  }
  // ben's chat stayed open, read only, with the history.
  await ben1.locator('#chat-readonly:not([hidden])').waitFor();
  assert.equal(await ben1.locator('#composer').isHidden(), true);
  assert.equal(await ben1.getByRole('button', { name: `Start voice call with ${CY}` }).isDisabled(), true);
  await messageByText(ben1, 'From cy: fig-77').waitFor();

  // After a reload the entry comes from the server, and opens the same way.
  await cy.reload();
  await waitOnline(cy);
  const entry = friendButton(cy, BEN).and(cy.locator('[data-former="true"]'));
  await entry.waitFor({ timeout: SLOW });
  assert.match(await entry.textContent(), /Not a friend anymore · read only/);
  await entry.click();
  await messageByText(cy, 'From cy: fig-77').waitFor({ timeout: SLOW });
  assert.match(await cy.locator('#chat-readonly').textContent(), /no longer friends/);
  assert.equal(await cy.locator('#composer').isHidden(), true);
  await screenshot(cy, 'former-friend.png');
  assertNoProblems(ben1, cy);
});
