// What the browser keeps between page loads: the signed-in session (token and the
// non-extractable private key, in IndexedDB, which can hold a CryptoKey without exporting it),
// the group sender keys this account was given (non-extractable CryptoKeys, beside the private
// key), and the friends' public keys we have seen (to notice a key that changed while we were away).

const DB_NAME = 'nexchat';
const STORE = 'kv';

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req?.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const senderKeyPrefix = (me) => `senderkey|${me.toLowerCase()}|`;

export const LocalStore = {
  async saveSession(session) {
    try { await withStore('readwrite', (s) => s.put(session, 'session')); } catch { /* private mode: no persistence */ }
  },

  async loadSession() {
    try { return (await withStore('readonly', (s) => s.get('session'))) ?? null; } catch { return null; }
  },

  /**
   * Forgets the stored session when it is the one of `token` (any session when token is null):
   * a tab whose session ended must not erase the newer session another tab of this browser saved
   * after a password change.
   */
  async clearSession(token = null) {
    try {
      await withStore('readwrite', (s) => {
        const req = s.get('session');
        req.onsuccess = () => {
          if (token === null || req.result?.token === token) s.delete('session');
        };
        return req;
      });
    } catch { /* nothing stored */ }
  },

  /**
   * Keeps a sender key of a group member, as a non-extractable CryptoKey: one record per
   * account, group, sender and keyId, so two keys arriving at once never overwrite each other.
   */
  async saveSenderKey(me, { group, sender, keyId, key }) {
    const id = `${senderKeyPrefix(me)}${group}|${sender.toLowerCase()}|${keyId}`;
    try {
      await withStore('readwrite', (s) => s.put({
        group, sender: sender.toLowerCase(), keyId, key, at: Date.now(),
      }, id));
    } catch { /* private mode: this page only */ }
  },

  /** Every sender key this account was given on this browser: [{group, sender, keyId, key}]. */
  async loadSenderKeys(me) {
    const prefix = senderKeyPrefix(me);
    try {
      return (await withStore('readonly', (s) => s.getAll(IDBKeyRange.bound(prefix, `${prefix}\uffff`)))) ?? [];
    } catch {
      return [];
    }
  },

  /** Forgets the sender keys of `me` (at sign-out). */
  async clearSenderKeys(me) {
    const prefix = senderKeyPrefix(me);
    try {
      await withStore('readwrite', (s) => s.delete(IDBKeyRange.bound(prefix, `${prefix}\uffff`)));
    } catch { /* nothing stored */ }
  },

  knownKey(me, peer) {
    try {
      const raw = localStorage.getItem(`nexchat:key:${me.toLowerCase()}:${peer.toLowerCase()}`);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  },

  rememberKey(me, peer, jwk) {
    try {
      localStorage.setItem(`nexchat:key:${me.toLowerCase()}:${peer.toLowerCase()}`, JSON.stringify(jwk));
    } catch { /* storage full or disabled */ }
  },
};
