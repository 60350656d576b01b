// What the browser keeps between page loads: the signed-in session (token and the
// non-extractable private key, in IndexedDB, which can hold a CryptoKey without exporting it)
// and the friends' public keys we have seen (to notice a key that changed while we were away).

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
