// Key separation (protocol v1.1): from the password and the account's `kdf` parameters, two
// independent keys. The auth key is what the server receives where v1 sent the password; the
// vault key wraps the private key backup and never leaves this browser. The exact derivation is
// written down in docs/protocol.md ("Key derivation") and checked against docs/kdf-vectors.json.
//
//   master    = Argon2id(UTF-8(NFC(password)), salt, m KiB, t passes, p lanes, v 0x13, 32 bytes)
//   auth key  = HKDF-SHA-256(master, salt "nexchat-v1.1|hkdf", info "nexchat-v1.1|auth-key", 32)
//   vault key = HKDF-SHA-256(master, salt "nexchat-v1.1|hkdf", info "nexchat-v1.1|vault-key", 32)
//
// Argon2id comes from the vendored hash-wasm build (WebAssembly); HKDF and AES-GCM from WebCrypto.
import { fromBase64, randomBytes, toBase64 } from './crypto.js';

/** What new accounts and password changes use: 64 MiB, 3 passes, 1 lane (above OWASP's minimums). */
export const DEFAULT_KDF = Object.freeze({ alg: 'argon2id', v: 19, m: 65536, t: 3, p: 1 });

/** Below this the server could weaken the derivation: refused whatever the server says. */
export const KDF_FLOOR = Object.freeze({ m: 19456, t: 2, p: 1, saltBytes: 16 });
/** Above this the server could make the browser spend minutes or gigabytes: refused too. */
export const KDF_CAPS = Object.freeze({ m: 1048576, t: 20, p: 8, saltBytes: 64 });

const enc = new TextEncoder();
const HKDF_SALT = enc.encode('nexchat-v1.1|hkdf');
const AUTH_INFO = enc.encode('nexchat-v1.1|auth-key');
const VAULT_INFO = enc.encode('nexchat-v1.1|vault-key');
const MASTER_BYTES = 32;

/** The server offered parameters this client will not use. */
export class UnsafeKdfError extends Error {}

/** Fresh parameters with a new random 16-byte salt, for a new account or a password change. */
export function newKdf() {
  return { ...DEFAULT_KDF, salt: toBase64(randomBytes(16)) };
}

function within(value, min, max) {
  return Number.isSafeInteger(value) && value >= min && value <= max;
}

/**
 * Checks parameters that came from the server and returns them with the salt decoded.
 * Throws UnsafeKdfError for an unknown algorithm or version, or a value outside floor and caps.
 */
export function checkKdf(kdf) {
  if (!kdf || typeof kdf !== 'object' || kdf.alg !== 'argon2id' || kdf.v !== 19) {
    throw new UnsafeKdfError('The server offered a key derivation this app does not know.');
  }
  const min = KDF_FLOOR;
  let salt;
  try { salt = fromBase64(kdf.salt); } catch { salt = null; }
  const ok = within(kdf.p, min.p, KDF_CAPS.p)
    && within(kdf.m, Math.max(min.m, 8 * kdf.p), KDF_CAPS.m)
    && within(kdf.t, min.t, KDF_CAPS.t)
    && salt !== null && salt.length >= min.saltBytes && salt.length <= KDF_CAPS.saltBytes;
  if (!ok) throw new UnsafeKdfError('The server offered unsafe key derivation parameters; signing in was stopped.');
  return { m: kdf.m, t: kdf.t, p: kdf.p, salt };
}

/** The Argon2id master secret (32 bytes). Slow on purpose: run it off the main thread. */
export async function masterKey(password, kdf) {
  const { m, t, p, salt } = checkKdf(kdf);
  await import('./vendor/hash-wasm/argon2.umd.min.js');
  return globalThis.hashwasm.argon2id({
    password: enc.encode(password.normalize('NFC')),
    salt,
    parallelism: p,
    iterations: t,
    memorySize: m,
    hashLength: MASTER_BYTES,
    outputType: 'binary',
  });
}

/** {authKey: base64 string, vaultKey: non-extractable AES-GCM-256 CryptoKey} from the master. */
export async function keysFromMaster(master) {
  const subtle = globalThis.crypto.subtle;
  const ikm = await subtle.importKey('raw', master, 'HKDF', false, ['deriveBits', 'deriveKey']);
  const auth = await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT, info: AUTH_INFO }, ikm, 256);
  const vaultKey = await subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT, info: VAULT_INFO },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
  return { authKey: toBase64(auth), vaultKey };
}

/** Runs masterKey in a module worker so the page keeps painting; inline where workers are missing. */
function masterKeyOffThread(password, kdf) {
  if (typeof Worker !== 'function' || typeof document === 'undefined') return masterKey(password, kdf);
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./kdf-worker.js', import.meta.url), { type: 'module' });
    const done = () => worker.terminate();
    worker.onmessage = ({ data }) => {
      done();
      if (data && data.master instanceof Uint8Array) resolve(data.master);
      else reject(data?.unsafe ? new UnsafeKdfError(data.error) : new Error(data?.error || 'key derivation failed'));
    };
    worker.onerror = (e) => {
      done();
      e.preventDefault();
      reject(new Error(`key derivation failed: ${e.message || 'worker error'}`));
    };
    worker.postMessage({ password, kdf });
  });
}

/**
 * The two keys of an account. Checks `kdf` against floor and caps before any work, so a
 * malicious server can neither weaken the derivation nor stall the browser with it.
 */
export async function deriveKeys(password, kdf) {
  checkKdf(kdf);
  const master = await masterKeyOffThread(password, kdf);
  try {
    return await keysFromMaster(master);
  } finally {
    master.fill(0);
  }
}
