// Attachments (protocol 1.3): whether the server takes them and up to what size, the files
// waiting in each composer, the transfers under way, and the files this tab has opened (as
// plaintext Blobs, for the session only). State only.

/** What a message's attachment is shown as: a photo, a voice note or any other file. */
export function kindOf(a) {
  if (a.waveform != null || (a.duration != null && String(a.type).startsWith('audio/'))) return 'voice';
  if (String(a.type).startsWith('image/') && (a.width != null || a.thumbnail != null)) return 'photo';
  return 'file';
}

/** A line for the conversation list and notifications: the text, or what the message carries. */
export function summaryOf(text, attachments) {
  if (!attachments?.length) return text;
  if (text && text.trim()) return `📎 ${text}`;
  const kinds = attachments.map(kindOf);
  if (attachments.length === 1) {
    if (kinds[0] === 'photo') return '📷 Photo';
    if (kinds[0] === 'voice') return '🎤 Voice message';
    return `📎 ${attachments[0].name}`;
  }
  if (kinds.every((k) => k === 'photo')) return `📷 ${attachments.length} photos`;
  return `📎 ${attachments.length} files`;
}

export class AttachmentModel {
  constructor() {
    this.reset();
  }

  reset() {
    /** The largest upload the server takes (`maxAttachmentBytes` of client-config); null: none. */
    this.maxBytes = null;
    this.configLoaded = false;
    /**
     * Files waiting in each composer ('chat', 'group') until the message goes:
     * {localId, kind, blob, type, name, size, thumbnail?, width?, height?, duration?, waveform?, previewUrl?}
     */
    this.drafts = { chat: [], group: [] };
    /** Photos being prepared per composer (shown while they are). */
    this.preparing = { chat: 0, group: 0 };
    /** key (message id:index) -> {direction: 'up'|'down', fraction, error} */
    this.transfers = new Map();
    /** attachment id -> {blob, url} this tab has (sent from here, or downloaded and decrypted) */
    this.files = new Map();
    /** attachment id -> Promise<Blob> of a download under way */
    this.loading = new Map();
  }

  get enabled() {
    return this.maxBytes != null;
  }

  /** The object URL of a file this tab has, made once. */
  urlOf(id) {
    const f = this.files.get(id);
    if (!f) return null;
    f.url ??= URL.createObjectURL(f.blob);
    return f.url;
  }

  keep(id, blob) {
    if (!this.files.has(id)) this.files.set(id, { blob, url: null });
  }

  /** Forgets everything, revoking the object URLs this tab made. */
  clear() {
    for (const f of this.files.values()) if (f.url) URL.revokeObjectURL(f.url);
    for (const list of Object.values(this.drafts)) for (const d of list) if (d.previewUrl) URL.revokeObjectURL(d.previewUrl);
    this.reset();
  }
}
