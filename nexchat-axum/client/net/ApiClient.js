// REST calls to the server. Every URL is relative to document.baseURI, so the client keeps
// working when an application mounts nexchat under a prefix such as /chat/.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

const FRIENDLY = {
  unauthorized: 'Wrong username or password.',
  rate_limited: 'Too many attempts. Please wait a moment and try again.',
  too_large: 'That request is too large.',
  internal: 'The server had a problem. Please try again.',
};

export class ApiClient {
  /** @param {() => string|null} getToken */
  constructor(getToken) {
    this.getToken = getToken;
  }

  url(path) {
    return new URL(path, document.baseURI);
  }

  /** `token` overrides the signed-in token (a sign-in that is not finished yet). */
  async request(method, path, body, { auth = true, token: given = null } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = auth ? (given ?? this.getToken()) : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(this.url(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'same-origin',
      });
    } catch {
      throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!res.ok) {
      const code = (data && typeof data.error === 'string') ? data.error : `http_${res.status}`;
      const message = (data && typeof data.message === 'string' && data.message) || FRIENDLY[code] || `${res.status} ${res.statusText}`;
      throw new ApiError(res.status, code, message, res.headers.get('Retry-After'));
    }
    return data;
  }

  clientConfig() { return this.request('GET', 'client-config', undefined, { auth: false }); }
  /** {kdf}: the account's key derivation parameters, null for an account a v1 client made. */
  params(username) { return this.request('GET', `auth/params?username=${encodeURIComponent(username)}`, undefined, { auth: false }); }
  /** `password` is the auth key (kdf.js), never the password itself. */
  register(username, password, publicKey, encryptedPrivateKey, kdf) {
    return this.request('POST', 'auth/register', {
      username, password, publicKey, encryptedPrivateKey, kdf,
    }, { auth: false });
  }
  login(username, password) { return this.request('POST', 'auth/login', { username, password }, { auth: false }); }
  /** Ends the session of `token` (the signed-in one when null) on the server. */
  logout(token = null) { return this.request('POST', 'auth/logout', undefined, { token }); }
  sessions() { return this.request('GET', 'auth/sessions'); }
  endSession(id) { return this.request('DELETE', `auth/sessions/${encodeURIComponent(id)}`); }
  /** {currentPassword, newPassword, kdf, encryptedPrivateKey} -> {token, expiresAt} */
  changePassword(body, token = null) { return this.request('POST', 'auth/password', body, { token }); }
  deleteAccount(password) { return this.request('DELETE', 'auth/account', { password }); }
  /** {ticket, expiresAt}: opens one socket of this session, once, within 30 s. */
  wsTicket() { return this.request('POST', 'auth/ws-ticket'); }
  searchUsers(q) { return this.request('GET', `users?q=${encodeURIComponent(q)}`); }
  publicKey(name) { return this.request('GET', `users/${encodeURIComponent(name)}/public-key`); }
  friendsStatus() { return this.request('GET', 'friends/status'); }
  /** {conversations: [{withUser, lastMessage, unread}], hasMore}, newest first; `before` continues after that user. */
  conversations(limit, before = null) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set('before', before);
    return this.request('GET', `conversations?${q}`);
  }
  requestFriend(receiver) { return this.request('POST', 'friends/request', { receiver }); }
  acceptFriend(sender) { return this.request('POST', 'friends/accept', { sender }); }
  rejectFriend(sender) { return this.request('POST', 'friends/reject', { sender }); }
  removeFriend(target) { return this.request('POST', 'friends/remove', { target }); }

  // Groups (version 1.2): every answer about a group we are not in is 404.
  /** {groups: [{group, lastMessage, unread}]} */
  groups() { return this.request('GET', 'groups'); }
  group(id) { return this.request('GET', `groups/${encodeURIComponent(id)}`); }
  /** members: the other members' names; the creator is added as admin. */
  createGroup(members) { return this.request('POST', 'groups', { members }); }
  /** title, avatar: each null or a sealed field {ciphertext, iv, keyId}. */
  setGroupDetails(id, title, avatar) { return this.request('PUT', `groups/${encodeURIComponent(id)}/details`, { title, avatar }); }
  addGroupMember(id, username) { return this.request('POST', `groups/${encodeURIComponent(id)}/members`, { username }); }
  /** Removes a member; our own name is leaving. */
  removeGroupMember(id, username) { return this.request('DELETE', `groups/${encodeURIComponent(id)}/members/${encodeURIComponent(username)}`); }
  setGroupRole(id, username, role) { return this.request('PUT', `groups/${encodeURIComponent(id)}/members/${encodeURIComponent(username)}/role`, { role }); }
  /** {receipts: [{username, status}]}: only for the sender of the message. */
  groupReceipts(id, messageId) {
    return this.request('GET', `groups/${encodeURIComponent(id)}/messages/${encodeURIComponent(messageId)}/receipts`);
  }
}
