// How a call record reads for one side of it. The record's `endReason` says how the call ended;
// the words depend on who is reading: a call the callee declined is "declined" to both, but one
// the caller cancelled while it rang is a missed call only for the callee.

/**
 * @param {{caller: string, callee: string, type: string, status: string, endReason?: string}} call
 * @param {string} me the signed-in user
 * @returns {{title: string, missed: boolean, icon: string, outgoing: boolean, answered: boolean}}
 *   `missed` is true only for a call this user did not get to answer (shown in red).
 */
export function describeCall(call, me) {
  const outgoing = String(call.caller).toLowerCase() === String(me).toLowerCase();
  const peer = outgoing ? call.callee : call.caller;
  const kind = call.type === 'video' ? 'video call' : 'voice call';
  const Kind = kind[0].toUpperCase() + kind.slice(1);
  const answered = call.status === 'completed';
  if (answered) {
    return {
      title: `${outgoing ? 'Outgoing' : 'Incoming'} ${kind}`, missed: false, icon: outgoing ? 'phone-out' : 'phone-in', outgoing, answered,
    };
  }
  const reason = call.endReason;
  if (outgoing) {
    const why = {
      declined: `${peer} declined`,
      cancelled: 'cancelled',
      no_answer: 'no answer',
      offline: `${peer} was offline`,
      busy: `${peer} was busy`,
      disconnected: 'not connected',
    }[reason] ?? 'no answer';
    const title = reason === 'cancelled' ? `Cancelled ${kind}` : `${Kind} · ${why}`;
    return {
      title, missed: false, icon: 'phone-out', outgoing, answered,
    };
  }
  if (reason === 'declined') {
    return {
      title: `Declined ${kind}`, missed: false, icon: 'phone-in', outgoing, answered,
    };
  }
  const why = { offline: 'you were offline', busy: 'you were in another call' }[reason];
  return {
    title: why ? `Missed ${kind} · ${why}` : `Missed ${kind}`, missed: true, icon: 'phone-missed', outgoing, answered,
  };
}
