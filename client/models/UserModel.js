// Friends, requests, presence, unread counts and typing. State only.

export class UserModel {
  constructor() {
    this.reset();
  }

  reset() {
    /** @type {string[]} */ this.friends = [];
    /** @type {string[]} */ this.pendingSent = [];
    /** @type {string[]} */ this.pendingReceived = [];
    /** @type {Set<string>} */ this.online = new Set();
    /** @type {Map<string, number>} */ this.unread = new Map();
    /** @type {Set<string>} */ this.typing = new Set();
    /** Last message or call per friend, for the list: {text, timestamp}. */
    /** @type {Map<string, {text: string, timestamp: number}>} */ this.lastActivity = new Map();
    this.searchQuery = '';
    /** @type {{username: string, online: boolean}[]} */ this.searchResults = [];
  }

  static key(name) {
    return String(name).toLowerCase();
  }

  setStatus({ friends = [], pending_sent = [], pending_received = [] }) {
    this.friends = [...friends];
    this.pendingSent = [...pending_sent];
    this.pendingReceived = [...pending_received];
  }

  /** The name as the server spells it, when it is a friend. */
  friendName(name) {
    const k = UserModel.key(name);
    return this.friends.find((f) => UserModel.key(f) === k) ?? null;
  }

  isFriend(name) {
    return this.friendName(name) !== null;
  }

  addFriend(name) {
    const k = UserModel.key(name);
    if (!this.isFriend(name)) this.friends.push(name);
    this.pendingSent = this.pendingSent.filter((n) => UserModel.key(n) !== k);
    this.pendingReceived = this.pendingReceived.filter((n) => UserModel.key(n) !== k);
  }

  removeFriend(name) {
    const k = UserModel.key(name);
    this.friends = this.friends.filter((n) => UserModel.key(n) !== k);
    this.online.delete(name);
    this.typing.delete(name);
    this.unread.delete(name);
  }

  removeRequest(name) {
    const k = UserModel.key(name);
    this.pendingSent = this.pendingSent.filter((n) => UserModel.key(n) !== k);
    this.pendingReceived = this.pendingReceived.filter((n) => UserModel.key(n) !== k);
  }

  relationOf(name) {
    const k = UserModel.key(name);
    if (this.isFriend(name)) return 'friend';
    if (this.pendingSent.some((n) => UserModel.key(n) === k)) return 'sent';
    if (this.pendingReceived.some((n) => UserModel.key(n) === k)) return 'received';
    return 'none';
  }

  setOnlineList(users) {
    this.online = new Set(users);
  }

  setOnline(name, online) {
    if (online) this.online.add(name);
    else this.online.delete(name);
  }

  isOnline(name) {
    return this.online.has(name);
  }

  incUnread(name) {
    this.unread.set(name, (this.unread.get(name) ?? 0) + 1);
  }

  clearUnread(name) {
    this.unread.delete(name);
  }

  unreadOf(name) {
    return this.unread.get(name) ?? 0;
  }

  setTyping(name, isTyping) {
    if (isTyping) this.typing.add(name);
    else this.typing.delete(name);
  }

  noteActivity(name, text, timestamp) {
    const prev = this.lastActivity.get(name);
    if (!prev || prev.timestamp <= timestamp) this.lastActivity.set(name, { text, timestamp });
  }

  /** Friends with the most recent conversation first, then by name. */
  sortedFriends() {
    return [...this.friends].sort((a, b) => {
      const ta = this.lastActivity.get(a)?.timestamp ?? 0;
      const tb = this.lastActivity.get(b)?.timestamp ?? 0;
      if (ta !== tb) return tb - ta;
      return a.localeCompare(b, undefined, { sensitivity: 'base' });
    });
  }
}
