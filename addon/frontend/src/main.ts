// Boot: fetch the status (asking for a token when the server wants one), then follow the event
// stream and refresh the 24 h history every minute.

import { AuthError, RateLimitError, fetchHistory, fetchStatus, token, type StatusDoc } from './api';
import { renderBanner, renderHistory, renderLink, renderStatus, showDashboard, showLogin, tick } from './render';
import { openEventStream } from './sse';

const HISTORY_EVERY_MS = 60_000;

let session: { stop: () => void } | null = null;

function authFailed() {
  session?.stop();
  session = null;
  const hadToken = token.get() !== null;
  token.clear();
  showLogin(hadToken ? 'The server rejected this token. Enter it again.' : null);
}

async function loadHistory(signal: AbortSignal) {
  try {
    renderHistory(await fetchHistory('24h', signal));
  } catch (err) {
    if (err instanceof AuthError) authFailed();
    // Anything else: keep the last chart; the next refresh tries again.
  }
}

async function start(): Promise<void> {
  const abort = new AbortController();
  let retry: ReturnType<typeof setTimeout> | undefined;
  let stopStream = () => {};
  let historyTimer: ReturnType<typeof setInterval> | undefined;
  session = {
    stop: () => {
      abort.abort();
      clearTimeout(retry);
      clearInterval(historyTimer);
      stopStream();
    },
  };
  renderLink('connecting');
  let doc: StatusDoc;
  try {
    doc = await fetchStatus(abort.signal);
  } catch (err) {
    if (abort.signal.aborted) return;
    if (err instanceof AuthError) return authFailed();
    if (err instanceof RateLimitError) {
      session.stop();
      token.clear();
      return showLogin(`Too many failed attempts. Wait ${err.retryAfterS} s, then enter the token again.`);
    }
    renderBanner('unreachable', 'Cannot reach the HAsync server. Retrying…');
    renderLink('offline');
    retry = setTimeout(() => void start(), 5000);
    return;
  }
  showDashboard();
  renderStatus(doc);
  let lost = false;
  stopStream = openEventStream({
    url: './api/v1/events',
    onMessage: (msg) => {
      if (msg.event === 'status') renderStatus(JSON.parse(msg.data) as StatusDoc);
    },
    onState: (state) => {
      renderLink(state);
      if (state === 'reconnecting') lost = true;
      else if (state === 'live' && lost) {
        // Back after an outage: the charts need not wait for their next refresh.
        lost = false;
        void loadHistory(abort.signal);
      }
    },
    onAuthError: authFailed,
  });
  void loadHistory(abort.signal);
  historyTimer = setInterval(() => void loadHistory(abort.signal), HISTORY_EVERY_MS);
}

document.getElementById('login-form')!.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = document.getElementById('token-input') as HTMLInputElement;
  const value = input.value.trim();
  if (!value) return;
  token.set(value);
  input.value = '';
  session?.stop();
  void start();
});

setInterval(tick, 1000);
new ResizeObserver(() => renderHistory()).observe(document.getElementById('charts')!);
void start();
