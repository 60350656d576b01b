// Conversations: friends' keys, encrypt/send with ticks (resent by itself once the connection is
// back), receive/decrypt/acknowledge, `seen` only for what the user scrolled to, receipts from the
// user's other devices, history paging, typing, call records in the timeline, key-change warnings
// and safety numbers. A former friend's chat stays readable.
import {
  decryptMessageBody, deriveMessageKey, encryptMessage, safetyNumber, sameKey, publicJwkOf,
} from '../crypto.js';
import { parseAttachments } from '../attachmentCrypto.js';
import { summaryOf } from '../models/AttachmentModel.js';
import { LocalStore } from '../net/LocalStore.js';
import { TypingReport } from './TypingReport.js';
import { TrustModel } from '../models/TrustModel.js';

const SEND_TIMEOUT_MS = 12_000;
const TYPING_EXPIRE_MS = 7_000;
const PAGE = 50;

export class ChatController {
  constructor({ api, auth, users, chat, views, socket, friends }) {
    this.api = api;
    this.auth = auth;
    this.users = users;
    this.chat = chat;
    this.views = views;
    this.socket = socket;
    this.friends = friends;
    /** The AttachmentController (set by the app): files in the composer, uploads. */
    this.attachments = null;
    /** @type {Map<string, Promise<CryptoKey>>} */
    this.keyLoads = new Map();
    this.typing = new TypingReport((to, isTyping) => this.socket.send({ type: 'typing', to, isTyping }));
    /** friend -> timer that clears a typing indicator nobody switched off */
    this.typingExpiry = new Map();

    const v = views.chat;
    v.bindSend((text) => this.send(text));
    v.bindTyping((hasText) => this.onComposerInput(hasText));
    v.bindRetry((id) => this.retry(id));
    v.bindNearTop(() => this.loadOlder());
    v.bindScrolled(() => this.markSeen());
    v.bindJumpLatest(() => this.markSeen());
    v.bindHeaderActions({
      back: () => this.close(),
      voice: () => this.onCall?.(false),
      video: () => this.onCall?.(true),
      safety: () => this.showSafetyNumber(),
      unfriend: () => this.chat.active && this.friends.unfriend(this.chat.active),
    });
    views.sidebar.bindSelectFriend((name) => this.open(name));
    views.dialog.bindVerify(() => this.toggleVerified());
    views.page.bindVisible(() => this.markSeen());
    v.bindEscapeBack(() => this.chat.active && this.close());
  }

  events() {
    return {
      receive_message: (ev) => this.onReceive(ev),
      message_sent: (ev) => this.onSent(ev),
      message_delivered: (ev) => this.onTicks(ev, 'delivered'),
      message_seen: (ev) => this.onTicks(ev, 'seen'),
      receipt_sync: (ev) => this.onReceiptSync(ev),
      history_response: (ev) => this.onHistory(ev),
      call_history_response: (ev) => this.onCallHistory(ev),
      typing: (ev) => this.onTyping(ev),
      key_changed: (ev) => this.onKeyChanged(ev),
      public_key_response: (ev) => ev.publicKey && this.learnKey(ev.username, ev.publicKey),
      error: (ev) => this.onError(ev),
    };
  }

  get me() {
    return this.auth.username;
  }

  // --- keys -----------------------------------------------------------------------------

  /** A friend's public key arrived (friendship, key change, lookup). */
  learnKey(peer, jwk) {
    let clean;
    try { clean = publicJwkOf(jwk); } catch { return; }
    const known = this.chat.peerKeys.get(peer);
    if (known && sameKey(known.jwk, clean)) return;
    this.chat.setPeerKey(peer, clean, null);
    this.keyLoads.delete(peer);
    this.checkRemembered(peer, clean);
  }

  /** Trust on first use: warn when a friend's key differs from the one this browser saw before. */
  checkRemembered(peer, jwk) {
    const remembered = LocalStore.knownKey(this.me, peer);
    if (remembered && !sameKey(remembered, jwk)) this.warnKeyChanged(peer, jwk);
    else if (TrustModel.keySeen(this.me, peer, jwk)) this.warnKeyChanged(peer, jwk);
    LocalStore.rememberKey(this.me, peer, jwk);
  }

  /** A friend's key changed; a verified friend's much more loudly, and the mark is gone. */
  warnKeyChanged(peer, jwk) {
    const wasVerified = TrustModel.keySeen(this.me, peer, jwk) || TrustModel.state(this.me, peer, jwk) === 'changed';
    if (wasVerified) {
      this.chat.addNotice(peer, `Warning: ${peer}'s security key changed since you verified it. Someone may be in the middle. Compare your safety number again before you trust anything new.`, 'danger');
      this.views.toast.show(`The verified key of ${peer} changed. Verify the safety number again.`, 'error', 12000);
    } else {
      this.chat.addNotice(peer, `${peer}'s security key changed. Compare your safety number before you trust new messages.`, 'warning');
      this.views.toast.show(`Security key of ${peer} changed. Verify the safety number.`, 'warning', 8000);
    }
    if (this.chat.active === peer) {
      this.renderTimeline('append');
      this.renderHeader();
    }
  }

  /** The trust state of the open chat's key, for the header and the safety dialog. */
  trustOf(peer) {
    return TrustModel.state(this.me, peer, this.chat.peerKeys.get(peer)?.jwk ?? null);
  }

  toggleVerified() {
    const peer = this.chat.active;
    const jwk = peer && this.chat.peerKeys.get(peer)?.jwk;
    if (!jwk) return;
    if (this.trustOf(peer) === 'verified') TrustModel.unverify(this.me, peer);
    else TrustModel.verify(this.me, peer, jwk);
    this.views.dialog.showTrust(peer, this.trustOf(peer));
    this.renderHeader();
  }

  /** The AES-GCM key for a friend, fetching their public key when we do not have it. */
  keyFor(peer) {
    const entry = this.chat.peerKeys.get(peer);
    if (entry?.key) return Promise.resolve(entry.key);
    let p = this.keyLoads.get(peer);
    if (!p) {
      p = (async () => {
        let jwk = this.chat.peerKeys.get(peer)?.jwk;
        if (!jwk) {
          const res = await this.api.publicKey(peer);
          jwk = publicJwkOf(res.publicKey);
          this.chat.setPeerKey(peer, jwk, null);
          this.checkRemembered(peer, jwk);
        }
        const key = await deriveMessageKey(this.auth.privateKey, this.me, peer, jwk);
        const current = this.chat.peerKeys.get(peer);
        if (current && sameKey(current.jwk, jwk)) current.key = key;
        return key;
      })();
      this.keyLoads.set(peer, p);
      p.catch(() => this.keyLoads.delete(peer));
    }
    return p;
  }

  /** {text, attachments, decryptFailed} of a message from the wire. */
  async decrypt(peer, m) {
    try {
      const key = await this.keyFor(peer);
      const body = await decryptMessageBody(key, m);
      return { text: body.text, attachments: parseAttachments(body.attachments), decryptFailed: false };
    } catch {
      return { text: null, attachments: [], decryptFailed: true };
    }
  }

  onKeyChanged(ev) {
    if (!ev.username || this.auth.isMe(ev.username)) return;
    const peer = this.users.friendName(ev.username) ?? ev.username;
    const known = this.chat.peerKeys.get(peer);
    let jwk;
    try { jwk = publicJwkOf(ev.publicKey); } catch { return; }
    if (known && sameKey(known.jwk, jwk)) return;
    this.chat.setPeerKey(peer, jwk, null);
    this.keyLoads.delete(peer);
    LocalStore.rememberKey(this.me, peer, jwk);
    this.warnKeyChanged(peer, jwk);
  }

  async showSafetyNumber() {
    const peer = this.chat.active;
    if (!peer) return;
    try {
      await this.keyFor(peer);
      const jwk = this.chat.peerKeys.get(peer).jwk;
      const groups = await safetyNumber(this.me, this.auth.publicJwk, peer, jwk);
      this.views.dialog.showSafetyNumber(peer, groups, this.trustOf(peer));
    } catch (err) {
      this.views.toast.show(`Could not load ${peer}'s key: ${err.message}`, 'error');
    }
  }

  // --- opening and closing chats --------------------------------------------------------

  open(peer) {
    this.onOpen?.();
    const name = this.users.friendName(peer) ?? peer;
    const changed = this.chat.active !== name;
    this.stopTyping();
    // Files waiting in the composer were meant for the chat that was open: they go with its text.
    if (changed) this.attachments?.clearDrafts('chat');
    if (changed && this.chat.active) this.chat.conv(this.chat.active).unreadFrom = null;
    this.chat.active = name;
    const c = this.chat.conv(name);
    if (changed) c.unreadFrom = this.chat.firstUnseen(name);
    this.views.chat.open(name);
    this.views.sidebar.setChatOpen(true);
    this.renderHeader();
    this.renderTimeline('initial');
    if (!c.historyRequested) {
      c.historyRequested = true;
      this.requestHistory(name, 'initial');
      this.requestCalls(name, 'initial');
    }
    this.keyFor(name).catch(() => {});
    this.markSeen();
    this.friends.render();
    if (changed) this.views.chat.focusComposer();
  }

  close() {
    this.stopTyping();
    this.attachments?.clearDrafts('chat');
    if (this.chat.active) this.chat.conv(this.chat.active).unreadFrom = null;
    this.chat.active = null;
    this.views.chat.close();
    this.views.sidebar.setChatOpen(false);
    this.friends.render();
    this.views.sidebar.focusFriendList();
  }

  /**
   * A friendship ended. A chat with a history stays open, read only (and in the list); one with
   * nothing in it closes.
   */
  friendGone(name) {
    this.users.setTyping(name, false);
    const active = this.chat.active;
    if (!active || active.toLowerCase() !== name.toLowerCase()) return;
    if (this.chat.conv(active).messages.size > 0 || this.users.hasConversation(active)) {
      this.users.noteConversation(active);
      this.renderHeader();
    } else {
      this.close();
    }
  }

  /**
   * Drops the chats of people who are neither friends nor in the conversation list any more (an
   * erased account's history is gone from the server too), closing the open one.
   */
  dropVanished() {
    for (const peer of [...this.chat.convs.keys()]) {
      if (this.users.isFriend(peer) || this.users.hasConversation(peer)) continue;
      if (this.chat.active === peer) this.close();
      this.chat.convs.delete(peer);
      this.users.forget(peer);
    }
  }

  renderHeader() {
    const peer = this.chat.active;
    if (!peer) return;
    const typing = this.users.typing.has(peer);
    this.views.chat.renderPeerStatus({ online: this.users.isOnline(peer), typing });
    this.views.chat.showTyping(typing, peer);
    this.views.chat.setReadOnly(!this.users.isFriend(peer), peer);
    this.views.chat.renderTrust(this.trustOf(peer));
  }

  renderTimeline(mode = 'append') {
    const peer = this.chat.active;
    if (!peer) return;
    const c = this.chat.conv(peer);
    this.views.chat.render(this.chat.timeline(peer), this.me, mode, c.unreadFrom);
    this.views.chat.setUnreadBelow(this.chat.unseenFrom(peer).length);
    this.views.chat.setLoadingOlder(c.loadingMessages && c.historyLoaded);
    if (c.historyLoaded && this.views.chat.needsMoreToScroll()) this.loadOlder();
  }

  /** The open chat is on screen and the page is visible. */
  isVisible(peer) {
    return this.chat.active === peer && this.views.page.isVisible;
  }

  /** Sends `seen` for the messages of the open chat that the user has scrolled to, and only those. */
  markSeen() {
    const peer = this.chat.active;
    if (!peer || !this.isVisible(peer) || !this.socket.isOpen) return;
    const ids = this.views.chat.reachedIds(this.chat.unseenFrom(peer));
    if (!ids.length) return;
    if (this.socket.send({ type: 'message_seen', to: peer, ids })) {
      for (const id of ids) this.chat.promote(id, 'seen');
      this.views.chat.setUnreadBelow(this.chat.unseenFrom(peer).length);
      this.friends.render();
    }
  }

  // --- history --------------------------------------------------------------------------

  requestHistory(peer, kind, before = null) {
    const c = this.chat.conv(peer);
    const ev = { type: 'fetch_history', withUser: peer, limit: PAGE };
    if (before) ev.before = before;
    if (!this.socket.send(ev)) {
      if (kind === 'initial') c.historyRequested = false;
      return;
    }
    c.loadingMessages = true;
    (c.historyQueue ??= []).push(kind);
  }

  requestCalls(peer, kind, before = null) {
    const c = this.chat.conv(peer);
    const ev = { type: 'fetch_call_history', withUser: peer, limit: PAGE };
    if (before) ev.before = before;
    if (!this.socket.send(ev)) return;
    c.loadingCalls = true;
    (c.callQueue ??= []).push(kind);
  }

  loadOlder() {
    const peer = this.chat.active;
    if (!peer) return;
    const c = this.chat.conv(peer);
    if (!c.historyLoaded) return;
    if (!c.loadingMessages && c.hasMoreMessages && c.oldestMessageId) {
      this.requestHistory(peer, 'older', c.oldestMessageId);
      this.views.chat.setLoadingOlder(true);
    }
    if (!c.loadingCalls && c.hasMoreCalls && c.oldestCallId) this.requestCalls(peer, 'older', c.oldestCallId);
  }

  peerFromWire(name) {
    return this.users.friendName(name) ?? name;
  }

  async onHistory(ev) {
    const peer = this.peerFromWire(ev.withUser);
    const c = this.chat.conv(peer);
    const kind = c.historyQueue?.shift() ?? 'initial';
    const list = Array.isArray(ev.messages) ? ev.messages : [];
    const decrypted = await Promise.all(list.map(async (m) => ({ m, ...(await this.decrypt(peer, m)) })));
    if (list.length) this.users.noteConversation(peer);
    for (const { m, text, attachments, decryptFailed } of decrypted) {
      const incoming = !this.auth.isMe(m.sender);
      const isNew = this.chat.upsertMessage(peer, {
        id: m.id,
        sender: m.sender,
        receiver: m.receiver,
        text,
        attachments,
        decryptFailed,
        timestamp: m.timestamp,
        status: m.status,
        outgoing: !incoming,
      });
      if (isNew && incoming && m.status !== 'seen') this.users.loadedUnseen(peer, m.timestamp);
    }
    if (kind !== 'refresh') {
      c.hasMoreMessages = !!ev.hasMore && list.length > 0;
      if (list.length) c.oldestMessageId = list[list.length - 1].id;
    } else if (!c.oldestMessageId && list.length) {
      c.oldestMessageId = list[list.length - 1].id;
      c.hasMoreMessages = !!ev.hasMore;
    }
    c.loadingMessages = (c.historyQueue?.length ?? 0) > 0;
    c.historyLoaded = true;
    const newest = list[0];
    if (newest) {
      const item = decrypted[0];
      this.users.noteActivity(peer, this.activityOf(item, newest), newest.timestamp);
    }
    if (this.chat.active === peer) {
      if (kind === 'initial' && !c.unreadFrom) c.unreadFrom = this.chat.firstUnseen(peer);
      this.renderTimeline({ older: 'prepend', initial: 'initial' }[kind] ?? 'append');
      this.markSeen();
    }
    this.friends.render();
  }

  onCallHistory(ev) {
    const peer = this.peerFromWire(ev.withUser);
    const c = this.chat.conv(peer);
    const kind = c.callQueue?.shift() ?? 'initial';
    const calls = Array.isArray(ev.calls) ? ev.calls : [];
    for (const call of calls) this.chat.upsertCall(peer, call);
    const newest = calls.find((call) => call.status === 'completed' || call.status === 'missed');
    if (newest) {
      this.users.noteActivity(peer, { call: newest }, newest.endedAt ?? newest.startedAt);
      this.friends.render();
    }
    if (kind !== 'refresh') {
      c.hasMoreCalls = !!ev.hasMore && calls.length > 0;
      if (calls.length) c.oldestCallId = calls[calls.length - 1].callId;
    }
    c.loadingCalls = (c.callQueue?.length ?? 0) > 0;
    if (this.chat.active === peer) this.renderTimeline(kind === 'older' ? 'prepend' : 'append');
  }

  /** The list's summary of a message: its text or files (or that it could not be decrypted) and direction. */
  activityOf({ text, attachments, decryptFailed }, m) {
    return { text: decryptFailed ? '🔒 Encrypted message' : summaryOf(text, attachments), outgoing: this.auth.isMe(m.sender) };
  }

  /** After every (re)connect: catch up on what happened while we were away. */
  onSynced() {
    for (const [peer, c] of this.chat.convs) {
      c.historyQueue = [];
      c.callQueue = [];
      c.loadingMessages = false;
      c.loadingCalls = false;
      if (peer !== this.chat.active) c.historyRequested = false;
    }
    const peer = this.chat.active;
    if (peer) {
      const c = this.chat.conv(peer);
      const kind = c.historyLoaded ? 'refresh' : 'initial';
      c.historyRequested = true;
      this.requestHistory(peer, kind);
      this.requestCalls(peer, kind);
      this.markSeen();
    }
    this.resendWaiting();
  }

  /**
   * Sends again, under the same ids, the messages that failed because the connection was down
   * (the server stores an id once, whatever reached it before). Not to someone who is no longer
   * a friend: that would only be refused.
   */
  resendWaiting() {
    for (const id of this.chat.waitingForConnection()) {
      const m = this.chat.message(id);
      if (m && this.users.isFriend(m.receiver)) this.retry(id);
    }
  }

  /** The socket closed: nothing in flight will be acknowledged on it. */
  onDisconnected() {
    for (const [id] of this.chat.sendTimers) this.fail(id, { resend: true });
    this.typing.forget();
    for (const name of [...this.users.typing]) this.users.setTyping(name, false);
    this.renderHeader();
  }

  // --- sending --------------------------------------------------------------------------

  /**
   * Sends `text` with the files waiting in the composer (each encrypted and uploaded first, its
   * key then sealed in the message body), to the open chat.
   */
  async send(text) {
    const peer = this.chat.active;
    if (!peer) return;
    this.stopTyping();
    const attachments = this.attachments ? await this.attachments.takeDrafts('chat') : [];
    if (!text.trim() && !attachments.length) return;
    const msg = {
      id: crypto.randomUUID(),
      sender: this.me,
      receiver: peer,
      text,
      attachments,
      decryptFailed: false,
      timestamp: Date.now(),
      status: 'pending',
      outgoing: true,
    };
    this.chat.upsertMessage(peer, msg);
    this.users.noteConversation(peer);
    this.users.noteActivity(peer, { text: summaryOf(text, attachments), outgoing: true }, msg.timestamp);
    this.renderTimeline('bottom');
    this.friends.render();
    if (!(await this.seal(msg))) return;
    this.transmit(msg);
  }

  /**
   * Uploads the message's files not uploaded yet, then encrypts the message naming them. False
   * (the message marked failed, the reason shown) when either fails.
   */
  async seal(msg) {
    if (msg.attachments?.length) {
      try {
        await this.attachments.upload(msg);
      } catch (err) {
        this.fail(msg.id, { reason: err.message });
        this.views.toast.show(err.message, 'error', 10_000);
        return false;
      }
    }
    try {
      const key = await this.keyFor(msg.receiver);
      const entries = msg.attachments?.length ? this.attachments.entriesOf(msg, msg.text) : null;
      Object.assign(msg, await encryptMessage(key, msg.text, { id: msg.id, sender: this.me, receiver: msg.receiver }, entries));
    } catch (err) {
      this.fail(msg.id);
      this.views.toast.show(`Could not encrypt for ${msg.receiver}: ${err.message}`, 'error');
      return false;
    }
    return true;
  }

  transmit(msg) {
    const ev = {
      type: 'send_message', receiver: msg.receiver, ciphertext: msg.ciphertext, iv: msg.iv, id: msg.id,
    };
    if (msg.attachments?.length) ev.attachments = msg.attachments.map((a) => a.id);
    const sent = this.socket.send(ev);
    if (!sent) {
      this.fail(msg.id, { resend: true });
      return;
    }
    clearTimeout(this.chat.sendTimers.get(msg.id));
    this.chat.sendTimers.set(msg.id, setTimeout(() => {
      if (this.chat.message(msg.id)?.status === 'pending') this.fail(msg.id, { resend: true });
    }, SEND_TIMEOUT_MS));
  }

  /**
   * A message could not be sent. `resend`: the connection was the reason (no answer, socket
   * down), so it goes again by itself once the socket is back; a refusal by the server does not.
   */
  fail(id, { resend = false, reason = null } = {}) {
    clearTimeout(this.chat.sendTimers.get(id));
    this.chat.sendTimers.delete(id);
    const m = this.chat.message(id);
    if (!m || m.status !== 'pending') return;
    m.status = 'failed';
    m.resend = resend;
    m.failReason = reason;
    if (this.chat.active === this.chat.peerOf(id)) this.renderTimeline('append');
  }

  /** Resends under the same id: the server stores it once, whatever happened before. */
  async retry(id) {
    const m = this.chat.message(id);
    if (!m || m.status !== 'failed') return;
    m.status = 'pending';
    m.resend = false;
    m.failReason = null;
    if (this.chat.active === this.chat.peerOf(id)) this.renderTimeline('append');
    if (!m.ciphertext && !(await this.seal(m))) return;
    this.transmit(m);
  }

  onSent(ev) {
    clearTimeout(this.chat.sendTimers.get(ev.id));
    this.chat.sendTimers.delete(ev.id);
    const m = this.chat.message(ev.id);
    if (!m) return;
    this.chat.promote(ev.id, 'sent');
    if (ev.timestamp) m.timestamp = ev.timestamp;
    if (this.chat.active === this.chat.peerOf(ev.id)) this.renderTimeline('append');
  }

  /**
   * Another socket of this user acknowledged messages from `withUser`: the same ticks here, so
   * the badge clears on every device.
   */
  onReceiptSync(ev) {
    if (!ev.withUser || !Array.isArray(ev.ids) || (ev.status !== 'delivered' && ev.status !== 'seen')) return;
    const peer = this.peerFromWire(ev.withUser);
    let changed = false;
    for (const id of ev.ids) {
      const m = this.chat.message(id);
      if (m && !m.outgoing) changed = this.chat.promote(id, ev.status) || changed;
      else if (!m && ev.status === 'seen') {
        this.users.seenElsewhere(peer);
        changed = true;
      }
    }
    if (!changed) return;
    if (this.chat.active === peer) this.renderTimeline('append');
    this.friends.render();
  }

  onTicks(ev, status) {
    const peer = this.peerFromWire(ev.from);
    let changed = false;
    if (Array.isArray(ev.ids)) {
      for (const id of ev.ids) {
        if (this.chat.peerOf(id) && this.chat.message(id)?.outgoing) changed = this.chat.promote(id, status) || changed;
      }
    } else {
      for (const m of this.chat.conv(peer).messages.values()) {
        if (m.outgoing) changed = this.chat.promote(m.id, status) || changed;
      }
    }
    if (changed && this.chat.active === peer) this.renderTimeline('append');
  }

  onError(ev) {
    if (!ev.ref) return false;
    const m = this.chat.message(ev.ref);
    if (!m || !m.outgoing) return false;
    const why = {
      not_friends: `${m.receiver} is not your friend anymore.`,
      rate_limited: 'You are sending too fast. Wait a moment, then retry.',
      too_large: 'That message is too long.',
    }[ev.code] ?? ev.message ?? ev.code;
    this.fail(ev.ref, { resend: false, reason: why });
    this.views.toast.show(`Message not sent: ${why}`, 'error');
    return true;
  }

  // --- receiving ------------------------------------------------------------------------

  async onReceive(m) {
    if (!m || !m.id || !m.sender || !m.receiver) return;
    const outgoing = this.auth.isMe(m.sender);
    const peer = this.peerFromWire(outgoing ? m.receiver : m.sender);
    const known = this.chat.message(m.id);
    if (!outgoing) {
      // Acknowledge at once: delivery is at least once, so a repeat is acknowledged again.
      this.socket.send({ type: 'message_delivered', to: peer, ids: [m.id] });
      this.users.setTyping(peer, false);
    }
    let text = known?.text ?? null;
    let attachments = known?.attachments ?? [];
    let decryptFailed = false;
    if (text == null) ({ text, attachments, decryptFailed } = await this.decrypt(peer, m));
    const isNew = this.chat.upsertMessage(peer, {
      id: m.id,
      sender: m.sender,
      receiver: m.receiver,
      text,
      attachments,
      decryptFailed,
      timestamp: m.timestamp,
      status: outgoing ? m.status : (m.status === 'seen' ? 'seen' : 'delivered'),
      outgoing,
    });
    this.users.noteConversation(peer);
    if (!outgoing && isNew && m.status !== 'seen') this.users.loadedUnseen(peer, m.timestamp);
    this.users.noteActivity(peer, this.activityOf({ text, attachments, decryptFailed }, m), m.timestamp);
    if (!outgoing && isNew && m.status !== 'seen') this.onIncoming?.(peer, decryptFailed ? null : summaryOf(text, attachments));
    if (this.chat.active === peer) {
      this.renderTimeline(outgoing ? 'bottom' : 'append');
      this.renderHeader();
      this.markSeen();
      const c = this.chat.conv(peer);
      // Arrived out of view (scrolled up, or the page in the background): mark where the new ones start.
      if (!outgoing && isNew && !c.unreadFrom && this.chat.message(m.id)?.status !== 'seen') {
        c.unreadFrom = m.id;
        this.renderTimeline('append');
      }
    }
    this.friends.render();
  }

  /** A call record (call_logged) for the timeline. */
  addCall(call) {
    const other = this.auth.isMe(call.caller) ? call.callee : call.caller;
    const peer = this.peerFromWire(other);
    this.chat.upsertCall(peer, call);
    this.users.noteActivity(peer, { call }, call.endedAt ?? call.startedAt);
    if (this.chat.active === peer) this.renderTimeline('append');
    this.friends.render();
  }

  // --- typing ---------------------------------------------------------------------------

  onComposerInput(hasText) {
    const peer = this.chat.active;
    if (peer) this.typing.input(peer, hasText);
  }

  stopTyping() {
    this.typing.stop();
  }

  onTyping(ev) {
    const peer = this.peerFromWire(ev.from);
    clearTimeout(this.typingExpiry.get(peer));
    this.users.setTyping(peer, !!ev.isTyping);
    if (ev.isTyping) {
      this.typingExpiry.set(peer, setTimeout(() => {
        this.users.setTyping(peer, false);
        this.friends.render();
      }, TYPING_EXPIRE_MS));
    }
    this.friends.render();
  }

  reset() {
    for (const t of this.chat.sendTimers.values()) clearTimeout(t);
    for (const t of this.typingExpiry.values()) clearTimeout(t);
    this.typingExpiry.clear();
    this.typing.forget();
    this.keyLoads.clear();
    this.chat.reset();
    this.views.chat.close();
    this.views.sidebar.setChatOpen(false);
  }
}
