// The state of the live connection, as shown to the user. State only.

export class ConnectionModel {
  constructor() {
    this.reset();
  }

  reset() {
    /** offline | connecting | syncing | online | reconnecting */
    this.state = 'offline';
    /** When the next reconnect attempt happens (ms since epoch), while reconnecting. */
    this.retryAt = null;
    this.attempt = 0;
    /** True once `sync_done` arrived on the current socket. */
    this.synced = false;
    /** ICE servers of the embedding app, from `client-config`. */
    this.iceServers = [];
    this.iceServersLoaded = false;
  }

  setState({ state, retryAt = null, attempt = 0 }) {
    this.state = state;
    this.retryAt = retryAt;
    this.attempt = attempt;
    if (state !== 'online') this.synced = false;
  }
}
