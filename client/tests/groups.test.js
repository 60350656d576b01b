// Group chats end to end in real Chromium against the real server: a group made from friends,
// its sealed title on every member's screen, messages both ways with sender names, unread badges,
// ticks and message info, typing, adding, promoting, removing and leaving with system lines, and
// a removed member who kept every sender key it was ever given and still cannot read what is
// sent after the removal (nor is it sent to them). Last, the same on a phone-sized screen.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoProblems, axeViolations, befriend, contrastFailures, friendButton, launchBrowser, login, openClient, register, screenshot,
  SLOW, startServer, waitOnline, dismissToasts,
} from './helpers.js';

const ALICE = 'alice';
const BOB = 'Bob_7';
const CAROL = 'carol';
const DAVE = 'dave';
const TITLE = 'Weekend hike 🥾 north ridge';
const T = {
  a1: 'First group message from Alice: quartz-1101',
  b1: 'Bob answers the group: basalt-2202',
  a2: 'Carol is away for this one: slate-3303',
  a3: 'Welcome Dave: granite-4404',
  d1: 'Dave says hi to everyone: marble-5505',
  before: 'Bob before the removal: pumice-6606',
  after: 'Bob after Carol was removed: obsidian-7707',
  phone: 'Sent from a phone: flint-8808',
  away1: 'While Bob looks elsewhere: jade-9901',
  away2: 'And one more for Bob: onyx-9902',
};

let server;
let browser;
let alice;
let bob;
let carol;
let dave;
let gid;

/** Keeps every text frame the page receives, to look for what the server pushed to it. */
function recordReceived(page) {
  page.received = [];
  page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
    if (typeof payload === 'string') page.received.push(payload);
  }));
}

function framesOf(page, type) {
  return page.received.map((p) => { try { return JSON.parse(p); } catch { return null; } }).filter((ev) => ev && ev.type === type);
}

const groupButton = (page) => page.locator(`#groups-list button[data-group="${gid}"]`);
const groupMessage = (page, text) => page.locator('#group-timeline li.msg', { has: page.locator('.text', { hasText: text }) });
const systemLine = (page, text) => page.locator('#group-timeline li.system-line', { hasText: text });

async function openGroup(page) {
  await groupButton(page).click();
  await page.locator(`#group-chat[data-group="${gid}"]`).waitFor();
}

async function sendToGroup(page, text) {
  const input = page.locator('#group-composer-input');
  await input.fill(text);
  await input.press('Enter');
  await page.locator('#group-timeline li.msg.out .text', { hasText: text }).waitFor();
}

/** Opens the member list of the open group. */
async function openMembers(page) {
  await page.locator('#group-members-btn').click();
  await page.locator('#members-dialog[open]').waitFor();
}

async function closeMembers(page) {
  await page.locator('#members-close').click();
  await page.locator('#members-dialog:not([open])').waitFor({ state: 'attached' });
}

before(async () => {
  server = await startServer('groups');
  browser = await launchBrowser();
  [alice, bob, carol, dave] = await Promise.all([0, 1, 2, 3].map(() => openClient(browser, server.url)));
  for (const page of [alice, bob, carol, dave]) recordReceived(page);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('group crypto: every AAD binds its group, names, key and id; keys stay inside WebCrypto', { timeout: SLOW }, async () => {
  const r = await alice.evaluate(async () => {
    const gc = await import(new URL('groupCrypto.js', document.baseURI));
    const c = await import(new URL('crypto.js', document.baseURI));
    const opens = async (fn) => { try { return await fn(); } catch { return false; } };
    const out = {};
    const k = await gc.newSenderKey();
    out.keyId = k.keyId;
    out.extractable = k.key.extractable;
    const at = { group: 'g-1', sender: 'Alice', keyId: k.keyId, id: 'm-1' };
    const sealed = await gc.encryptGroupMessage(k.key, 'hello group', at);
    out.iv = atob(sealed.iv).length;
    out.same = await opens(() => gc.decryptGroupMessage(k.key, { ...at, sender: 'ALICE', ...sealed }));
    out.moved = {};
    for (const [field, value] of [['group', 'g-2'], ['sender', 'bob'], ['keyId', crypto.randomUUID()], ['id', 'm-2']]) {
      out.moved[field] = await opens(() => gc.decryptGroupMessage(k.key, { ...at, [field]: value, ...sealed }));
    }
    const other = await gc.newSenderKey();
    out.otherKey = await opens(() => gc.decryptGroupMessage(other.key, { ...at, ...sealed }));
    // A key message under the pairwise key of two users, opened by the other one.
    const a = await c.generateIdentity();
    const b = await c.generateIdentity();
    const ia = await c.importIdentity(a.jwk);
    const ib = await c.importIdentity(b.jwk);
    const ab = await c.deriveMessageKey(ia.privateKey, 'Alice', 'bob', b.publicJwk);
    const ba = await c.deriveMessageKey(ib.privateKey, 'bob', 'Alice', a.publicJwk);
    const km = { group: 'g-1', id: 'k-1', sender: 'Alice', to: 'Bob' };
    const keyMsg = await gc.encryptKeyMessage(ab, k, km);
    const got = await gc.decryptKeyMessage(ba, { ...km, ...keyMsg });
    out.keyMessage = got.keyId === k.keyId && got.raw.length === 32 && got.raw.every((v, i) => v === k.raw[i]);
    out.keyMessageTo = await opens(() => gc.decryptKeyMessage(ba, { ...km, to: 'carol', ...keyMsg }));
    out.keyMessageGroup = await opens(() => gc.decryptKeyMessage(ba, { ...km, group: 'g-2', ...keyMsg }));
    const received = await gc.importSenderKey(got.raw);
    out.receivedOpens = await opens(() => gc.decryptGroupMessage(received, { ...at, ...sealed }));
    out.receivedExtractable = received.extractable;
    out.shortKey = await opens(() => gc.importSenderKey(new Uint8Array(16)));
    // A sealed title names who sealed it and under which key.
    const title = await gc.sealField('title', k.key, k.keyId, 'Weekend hike', { group: 'g-1', by: 'Alice' });
    out.title = await opens(() => gc.openField('title', k.key, { ...title, by: 'alice' }, 'g-1'));
    out.titleBy = await opens(() => gc.openField('title', k.key, { ...title, by: 'bob' }, 'g-1'));
    out.titleGroup = await opens(() => gc.openField('title', k.key, { ...title, by: 'alice' }, 'g-2'));
    out.titleAsAvatar = await opens(() => gc.openField('avatar', k.key, { ...title, by: 'alice' }, 'g-1'));
    out.aad = new TextDecoder().decode(gc.groupMessageAad(at));
    out.keyAad = new TextDecoder().decode(gc.groupKeyAad(km));
    out.titleAad = new TextDecoder().decode(gc.sealedFieldAad('title', { group: 'g-1', by: 'Alice', keyId: 'x' }));
    return out;
  });
  assert.match(r.keyId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(r.extractable, false);
  assert.equal(r.iv, 12);
  assert.equal(r.same, 'hello group', 'names are lowercased, so the spelling does not matter');
  assert.deepEqual(r.moved, { group: false, sender: false, keyId: false, id: false });
  assert.equal(r.otherKey, false);
  assert.equal(r.keyMessage, true);
  assert.equal(r.keyMessageTo, false);
  assert.equal(r.keyMessageGroup, false);
  assert.equal(r.receivedOpens, 'hello group');
  assert.equal(r.receivedExtractable, false);
  assert.equal(r.shortKey, false);
  assert.equal(r.title, 'Weekend hike');
  assert.deepEqual([r.titleBy, r.titleGroup, r.titleAsAvatar], [false, false, false]);
  assert.equal(r.aad, `nexchat-v1|group-message|g-1|alice|${r.keyId}|m-1`);
  assert.equal(r.keyAad, 'nexchat-v1|group-key|g-1|k-1|alice|bob');
  assert.equal(r.titleAad, 'nexchat-v1|group-title|g-1|alice|x');
});

test('four users register; Alice befriends the other three', { timeout: 8 * SLOW }, async () => {
  await register(alice, ALICE);
  await register(bob, BOB);
  await register(carol, CAROL);
  await register(dave, DAVE);
  await befriend(alice, ALICE, bob, BOB);
  await befriend(alice, ALICE, carol, CAROL);
  await befriend(alice, ALICE, dave, DAVE);
});

test('Alice makes a group of Bob and Carol, and its sealed title shows on all three screens', { timeout: 3 * SLOW }, async () => {
  await alice.getByRole('button', { name: 'New group' }).click();
  await alice.locator('#new-group-dialog[open]').waitFor();
  // Only friends can be picked, and Dave stays out.
  const choices = await alice.locator('#new-group-friends input[type="checkbox"]').evaluateAll((els) => els.map((e) => e.value));
  assert.deepEqual(choices.sort(), [BOB, CAROL, DAVE].sort());
  await alice.locator('#new-group-name').fill(TITLE);
  await alice.getByRole('checkbox', { name: BOB }).check();
  await alice.getByRole('checkbox', { name: CAROL }).check();
  await alice.getByRole('button', { name: 'Create group' }).click();
  await alice.locator('#group-chat:not([hidden])').waitFor();
  gid = await alice.locator('#group-chat').getAttribute('data-group');
  assert.match(gid, /^[0-9a-f-]{36}$/i);
  for (const page of [alice, bob, carol]) {
    await groupButton(page).locator('.group-title', { hasText: TITLE }).waitFor({ timeout: SLOW });
  }
  await alice.locator('#group-name', { hasText: TITLE }).waitFor();
  assert.equal(await dave.locator('#groups-list button[data-group]').count(), 0, 'Dave is in no group');
  // The server only ever held the title sealed.
  const details = alice.traffic.filter((e) => e.kind === 'http' && e.method === 'PUT' && e.url.endsWith(`groups/${gid}/details`));
  assert.equal(details.length, 1);
  assert.ok(!details[0].body.includes('hike'), 'the title travels encrypted');
  assert.match(JSON.parse(details[0].body).title.keyId, /^[0-9a-f-]{36}$/i);
  await systemLine(alice, 'You created the group').waitFor();
});

test('messages go both ways with sender names, unread badges and ticks', { timeout: 4 * SLOW }, async () => {
  await sendToGroup(alice, T.a1);
  const a1 = groupMessage(alice, T.a1);
  // Bob and Carol are online and acknowledge at once: delivered to every member.
  await a1.and(alice.locator('[data-status="delivered"]')).waitFor({ timeout: SLOW });
  for (const page of [bob, carol]) await groupButton(page).locator('.unread-badge', { hasText: '1' }).waitFor();
  await groupButton(bob).locator('.sub', { hasText: T.a1 }).waitFor();

  // Bob reads it: not yet seen by everyone, so the tick stays grey.
  await openGroup(bob);
  const inBob = groupMessage(bob, T.a1);
  await inBob.waitFor();
  await systemLine(bob, `${ALICE} created the group`).waitFor();
  await groupButton(bob).locator('.unread-badge').waitFor({ state: 'detached' });
  assert.equal(await inBob.locator('.sender-name').textContent(), ALICE);
  assert.equal(await a1.getAttribute('data-status'), 'delivered');
  // Carol reads it too: now seen by every member.
  await openGroup(carol);
  await groupMessage(carol, T.a1).waitFor();
  await a1.and(alice.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });

  await sendToGroup(bob, T.b1);
  for (const page of [alice, carol]) {
    const m = groupMessage(page, T.b1);
    await m.waitFor();
    assert.equal(await m.locator('.sender-name').textContent(), BOB);
  }
  await groupMessage(bob, T.b1).and(bob.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });
  // A sender has the same colour on every screen, and another sender another colour.
  const colour = (page, sender) => page.locator(`#group-timeline li.msg[data-sender="${sender}"] .sender-name`).first()
    .evaluate((el) => getComputedStyle(el).color);
  assert.equal(await colour(bob, ALICE), await colour(carol, ALICE));
  assert.equal(await colour(alice, BOB), await colour(carol, BOB));
  assert.notEqual(await colour(carol, ALICE), await colour(carol, BOB));
  // Own messages carry no name.
  assert.equal(await groupMessage(alice, T.a1).locator('.sender-name').count(), 0);
  // Key messages are never chat lines: every line is one of the two texts.
  for (const page of [alice, bob, carol]) {
    const texts = await page.locator('#group-timeline li.msg .text').allTextContents();
    assert.deepEqual(texts, [T.a1, T.b1]);
  }
});

test('typing shows who is typing to the group', { timeout: 2 * SLOW }, async () => {
  await bob.locator('#group-composer-input').pressSequentially('Hm', { delay: 20 });
  await alice.locator('#group-typing:not([hidden])', { hasText: `${BOB} is typing` }).waitFor();
  await bob.locator('#group-composer-input').fill('');
  await alice.locator('#group-typing').waitFor({ state: 'hidden' });
});

test('message info shows each member\'s status; the tick turns seen once the last one reads', { timeout: 3 * SLOW }, async () => {
  // Carol looks at her 1:1 chat with Alice instead.
  await friendButton(carol, ALICE).click();
  await carol.locator(`#chat[data-peer="${ALICE}"]`).waitFor();
  await sendToGroup(alice, T.a2);
  const a2 = groupMessage(alice, T.a2);
  await groupMessage(bob, T.a2).waitFor();
  await a2.and(alice.locator('[data-status="delivered"]')).waitFor({ timeout: SLOW });
  await groupButton(carol).locator('.unread-badge', { hasText: '1' }).waitFor();
  // Bob has seen it (the group is open on his screen), Carol only has it.
  await a2.getByRole('button', { name: 'Message info: who has it' }).click();
  await alice.locator('#info-dialog[open]').waitFor();
  await alice.locator(`#info-list [data-receipt="${BOB}"][data-status="seen"]`).waitFor();
  await alice.locator(`#info-list [data-receipt="${CAROL}"][data-status="delivered"]`).waitFor();
  assert.equal(await alice.locator('#info-list [data-receipt]').count(), 2, 'the sender is not listed');
  assert.equal(await alice.locator('#info-text').textContent(), T.a2);
  await alice.getByRole('button', { name: 'Done' }).click();
  assert.equal(await a2.getAttribute('data-status'), 'delivered');

  await openGroup(carol);
  await groupMessage(carol, T.a2).waitFor();
  await a2.and(alice.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });
  await groupButton(carol).locator('.unread-badge').waitFor({ state: 'detached' });
});

test('an admin adds a friend, who reads the title and only what is sent from then on', { timeout: 3 * SLOW }, async () => {
  await openMembers(alice);
  await alice.locator(`#members-list [data-member="${ALICE}"][data-role="admin"]`).waitFor();
  await alice.locator('#add-member-select').selectOption(DAVE);
  await alice.getByRole('button', { name: 'Add', exact: true }).click();
  await alice.locator(`#members-list [data-member="${DAVE}"][data-role="member"]`).waitFor();
  await closeMembers(alice);
  await systemLine(alice, `You added ${DAVE}`).waitFor();
  await systemLine(bob, `${ALICE} added ${DAVE}`).waitFor();
  // Dave gets the group with its title, re-sealed for him.
  await groupButton(dave).locator('.group-title', { hasText: TITLE }).waitFor({ timeout: SLOW });
  await openGroup(dave);
  await sendToGroup(alice, T.a3);
  await groupMessage(dave, T.a3).waitFor({ timeout: SLOW });
  assert.equal(await groupMessage(dave, T.a1).count(), 0, 'nothing from before Dave joined');
  await sendToGroup(dave, T.d1);
  for (const page of [alice, bob, carol]) await groupMessage(page, T.d1).waitFor({ timeout: SLOW });
  assert.equal(await groupMessage(carol, T.d1).locator('.sender-name').textContent(), DAVE);
});

test('an admin makes a member admin', { timeout: 2 * SLOW }, async () => {
  await openMembers(alice);
  await alice.getByRole('button', { name: `Make ${BOB} an admin` }).click();
  await alice.locator(`#members-list [data-member="${BOB}"][data-role="admin"]`).waitFor();
  await closeMembers(alice);
  await systemLine(carol, `${ALICE} made ${BOB} an admin`).waitFor();
  await systemLine(bob, `${ALICE} made you an admin`).waitFor();
  // Carol is no admin: her list has no actions.
  await openMembers(carol);
  assert.equal(await carol.locator('#members-list button[data-member-action]').count(), 0);
  assert.equal(await carol.locator('#add-member-form').isHidden(), true);
  await closeMembers(carol);
});

test('a removed member keeps every key it had and still cannot read what is sent after', { timeout: 4 * SLOW }, async () => {
  // Carol looks elsewhere: she gets Bob's message but does not see it.
  await friendButton(carol, ALICE).click();
  await carol.locator(`#chat[data-peer="${ALICE}"]`).waitFor();
  await sendToGroup(bob, T.before);
  await groupButton(carol).locator('.sub', { hasText: T.before }).waitFor();
  const beforeId = await groupMessage(bob, T.before).getAttribute('data-id');
  const pushedBefore = framesOf(carol, 'receive_group_message').find((m) => m.id === beforeId);
  assert.ok(pushedBefore, 'Carol got the message from before the removal');
  // Alice and Dave have the group open: only Carol holds the tick back.
  await groupMessage(bob, T.before).and(bob.locator('[data-status="delivered"]')).waitFor({ timeout: SLOW });

  await openMembers(alice);
  await alice.getByRole('button', { name: `Remove ${CAROL} from the group` }).click();
  await alice.locator('#confirm-dialog[open]').waitFor();
  await alice.locator('#confirm-ok').click();
  await alice.locator(`#members-list [data-member="${CAROL}"]`).waitFor({ state: 'detached' });
  await closeMembers(alice);
  await systemLine(alice, `You removed ${CAROL}`).waitFor();
  await systemLine(bob, `${ALICE} removed ${CAROL}`).waitFor();
  // With Carol gone, everyone it was sent to has seen it: the tick moves (read again, not pushed).
  await groupMessage(bob, T.before).and(bob.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });
  await openGroup(carol);
  await carol.locator('#group-readonly:not([hidden])', { hasText: 'removed you' }).waitFor();
  await carol.locator('#group-composer').waitFor({ state: 'hidden' });

  await sendToGroup(bob, T.after);
  await groupMessage(alice, T.after).waitFor({ timeout: SLOW });
  await groupMessage(dave, T.after).waitFor({ timeout: SLOW });
  const afterId = await groupMessage(alice, T.after).getAttribute('data-id');
  const afterMsg = framesOf(alice, 'receive_group_message').find((m) => m.id === afterId);
  assert.ok(afterMsg && afterMsg.keyId && afterMsg.ciphertext, 'Alice got the post-removal message');

  // The server never pushed it to Carol, and she shows nothing of it.
  assert.equal(carol.received.filter((p) => p.includes(afterId)).length, 0, 'the post-removal message never reached Carol');
  assert.equal(await groupMessage(carol, T.after).count(), 0);

  // Every sender key Carol's browser keeps: the old message opens with them (so the check below
  // can succeed), the new one with none of them, whatever id the key was filed under.
  const tryOpen = (page, msg) => page.evaluate(async ({ m, me }) => {
    const db = await new Promise((resolve, reject) => {
      const req = indexedDB.open('nexchat');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const entries = await new Promise((resolve, reject) => {
      const req = db.transaction('kv').objectStore('kv').getAll(IDBKeyRange.bound(`senderkey|${me}|`, `senderkey|${me}|\uffff`));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    db.close();
    const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    const aad = new TextEncoder().encode(`nexchat-v1|group-message|${m.group}|${m.sender.toLowerCase()}|${m.keyId}|${m.id}`);
    const opened = [];
    for (const e of entries) {
      try {
        const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: b64(m.iv), additionalData: aad }, e.key, b64(m.ciphertext));
        opened.push(JSON.parse(new TextDecoder().decode(plain)).text);
      } catch { /* not this key */ }
    }
    return { keys: entries.length, senders: [...new Set(entries.map((e) => e.sender))].sort(), opened };
  }, { m: msg, me: CAROL });

  const old = await tryOpen(carol, pushedBefore);
  assert.ok(old.keys >= 3, `Carol keeps the keys she was given (${old.keys})`);
  assert.ok(old.senders.includes(BOB.toLowerCase()));
  assert.deepEqual(old.opened, [T.before], 'the check opens what Carol was meant to read');
  const late = await tryOpen(carol, afterMsg);
  assert.ok(late.keys >= old.keys);
  assert.deepEqual(late.opened, [], 'no key Carol ever had opens the message sent after her removal');
  assert.notEqual(afterMsg.keyId, pushedBefore.keyId, 'Bob made a new sender key after the removal');
  // A remaining member's page opens it with what it keeps.
  const dnames = await dave.evaluate(() => document.querySelector('#group-timeline').textContent);
  assert.ok(dnames.includes(T.after));
  assertNoProblems(alice, bob, dave);
});

test('a member leaves, and the others see it', { timeout: 2 * SLOW }, async () => {
  await openMembers(dave);
  await dave.getByRole('button', { name: 'Leave group' }).click();
  await dave.locator('#confirm-dialog[open]').waitFor();
  await dave.locator('#confirm-ok').click();
  await dave.locator('#group-readonly:not([hidden])', { hasText: 'You left' }).waitFor();
  await systemLine(alice, `${DAVE} left`).waitFor();
  await systemLine(bob, `${DAVE} left`).waitFor();
  await openMembers(alice);
  assert.deepEqual((await alice.locator('#members-list [data-member]').evaluateAll((els) => els.map((e) => e.dataset.member))).sort(),
    [ALICE, BOB].sort());
  assert.deepEqual(await axeViolations(alice), [], 'the member list passes axe');
  await closeMembers(alice);
  assert.deepEqual(await axeViolations(alice), [], 'the open group passes axe');
  // Sender names, system lines and ticks read against what is really behind them.
  await dismissToasts(alice);
  assert.deepEqual(await contrastFailures(alice), [], 'text contrast in the open group');
  await screenshot(alice, 'group.png');
  assertNoProblems(alice, bob, dave);
});

test('after a reload the list shows the unread count and the preview, opened with the keys the browser kept', { timeout: 3 * SLOW }, async () => {
  // Bob looks at his 1:1 chat while Alice writes twice.
  await friendButton(bob, ALICE).click();
  await bob.locator(`#chat[data-peer="${ALICE}"]`).waitFor();
  await sendToGroup(alice, T.away1);
  await sendToGroup(alice, T.away2);
  await groupMessage(alice, T.away2).and(alice.locator('[data-status="delivered"]')).waitFor({ timeout: SLOW });
  await groupButton(bob).locator('.unread-badge', { hasText: '2' }).waitFor();
  const sentBefore = bob.traffic.length;
  await bob.reload();
  await waitOnline(bob);
  // Delivered already, so not in the greeting: the count is the server's (GET /groups), and the
  // preview opens with the sender key kept in IndexedDB, without fetching any history.
  await groupButton(bob).locator('.unread-badge', { hasText: '2' }).waitFor({ timeout: SLOW });
  await groupButton(bob).locator('.sub', { hasText: T.away2 }).waitFor();
  await groupButton(bob).locator('.group-title', { hasText: TITLE }).waitFor();
  const fetched = bob.traffic.slice(sentBefore).filter((e) => e.kind === 'frame' && e.body.includes('"fetch_group_history"'));
  assert.equal(fetched.length, 0, 'no history was needed to open the title and preview');
  await openGroup(bob);
  await groupMessage(bob, T.away2).waitFor();
  await groupButton(bob).locator('.unread-badge').waitFor({ state: 'detached' });
  await groupMessage(alice, T.away2).and(alice.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });
  await groupMessage(alice, T.away1).and(alice.locator('[data-status="seen"]')).waitFor({ timeout: SLOW });
  assertNoProblems(alice, bob);
});

test('on a phone-sized screen the group list, then the group', { timeout: 3 * SLOW }, async () => {
  const phone = await openClient(browser, server.url, { viewport: { width: 390, height: 844 } });
  await login(phone, BOB);
  await groupButton(phone).locator('.group-title', { hasText: TITLE }).waitFor({ timeout: SLOW });
  // By keyboard: Enter on the group opens it with the focus in the composer.
  await groupButton(phone).focus();
  await phone.keyboard.press('Enter');
  await phone.locator(`#group-chat[data-group="${gid}"]`).waitFor();
  assert.equal(await phone.evaluate(() => document.activeElement?.id), 'group-composer-input');
  assert.equal(await phone.locator('#sidebar').isVisible(), false, 'the list makes room for the group');
  // History from the server opens with the keys from the key messages it holds.
  await groupMessage(phone, T.after).waitFor({ timeout: SLOW });
  await groupMessage(phone, T.a1).waitFor({ timeout: SLOW });
  assert.equal(await phone.locator('#group-timeline .undecryptable').count(), 0, 'every message decrypts');
  await sendToGroup(phone, T.phone);
  await groupMessage(alice, T.phone).waitFor({ timeout: SLOW });
  // Bob's other tab shows it as his own.
  await bob.locator('#group-timeline li.msg.out', { hasText: T.phone }).waitFor({ timeout: SLOW });
  const box = await phone.locator('#group-composer').boundingBox();
  assert.ok(box.width <= 390 && box.x >= 0, 'the composer fits the screen');
  await openMembers(phone);
  const actions = await phone.locator('#members-list').boundingBox();
  assert.ok(actions.x >= 0 && actions.x + actions.width <= 390, 'the member list fits the screen');
  await closeMembers(phone);
  await screenshot(phone, 'group-phone.png');
  // Escape goes back to the list, as in a 1:1 chat.
  await phone.locator('#group-messages').focus();
  await phone.keyboard.press('Escape');
  await groupButton(phone).waitFor();
  assert.equal(await phone.locator('#group-chat').isVisible(), false);
  assertNoProblems(phone);
  await phone.context().close();
});
