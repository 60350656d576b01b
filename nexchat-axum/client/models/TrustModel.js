// Which friends' keys the user has verified (compared the safety number and marked it), per
// device. A verified friend whose key changes loses the mark and is flagged until verified again.
import { canonicalJwk, sameKey } from '../crypto.js';

const key = (me, peer) => `nexchat:verified:${me.toLowerCase()}:${peer.toLowerCase()}`;

function read(me, peer) {
  try {
    const entry = JSON.parse(localStorage.getItem(key(me, peer)) ?? 'null');
    return entry && typeof entry.jwk === 'string' ? entry : null;
  } catch {
    return null;
  }
}

function write(me, peer, entry) {
  try {
    if (entry) localStorage.setItem(key(me, peer), JSON.stringify(entry));
    else localStorage.removeItem(key(me, peer));
  } catch { /* storage full or blocked: this page only */ }
}

export const TrustModel = {
  /** 'verified' (this key was verified), 'changed' (a verified key was replaced) or 'none'. */
  state(me, peer, jwk) {
    const entry = read(me, peer);
    if (!entry) return 'none';
    if (entry.lost) return 'changed';
    return jwk && sameKey(JSON.parse(entry.jwk), jwk) ? 'verified' : 'changed';
  },

  verify(me, peer, jwk) {
    write(me, peer, { jwk: canonicalJwk(jwk), lost: false });
  },

  unverify(me, peer) {
    write(me, peer, null);
  },

  /** The friend's key is now `jwk`: a verified mark for another key is lost. Returns true then. */
  keySeen(me, peer, jwk) {
    const entry = read(me, peer);
    if (!entry || entry.lost || sameKey(JSON.parse(entry.jwk), jwk)) return false;
    write(me, peer, { ...entry, lost: true });
    return true;
  },
};
