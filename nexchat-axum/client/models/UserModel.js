// Friends, requests, presence, the conversation list (unread counts the server reported,
// last activity, former friends with a history), typing and search. State only.

export class UserModel {
  constructor() {
    this.reset();
  }

  reset() {
    /** @type {string[]} */ this.friends = [];
    /** @type {string[]} */ this.pendingSent = [];
    /** @type {string[]} */ this.pendingReceived = [];
    /** @type {Set<string>} */ this.online = new Set();
    /**
     * Unseen messages from a user that the server counted (GET /conversations) and this page has
     * not loaded yet, with the time of the newest message the count covers. Loaded messages count
     * by their own status instead (ChatModel.unseenFrom), so a message is never counted twice.
     * @type {Map<string, {count: number, upTo: number}>}
     */
    this.serverUnread = new Map();
    /** Everyone with a conversation here, friends now or not, keyed lowercased. */
    /** @type {Map<string, string>} */ this.talkedWith = new Map();
    /** @type {Set<string>} */ this.typing = new Set();
    /** Last message or call per user, for the list: {text, outgoing} or {call}, and its time. */
    /** @type {Map<string, {text?: string, outgoing?: boolean, call?: object, timestamp: number}>} */ this.lastActivity = new Map();
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

  /** The server's count of unseen messages from `name` not loaded here, up to time `upTo`. */
  setServerUnread(name, count, upTo) {
    this.serverUnread.set(name, { count: Math.max(0, count), upTo });
  }

  /**
   * An unseen message from `name` was loaded here: when the server's count covered it, it now
   * counts as a loaded message instead.
   */
  loadedUnseen(name, timestamp) {
    const entry = this.serverUnread.get(name);
    if (entry && entry.count > 0 && timestamp <= entry.upTo) entry.count -= 1;
  }

  /** Another device saw a message from `name` that this page never loaded. */
  seenElsewhere(name) {
    const entry = this.serverUnread.get(name);
    if (entry && entry.count > 0) entry.count -= 1;
  }

  serverUnreadOf(name) {
    return this.serverUnread.get(name)?.count ?? 0;
  }

  noteConversation(name) {
    this.talkedWith.set(UserModel.key(name), name);
  }

  /** The server's complete list of conversations replaces what this page knew. */
  keepConversations(names) {
    this.talkedWith = new Map(names.map((n) => [UserModel.key(n), n]));
  }

  /** Forgets what the list showed of someone with neither a friendship nor a history. */
  forget(name) {
    this.lastActivity.delete(name);
    this.serverUnread.delete(name);
  }

  hasConversation(name) {
    return this.talkedWith.has(UserModel.key(name));
  }

  setTyping(name, isTyping) {
    if (isTyping) this.typing.add(name);
    else this.typing.delete(name);
  }

  /** activity: {text, outgoing} for a message, {call} for a call record. */
  noteActivity(name, activity, timestamp) {
    const prev = this.lastActivity.get(name);
    if (!prev || prev.timestamp <= timestamp) this.lastActivity.set(name, { ...activity, timestamp });
  }

  /** Friends and former friends with a history, the most recent conversation first, then by name. */
  conversationList() {
    const names = new Map(this.friends.map((n) => [UserModel.key(n), n]));
    for (const [k, n] of this.talkedWith) if (!names.has(k)) names.set(k, n);
    return [...names.values()].sort((a, b) => {
      const ta = this.lastActivity.get(a)?.timestamp ?? 0;
      const tb = this.lastActivity.get(b)?.timestamp ?? 0;
      if (ta !== tb) return tb - ta;
      return a.localeCompare(b, undefined, { sensitivity: 'base' });
    });
  }
}
