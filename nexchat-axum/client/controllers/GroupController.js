// Group chats (protocol version 1.2): the list (`GET /groups`), membership pushes, sending under
// this device's sender key and handing that key to the members in key messages first, receiving
// and decrypting (a message whose key has not come yet waits for it), ticks and "message info",
// history, typing, and the admin's actions (add, remove, promote) and leaving.
//
// Sender keys follow docs/protocol.md "Sender keys (what a client does)": a device makes a key
// before its first message in a group, sends it in one key message to every other member and to
// itself before the first message under it (all frames of this socket go out in order through one
// queue), forgets it when someone else is removed or leaves, and sends it to a new member only.
// Every key it is given is kept (IndexedDB, beside the private key) by group, sender and keyId.
import { deriveMessageKey } from '../crypto.js';
import {
  decryptGroupMessageBody, decryptKeyMessage, encryptGroupMessage, encryptKeyMessage, importSenderKey,
  newSenderKey, openField, sealField,
} from '../groupCrypto.js';
import { parseAttachments } from '../attachmentCrypto.js';
import { summaryOf } from '../models/AttachmentModel.js';
import { ApiError } from '../net/ApiClient.js';
import { LocalStore } from '../net/LocalStore.js';
import { TypingReport } from './TypingReport.js';
import { GroupModel } from '../models/GroupModel.js';

const SEND_TIMEOUT_MS = 12_000;
const KEY_WAIT_MS = 20_000;
const TYPING_EXPIRE_MS = 7_000;
const PAGE = 50;
/** Older pages fetched on their own, only to find the keys that shown messages wait for. */
const MAX_KEY_PAGES = 5;

const low = (name) => String(name ?? '').toLowerCase();

export class GroupController {
  constructor({ api, auth, users, groups, views, socket, chats, friends }) {
    this.api = api;
    this.auth = auth;
    this.users = users;
    this.groups = groups;
    this.views = views;
    this.socket = socket;
    this.chats = chats;
    this.friends = friends;
    /** The AttachmentController (set by the app): files in the composer, uploads. */
    this.attachments = null;
    /** Every frame this controller sends goes through this chain, so key messages precede the messages under them. */
    this.chain = Promise.resolve();
    this.keysReady = Promise.resolve();
    this.keysFor = null;
    this.selfKey = null;
    /** `${group}|${name}` added from this device: only it re-seals the title for the new member. */
    this.addedHere = new Set();
    /** key message id -> {group, to} not yet acknowledged by the server */
    this.keyInFlight = new Map();
    // A group left or gone is not told that typing stopped.
    this.typing = new TypingReport((group, isTyping) => (isTyping || (this.groups.has(group) && !this.groups.group(group).gone))
      && this.socket.send({ type: 'group_typing', group, isTyping }));
    this.loadSeq = 0;

    const v = views.group;
    v.bindSelect((id) => this.open(id));
    v.bindNewGroup(() => this.showNewGroup(), (title, members) => this.create(title, members));
    v.bindSend((text) => this.send(text));
    v.bindTyping((hasText) => this.onComposerInput(hasText));
    v.bindActions({
      back: () => this.close(),
      members: () => this.showMembers(),
      info: (id) => this.showInfo(id),
      retry: (id) => this.retry(id),
      nearTop: () => this.loadOlder(),
      scrolled: () => this.markSeen(),
    });
    v.bindMemberActions({
      add: (name) => this.addMember(name),
      remove: (name) => this.removeMember(name),
      role: (name, role) => this.setRole(name, role),
      leave: () => this.leave(),
    });
    views.page.bindVisible(() => this.markSeen());
  }

  events() {
    return {
      receive_group_message: (ev) => this.onReceive(ev),
      group_message_sent: (ev) => this.onSent(ev),
      group_delivered: (ev) => this.onTicks(ev, 'delivered'),
      group_seen: (ev) => this.onTicks(ev, 'seen'),
      group_receipt_sync: (ev) => this.onReceiptSync(ev),
      group_history_response: (ev) => this.onHistory(ev),
      group_typing: (ev) => this.onTyping(ev),
      group_changed: (ev) => this.onChanged(ev),
      group_removed: (ev) => this.onRemoved(ev),
      error: (ev) => this.onError(ev),
    };
  }

  get me() {
    return this.auth.username;
  }

  enqueue(fn) {
    const run = this.chain.then(fn);
    this.chain = run.catch((err) => console.error('group send failed', err));
    return run;
  }

  // --- keys -----------------------------------------------------------------------------

  /** Loads the sender keys this browser keeps for the signed-in user, once per sign-in. */
  loadKeys() {
    if (this.keysFor === this.me) return this.keysReady;
    this.keysFor = this.me;
    const me = this.me;
    this.keysReady = LocalStore.loadSenderKeys(me).then((entries) => {
      if (this.me !== me) return;
      for (const e of entries) {
        if (e && e.key && e.group && e.sender && e.keyId) this.groups.keys.set(GroupModel.keyName(e.group, e.sender, e.keyId), e.key);
      }
    });
    return this.keysReady;
  }

  /** The pairwise 1:1 key with `name`; for ourselves, the key of the user with themselves. */
  pairKey(name) {
    if (low(name) === low(this.me)) {
      this.selfKey ??= deriveMessageKey(this.auth.privateKey, this.me, this.me, this.auth.publicJwk);
      this.selfKey.catch(() => { this.selfKey = null; });
      return this.selfKey;
    }
    return this.chats.keyFor(name);
  }

  /** Keeps a member's sender key, then opens whatever waited for it. */
  async keepKey(group, sender, keyId, raw) {
    const name = GroupModel.keyName(group, sender, keyId);
    if (this.groups.keys.has(name)) return;
    const key = await importSenderKey(raw, ['decrypt']);
    if (this.groups.keys.has(name)) return;
    this.groups.keys.set(name, key);
    LocalStore.saveSenderKey(this.me, { group, sender, keyId, key });
    await this.keyArrived(group, sender, keyId);
  }

  async keyArrived(group, sender, keyId) {
    if (!this.groups.has(group)) return;
    const g = this.groups.group(group);
    for (const m of this.groups.waitingFor(group, sender, keyId)) {
      const r = await this.decryptChat(m);
      m.text = r.text;
      m.attachments = r.attachments;
      m.decryptFailed = r.decryptFailed;
      m.waiting = r.waiting;
      if (r.text != null) this.groups.noteLast(group, this.lastOf(m));
    }
    if (g.lastRaw && g.lastRaw.keyId === keyId && low(g.lastRaw.sender) === low(sender)) {
      const r = await this.decryptChat(g.lastRaw);
      if (r.text != null) {
        g.last = this.lastOf({ ...g.lastRaw, text: r.text, attachments: r.attachments });
        g.lastRaw = null;
      }
    }
    await this.openDetails(g);
    this.renderAll();
  }

  /** {text, attachments, decryptFailed, waiting} of a chat message under the key it names. */
  async decryptChat(m) {
    const key = this.groups.keys.get(GroupModel.keyName(m.group, m.sender, m.keyId));
    if (!key) return { text: null, attachments: [], decryptFailed: false, waiting: true };
    try {
      const body = await decryptGroupMessageBody(key, m);
      return {
        text: body.text, attachments: parseAttachments(body.attachments), decryptFailed: false, waiting: false,
      };
    } catch {
      return { text: null, attachments: [], decryptFailed: true, waiting: false };
    }
  }

  /** Opens the sealed title and avatar once the key they name is here. */
  async openDetails(g) {
    for (const kind of ['title', 'avatar']) {
      const field = kind === 'title' ? g.sealedTitle : g.sealedAvatar;
      if (!field || (kind === 'title' ? g.title : g.avatar) != null) continue;
      const key = this.groups.keys.get(GroupModel.keyName(g.id, field.by, field.keyId));
      if (!key) continue;
      try {
        const text = await openField(kind, key, field, g.id);
        if (kind === 'title') g.title = text;
        else g.avatar = text;
      } catch { /* not for this key: stays sealed */ }
    }
  }

  /**
   * This device's current sender key in `group`, made when there is none or when someone it was
   * given to is no longer a member, and sent to every member (and to ourselves) who does not have
   * it yet. Runs inside the send queue.
   */
  async ensureKey(group) {
    const members = this.groups.others(group, this.me);
    const current = new Set(members.map(low));
    let own = this.groups.own.get(group);
    if (own && [...own.sentTo].some((n) => n !== low(this.me) && !current.has(n))) own = null;
    if (!own) {
      const made = await newSenderKey();
      own = { ...made, sentTo: new Set() };
      this.groups.own.set(group, own);
      await this.keepKey(group, this.me, made.keyId, made.raw);
    }
    for (const name of [this.me, ...members]) {
      if (!own.sentTo.has(low(name))) await this.sendKey(group, own, name);
    }
    return own;
  }

  /** One key message: our current key for `to`, under our pairwise key. */
  async sendKey(group, own, to) {
    let pair;
    try {
      pair = await this.pairKey(to);
    } catch {
      return false; // no key for them yet: tried again before our next message
    }
    const id = crypto.randomUUID();
    const body = await encryptKeyMessage(pair, own, {
      group, id, sender: this.me, to,
    });
    if (this.groups.own.get(group) !== own) return false;
    if (!this.socket.send({
      type: 'send_group_message', group, to, ciphertext: body.ciphertext, iv: body.iv, id,
    })) return false;
    this.groups.keyMessageIds.add(id);
    this.keyInFlight.set(id, { group, to });
    own.sentTo.add(low(to));
    return true;
  }

  async onKeyMessage(m, { ack = true } = {}) {
    if (this.groups.keyMessageIds.has(m.id)) return; // our own, from this socket
    if (!this.auth.isMe(m.to)) return;
    if (ack) this.socket.send({ type: 'group_delivered', group: m.group, ids: [m.id] });
    try {
      const pair = await this.pairKey(m.sender);
      const { keyId, raw } = await decryptKeyMessage(pair, m);
      await this.keepKey(m.group, m.sender, keyId, raw);
    } catch { /* not for us, or tampered with: the messages under it stay undecryptable */ }
  }

  // --- the list -------------------------------------------------------------------------

  /** After every sync: the groups as the server has them, with unread counts and previews. */
  async load() {
    const seq = ++this.loadSeq;
    await this.loadKeys();
    let res;
    try {
      res = await this.api.groups();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.friends.onUnauthorized?.();
      return;
    }
    if (seq !== this.loadSeq || !this.auth.isLoggedIn) return;
    const entries = Array.isArray(res?.groups) ? res.groups.filter((e) => e && e.group && e.group.id) : [];
    const listed = new Set(entries.map((e) => e.group.id));
    for (const g of this.groups.groups.values()) {
      if (!listed.has(g.id) && !g.gone) this.markGone(g.id, 'You are no longer a member of this group.');
    }
    for (const { group, lastMessage, unread } of entries) {
      const g = this.groups.apply(group);
      await this.openDetails(g);
      if (lastMessage && lastMessage.id) {
        const r = await this.decryptChat(lastMessage);
        const loadedLast = this.groups.message(lastMessage.id);
        const opened = r.text != null ? { text: r.text, attachments: r.attachments } : loadedLast ?? { text: null };
        const text = opened.text ?? null;
        g.lastRaw = text == null ? lastMessage : null;
        if (!g.last || g.last.timestamp <= lastMessage.timestamp) g.last = this.lastOf({ ...lastMessage, text, attachments: opened.attachments });
        let loaded = 0;
        for (const m of g.messages.values()) if (!m.outgoing && !m.seenByMe && m.timestamp <= lastMessage.timestamp) loaded += 1;
        g.serverUnread = { count: Math.max(0, (Number.isInteger(unread) ? unread : 0) - loaded), upTo: lastMessage.timestamp };
      } else {
        g.serverUnread = { count: 0, upTo: 0 };
      }
      g.joinedAt = this.groups.member(g.id, this.me)?.joinedAt ?? g.createdAt;
      // A title or preview under a key this browser does not have yet (a new device, keys
      // cleared): the key messages to us are in the group's history.
      if (this.needsKeys(g) && !g.historyRequested) {
        g.historyRequested = true;
        this.requestHistory(g.id, 'initial');
      }
    }
    this.renderAll();
    this.markSeen();
  }

  /** Something shown in this group waits for a key we do not have. */
  needsKeys(g) {
    if (g.sealedTitle && g.title == null) return true;
    if (g.lastRaw) return true;
    for (const m of g.messages.values()) if (m.waiting) return true;
    return false;
  }

  lastOf(m) {
    return {
      id: m.id, sender: m.sender, outgoing: this.auth.isMe(m.sender), timestamp: m.timestamp, text: m.text == null ? null : summaryOf(m.text, m.attachments),
    };
  }

  async refreshGroup(id) {
    try {
      const record = await this.api.group(id);
      if (!this.auth.isLoggedIn) return null;
      const g = this.groups.apply(record);
      g.joinedAt = this.groups.member(id, this.me)?.joinedAt ?? g.createdAt;
      await this.openDetails(g);
      this.renderAll();
      return g;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) this.markGone(id, 'You are no longer a member of this group.');
      return null;
    }
  }

  markGone(id, text) {
    const g = this.groups.group(id);
    g.gone = true;
    g.goneText = text;
    g.typing.clear();
    this.groups.own.delete(id);
    if (this.groups.active === id) this.views.group.closeMembers();
    this.renderAll();
  }

  renderList() {
    const list = this.groups.list().map((g) => ({
      id: g.id,
      name: this.groups.nameOf(g.id, this.me),
      size: g.members.length,
      unread: g.gone ? 0 : this.groups.unreadOf(g.id),
      typing: this.groups.typingIn(g.id).map((n) => this.displayName(g.id, n)),
      active: this.groups.active === g.id,
      last: g.last,
      gone: g.gone,
    }));
    this.views.group.renderList(list, this.me);
  }

  renderAll() {
    this.renderList();
    if (this.groups.active) {
      this.renderHeader();
      this.renderTimeline('append');
      if (this.views.group.membersOpen()) this.renderMembers();
    }
  }

  displayName(group, name) {
    return this.groups.member(group, name)?.username ?? name;
  }

  // --- opening --------------------------------------------------------------------------

  open(id) {
    if (!this.groups.has(id)) return;
    if (this.chats.chat.active) this.chats.close();
    const changed = this.groups.active !== id;
    this.stopTyping();
    // Files waiting in the composer were meant for the group that was open.
    if (changed) this.attachments?.clearDrafts('group');
    this.groups.active = id;
    const g = this.groups.group(id);
    this.views.group.open(id);
    this.views.sidebar.setChatOpen(true);
    this.renderHeader();
    this.renderTimeline('bottom');
    if (!g.historyRequested) {
      g.historyRequested = true;
      this.requestHistory(id, 'initial');
    }
    this.markSeen();
    this.renderList();
    if (changed) this.views.group.focusComposer();
  }

  /** Closes the open group; `quiet` when a 1:1 chat takes its place. */
  close(quiet = false) {
    if (!this.groups.active) return;
    this.stopTyping();
    this.attachments?.clearDrafts('group');
    this.groups.active = null;
    this.views.group.close();
    if (!quiet) {
      this.views.chat.close();
      this.views.sidebar.setChatOpen(false);
      this.views.group.list.querySelector('button[data-group]')?.focus();
    }
    this.renderList();
  }

  renderHeader() {
    const id = this.groups.active;
    if (!id) return;
    const g = this.groups.group(id);
    this.views.group.renderHeader({
      name: this.groups.nameOf(id, this.me),
      size: g.members.length,
      gone: g.gone,
      goneText: g.goneText,
      isAdmin: this.groups.isAdmin(id, this.me),
    });
    this.views.group.showTyping(g.gone ? [] : this.groups.typingIn(id).map((n) => this.displayName(id, n)));
  }

  renderTimeline(mode = 'append') {
    const id = this.groups.active;
    if (!id) return;
    const g = this.groups.group(id);
    this.views.group.render(this.groups.timeline(id), mode);
    this.views.group.setLoadingOlder(g.loadingHistory && g.historyLoaded);
  }

  isVisible(id) {
    return this.groups.active === id && this.views.page.isVisible;
  }

  /** `group_seen` for what the user has on screen in the open group. */
  markSeen() {
    const id = this.groups.active;
    if (!id || !this.isVisible(id) || !this.socket.isOpen) return;
    const g = this.groups.group(id);
    if (g.gone) return;
    const ids = this.views.group.reachedIds(this.groups.unseenIn(id));
    const all = g.serverUnread.count > 0 && g.historyLoaded;
    if (!ids.length && !all) return;
    const ev = { type: 'group_seen', group: id };
    if (!all) ev.ids = ids;
    if (!this.socket.send(ev)) return;
    if (all) {
      g.serverUnread.count = 0;
      for (const m of g.messages.values()) if (!m.outgoing) m.seenByMe = true;
    } else {
      for (const mid of ids) {
        const m = this.groups.message(mid);
        if (m) m.seenByMe = true;
      }
    }
    this.renderList();
  }

  // --- history --------------------------------------------------------------------------

  requestHistory(id, kind, before = null) {
    const g = this.groups.group(id);
    const ev = { type: 'fetch_group_history', group: id, limit: PAGE };
    if (before) ev.before = before;
    if (!this.socket.send(ev)) {
      if (kind === 'initial') g.historyRequested = false;
      return;
    }
    g.loadingHistory = true;
    (g.historyQueue ??= []).push(kind);
  }

  loadOlder() {
    const id = this.groups.active;
    if (!id) return;
    const g = this.groups.group(id);
    if (!g.historyLoaded || g.loadingHistory || !g.hasMore || !g.oldestId) return;
    this.requestHistory(id, 'older', g.oldestId);
    this.views.group.setLoadingOlder(true);
  }

  async onHistory(ev) {
    await this.loadKeys();
    if (!ev.group || !this.groups.has(ev.group)) return;
    const g = this.groups.group(ev.group);
    const kind = g.historyQueue?.shift() ?? 'initial';
    const list = Array.isArray(ev.messages) ? ev.messages : [];
    // Keys first: a page holds the key messages of the messages under them (or an older page does).
    for (const m of list) if (m && m.to) await this.onKeyMessage(m, { ack: false });
    const chatMessages = list.filter((m) => m && !m.to && m.id && m.sender);
    for (const m of chatMessages) {
      const known = this.groups.message(m.id);
      const r = known?.text != null ? {
        text: known.text, attachments: known.attachments ?? [], decryptFailed: false, waiting: false,
      } : await this.decryptChat(m);
      const outgoing = this.auth.isMe(m.sender);
      this.groups.upsertMessage(g.id, {
        id: m.id,
        group: g.id,
        sender: m.sender,
        keyId: m.keyId,
        ciphertext: m.ciphertext,
        iv: m.iv,
        text: r.text,
        attachments: r.attachments,
        decryptFailed: r.decryptFailed,
        waiting: r.waiting,
        timestamp: m.timestamp,
        status: m.status,
        outgoing,
        // What we saw before is counted by the server (GET /groups), not by loaded history.
        seenByMe: true,
      });
      if (r.waiting) this.expireWait(m.id);
    }
    if (kind !== 'refresh') {
      g.hasMore = !!ev.hasMore && list.length > 0;
      if (list.length) g.oldestId = list[list.length - 1].id;
    } else if (!g.oldestId && list.length) {
      g.oldestId = list[list.length - 1].id;
      g.hasMore = !!ev.hasMore;
    }
    g.loadingHistory = (g.historyQueue?.length ?? 0) > 0;
    g.historyLoaded = true;
    const newest = chatMessages[0];
    if (newest) {
      const m = this.groups.message(newest.id);
      this.groups.noteLast(g.id, this.lastOf(m));
    }
    await this.openDetails(g);
    // Messages (or the title) still waiting for a key whose key message is older than this page: look further back.
    if (this.needsKeys(g) && g.hasMore && !g.loadingHistory && g.keyPages < MAX_KEY_PAGES && g.oldestId) {
      g.keyPages += 1;
      this.requestHistory(g.id, 'older', g.oldestId);
    }
    if (this.groups.active === g.id) {
      this.renderTimeline(kind === 'older' ? 'prepend' : kind === 'initial' ? 'bottom' : 'append');
      this.markSeen();
    }
    this.renderList();
  }

  /** A message whose key has not come within a while shows as undecryptable (it still opens if the key comes). */
  expireWait(id) {
    setTimeout(() => {
      const m = this.groups.message(id);
      if (!m || !m.waiting) return;
      m.waiting = false;
      m.decryptFailed = true;
      if (this.groups.active === this.groups.groupOf(id)) this.renderTimeline('append');
    }, KEY_WAIT_MS);
  }

  // --- receiving ------------------------------------------------------------------------

  async onReceive(m) {
    await this.loadKeys();
    if (!m || !m.id || !m.group || !m.sender) return;
    if (m.to) {
      await this.onKeyMessage(m);
      return;
    }
    const outgoing = this.auth.isMe(m.sender);
    if (!outgoing) this.socket.send({ type: 'group_delivered', group: m.group, ids: [m.id] });
    if (!this.groups.has(m.group)) await this.refreshGroup(m.group);
    if (!this.groups.has(m.group)) return;
    const g = this.groups.group(m.group);
    const known = this.groups.message(m.id);
    const r = known?.text != null ? {
      text: known.text, attachments: known.attachments ?? [], decryptFailed: false, waiting: false,
    } : await this.decryptChat(m);
    const isNew = this.groups.upsertMessage(g.id, {
      id: m.id,
      group: g.id,
      sender: m.sender,
      keyId: m.keyId,
      ciphertext: m.ciphertext,
      iv: m.iv,
      text: r.text,
      attachments: r.attachments,
      decryptFailed: r.decryptFailed,
      waiting: r.waiting,
      timestamp: m.timestamp,
      status: outgoing ? m.status : (m.status === 'seen' ? 'seen' : 'delivered'),
      outgoing,
      seenByMe: outgoing,
    });
    if (r.waiting) this.expireWait(m.id);
    if (!outgoing && isNew) this.groups.loadedUnseen(g.id, m.timestamp);
    if (!outgoing) this.clearTyping(g.id, m.sender);
    this.groups.noteLast(g.id, this.lastOf({ ...m, text: r.text, attachments: r.attachments }));
    if (this.groups.active === g.id) {
      this.renderTimeline(outgoing ? 'bottom' : 'append');
      this.renderHeader();
      this.markSeen();
    }
    this.renderList();
  }

  onSent(ev) {
    if (!ev.id) return;
    if (this.keyInFlight.delete(ev.id)) return;
    clearTimeout(this.groups.sendTimers.get(ev.id));
    this.groups.sendTimers.delete(ev.id);
    const m = this.groups.message(ev.id);
    if (!m) return;
    this.groups.promote(ev.id, 'sent');
    if (ev.timestamp) m.timestamp = ev.timestamp;
    if (this.groups.active === this.groups.groupOf(ev.id)) this.renderTimeline('append');
  }

  onTicks(ev, status) {
    if (!ev.group || !Array.isArray(ev.ids)) return;
    let changed = false;
    for (const id of ev.ids) {
      const m = this.groups.message(id);
      if (m && m.outgoing) changed = this.groups.promote(id, status) || changed;
    }
    if (changed && this.groups.active === ev.group) this.renderTimeline('append');
  }

  /** Another socket of ours acknowledged messages of the group: the same here. */
  onReceiptSync(ev) {
    if (!ev.group || !Array.isArray(ev.ids) || ev.status !== 'seen' || !this.groups.has(ev.group)) return;
    const g = this.groups.group(ev.group);
    let changed = false;
    for (const id of ev.ids) {
      const m = this.groups.message(id);
      if (m && !m.outgoing) {
        if (!m.seenByMe) changed = true;
        m.seenByMe = true;
      } else if (!m && !this.groups.keyMessageIds.has(id) && g.serverUnread.count > 0) {
        g.serverUnread.count -= 1;
        changed = true;
      }
    }
    if (changed) this.renderList();
  }

  onError(ev) {
    if (!ev.ref) return false;
    const inFlight = this.keyInFlight.get(ev.ref);
    if (inFlight) {
      // A key message was refused (the member just left): whoever is still a member gets it again.
      this.keyInFlight.delete(ev.ref);
      this.groups.own.get(inFlight.group)?.sentTo.delete(low(inFlight.to));
      return true;
    }
    const m = this.groups.message(ev.ref);
    if (!m || !m.outgoing) return false;
    const why = {
      not_found: 'You are not a member of this group anymore.',
      rate_limited: 'You are sending too fast. Wait a moment, then retry.',
      too_large: 'That message is too long.',
    }[ev.code] ?? ev.message ?? ev.code;
    this.fail(ev.ref, { reason: why });
    this.views.toast.show(`Message not sent: ${why}`, 'error');
    return true;
  }

  // --- sending --------------------------------------------------------------------------

  /**
   * Sends `text` with the files waiting in the composer to the open group. The files are encrypted
   * and uploaded first, outside the send queue (a large one does not hold up other messages); the
   * message naming them then goes through the queue like any other.
   */
  async send(text) {
    const id = this.groups.active;
    if (!id || this.groups.group(id).gone) return;
    this.stopTyping();
    const attachments = this.attachments ? await this.attachments.takeDrafts('group') : [];
    if (!text.trim() && !attachments.length) return;
    const msg = {
      id: crypto.randomUUID(),
      group: id,
      sender: this.me,
      text,
      attachments,
      decryptFailed: false,
      waiting: false,
      timestamp: Date.now(),
      status: 'pending',
      outgoing: true,
      seenByMe: true,
    };
    this.groups.upsertMessage(id, msg);
    this.groups.noteLast(id, this.lastOf(msg));
    this.renderTimeline('bottom');
    this.renderList();
    if (!(await this.uploadFiles(msg))) return undefined;
    return this.enqueue(() => this.transmit(msg));
  }

  /** Uploads the message's files not uploaded yet; false (the message failed, the reason shown) when one fails. */
  async uploadFiles(msg) {
    if (!msg.attachments?.length || msg.attachments.every((a) => a.id)) return true;
    try {
      await this.attachments.upload(msg);
      return true;
    } catch (err) {
      this.fail(msg.id, { reason: err.message });
      this.views.toast.show(err.message, 'error', 10_000);
      return false;
    }
  }

  async transmit(msg) {
    if (!this.socket.isOpen) {
      this.fail(msg.id, { resend: true });
      return;
    }
    try {
      const own = await this.ensureKey(msg.group);
      if (!msg.ciphertext || msg.keyId !== own.keyId) {
        const entries = msg.attachments?.length ? this.attachments.entriesOf(msg, msg.text) : null;
        Object.assign(msg, await encryptGroupMessage(own.key, msg.text, {
          group: msg.group, sender: this.me, keyId: own.keyId, id: msg.id,
        }, entries), { keyId: own.keyId });
      }
    } catch (err) {
      this.fail(msg.id);
      this.views.toast.show(`Could not encrypt for the group: ${err.message}`, 'error');
      return;
    }
    const ev = {
      type: 'send_group_message', group: msg.group, ciphertext: msg.ciphertext, iv: msg.iv, keyId: msg.keyId, id: msg.id,
    };
    if (msg.attachments?.length) ev.attachments = msg.attachments.map((a) => a.id);
    const sent = this.socket.send(ev);
    if (!sent) {
      this.fail(msg.id, { resend: true });
      return;
    }
    clearTimeout(this.groups.sendTimers.get(msg.id));
    this.groups.sendTimers.set(msg.id, setTimeout(() => {
      if (this.groups.message(msg.id)?.status === 'pending') this.fail(msg.id, { resend: true });
    }, SEND_TIMEOUT_MS));
  }

  fail(id, { resend = false, reason = null } = {}) {
    clearTimeout(this.groups.sendTimers.get(id));
    this.groups.sendTimers.delete(id);
    const m = this.groups.message(id);
    if (!m || m.status !== 'pending') return;
    m.status = 'failed';
    m.resend = resend;
    m.failReason = reason;
    if (this.groups.active === this.groups.groupOf(id)) this.renderTimeline('append');
  }

  async retry(id) {
    const m = this.groups.message(id);
    if (!m || m.status !== 'failed' || this.groups.group(m.group).gone) return;
    m.status = 'pending';
    m.resend = false;
    m.failReason = null;
    if (this.groups.active === m.group) this.renderTimeline('append');
    if (!(await this.uploadFiles(m))) return;
    this.enqueue(() => this.transmit(m));
  }

  // --- membership -----------------------------------------------------------------------

  showNewGroup() {
    const friends = [...this.users.friends].sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
    this.views.group.showNewGroup(friends);
  }

  async create(title, members) {
    const v = this.views.group;
    if (!title) {
      v.newGroupError('Give the group a name.');
      return;
    }
    if (!members.length) {
      v.newGroupError('Pick at least one friend.');
      return;
    }
    v.newGroupError(null);
    v.setCreating(true);
    let record;
    try {
      record = await this.api.createGroup(members);
    } catch (err) {
      v.setCreating(false);
      v.newGroupError(err.message);
      return;
    }
    const g = this.groups.apply(record);
    g.joinedAt = Date.now();
    g.title = null;
    v.closeNewGroup();
    this.renderList();
    this.open(g.id);
    await this.enqueue(async () => {
      const own = await this.ensureKey(g.id);
      await this.sealDetails(g.id, own, title, null);
    }).catch((err) => this.views.toast.show(`The group name could not be saved: ${err.message}`, 'error'));
  }

  /** Seals the title and avatar under our current key and stores them (`PUT /groups/{id}/details`). */
  async sealDetails(id, own, title, avatar) {
    const by = this.me;
    const sealedTitle = title == null ? null : await sealField('title', own.key, own.keyId, title, { group: id, by });
    const sealedAvatar = avatar == null ? null : await sealField('avatar', own.key, own.keyId, avatar, { group: id, by });
    const record = await this.api.setGroupDetails(id, sealedTitle, sealedAvatar);
    const g = this.groups.apply(record);
    await this.openDetails(g);
    if (g.title == null && title != null) g.title = title;
    this.renderAll();
  }

  /**
   * A membership or details change. The server sends the group as it is after the change (its
   * JSON Schema: `group` is the record); an id alone is read with `GET /groups/{id}`.
   */
  async onChanged(ev) {
    await this.loadKeys();
    const record = ev.group && typeof ev.group === 'object' ? ev.group : null;
    const id = record ? record.id : ev.group;
    const c = ev.change;
    if (typeof id !== 'string' || !c || typeof c.kind !== 'string') return;
    const you = (name) => (this.auth.isMe(name) ? 'You' : name);
    const them = (name) => (this.auth.isMe(name) ? 'you' : name);
    const g = this.groups.group(id);
    const user = c.user;
    const addedMe = c.kind === 'member_added' && this.auth.isMe(user);
    // Added (again): a member from now on. A removal of us is told by `group_removed`.
    if (c.kind === 'created' || addedMe) g.gone = false;
    if (g.gone) return;
    const roleBefore = user ? this.groups.member(id, user)?.role : null;
    if (record && Array.isArray(record.members)) {
      this.groups.apply(record);
      g.joinedAt = this.groups.member(id, this.me)?.joinedAt ?? g.createdAt;
      await this.openDetails(g);
    }
    let line = null;
    if (c.kind === 'created') line = `${you(c.by)} created the group`;
    else if (c.kind === 'member_added' && user) {
      line = `${you(c.by)} added ${them(user)}`;
      if (!addedMe) {
        if (!this.groups.member(id, user)) g.members.push({ username: user, role: 'member', joinedAt: Date.now() });
        this.onMemberAdded(id, user, this.auth.isMe(c.by) && this.addedHere.delete(`${id}|${low(user)}`));
      }
    } else if ((c.kind === 'member_removed' || c.kind === 'member_left') && user) {
      line = c.kind === 'member_left' ? `${you(user)} left` : `${you(c.by)} removed ${them(user)}`;
      if (!this.auth.isMe(user)) {
        // Someone else is out: they keep our key, so the next message goes under a new one.
        this.groups.own.delete(id);
        g.members = g.members.filter((m) => low(m.username) !== low(user));
        this.clearTyping(id, user);
        // Our messages they held back may have moved on with the removal, which is not pushed:
        // the open group reads its newest page again for the ticks.
        if (this.groups.active === id && g.historyLoaded) this.requestHistory(id, 'refresh');
      }
    } else if (c.kind === 'role_changed' && user) {
      if (!record) await this.refreshGroup(id);
      const after = this.groups.member(id, user)?.role;
      if (after === 'admin' && roleBefore !== 'admin') line = `${you(c.by)} made ${them(user)} an admin`;
      else if (after === 'member' && roleBefore === 'admin') line = `${you(c.by)} dismissed ${them(user)} as admin`;
    }
    if (line) {
      const s = this.groups.addSystem(id, line);
      s.change = c.kind;
    }
    if (c.promoted) {
      const s = this.groups.addSystem(id, `${this.auth.isMe(c.promoted) ? 'You are' : `${c.promoted} is`} now an admin`);
      s.change = 'promoted';
    }
    if (!record && c.kind !== 'role_changed') await this.refreshGroup(id);
    this.renderAll();
  }

  /** A new member gets our current key (never an older one); the adding device re-seals the title. */
  onMemberAdded(id, user, addedHere) {
    this.enqueue(async () => {
      if (addedHere) {
        const own = await this.ensureKey(id);
        const g = this.groups.group(id);
        await this.openDetails(g);
        if (g.title != null || g.avatar != null) await this.sealDetails(id, own, g.title, g.avatar);
        return;
      }
      const own = this.groups.own.get(id);
      if (own && !own.sentTo.has(low(user))) await this.sendKey(id, own, user);
    });
  }

  onRemoved(ev) {
    if (!ev.group) return;
    const left = this.auth.isMe(ev.by);
    const text = left ? 'You left this group.' : `${ev.by ?? 'An admin'} removed you from this group.`;
    const s = this.groups.addSystem(ev.group, left ? 'You left' : `${ev.by ?? 'An admin'} removed you`);
    s.change = left ? 'member_left' : 'member_removed';
    this.markGone(ev.group, text);
  }

  showMembers() {
    if (!this.groups.active) return;
    this.renderMembers();
    this.views.group.showMembers();
    this.refreshGroup(this.groups.active);
  }

  renderMembers() {
    const id = this.groups.active;
    if (!id) return;
    const g = this.groups.group(id);
    const inGroup = new Set(g.members.map((m) => low(m.username)));
    this.views.group.renderMembers({
      name: this.groups.nameOf(id, this.me),
      members: g.members,
      me: this.me,
      isAdmin: this.groups.isAdmin(id, this.me),
      candidates: this.users.friends.filter((f) => !inGroup.has(low(f))),
      gone: g.gone,
    });
  }

  async memberAction(fn) {
    this.views.group.membersErrorText(null);
    try {
      const record = await fn();
      if (record && record.id) {
        const g = this.groups.apply(record);
        await this.openDetails(g);
      }
      this.renderAll();
      return true;
    } catch (err) {
      this.views.group.membersErrorText(err.message);
      return false;
    }
  }

  addMember(name) {
    const id = this.groups.active;
    if (!id) return null;
    this.addedHere.add(`${id}|${low(name)}`);
    return this.memberAction(() => this.api.addGroupMember(id, name));
  }

  async removeMember(name) {
    const id = this.groups.active;
    if (!id) return;
    const ok = await this.views.dialog.confirm(`Remove ${name}?`, `${name} will no longer get the group's messages.`, 'Remove');
    if (!ok) return;
    await this.memberAction(() => this.api.removeGroupMember(id, name));
  }

  setRole(name, role) {
    const id = this.groups.active;
    if (!id) return null;
    return this.memberAction(() => this.api.setGroupRole(id, name, role));
  }

  async leave() {
    const id = this.groups.active;
    if (!id) return;
    const name = this.groups.nameOf(id, this.me);
    const ok = await this.views.dialog.confirm(`Leave ${name}?`, 'You will no longer get its messages. An admin can add you again.', 'Leave group');
    if (!ok) return;
    try {
      await this.api.removeGroupMember(id, this.me);
      this.views.group.closeMembers();
      this.markGone(id, 'You left this group.');
    } catch (err) {
      this.views.group.membersErrorText(err.message);
    }
  }

  async showInfo(messageId) {
    const m = this.groups.message(messageId);
    if (!m || !m.outgoing) return;
    const text = summaryOf(m.text, m.attachments);
    this.views.group.showInfo(text, null);
    try {
      const res = await this.api.groupReceipts(m.group, messageId);
      const receipts = Array.isArray(res?.receipts) ? res.receipts : [];
      this.views.group.showInfo(text, receipts);
    } catch (err) {
      this.views.group.showInfo(text, [], err.message);
    }
  }

  // --- typing ---------------------------------------------------------------------------

  onComposerInput(hasText) {
    const id = this.groups.active;
    if (id && !this.groups.group(id).gone) this.typing.input(id, hasText);
  }

  stopTyping() {
    this.typing.stop();
  }

  onTyping(ev) {
    if (!ev.group || !ev.from || !this.groups.has(ev.group) || this.auth.isMe(ev.from)) return;
    const g = this.groups.group(ev.group);
    const who = low(ev.from);
    clearTimeout(g.typing.get(who));
    g.typing.delete(who);
    if (ev.isTyping) {
      g.typing.set(who, setTimeout(() => this.clearTyping(ev.group, who), TYPING_EXPIRE_MS));
    }
    this.renderList();
    if (this.groups.active === ev.group) this.renderHeader();
  }

  clearTyping(group, name) {
    const g = this.groups.groups.get(group);
    if (!g || !g.typing.has(low(name))) return;
    clearTimeout(g.typing.get(low(name)));
    g.typing.delete(low(name));
    this.renderList();
    if (this.groups.active === group) this.renderHeader();
  }

  // --- connection -----------------------------------------------------------------------

  onSynced() {
    for (const [id, g] of this.groups.groups) {
      g.historyQueue = [];
      g.loadingHistory = false;
      if (id !== this.groups.active) g.historyRequested = false;
    }
    const id = this.groups.active;
    if (id) {
      const g = this.groups.group(id);
      g.historyRequested = true;
      this.requestHistory(id, g.historyLoaded ? 'refresh' : 'initial');
    }
    this.load();
    for (const g of this.groups.groups.values()) {
      if (g.gone) continue;
      for (const m of g.messages.values()) if (m.outgoing && m.status === 'failed' && m.resend) this.retry(m.id);
    }
  }

  onDisconnected() {
    for (const [id] of this.groups.sendTimers) this.fail(id, { resend: true });
    // A key message the server never acknowledged may not have been stored: a new key next time.
    for (const { group } of this.keyInFlight.values()) this.groups.own.delete(group);
    this.keyInFlight.clear();
    this.typing.forget();
    for (const g of this.groups.groups.values()) {
      for (const t of g.typing.values()) clearTimeout(t);
      g.typing.clear();
    }
    this.renderAll();
  }

  reset() {
    const me = this.keysFor;
    for (const t of this.groups.sendTimers.values()) clearTimeout(t);
    for (const g of this.groups.groups.values()) for (const t of g.typing.values()) clearTimeout(t);
    this.typing.forget();
    this.groups.reset();
    this.keyInFlight.clear();
    this.addedHere.clear();
    this.selfKey = null;
    this.keysFor = null;
    this.keysReady = Promise.resolve();
    this.views.group.close();
    this.views.group.closeMembers();
    this.renderList();
    return me;
  }
}
