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
  quota_exceeded: 'Your attachments use all the space the server gives you.',
  internal: 'The server had a problem. Please try again.',
};

/** An ApiError from a failed answer's status and its JSON body ({error, message}) if it has one. */
function errorOf(status, statusText, text, retryAfter = null) {
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  const code = (data && typeof data.error === 'string') ? data.error : `http_${status}`;
  const message = (data && typeof data.message === 'string' && data.message) || FRIENDLY[code] || `${status} ${statusText}`;
  return new ApiError(status, code, message, retryAfter);
}

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
    if (!res.ok) throw errorOf(res.status, res.statusText, text, res.headers.get('Retry-After'));
    return data;
  }

  // Attachments (version 1.3): the bodies are ciphertext only (attachmentCrypto.js).

  /**
   * Uploads one encrypted attachment (`POST /attachments`, the bytes as the body) and resolves to
   * {id, size}. XMLHttpRequest, for its upload progress: onProgress(fraction). `signal` aborts.
   */
  uploadAttachment(bytes, { onProgress, signal } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', this.url('attachments'));
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.setRequestHeader('Accept', 'application/json');
      const token = this.getToken();
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable && e.total > 0) onProgress?.(e.loaded / e.total);
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          let data = null;
          try { data = JSON.parse(xhr.responseText); } catch { data = null; }
          if (data && typeof data.id === 'string') resolve(data);
          else reject(new ApiError(xhr.status, 'bad_answer', 'The server gave an unexpected answer to the upload.'));
        } else {
          reject(errorOf(xhr.status, xhr.statusText, xhr.responseText, xhr.getResponseHeader('Retry-After')));
        }
      };
      xhr.onerror = () => reject(new ApiError(0, 'network', 'Cannot reach the server. Check your connection.'));
      xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.'));
      signal?.addEventListener('abort', () => xhr.abort(), { once: true });
      xhr.send(bytes);
    });
  }

  /**
   * Downloads one attachment's ciphertext (`GET /attachments/ID`) into a Uint8Array, reading the
   * body as it arrives: onProgress(fraction). `expected` is the size the message body announces;
   * an answer of another size is refused.
   */
  async downloadAttachment(id, { expected, onProgress, signal } = {}) {
    const headers = { Accept: 'application/octet-stream' };
    const token = this.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(this.url(`attachments/${encodeURIComponent(id)}`), {
        headers, cache: 'no-store', credentials: 'same-origin', signal,
      });
    } catch {
      throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
    }
    if (!res.ok) throw errorOf(res.status, res.statusText, await res.text().catch(() => ''));
    const length = Number(res.headers.get('Content-Length'));
    if (Number.isFinite(length) && length > 0 && expected != null && length !== expected) {
      await res.body?.cancel().catch(() => {});
      throw new ApiError(res.status, 'bad_answer', 'The file on the server has the wrong size.');
    }
    const total = expected ?? length;
    const out = new Uint8Array(total);
    let received = 0;
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (received + value.length > total) {
        await reader.cancel().catch(() => {});
        throw new ApiError(res.status, 'bad_answer', 'The file on the server has the wrong size.');
      }
      out.set(value, received);
      received += value.length;
      if (total > 0) onProgress?.(received / total);
    }
    if (received !== total) throw new ApiError(res.status, 'bad_answer', 'The download broke off. Please try again.');
    return out;
  }

  /** {usedBytes, quotaBytes, maxBytes}: this user's attachment space and limits. */
  attachmentUsage() { return this.request('GET', 'attachments'); }

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
