// Plexus dashboard: the API's NDJSON streams (search hits, topic messages)
// read as they arrive. Uses the helpers of app.js.
'use strict';

/** The objects of an NDJSON answer as they arrive; blank lines are heartbeats. */
async function* ndjson(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line.trim()) yield JSON.parse(line);
    }
  }
}

async function search(event) {
  event.preventDefault();
  const words = $('search-words').value.split(/\s+/).filter(Boolean);
  const rows = $('hit-rows');
  rows.replaceChildren();
  const seen = new Set();
  $('search-state').textContent = 'searching…';
  try {
    const response = await api('POST', '/v1/search', { words, ttl: 3, timeout_secs: 5 });
    for await (const hit of ndjson(response)) {
      const key = `${hit.hash} ${hit.holder}`;
      if (seen.has(key)) continue;
      seen.add(key);
      rows.append(el('tr', {},
        el('td', {}, hit.name),
        el('td', {}, bytes(hit.size)),
        el('td', {}, hit.tags.join(', ')),
        el('td', { class: 'mono', title: hit.holder }, short(hit.holder)),
        el('td', {}, el('button', { class: 'small', onclick: () => startDownload(hit.ticket) }, 'Get'))));
    }
    $('search-state').textContent = `${seen.size} result${seen.size === 1 ? '' : 's'}`;
  } catch (e) {
    $('search-state').textContent = '';
    showError(e);
  }
}

const topics = new Map();

function line(log, who, text, mine) {
  log.append(el('p', { class: mine ? 'me' : '' }, el('span', { class: 'who' }, who), text));
  log.scrollTop = log.scrollHeight;
}

/** Subscribes to a topic: messages stream in until Leave. */
async function subscribe(event) {
  event.preventDefault();
  const topic = $('sub-topic').value.trim();
  if (!topic || topics.has(topic)) return;
  const abort = new AbortController();
  const log = el('div', { class: 'log' });
  const input = el('input', { placeholder: 'message', required: '' });
  const state = el('span', { class: 'muted' });
  const send = async (e) => {
    e.preventDefault();
    const text = input.value;
    try {
      const path = `/v1/pubsub/${encodeURIComponent(topic)}?wait_secs=5`;
      const sent = await (await api('POST', path, text)).json();
      line(log, 'me', text, true);
      state.textContent = `sent to ${sent.peers} peer${sent.peers === 1 ? '' : 's'}`;
      input.value = '';
    } catch (err) { state.textContent = `not sent: ${err.message}`; }
  };
  const leave = () => { abort.abort(); topics.delete(topic); box.remove(); };
  const box = el('div', { class: 'topic', 'data-topic': topic },
    el('strong', {}, topic), ' ',
    el('button', { class: 'small danger', onclick: leave }, 'Leave'),
    log,
    el('form', { class: 'inline', onsubmit: send }, input, el('button', {}, 'Send'), state));
  topics.set(topic, box);
  $('topic-list').prepend(box);
  $('sub-topic').value = '';
  try {
    const response = await fetch(`/v1/pubsub/${encodeURIComponent(topic)}`, { signal: abort.signal });
    if (!response.ok) throw new Error((await response.json()).error);
    state.textContent = 'subscribed';
    for await (const m of ndjson(response)) {
      line(log, m.from_short, m.text !== undefined ? m.text : `(binary) ${m.data_hex}`, false);
    }
    state.textContent = 'the daemon ended the subscription';
  } catch (e) {
    if (!abort.signal.aborted) state.textContent = `subscription failed: ${e.message}`;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('search-form').addEventListener('submit', search);
  $('sub-form').addEventListener('submit', subscribe);
});
