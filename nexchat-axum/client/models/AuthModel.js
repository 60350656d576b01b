// Who is signed in: token, name and the identity key pair. State only.

export class AuthModel {
  constructor() {
    this.clear();
  }

  clear() {
    /** @type {string|null} */ this.token = null;
    /** @type {string|null} */ this.username = null;
    /** @type {number|null} */ this.expiresAt = null;
    /** @type {CryptoKey|null} */ this.privateKey = null;
    /** @type {{kty:string,crv:string,x:string,y:string}|null} */ this.publicJwk = null;
    /** The version 2 key backup (sealed under the vault key), for a password change. */
    /** @type {object|null} */ this.backup = null;
  }

  set({ token, username, expiresAt, privateKey, publicJwk, backup }) {
    this.token = token;
    this.username = username;
    this.expiresAt = expiresAt ?? null;
    this.privateKey = privateKey;
    this.publicJwk = publicJwk;
    this.backup = backup ?? null;
  }

  get isLoggedIn() {
    return !!this.token && !!this.privateKey;
  }

  get authHeader() {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  isMe(name) {
    return !!name && !!this.username && name.toLowerCase() === this.username.toLowerCase();
  }
}
