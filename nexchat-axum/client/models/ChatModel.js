// Conversations: messages, call records and notices per friend, the open chat, and the friends'
// keys. State only.

const RANK = { pending: 0, failed: 0, sent: 1, delivered: 2, seen: 3 };

export function statusRank(status) {
  return RANK[status] ?? 0;
}

function newConversation() {
  return {
    /** @type {Map<string, object>} id -> message */
    messages: new Map(),
    /** @type {Map<string, object>} callId -> call record */
    calls: new Map(),
    /** @type {{id: string, kind: 'notice', text: string, timestamp: number, level: string}[]} */
    notices: [],
    historyRequested: false,
    historyLoaded: false,
    hasMoreMessages: true,
    hasMoreCalls: true,
    loadingMessages: false,
    loadingCalls: false,
    /** The first message that was unread when the chat was opened: the "new messages" line goes above it. */
    /** @type {string|null} */ unreadFrom: null,
    oldestMessageId: null,
    oldestCallId: null,
  };
}

export class ChatModel {
  constructor() {
    this.reset();
  }

  reset() {
    /** @type {string|null} the friend whose chat is open */
    this.active = null;
    /** @type {Map<string, ReturnType<typeof newConversation>>} */
    this.convs = new Map();
    /** @type {Map<string, string>} message id -> friend */
    this.peerOfMessage = new Map();
    /** @type {Map<string, {jwk: object, key: CryptoKey|null}>} */
    this.peerKeys = new Map();
    /** @type {Map<string, number>} pending message id -> timer id */
    this.sendTimers = new Map();
  }

  conv(peer) {
    let c = this.convs.get(peer);
    if (!c) {
      c = newConversation();
      this.convs.set(peer, c);
    }
    return c;
  }

  /** Inserts or merges a message; returns true when it was not known before. */
  upsertMessage(peer, msg) {
    const c = this.conv(peer);
    const old = c.messages.get(msg.id);
    this.peerOfMessage.set(msg.id, peer);
    if (!old) {
      c.messages.set(msg.id, msg);
      return true;
    }
    // Keep the furthest status and the text we already have.
    if (statusRank(msg.status) > statusRank(old.status) || (old.status === 'failed' && msg.status !== 'pending')) {
      old.status = msg.status;
    }
    if (msg.timestamp && old.status !== 'pending' && old.status !== 'failed') old.timestamp = msg.timestamp;
    if (old.text == null && msg.text != null) {
      old.text = msg.text;
      old.attachments = msg.attachments ?? [];
      old.decryptFailed = false;
    }
    return false;
  }

  message(id) {
    const peer = this.peerOfMessage.get(id);
    if (!peer) return null;
    return this.conv(peer).messages.get(id) ?? null;
  }

  peerOf(id) {
    return this.peerOfMessage.get(id) ?? null;
  }

  /** Moves a status forward only; returns true when it changed. */
  promote(id, status, timestamp) {
    const m = this.message(id);
    if (!m) return false;
    const from = m.status;
    if (statusRank(status) > statusRank(from) || (from === 'failed' && statusRank(status) > 0)) {
      m.status = status;
      if (timestamp) m.timestamp = timestamp;
      return true;
    }
    return false;
  }

  setStatus(id, status) {
    const m = this.message(id);
    if (m) m.status = status;
  }

  upsertCall(peer, call) {
    this.conv(peer).calls.set(call.callId, call);
  }

  addNotice(peer, text, level = 'warning') {
    const n = { kind: 'notice', id: `notice-${Date.now()}-${Math.random().toString(36).slice(2)}`, text, level, timestamp: Date.now() };
    this.conv(peer).notices.push(n);
    return n;
  }

  /** Messages from `peer` that we have not yet marked seen. */
  unseenFrom(peer) {
    const out = [];
    const c = this.convs.get(peer);
    if (!c) return out;
    for (const m of c.messages.values()) {
      if (!m.outgoing && m.status !== 'seen') out.push(m.id);
    }
    return out;
  }

  /** The oldest message from `peer` not yet seen, or null. */
  firstUnseen(peer) {
    let first = null;
    for (const m of this.conv(peer).messages.values()) {
      if (!m.outgoing && m.status !== 'seen' && (!first || m.timestamp < first.timestamp)) first = m;
    }
    return first?.id ?? null;
  }

  /** Messages not sent because the connection was down, to send again once it is back. */
  waitingForConnection() {
    const out = [];
    for (const c of this.convs.values()) {
      for (const m of c.messages.values()) if (m.outgoing && m.status === 'failed' && m.resend) out.push(m.id);
    }
    return out;
  }

  /** Messages, calls and notices of one chat, oldest first. */
  timeline(peer) {
    const c = this.conv(peer);
    const items = [];
    for (const m of c.messages.values()) items.push({ kind: 'message', ...m });
    for (const call of c.calls.values()) {
      if (call.status === 'completed' || call.status === 'missed') {
        items.push({ kind: 'call', id: `call-${call.callId}`, timestamp: call.startedAt, call });
      }
    }
    for (const n of c.notices) items.push(n);
    items.sort((a, b) => a.timestamp - b.timestamp || (a.seq ?? 0) - (b.seq ?? 0));
    return items;
  }

  setPeerKey(peer, jwk, key) {
    this.peerKeys.set(peer, { jwk, key });
  }
}
