// Operator pages: token login (session cookie + CSRF token), CSRF header on every htmx write,
// theme, station counter; every failure is shown on the page.
const $ = (selector) => document.querySelector(selector);

function notice(message) {
  const box = $('#notice');
  box.textContent = message;
  box.hidden = false;
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? '';
}

async function post(path, form) {
  let response;
  try {
    response = await fetch(path, {
      method: 'POST',
      body: new URLSearchParams(form),
      headers: { 'X-CSRF-Token': csrfToken() },
      credentials: 'same-origin',
    });
  } catch {
    throw new Error('Network error: the coordinator could not be reached.');
  }
  return response;
}

function wireLogin() {
  const form = $('#adminLoginForm');
  if (!form) return;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = $('#adminLoginError');
    error.hidden = true;
    try {
      const response = await post('/admin/login', { token: $('#adminToken').value });
      if (response.ok) {
        window.location.reload();
        return;
      }
      error.textContent = response.status === 429 ? 'Too many attempts; wait a minute.' : 'Wrong admin token.';
      error.hidden = false;
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  });
}

function wireHtmx() {
  document.body.addEventListener('htmx:configRequest', (event) => {
    event.detail.headers['X-CSRF-Token'] = csrfToken();
  });
  document.body.addEventListener('htmx:beforeSwap', (event) => {
    if (event.detail.xhr.status >= 400 && event.detail.xhr.status < 500) {
      event.detail.shouldSwap = true; // the fragment explains the refusal
      event.detail.isError = false;
    }
  });
  document.body.addEventListener('htmx:responseError', (event) => {
    notice(`The coordinator failed (HTTP ${event.detail.xhr.status}).`);
  });
  document.body.addEventListener('htmx:sendError', () => notice('Network error: the coordinator could not be reached.'));
}

function wireStations() {
  const count = $('#stationCount');
  if (!count) return;
  const update = () => {
    const boxes = [...document.querySelectorAll('input[name="locations"]')];
    for (const box of boxes) {
      // Every layout of the map (desktop and phone) marks the station.
      for (const marker of document.querySelectorAll(`.station-map .marker[data-station="${CSS.escape(box.value)}"]`)) {
        marker.classList.toggle('picked', box.checked);
      }
    }
    count.textContent = `${boxes.filter((box) => box.checked).length} selected`;
  };
  document.body.addEventListener('change', (event) => {
    if (event.target.name === 'locations') update();
  });
  // A marker links to its station's checkbox (so the map works without this script); here a
  // tap ticks or unticks the station in place instead.
  document.body.addEventListener('click', (event) => {
    const station = event.target.closest('.station-picker .station-map [data-station]')?.dataset.station;
    if (!station) return;
    const box = document.getElementById(`station-${station}`);
    if (box) {
      event.preventDefault();
      box.checked = !box.checked;
      update();
    }
  });
}

function wireTheme() {
  $('#themeToggle')?.addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem('theme', next); } catch { /* storage blocked */ }
  });
}

function wireLogout() {
  $('#adminLogout')?.addEventListener('click', async () => {
    try {
      await post('/admin/logout', {});
    } finally {
      window.location.href = '/admin/';
    }
  });
}

function start() {
  window.addEventListener('error', (event) => notice(`Something went wrong on this page: ${event.message}`));
  wireTheme();
  wireLogin();
  wireHtmx();
  wireStations();
  wireLogout();
  document.body.dataset.ready = 'true';
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
