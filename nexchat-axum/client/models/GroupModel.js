// Group chats: the groups this user is in (members and roles, the decrypted title), their
// messages and system lines, unread counts, typing, the open group, and the sender keys: this
// device's own current key per group and every key members gave us. State only.
import { statusRank } from './ChatModel.js';

const low = (name) => String(name ?? '').toLowerCase();

function newGroup(id) {
  return {
    id,
    createdAt: 0,
    /** @type {{username: string, role: string, joinedAt: number}[]} */
    members: [],
    /** The sealed fields as the server holds them, and what they say once opened. */
    sealedTitle: null,
    sealedAvatar: null,
    /** @type {string|null} */ title: null,
    /** @type {string|null} */ avatar: null,
    /** True once the server no longer counts us as a member. */
    gone: false,
    goneText: '',
    /** @type {Map<string, object>} id -> message */
    messages: new Map(),
    /** @type {{kind: 'system', id: string, text: string, timestamp: number}[]} */
    system: [],
    historyRequested: false,
    historyLoaded: false,
    loadingHistory: false,
    hasMore: true,
    oldestId: null,
    /** Pages fetched only to find keys that messages wait for. */
    keyPages: 0,
    /** Unseen chat messages the server counted (GET /groups) that this page has not loaded. */
    serverUnread: { count: 0, upTo: 0 },
    /** {text, sender, outgoing, timestamp} of the latest chat message, for the list. */
    last: null,
    /** @type {Map<string, number>} lowercased member -> timer of their typing indicator */
    typing: new Map(),
  };
}

export class GroupModel {
  constructor() {
    this.reset();
  }

  reset() {
    /** @type {Map<string, ReturnType<typeof newGroup>>} */
    this.groups = new Map();
    /** @type {string|null} the group whose conversation is open */
    this.active = null;
    /** group -> {keyId, raw, key, sentTo: Set<lowercased name>} this device's current sender key */
    this.own = new Map();
    /** `${group}|${sender}|${keyId}` (sender lowercased) -> CryptoKey */
    this.keys = new Map();
    /** ids of our own key messages, so their answers are not taken for chat messages */
    this.keyMessageIds = new Set();
    /** message id -> group */
    this.groupOfMessage = new Map();
    /** pending message id -> timer */
    this.sendTimers = new Map();
  }

  static keyName(group, sender, keyId) {
    return `${group}|${low(sender)}|${keyId}`;
  }

  group(id) {
    let g = this.groups.get(id);
    if (!g) {
      g = newGroup(id);
      this.groups.set(id, g);
    }
    return g;
  }

  has(id) {
    return this.groups.has(id);
  }

  /** Takes the server's record of a group; returns the group. */
  apply(record) {
    const g = this.group(record.id);
    g.createdAt = record.createdAt ?? g.createdAt;
    g.members = Array.isArray(record.members) ? record.members.filter((m) => m && typeof m.username === 'string') : g.members;
    if (!sameField(g.sealedTitle, record.title)) {
      g.sealedTitle = record.title ?? null;
      g.title = null;
    }
    if (!sameField(g.sealedAvatar, record.avatar)) {
      g.sealedAvatar = record.avatar ?? null;
      g.avatar = null;
    }
    g.gone = false;
    return g;
  }

  member(id, name) {
    return this.groups.get(id)?.members.find((m) => low(m.username) === low(name)) ?? null;
  }

  isAdmin(id, name) {
    return this.member(id, name)?.role === 'admin';
  }

  /** The members but `me`, as the server spells them. */
  others(id, me) {
    return (this.groups.get(id)?.members ?? []).map((m) => m.username).filter((n) => low(n) !== low(me));
  }

  /** The name of a group as shown: its title, or its members' names until the title opens. */
  nameOf(id, me) {
    const g = this.groups.get(id);
    if (!g) return 'Group';
    if (g.title) return g.title;
    const others = this.others(id, me);
    return others.length ? others.join(', ') : 'Group';
  }

  /** Inserts or merges a message; returns true when it was not known before. */
  upsertMessage(id, msg) {
    const g = this.group(id);
    const old = g.messages.get(msg.id);
    this.groupOfMessage.set(msg.id, id);
    if (!old) {
      g.messages.set(msg.id, msg);
      return true;
    }
    if (statusRank(msg.status) > statusRank(old.status) || (old.status === 'failed' && msg.status !== 'pending')) old.status = msg.status;
    if (msg.timestamp && old.status !== 'pending' && old.status !== 'failed') old.timestamp = msg.timestamp;
    // Whether we saw it is set by what we sent (group_seen) or heard (group_receipt_sync), not by
    // the copy a history page brings.
    if (old.text == null && msg.text != null) {
      old.text = msg.text;
      old.attachments = msg.attachments ?? [];
      old.decryptFailed = false;
      old.waiting = false;
    }
    return false;
  }

  message(id) {
    const g = this.groupOfMessage.get(id);
    return g ? this.groups.get(g)?.messages.get(id) ?? null : null;
  }

  groupOf(id) {
    return this.groupOfMessage.get(id) ?? null;
  }

  /** Moves a status forward only; returns true when it changed. */
  promote(id, status) {
    const m = this.message(id);
    if (!m) return false;
    if (statusRank(status) > statusRank(m.status) || (m.status === 'failed' && statusRank(status) > 0)) {
      m.status = status;
      return true;
    }
    return false;
  }

  addSystem(id, text, timestamp = Date.now()) {
    const g = this.group(id);
    const line = { kind: 'system', id: `system-${timestamp}-${Math.random().toString(36).slice(2)}`, text, timestamp };
    g.system.push(line);
    return line;
  }

  /** Chat messages from others in `id` that this user has not seen yet. */
  unseenIn(id) {
    const out = [];
    for (const m of this.groups.get(id)?.messages.values() ?? []) if (!m.outgoing && !m.seenByMe) out.push(m.id);
    return out;
  }

  unreadOf(id) {
    const g = this.groups.get(id);
    if (!g) return 0;
    return g.serverUnread.count + this.unseenIn(id).length;
  }

  /** An unseen message the server's count covered was loaded: it counts by itself now. */
  loadedUnseen(id, timestamp) {
    const u = this.groups.get(id)?.serverUnread;
    if (u && u.count > 0 && timestamp <= u.upTo) u.count -= 1;
  }

  noteLast(id, last) {
    const g = this.group(id);
    if (!g.last || g.last.timestamp <= last.timestamp) g.last = last;
  }

  timeline(id) {
    const g = this.groups.get(id);
    if (!g) return [];
    const items = [];
    for (const m of g.messages.values()) items.push({ kind: 'message', ...m });
    for (const s of g.system) items.push(s);
    items.sort((a, b) => a.timestamp - b.timestamp);
    return items;
  }

  /** Groups, the latest activity first. */
  list() {
    const at = (g) => Math.max(g.last?.timestamp ?? 0, g.joinedAt ?? 0, g.createdAt ?? 0);
    return [...this.groups.values()].filter((g) => !g.gone || g.messages.size || this.active === g.id)
      .sort((a, b) => at(b) - at(a));
  }

  typingIn(id) {
    return [...(this.groups.get(id)?.typing.keys() ?? [])];
  }

  waitingFor(group, sender, keyId) {
    const out = [];
    for (const m of this.groups.get(group)?.messages.values() ?? []) {
      if (m.text == null && m.keyId === keyId && low(m.sender) === low(sender)) out.push(m);
    }
    return out;
  }
}

function sameField(a, b) {
  if (!a || !b) return !a && !b;
  return a.ciphertext === b.ciphertext && a.iv === b.iv && a.keyId === b.keyId && low(a.by) === low(b.by);
}
