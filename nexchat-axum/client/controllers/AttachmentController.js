// Attachments (protocol version 1.3, docs/protocol.md "Attachments"): whether the server takes
// them (`GET /client-config`, `maxAttachmentBytes`), files picked, pasted or dropped into a
// composer (photos re-encoded without their metadata, with a thumbnail), voice notes recorded,
// each encrypted under its own key and uploaded before the message that names it goes out, and
// on the other side downloaded, checked against its digest and decrypted only when the user opens,
// plays or saves it. The chat and group controllers call upload() and entriesOf() when they send.
import {
  MAX_PER_MESSAGE, bodyEntry, ciphertextSize, cleanName, decryptAttachment, encryptAttachment,
} from '../attachmentCrypto.js';
import { ApiError } from '../net/ApiClient.js';
import { isPhotoType, preparePhoto, VoiceRecorder } from '../media.js';
import { fileSize } from '../views/format.js';

/** The types a decrypted file is shown under; anything else is only ever saved, as bytes. */
const SHOWN_IMAGE = /^image\/(png|jpeg|webp|gif|avif|bmp)$/;
const SHOWN_AUDIO = /^audio\/(webm|ogg|mp4|mpeg|aac|wav|x-m4a)$/;
/** A message's plaintext must fit the server's 48 KiB of base64 ciphertext, with room to spare. */
const MAX_BODY_CHARS = 34_000;
/** The largest file this page downloads into memory (servers take 25 MiB by default). */
const MAX_DOWNLOAD = 1 << 30;

export class AttachmentController {
  /** views: {attachment, chat, group, toast}; `render(scope)` draws the open timeline again. */
  constructor({ api, auth, model, views }) {
    this.api = api;
    this.auth = auth;
    this.model = model;
    this.views = views;
    this.v = views.attachment;
    /** scope -> the recorder while recording */
    this.recorders = {};
    /** scope -> promise that settles when every photo picked so far is prepared */
    this.pending = { chat: Promise.resolve(), group: Promise.resolve() };
    this.errors = { chat: null, group: null };
    /** Looks up a message by id for the views' keys: set by the app (chat or group message). */
    this.findMessage = () => null;

    this.v.setEnabled(false, false);
    this.v.bindPick((scope, files) => this.pick(scope, files));
    this.v.bindComposer({
      remove: (scope, localId) => this.removeDraft(scope, localId),
      record: (scope) => this.record(scope),
      stop: (scope) => this.stopRecording(scope),
      cancel: (scope) => this.cancelRecording(scope),
    });
    this.v.bindBlocks({
      open: (key, att) => this.openPhoto(key, att),
      save: (key, att) => this.save(key, att),
      play: (key, att, from) => this.play(key, att, from),
    });
    this.v.bindDialogSave((key) => {
      const att = this.v.blocks.get(key)?.att;
      if (att) this.save(key, att);
    });
    // Both composers may send a message without text when files wait in them.
    views.chat.canSendEmpty = () => this.model.drafts.chat.length > 0 || this.model.preparing.chat > 0;
    views.group.canSendEmpty = () => this.model.drafts.group.length > 0 || this.model.preparing.group > 0;
  }

  /** After every sync: whether the server takes attachments, and how large (once per sign-in). */
  async loadConfig() {
    if (this.model.configLoaded) return;
    try {
      const cfg = await this.api.clientConfig();
      const max = cfg?.maxAttachmentBytes;
      this.model.maxBytes = Number.isSafeInteger(max) && max > 0 ? max : null;
      this.model.configLoaded = true;
    } catch {
      this.model.maxBytes = null;
    }
    this.v.setEnabled(this.model.enabled, VoiceRecorder.supported());
  }

  // --- composing ------------------------------------------------------------------------

  renderDrafts(scope) {
    this.v.renderDrafts(scope, this.model.drafts[scope], this.model.preparing[scope], this.errors[scope]);
  }

  trayError(scope, text) {
    this.errors[scope] = text;
    this.renderDrafts(scope);
  }

  /** The plaintext limit for one file: the server's limit less the tags its chunks add. */
  fits(size) {
    return this.model.maxBytes == null || ciphertextSize(size) <= this.model.maxBytes;
  }

  tooLarge(name, size) {
    return `${name} is ${fileSize(size)}: the server takes files up to ${fileSize(this.model.maxBytes)}.`;
  }

  /** Files picked, pasted or dropped: photos are prepared (re-encoded), other files wait as they are. */
  pick(scope, files) {
    if (!this.model.enabled) return;
    this.errors[scope] = null;
    const drafts = this.model.drafts[scope];
    const problems = [];
    const jobs = [];
    for (const file of files) {
      if (drafts.length + this.model.preparing[scope] + jobs.length >= MAX_PER_MESSAGE) {
        problems.push(`At most ${MAX_PER_MESSAGE} files go in one message.`);
        break;
      }
      // Files keep the order they were picked in, whichever photo is prepared first.
      const order = this.nextOrder();
      if (isPhotoType(file.type)) {
        jobs.push({ file, order });
        continue;
      }
      if (!this.fits(file.size)) {
        problems.push(this.tooLarge(cleanName(file.name), file.size));
        continue;
      }
      place(drafts, {
        order, localId: crypto.randomUUID(), kind: 'file', blob: file, type: file.type || 'application/octet-stream', name: cleanName(file.name), size: file.size,
      });
    }
    if (problems.length) this.errors[scope] = problems.join(' ');
    this.model.preparing[scope] += jobs.length;
    this.renderDrafts(scope);
    for (const { file, order } of jobs) {
      const job = this.preparePhoto(scope, file, order);
      this.pending[scope] = Promise.all([this.pending[scope], job]);
    }
  }

  /** A number for a new draft: later drafts get larger ones. */
  nextOrder() {
    this.picked = (this.picked ?? 0) + 1;
    return this.picked;
  }

  async preparePhoto(scope, file, order) {
    try {
      const photo = await preparePhoto(file, { maxBytes: this.model.maxBytes ?? Infinity });
      if (!this.fits(photo.blob.size)) {
        this.errors[scope] = this.tooLarge(photo.name, photo.blob.size);
        return;
      }
      place(this.model.drafts[scope], {
        order,
        localId: crypto.randomUUID(),
        kind: 'photo',
        blob: photo.blob,
        type: photo.type,
        name: photo.name,
        size: photo.blob.size,
        width: photo.width,
        height: photo.height,
        thumbnail: photo.thumbnail,
        previewUrl: URL.createObjectURL(photo.blob),
      });
    } catch {
      // Not a picture the browser can read: it goes as a file, untouched, if it fits.
      if (this.fits(file.size)) {
        place(this.model.drafts[scope], {
          order, localId: crypto.randomUUID(), kind: 'file', blob: file, type: 'application/octet-stream', name: cleanName(file.name), size: file.size,
        });
      } else {
        this.errors[scope] = this.tooLarge(cleanName(file.name), file.size);
      }
    } finally {
      this.model.preparing[scope] -= 1;
      this.renderDrafts(scope);
    }
  }

  /** Empties a composer's files (another conversation was opened), stopping a recording. */
  clearDrafts(scope) {
    this.cancelRecording(scope);
    const list = this.model.drafts[scope];
    if (!list.length && !this.errors[scope]) return;
    for (const d of list) if (d.previewUrl) URL.revokeObjectURL(d.previewUrl);
    this.model.drafts[scope] = [];
    this.errors[scope] = null;
    this.renderDrafts(scope);
  }

  removeDraft(scope, localId) {
    const list = this.model.drafts[scope];
    const i = list.findIndex((d) => d.localId === localId);
    if (i < 0) return;
    const [d] = list.splice(i, 1);
    if (d.previewUrl) URL.revokeObjectURL(d.previewUrl);
    this.errors[scope] = null;
    this.renderDrafts(scope);
  }

  /**
   * The files of a message about to be sent, once every photo picked is prepared; the composer is
   * empty again. Each is an attachment as the message keeps it until it is uploaded.
   */
  async takeDrafts(scope) {
    if (this.recorders[scope]) await this.stopRecording(scope);
    await this.pending[scope];
    const drafts = this.model.drafts[scope];
    this.model.drafts[scope] = [];
    this.errors[scope] = null;
    this.renderDrafts(scope);
    return drafts.map((d) => {
      const a = {
        localId: d.localId, blob: d.blob, type: d.type, name: d.name, size: d.size,
      };
      for (const k of ['thumbnail', 'width', 'height', 'duration', 'waveform']) if (d[k] != null) a[k] = d[k];
      if (d.previewUrl) URL.revokeObjectURL(d.previewUrl);
      return a;
    });
  }

  // --- voice notes ----------------------------------------------------------------------

  async record(scope) {
    if (this.recorders[scope] || !this.model.enabled) return;
    for (const other of Object.keys(this.recorders)) this.cancelRecording(other);
    if (this.model.drafts[scope].length >= MAX_PER_MESSAGE) {
      this.trayError(scope, `At most ${MAX_PER_MESSAGE} files go in one message.`);
      return;
    }
    const rec = new VoiceRecorder();
    this.recorders[scope] = rec;
    this.v.showRecording(scope, true);
    try {
      await rec.start({
        onLevel: (level, elapsed) => this.v.recordingLevel(scope, level, elapsed),
        onLimit: () => this.stopRecording(scope),
      });
    } catch (err) {
      delete this.recorders[scope];
      rec.release();
      this.v.showRecording(scope, false);
      const why = err?.name === 'NotAllowedError' ? 'the microphone permission was denied'
        : err?.name === 'NotFoundError' ? 'no microphone was found' : (err?.message || 'the microphone could not start');
      this.trayError(scope, `Could not record: ${why}.`);
      this.views.toast.show(`Could not record a voice message: ${why}.`, 'error');
    }
  }

  async stopRecording(scope) {
    const rec = this.recorders[scope];
    if (!rec) return;
    delete this.recorders[scope];
    this.v.showRecording(scope, false);
    try {
      const note = await rec.stop();
      if (!this.fits(note.blob.size)) {
        this.trayError(scope, this.tooLarge('The voice message', note.blob.size));
        return;
      }
      place(this.model.drafts[scope], {
        order: this.nextOrder(), localId: crypto.randomUUID(), kind: 'voice', blob: note.blob, type: note.type, name: note.name, size: note.blob.size, duration: note.duration, waveform: note.waveform,
      });
      this.errors[scope] = null;
      this.renderDrafts(scope);
    } catch (err) {
      this.trayError(scope, `The recording failed: ${err.message}.`);
    }
    this.views[scope].focusComposer();
  }

  cancelRecording(scope) {
    const rec = this.recorders[scope];
    if (!rec) return;
    delete this.recorders[scope];
    rec.cancel();
    this.v.showRecording(scope, false);
  }

  // --- sending --------------------------------------------------------------------------

  /**
   * Encrypts and uploads the attachments of `msg` not uploaded yet (a retry keeps what went up),
   * showing the progress on each. Throws an Error whose message says why, for the user.
   */
  async upload(msg) {
    const list = msg.attachments ?? [];
    for (let i = 0; i < list.length; i++) {
      const a = list[i];
      if (a.id) continue;
      const key = `${msg.id}:${i}`;
      this.setTransfer(key, { direction: 'up', fraction: 0 });
      try {
        const { bytes, meta } = await encryptAttachment(a.blob);
        if (this.model.maxBytes != null && bytes.length > this.model.maxBytes) {
          throw new ApiError(413, 'too_large', this.tooLarge(a.name, a.size));
        }
        const res = await this.api.uploadAttachment(bytes, { onProgress: (f) => this.setTransfer(key, { direction: 'up', fraction: Math.min(f, 0.999) }) });
        Object.assign(a, meta, { id: res.id });
        // The same object URL as before the upload, if the bubble made one.
        const local = this.model.files.get(a.localId);
        if (local) this.model.files.set(res.id, local);
        else this.model.keep(res.id, a.blob);
        this.setTransfer(key, null);
      } catch (err) {
        const text = await this.uploadError(err, a);
        this.setTransfer(key, { direction: 'up', error: text });
        throw new Error(text);
      }
    }
  }

  /** What went wrong with an upload, in words, with the limits the server gives. */
  async uploadError(err, a) {
    if (err instanceof ApiError && err.code === 'quota_exceeded') {
      try {
        const u = await this.api.attachmentUsage();
        return `${a.name} was not sent: your files use ${fileSize(u.usedBytes)} of the ${fileSize(u.quotaBytes)} the server gives you, and this one needs ${fileSize(ciphertextSize(a.size))}.`;
      } catch {
        return `${a.name} was not sent: your files use all the space the server gives you.`;
      }
    }
    if (err instanceof ApiError && (err.code === 'too_large' || err.status === 413)) {
      let max = this.model.maxBytes;
      try { max = (await this.api.attachmentUsage()).maxBytes ?? max; } catch { /* the limit we know */ }
      return `${a.name} was not sent: it is ${fileSize(a.size)}, and the server takes files up to ${fileSize(max)}.`;
    }
    return `${a.name} was not sent: ${err?.message ?? err}`;
  }

  /**
   * The body entries of a message's attachments (all uploaded), thumbnails left out from the last
   * one back while the body would not fit a message.
   */
  entriesOf(msg, text) {
    const entries = (msg.attachments ?? []).map(bodyEntry);
    const size = () => JSON.stringify({ v: 1, text, attachments: entries }).length;
    for (let i = entries.length - 1; i >= 0 && size() > MAX_BODY_CHARS; i--) delete entries[i].thumbnail;
    return entries;
  }

  // --- opening, playing, saving ---------------------------------------------------------

  setTransfer(key, t) {
    if (t) this.model.transfers.set(key, t);
    else this.model.transfers.delete(key);
    this.v.showTransfer(key, t);
  }

  transferOf(key) {
    return this.model.transfers.get(key) ?? null;
  }

  /** The object URL of an attachment this tab has already (its own upload, or opened before). */
  localUrl(att) {
    if (att.id && this.model.files.has(att.id)) return this.model.urlOf(att.id);
    if (att.blob && att.localId) {
      this.model.keep(att.localId, att.blob);
      return this.model.urlOf(att.localId);
    }
    return null;
  }

  /** The decrypted file (once per session): downloaded, checked against its digest, opened chunk by chunk. */
  fileOf(key, att, type) {
    if (!att.id) return Promise.resolve(att.blob);
    const kept = this.model.files.get(att.id);
    if (kept) return Promise.resolve(kept.blob);
    let p = this.model.loading.get(att.id);
    if (!p) {
      p = (async () => {
        this.setTransfer(key, { direction: 'down', fraction: 0 });
        try {
          // The body, not the server, says how large it is: a size this tab could not hold is not fetched.
          const expected = ciphertextSize(att.size, att.chunk);
          if (expected > MAX_DOWNLOAD) throw new Error(`it is ${fileSize(att.size)}, more than this page can open`);
          const bytes = await this.api.downloadAttachment(att.id, {
            expected,
            onProgress: (f) => this.setTransfer(key, { direction: 'down', fraction: Math.min(f, 0.999) }),
          });
          const blob = await decryptAttachment(bytes, att, type);
          this.model.keep(att.id, blob);
          this.setTransfer(key, null);
          return blob;
        } catch (err) {
          let text;
          if (err instanceof ApiError && err.status === 404) text = 'This file is no longer on the server, or you may not open it.';
          else if (err instanceof ApiError) text = `Could not download ${att.name}: ${err.message}`;
          else text = `Could not open ${att.name}: ${err.message}. It may have been tampered with.`;
          this.setTransfer(key, { direction: 'down', error: text });
          throw new Error(text);
        } finally {
          this.model.loading.delete(att.id);
        }
      })();
      this.model.loading.set(att.id, p);
    }
    return p;
  }

  async openPhoto(key, att) {
    this.v.openPhoto(key, att);
    const type = SHOWN_IMAGE.test(att.type) ? att.type : 'application/octet-stream';
    try {
      await this.fileOf(key, att, type);
      const url = this.localUrl(att) ?? this.model.urlOf(att.id);
      this.v.photoReady(key, url);
      this.v.showPhotoFile(key, url);
    } catch (err) {
      this.v.photoFailed(key, err.message);
    }
  }

  async play(key, att, from) {
    const type = SHOWN_AUDIO.test(att.type) ? att.type : 'application/octet-stream';
    try {
      await this.fileOf(key, att, type);
      await this.v.playVoice(key, this.localUrl(att) ?? this.model.urlOf(att.id), from);
    } catch (err) {
      if (err?.name === 'NotAllowedError' || err?.name === 'AbortError') return;
      this.views.toast.show(err.message, 'error');
    }
  }

  /** Decrypts (if this tab does not have it yet), then saves under the file's name. */
  async save(key, att) {
    const kind = SHOWN_IMAGE.test(att.type) || SHOWN_AUDIO.test(att.type) ? att.type : 'application/octet-stream';
    try {
      await this.fileOf(key, att, kind);
      this.v.saveFile(this.localUrl(att) ?? this.model.urlOf(att.id), att.name);
    } catch (err) {
      this.views.toast.show(err.message, 'error');
    }
  }

  /** The attachment nodes of a message bubble (the chat and group views call this). */
  nodesFor(m) {
    if (!m.attachments?.length) return [];
    return this.v.nodes(m.id, m.attachments, {
      outgoing: m.outgoing,
      localUrl: (att) => this.localUrl(att),
      transfer: (key) => this.transferOf(key),
    });
  }

  reset() {
    for (const scope of Object.keys(this.recorders)) this.cancelRecording(scope);
    this.model.clear();
    this.errors = { chat: null, group: null };
    this.pending = { chat: Promise.resolve(), group: Promise.resolve() };
    this.v.blocks.clear();
    this.v.setEnabled(false, false);
    this.renderDrafts('chat');
    this.renderDrafts('group');
  }
}

/** Puts `draft` into `list` by its `order`, after every draft picked before it. */
function place(list, draft) {
  const at = list.findIndex((d) => d.order > draft.order);
  if (at < 0) list.push(draft);
  else list.splice(at, 0, draft);
}
