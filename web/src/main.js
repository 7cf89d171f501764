// Browser module of the Forecast Coordinator pages: wires the account, htmx signing, the entry
// form, payments and payouts to the page. Every failure is shown on the page.
import * as account from './account.js';
import { Session } from './account.js';
import { collectPicks, countPicks, enter } from './entry.js';
import { invoiceQrSvg } from './invoice.js';
import { nip98Header } from './nostr.js';
import { requestPayout } from './payout.js';
import { checkPayoutPaths } from './paths.js';
import * as core from './core.js';

const $ = (selector, root = document) => root.querySelector(selector);
const network = document.body.dataset.network;
const enclave = enclaveTrust();
let session = null;
let pendingNavigation = null;
let signupDraft = null;

/** The attestation policy the coordinator configured (profile, PCR pins, non-production root). */
function enclaveTrust() {
  try {
    const data = JSON.parse(document.body.dataset.enclaveTrust ?? 'null');
    return data && { profile: data.profile, pcrPins: data.pcr_pins ?? {}, rootPem: data.root_pem ?? null };
  } catch {
    return null;
  }
}

// -- messages ------------------------------------------------------------------------------
function notice(message, kind = 'error') {
  const box = $('#notice');
  box.textContent = message;
  box.className = `notice ${kind === 'error' ? '' : kind}`.trim();
  box.hidden = false;
}
function clearNotice() {
  $('#notice').hidden = true;
}
function showError(element, error) {
  const message = error instanceof Error ? error.message : String(error);
  if (element) {
    element.textContent = message;
    element.hidden = false;
  } else {
    notice(message);
  }
}
function hide(element) {
  if (element) element.hidden = true;
}
function busy(text) {
  const box = $('#busy');
  box.textContent = text ?? '';
  box.hidden = !text;
}
window.addEventListener('error', (event) => notice(`Something went wrong on this page: ${event.message}`));
window.addEventListener('unhandledrejection', (event) => {
  const reason = event.reason instanceof Error ? event.reason.message : String(event.reason);
  notice(`Something went wrong on this page: ${reason}`);
});

// -- account -------------------------------------------------------------------------------
function renderAccount() {
  const loggedIn = session !== null;
  $('#loginButton').hidden = loggedIn;
  $('#signupButton').hidden = loggedIn;
  $('#logoutButton').hidden = !loggedIn;
  const name = $('#accountName');
  name.hidden = !loggedIn;
  name.textContent = loggedIn ? session.label : '';
  document.body.dataset.loggedIn = loggedIn ? 'true' : 'false';
}

function loggedIn(newSession) {
  session = newSession;
  session.save();
  renderAccount();
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  clearNotice();
  const next = pendingNavigation ?? $('[data-auth-load]')?.dataset.authLoad;
  pendingNavigation = null;
  if (next) navigate(next);
}

let navigating = null;
function navigate(path) {
  if (navigating === path) return;
  navigating = path;
  window.htmx.ajax('GET', path, { target: '#main-content', swap: 'innerHTML' }).then(() => {
    if (window.location.pathname !== path) window.history.pushState({}, '', path);
  }).finally(() => {
    navigating = null;
  });
}

function openLogin(afterPath = null) {
  pendingNavigation = afterPath;
  selectTab('login', 'Password');
  $('#loginDialog').showModal();
  $('#loginUsername').focus();
}

function selectTab(dialog, which) {
  const names = ['Password', 'Extension'];
  for (const name of names) {
    const tab = $(`#${dialog}Tab${name}`);
    tab.setAttribute('aria-selected', String(name === which));
    const panel = document.getElementById(tab.getAttribute('aria-controls'));
    panel.hidden = name !== which;
  }
}

async function withBusy(button, text, work) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = text;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

function wireAccount() {
  $('#loginButton').addEventListener('click', () => openLogin());
  $('#signupButton').addEventListener('click', () => {
    selectTab('signup', 'Password');
    $('#signupStep1').hidden = false;
    $('#signupStep2').hidden = true;
    $('#signupDialog').showModal();
    $('#signupUsername').focus();
  });
  $('#logoutButton').addEventListener('click', () => {
    Session.forget();
    session = null;
    renderAccount();
    navigate('/competitions');
  });
  for (const dialog of ['login', 'signup']) {
    $(`#${dialog}TabPassword`).addEventListener('click', () => selectTab(dialog, 'Password'));
    $(`#${dialog}TabExtension`).addEventListener('click', () => selectTab(dialog, 'Extension'));
  }
  $('#loginForm').addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = $('#loginError');
    hide(error);
    try {
      const next = await withBusy($('#loginSubmit'), 'Unlocking your key…', () =>
        account.usernameLogin($('#loginUsername').value.trim(), $('#loginPassword').value, network));
      $('#loginPassword').value = '';
      loggedIn(next);
    } catch (failure) {
      showError(error, failure);
    }
  });
  $('#forgotPasswordLink').addEventListener('click', () => {
    $('#loginDialog').close();
    hide($('#forgotError'));
    $('#forgotUsername').value = $('#loginUsername').value;
    $('#forgotDialog').showModal();
  });
  $('#forgotForm').addEventListener('submit', async (event) => {
    event.preventDefault();
    hide($('#forgotError'));
    const username = $('#forgotUsername').value.trim();
    try {
      await withBusy($('#forgotSubmit'), 'Setting the new password…', () => account.resetPassword(
        username, $('#forgotNsec').value.trim(), $('#forgotPassword').value, $('#forgotConfirm').value));
      for (const id of ['#forgotNsec', '#forgotPassword', '#forgotConfirm']) $(id).value = '';
      $('#forgotDialog').close();
      openLogin();
      $('#loginUsername').value = username;
      notice('Your new password is set. Log in with it.', 'info');
    } catch (failure) {
      showError($('#forgotError'), failure);
    }
  });
  $('#extensionLogin').addEventListener('click', async () => {
    hide($('#extensionLoginError'));
    try {
      loggedIn(await account.extensionLogin(network));
    } catch (failure) {
      showError($('#extensionLoginError'), failure);
    }
  });
  $('#signupForm').addEventListener('submit', (event) => {
    event.preventDefault();
    hide($('#signupError'));
    try {
      signupDraft = account.prepareUsernameSignup(
        $('#signupUsername').value.trim(), $('#signupPassword').value, $('#signupConfirm').value);
      $('#signupNsec').textContent = signupDraft.signer.nsec;
      $('#signupBackedUp').checked = false;
      $('#signupComplete').disabled = true;
      $('#signupStep1').hidden = true;
      $('#signupStep2').hidden = false;
    } catch (failure) {
      showError($('#signupError'), failure);
    }
  });
  $('#signupBackedUp').addEventListener('change', (event) => {
    $('#signupComplete').disabled = !event.target.checked;
  });
  $('#signupComplete').addEventListener('click', async () => {
    hide($('#signupError2'));
    try {
      const next = await withBusy($('#signupComplete'), 'Creating your account…', () =>
        account.completeUsernameSignup(signupDraft, network));
      signupDraft = null;
      for (const id of ['#signupPassword', '#signupConfirm']) $(id).value = '';
      loggedIn(next);
    } catch (failure) {
      showError($('#signupError2'), failure);
    }
  });
  $('#extensionSignup').addEventListener('click', async () => {
    hide($('#extensionSignupError'));
    try {
      loggedIn(await account.extensionSignup(network));
    } catch (failure) {
      showError($('#extensionSignupError'), failure);
    }
  });
}

// -- htmx: sign personal requests, report failures ----------------------------------------
const PERSONAL = [/^\/entries$/, /^\/payouts$/];
const signedHeaders = new WeakMap();

function needsAuth(path) {
  return PERSONAL.some((pattern) => pattern.test(path));
}

function wireHtmx() {
  document.body.addEventListener('htmx:confirm', (event) => {
    const path = new URL(event.detail.path, window.location.origin).pathname;
    const wantsLogin = event.detail.elt?.hasAttribute?.('data-auth') || needsAuth(path);
    if (!wantsLogin || signedHeaders.has(event.detail.elt)) return; // signed: let it go
    event.preventDefault();
    if (!session) {
      openLogin(event.detail.path);
      return;
    }
    const url = new URL(event.detail.path, window.location.origin).href;
    nip98Header(session.signer, url, event.detail.verb ?? 'GET').then((header) => {
      signedHeaders.set(event.detail.elt, header);
      event.detail.issueRequest(true);
    }, (failure) => notice(`Could not sign the request: ${failure.message}`));
  });
  document.body.addEventListener('htmx:configRequest', (event) => {
    const header = signedHeaders.get(event.detail.elt);
    if (header) {
      event.detail.headers.Authorization = header;
      signedHeaders.delete(event.detail.elt);
    }
  });
  document.body.addEventListener('htmx:beforeSwap', (event) => {
    const status = event.detail.xhr.status;
    if (status === 401 || status === 403 || status === 404) {
      event.detail.shouldSwap = true; // the fragment explains what happened
      event.detail.isError = false;
    }
  });
  document.body.addEventListener('htmx:responseError', (event) => {
    notice(`The coordinator answered with an error (HTTP ${event.detail.xhr.status}). Try again in a moment.`);
  });
  document.body.addEventListener('htmx:sendError', () => {
    notice('Network error: the coordinator could not be reached. Check your connection and try again.');
  });
  document.body.addEventListener('htmx:afterSwap', (event) => {
    if (event.detail.target?.id === 'detailContent') $('#detailDialog').showModal();
    afterSwap();
  });
}

// -- page features -------------------------------------------------------------------------
function localTimes(root = document) {
  for (const element of root.querySelectorAll('time[datetime]')) {
    const when = new Date(element.getAttribute('datetime'));
    if (!Number.isNaN(when.getTime())) {
      element.textContent = when.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
      element.title = element.getAttribute('datetime');
    }
  }
}

function markNavigation() {
  const path = window.location.pathname;
  for (const link of document.querySelectorAll('.nav-links a')) {
    const match = link.getAttribute('href') === path || (path === '/' && link.id === 'navCompetitions');
    if (match) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function afterSwap() {
  localTimes();
  markNavigation();
  const shell = $('[data-auth-load]');
  if (shell && session) navigate(shell.dataset.authLoad);
}

function wirePicks(form) {
  const max = Number(form.dataset.maxValues);
  const count = () => countPicks(collectPicks(form));
  form.addEventListener('click', (event) => {
    const button = event.target.closest('button.pick');
    if (!button) return;
    const row = button.closest('.pick-row');
    const wasPressed = button.getAttribute('aria-pressed') === 'true';
    for (const other of row.querySelectorAll('button.pick')) other.setAttribute('aria-pressed', 'false');
    if (!wasPressed) {
      button.setAttribute('aria-pressed', 'true');
      if (count() > max) {
        button.setAttribute('aria-pressed', 'false');
        showError($('#entryError'), `At most ${max} picks are allowed in this competition.`);
        return;
      }
    }
    hide($('#entryError'));
    $('#picksCount').textContent = `${count()} of ${max} picked`;
  });
}

function progressUi() {
  const list = $('#entryProgress');
  for (const item of list.querySelectorAll('li')) item.removeAttribute('data-state');
  hide($('#paymentError'));
  $('#paymentQr').innerHTML = '';
  $('#paymentRequest').value = '';
  return {
    step(name, state) {
      const item = list.querySelector(`[data-step="${name}"]`);
      if (item) item.dataset.state = state;
    },
    invoice(ticket) {
      $('#paymentQr').innerHTML = invoiceQrSvg(ticket.payment_request);
      $('#paymentLink').href = `lightning:${ticket.payment_request}`;
      $('#paymentRequest').value = ticket.payment_request;
      $('#paymentTitle').textContent = `Pay ${ticket.amount_sats.toLocaleString()} sats`;
      if (!$('#paymentDialog').open) $('#paymentDialog').showModal();
    },
    status(text) {
      $('#paymentStatus').textContent = text;
    },
  };
}

function wireEntryForm() {
  const form = $('#entryForm');
  if (!form || form.dataset.wired) return;
  form.dataset.wired = 'true';
  wirePicks(form);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    hide($('#entryError'));
    if (!session) {
      openLogin();
      return;
    }
    const submit = $('#submitEntry');
    submit.disabled = true;
    const ui = progressUi();
    try {
      await enter({
        session, network, enclave, ui,
        competitionId: form.dataset.competitionId,
        picks: collectPicks(form),
        maxPicks: Number(form.dataset.maxValues),
      });
      if ($('#paymentDialog').open) $('#paymentDialog').close();
      $('#successMessage').hidden = false;
      submit.textContent = 'Entry submitted!';
    } catch (failure) {
      submit.disabled = false;
      if ($('#paymentDialog').open) showError($('#paymentError'), failure);
      showError($('#entryError'), failure);
    }
  });
}

function wirePayouts() {
  document.body.addEventListener('click', (event) => {
    const button = event.target.closest('button.request-payout');
    if (!button) return;
    const row = button.closest('tr');
    const dialog = $('#payoutDialog');
    dialog.dataset.entryId = row.dataset.entryId;
    dialog.dataset.competitionId = row.dataset.competitionId;
    dialog.dataset.ticketId = row.dataset.ticketId;
    dialog.dataset.amountSats = row.dataset.amountSats;
    $('#payoutAmount').textContent = `${Number(row.dataset.amountSats).toLocaleString()} sats`;
    hide($('#payoutError'));
    $('#payoutStatus').textContent = '';
    $('#payoutInvoice').value = '';
    dialog.showModal();
  });
  $('#payoutForm').addEventListener('submit', async (event) => {
    event.preventDefault();
    const dialog = $('#payoutDialog');
    hide($('#payoutError'));
    $('#payoutStatus').textContent = '';
    try {
      await withBusy($('#payoutSubmit'), 'Sending…', () => requestPayout({
        session, network,
        competitionId: dialog.dataset.competitionId,
        entryId: dialog.dataset.entryId,
        ticketId: dialog.dataset.ticketId,
        amountSats: Number(dialog.dataset.amountSats),
        invoiceText: $('#payoutInvoice').value,
      }));
      $('#payoutStatus').textContent = 'Payout requested. It is paid as soon as your invoice settles.';
    } catch (failure) {
      showError($('#payoutError'), failure);
    }
  });
}

function wireVerify() {
  document.body.addEventListener('click', async (event) => {
    const button = event.target.closest('button.verify-paths');
    if (!button) return;
    if (!session) {
      openLogin();
      return;
    }
    const dialog = $('#verifyDialog');
    const list = $('#verifyChecks');
    list.innerHTML = '';
    $('#verifyPayouts tbody').innerHTML = '';
    $('#verifyPayoutsWrap').hidden = true;
    $('#verifyNotChecked').textContent = '';
    hide($('#verifyError'));
    $('#verifyStatus').textContent = 'Rebuilding the contract and checking its signatures…';
    dialog.showModal();
    try {
      const { report, ticketSource, notChecked } = await checkPayoutPaths({
        session, network, competitionId: button.dataset.competitionId, entryId: button.dataset.entryId,
      });
      for (const check of report.checks) {
        const item = document.createElement('li');
        item.className = check.ok ? 'check-ok' : 'check-failed';
        item.dataset.check = check.name;
        item.textContent = `${check.ok ? '✓' : '✗ FAILED'} ${check.name}: ${check.detail}`;
        list.append(item);
      }
      const ticket = document.createElement('li');
      ticket.className = 'check-note';
      ticket.textContent = `Ticket hash compared: ${ticketSource}.`;
      list.append(ticket);
      for (const payout of report.payouts) {
        const row = document.createElement('tr');
        for (const [label, text] of [['Outcome', payout.outcome], ['Your weight', `${payout.weight} of ${payout.totalWeight}`], ['Sats', payout.splitValue.toLocaleString()]]) {
          const cell = document.createElement('td');
          cell.dataset.label = label;
          cell.textContent = text;
          row.append(cell);
        }
        $('#verifyPayouts tbody').append(row);
      }
      $('#verifyPayoutsWrap').hidden = report.payouts.length === 0;
      $('#verifyNotChecked').textContent = notChecked;
      const failed = report.checks.filter((c) => !c.ok).length;
      $('#verifyStatus').textContent = report.ok
        ? `All ${report.checks.length} checks passed: ${report.payouts.length} outcomes pay you, and the signatures you rely on to claim them are valid.`
        : `${failed} of ${report.checks.length} checks FAILED. Do not rely on this contract.`;
      $('#verifyStatus').dataset.ok = String(report.ok);
    } catch (failure) {
      $('#verifyStatus').textContent = '';
      showError($('#verifyError'), failure);
    }
  });
}

function wireClaim() {
  document.body.addEventListener('click', (event) => {
    const button = event.target.closest('button.claim-onchain');
    if (!button) return;
    const row = button.closest('tr');
    const dialog = $('#claimDialog');
    dialog.dataset.entryId = row.dataset.entryId;
    dialog.dataset.competitionId = row.dataset.competitionId;
    hide($('#claimError'));
    $('#claimStatus').textContent = '';
    $('#claimTx').value = '';
    dialog.showModal();
    $('#claimAddress').focus();
  });
  $('#claimForm').addEventListener('submit', async (event) => {
    event.preventDefault();
    const dialog = $('#claimDialog');
    hide($('#claimError'));
    $('#claimStatus').textContent = '';
    if (!session) {
      openLogin();
      return;
    }
    try {
      const { claimOnChain } = await import('./claimFlow.js');
      const progress = await withBusy($('#claimSubmit'), 'Working…', () => claimOnChain({
        session, network,
        competitionId: dialog.dataset.competitionId,
        entryId: dialog.dataset.entryId,
        address: $('#claimAddress').value,
        feeRate: $('#claimFeeRate').value,
        preimageText: $('#claimPreimage').value,
      }));
      const when = progress.readyAtHeight ? ` (next step at block ${progress.readyAtHeight})` : '';
      const detail = progress.detail.charAt(0).toUpperCase() + progress.detail.slice(1);
      $('#claimStatus').textContent = `${detail}${when}${progress.txid ? `: ${progress.txid}` : ''}.`;
      $('#claimStatus').dataset.state = progress.state;
      if (progress.hex) $('#claimTx').value = progress.hex;
    } catch (failure) {
      showError($('#claimError'), failure);
    }
  });
}

function wireTheme() {
  $('#themeToggle').addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem('theme', next);
    } catch {
      /* storage blocked: the theme lasts for this page */
    }
  });
}

function wireCopy() {
  $('#copyInvoice').addEventListener('click', async () => {
    const text = $('#paymentRequest').value;
    try {
      await navigator.clipboard.writeText(text);
      $('#paymentStatus').textContent = 'Invoice copied.';
    } catch {
      $('#paymentRequest').select();
      $('#paymentStatus').textContent = 'Select the invoice text and copy it.';
    }
  });
}

async function start() {
  wireTheme();
  wireAccount();
  wireHtmx();
  wirePayouts();
  wireVerify();
  wireClaim();
  wireCopy();
  document.body.addEventListener('click', (event) => {
    if (event.target.closest('.open-login')) openLogin($('[data-auth-load]')?.dataset.authLoad ?? null);
  });
  document.body.addEventListener('htmx:load', wireEntryForm);
  session = await Session.restore();
  renderAccount();
  wireEntryForm();
  afterSwap();
  document.body.dataset.ready = 'true';
}

function whenReady(run) {
  // After htmx has processed the document (its DOMContentLoaded handler was added first).
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', run);
  else run();
}

window.forecastCore = core; // pure functions, for checks against the Python implementation
whenReady(start);
