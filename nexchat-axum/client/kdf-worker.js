// Runs the memory-hard part of the key derivation off the page's main thread, so the page keeps
// showing its progress while Argon2id works. Answers {master} or {error, unsafe}.
import { masterKey, UnsafeKdfError } from './kdf.js';

self.onmessage = async ({ data }) => {
  try {
    const master = await masterKey(data.password, data.kdf);
    self.postMessage({ master }, [master.buffer]);
  } catch (err) {
    self.postMessage({ error: err?.message || String(err), unsafe: err instanceof UnsafeKdfError });
  }
};
