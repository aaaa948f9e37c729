// Plexus dashboard: the Compute section. This node as a worker (from
// /v1/status, rendered by app.js's poll through renderCompute), the jobs it
// runs now (GET /v1/jobs, every second), and jobs started from this page:
// POST /v1/jobs, then GET /v1/jobs/{id} until its result comes (the result
// is handed out once, so jobs started elsewhere, e.g. by `plexus job run`,
// are listed while they run and their result goes to whoever started them).
'use strict';

/** Jobs this page started: id -> their card's parts. */
const ownJobs = new Map();

function renderCompute(c) {
  if (!c) return;
  $('compute-worker').textContent = c.enabled
    ? `computes for others on ${c.threads} thread${c.threads === 1 ? '' : 's'}: ` +
      `${c.running.length} unit${c.running.length === 1 ? '' : 's'} running, ${c.units_done} done, ` +
      `${c.units_failed} failed, ${c.units_refused} refused`
    : 'does not compute for others (start the daemon with --compute to offer it)';
}

function jobFigures(j) {
  return `${j.done}/${j.units} units · ${j.workers} worker${j.workers === 1 ? '' : 's'} · ` +
    `${j.copies} copies · ${j.secs.toFixed(1)} s`;
}

function renderJobs(jobs) {
  $('no-jobs').hidden = jobs.length > 0 || ownJobs.size > 0;
  fill($('job-rows'), jobs, (j) => el('tr', { 'data-job': j.id },
    el('td', {}, String(j.id)),
    el('td', { class: 'mono', title: j.module }, String(j.module).slice(0, 16)),
    el('td', {}, el('progress', { max: j.units, value: j.done })),
    el('td', {}, jobFigures(j)),
    el('td', {}, ownJobs.has(j.id) ? 'this page' : 'elsewhere')));
}

/** The first bytes of an output, as hex. */
function hexPreview(out) {
  const head = out.slice(0, 24).map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return out.length > 24 ? `${head} …` : head;
}

function renderResult(job, result) {
  const card = job.card;
  if (result.Err !== undefined) {
    card.className = 'job failed';
    job.state.textContent = `failed: ${result.Err}`;
    return;
  }
  const r = result.Ok;
  const failed = r.outputs.filter((o) => o.Ok === undefined);
  const output = r.outputs.flatMap((o) => o.Ok || []);
  card.className = failed.length ? 'job failed' : 'job done';
  job.bar.max = Math.max(r.outputs.length, 1);
  job.bar.value = r.outputs.length;
  job.state.textContent = `${r.outputs.length} units in ${r.secs.toFixed(1)} s, ${r.copies} copies` +
    (failed.length ? `, ${failed.length} unit${failed.length === 1 ? '' : 's'} failed: ${JSON.stringify(failed[0].Err)}` : '');
  fill(job.workers, r.workers, (w) => el('li', { class: w.lost ? 'bad' : '' },
    `${short(w.peer)}: ${w.agreed} agreed, ${w.lost} lost${w.gone ? ', left' : ''}`));
  job.output.textContent = `output ${bytes(output.length)}: ${hexPreview(output)}`;
  job.output.dataset.hex = output.map((b) => b.toString(16).padStart(2, '0')).join('');
  const blob = new Blob([new Uint8Array(output)], { type: 'application/octet-stream' });
  job.save.href = URL.createObjectURL(blob);
  job.save.hidden = false;
}

async function followJob(id) {
  const job = ownJobs.get(id);
  for (;;) {
    let state;
    try {
      state = await getJson(`/v1/jobs/${id}`);
    } catch (e) {
      job.state.textContent = `not followed: ${e.message}`;
      return;
    }
    if (state.result) {
      renderResult(job, state.result);
      return;
    }
    if (state.progress) {
      job.bar.max = state.progress.units;
      job.bar.value = state.progress.done;
      job.state.textContent = jobFigures(state.progress);
    } else {
      job.state.textContent = 'ended, result taken elsewhere';
      return;
    }
    await new Promise((resolve) => { setTimeout(resolve, 500); });
  }
}

async function runJob(event) {
  event.preventDefault();
  const quorum = Number($('job-quorum').value || '1');
  const body = {
    module: $('job-module').value.trim(),
    inputs: $('job-inputs').value.trim(),
    units: $('job-units').value.trim() ? Number($('job-units').value) : null,
    quorum,
  };
  $('job-state').textContent = 'starting…';
  try {
    if (!Number.isInteger(quorum) || quorum < 1) throw new Error('quorum: a whole number, 1 or more');
    const { id } = await (await api('POST', '/v1/jobs', body)).json();
    $('job-state').textContent = `job ${id} started`;
    const bar = el('progress', { max: 1, value: 0 });
    const state = el('div', { class: 'figures' }, 'waiting for workers…');
    const workers = el('ul', { class: 'plain mono' });
    const output = el('div', { class: 'mono output' });
    const save = el('a', { download: `job-${id}.bin`, hidden: '' }, 'Save output');
    const card = el('div', { class: 'job', 'data-job': id },
      el('div', { class: 'name' }, `job ${id}: ${body.module.split('/').pop()}`), bar, state, workers, output, save);
    $('jobs').prepend(card);
    ownJobs.set(id, { card, bar, state, workers, output, save });
    showError(null);
    followJob(id);
  } catch (e) {
    $('job-state').textContent = '';
    showError(e);
  }
}

async function pollJobs() {
  try {
    renderJobs(await getJson('/v1/jobs'));
  } catch (_) { /* app.js's poll shows the daemon is gone */ }
}

document.addEventListener('DOMContentLoaded', () => {
  $('job-form').addEventListener('submit', runJob);
  pollJobs();
  setInterval(pollJobs, 1000);
});
