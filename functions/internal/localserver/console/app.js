// KudurruStone admin console: Settings → API Keys.
//
// Rules this file keeps:
// - The plaintext key lives only on the reveal screen: one variable and one
//   DOM node, both dropped when the screen is left (Done, Back, sign-out,
//   page hide). It is never written to web storage, a cookie, the URL, the
//   browser's history state or the browser's log.
// - History entries hold only the name of a screen (and a key id for one
//   key's activity), set by historyEntry() alone.
// - The admin token lives in memory only; a reload signs out.
// - All text from the server goes in with textContent, never as HTML.
'use strict';

(function () {
  // The role and tier values the local sign-in form offers (the server's
  // defaults for ADMIN_ROLE and PREMIER_TIER).
  const ADMIN_ROLE = 'admin';
  const PREMIER_TIER = 'premier';
  // SPEC: 1 to 64 characters (Unicode code points) after trimming.
  const MAX_LABEL = 64;
  const MAX_IPS = 16;
  // Keys that expire within this many days are flagged on the list (the
  // template's ExpiryWarningDays default).
  const EXPIRY_WARNING_DAYS = 7;
  const PAGE_SIZE = 20;

  const state = {
    token: null, // admin JWT, memory only
    user: null, // {sub, firmId, role, tier} as signed in
    filter: 'active',
    nextCursor: null,
    keys: new Map(), // id -> Key as last listed
    editing: null, // the Key on the edit screen
    activityKey: null, // key id the activity view is filtered to, or null
    activityCursor: null,
    afterKeys: null, // {message, focusKeyId} to apply when the list is next shown
    keysLoad: 0, // the number of the latest list request: older answers are dropped
    activityLoad: 0,
  };

  // The plaintext of the key on the reveal screen, or null, and the
  // non-secret facts about it.
  let revealedKey = null;
  let revealedInfo = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c);
    }
    return e;
  }

  const isAdmin = () => !!state.user && state.user.role === ADMIN_ROLE;
  const isPremier = () => !!state.user && state.user.tier === PREMIER_TIER;
  const canChange = () => isAdmin() && isPremier();

  // ---------------------------------------------------------------- messages

  function say(text) {
    $('status').textContent = text || '';
  }

  function alertError(text) {
    $('alert').textContent = text || '';
  }

  function clearMessages() {
    say('');
    alertError('');
  }

  // Clear messages for the spec's error codes; others show the server's text.
  function describeError(err) {
    switch (err.code) {
      case 'unauthorized':
        return 'Your sign-in is missing, invalid or has expired. Please sign in again.';
      case 'not_firm_admin':
        return 'Only firm administrators can manage API keys. Ask an administrator of your firm for help.';
      case 'premier_required':
        return 'Generating, rolling and editing API keys needs the Premier subscription ' +
          '(existing keys can still be listed and revoked).';
      case 'key_limit_reached':
        return 'Your firm has reached its maximum number of active API keys. ' +
          'Revoke a key you no longer use, then generate the new one. (' + err.message + ')';
      case 'key_not_active':
        return 'This key is no longer active, or it was already rolled. (' + err.message + ')';
      case 'not_found':
        return 'That API key was not found. It may belong to another firm or no longer exist.';
      case 'internal':
        return 'Something went wrong on our side. Please try again in a moment.';
      default:
        return err.message || 'The request failed.';
    }
  }

  // ---------------------------------------------------------------- HTTP

  class APIError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body, useToken) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (useToken !== false && state.token) headers.Authorization = 'Bearer ' + state.token;
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
        referrerPolicy: 'no-referrer',
      });
    } catch (e) {
      throw new APIError(0, 'network', 'The server cannot be reached. Is the local server running?');
    }
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const e = data && data.error ? data.error : { code: 'http_' + res.status, message: 'The request failed (HTTP ' + res.status + ').' };
      throw new APIError(res.status, e.code, e.message);
    }
    return data;
  }

  // A request failed: sign-in problems go back to sign-in, others are shown.
  function handleError(err) {
    if (err.code === 'unauthorized') {
      signOut();
    }
    alertError(describeError(err));
  }

  // ---------------------------------------------------------------- time

  const absoluteFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'long' });
  const createdFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

  function parseTime(iso) {
    if (!iso) return null;
    const d = new Date(iso);
    return isNaN(d.getTime()) ? null : d;
  }

  // Absolute time with seconds and time zone: "Nov 30, 2026, 9:01:02 AM UTC".
  function absolute(iso) {
    const d = parseTime(iso);
    return d ? absoluteFormat.format(d) : String(iso);
  }

  function withSeconds(iso) {
    const d = parseTime(iso);
    return d ? createdFormat.format(d) : String(iso);
  }

  function relative(iso) {
    const d = parseTime(iso);
    if (!d) return String(iso);
    const seconds = Math.round((d.getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 45) return seconds <= 0 ? 'just now' : 'in a few seconds';
    const units = [['minute', 60], ['hour', 3600], ['day', 86400], ['month', 2629800], ['year', 31557600]];
    let unit = units[0];
    for (const u of units) if (abs >= u[1] * 0.95) unit = u;
    return relativeFormat.format(Math.round(seconds / unit[1]), unit[0]);
  }

  // A relative time ("3 minutes ago") whose absolute time shows on hover
  // and is read by screen readers.
  function relativeTime(iso) {
    const t = el('time', { datetime: iso, title: absolute(iso), 'data-relative': iso });
    fillRelative(t);
    return t;
  }

  function fillRelative(t) {
    const iso = t.dataset.relative;
    t.replaceChildren(
      el('span', { 'aria-hidden': 'true', text: relative(iso) }),
      el('span', { class: 'visually-hidden', text: relative(iso) + ', ' + absolute(iso) }));
  }

  // ---------------------------------------------------------------- history

  // historyEntry is the only place that touches the browser's history: an
  // entry holds a screen name and, for one key's activity, that key's id.
  // Never the key, never a label.
  function historyEntry(screen, keyId, replace) {
    const entry = { screen: screen };
    if (keyId) entry.keyId = String(keyId);
    if (replace) window.history.replaceState(entry, '');
    else window.history.pushState(entry, '');
  }

  // go shows a screen and adds a history entry for it, so Back returns.
  function go(screen, keyId) {
    historyEntry(screen, keyId, false);
    show(screen);
  }

  async function onPopState(ev) {
    const entry = ev.state || { screen: 'signin' };
    closeDialogs();
    closeMenu(false);
    clearMessages();
    const leavingReveal = !$('view-reveal').hidden && revealedKey !== null;
    if (!state.token) {
      show('signin');
      return;
    }
    switch (entry.screen) {
      case 'keys':
        show('keys');
        if (leavingReveal) {
          say('The new key is no longer shown. If you did not store it, revoke it and generate another.');
        }
        await loadKeys(true);
        applyAfterKeys();
        return;
      case 'activity':
        await openActivity(entry.keyId || null, false);
        return;
      case 'new':
        if (!canChange()) break;
        openNew(false);
        return;
      case 'edit':
        if (!state.editing || !canChange()) break;
        show('edit');
        return;
      case 'reveal': // the key was dropped when the screen was left: nothing to show again
        break;
      case 'home':
        show('home');
        return;
      default:
        break;
    }
    historyEntry('keys', null, true);
    show('keys');
    await loadKeys(true);
  }

  // ---------------------------------------------------------------- views

  const screens = ['signin', 'home', 'keys', 'new', 'edit', 'reveal', 'activity'];

  function show(screen) {
    if (screen !== 'reveal') dropRevealedKey();
    for (const s of screens) $('view-' + s).hidden = s !== screen;
    const heading = $('view-' + screen).querySelector('h1');
    // The tab and the history list name the screen (never the key).
    document.title = (screen === 'home' ? '' : heading.textContent + ' · ') + 'KudurruStone';
    if (heading) heading.focus();
  }

  // ---------------------------------------------------------------- dialogs

  let dialogOpener = null;

  function openDialog(dialog, opener) {
    dialogOpener = opener || document.activeElement;
    dialog.showModal();
  }

  // A dialog closed (Cancel, Escape or after its action): focus goes back
  // to what opened it, unless the action moved it on.
  function onDialogClose(ev) {
    const dialog = ev.target;
    const opener = dialogOpener;
    dialogOpener = null;
    if (dialog.dataset.keepFocus === 'true') {
      delete dialog.dataset.keepFocus;
      return;
    }
    if (opener && document.contains(opener)) opener.focus();
  }

  function closeDialogs() {
    for (const d of document.querySelectorAll('dialog[open]')) d.close();
  }

  // ---------------------------------------------------------------- settings menu

  function openMenu() {
    $('settings-list').hidden = false;
    $('settings-button').setAttribute('aria-expanded', 'true');
    $('menu-api-keys').focus();
  }

  function closeMenu(focusButton) {
    if ($('settings-list').hidden) return;
    $('settings-list').hidden = true;
    $('settings-button').setAttribute('aria-expanded', 'false');
    if (focusButton) $('settings-button').focus();
  }

  async function openKeysFromMenu() {
    closeMenu(false);
    clearMessages();
    if ($('view-keys').hidden) go('keys');
    else $('keys-title').focus();
    await loadKeys(true);
  }

  // ---------------------------------------------------------------- sign-in

  function signedIn(token, user) {
    state.token = token;
    state.user = user;
    const role = user.role === ADMIN_ROLE ? 'administrator' : user.role;
    const tier = user.tier === PREMIER_TIER ? 'Premier' : user.tier;
    $('who-text').textContent = user.sub + ' · ' + user.firmId + ' · ' + role + ' · ' + tier;
    $('who').hidden = false;
    $('settings-menu').hidden = false;
    $('home-text').textContent = 'Signed in as ' + user.sub + ' of ' + user.firmId + ' (' + role + ', ' + tier + ').';
    // What this user may do: members see an explanation only; a firm
    // without Premier sees its keys, Revoke and the activity.
    $('member-note').hidden = isAdmin();
    $('keys-panel').hidden = !isAdmin();
    $('open-activity').hidden = !isAdmin();
    $('premier-note').hidden = !isAdmin() || isPremier();
    $('open-generate').hidden = !canChange();
  }

  function signOut() {
    dropRevealedKey();
    closeDialogs();
    closeMenu(false);
    state.token = null;
    state.user = null;
    state.nextCursor = null;
    state.editing = null;
    state.keys.clear();
    $('keys-body').replaceChildren();
    $('activity-body').replaceChildren();
    $('who').hidden = true;
    $('settings-menu').hidden = true;
    $('who-text').textContent = '';
    historyEntry('signin', null, true);
    show('signin');
  }

  async function onSignIn(ev) {
    ev.preventDefault();
    clearMessages();
    const form = ev.target;
    const user = {
      sub: form.elements.sub.value.trim(),
      firmId: form.elements.firmId.value.trim(),
      role: form.elements.role.value,
      tier: form.elements.tier.value,
    };
    if (!user.sub || !user.firmId) {
      alertError('Please enter your name and your firm.');
      return;
    }
    const button = $('signin-submit');
    button.disabled = true;
    try {
      const data = await api('POST', '/dev/token', user, false);
      signedIn(data.token, user);
      historyEntry('home', null, true);
      show('home');
      say('Signed in as ' + user.sub + ' (' + user.firmId + ').');
    } catch (err) {
      alertError(describeError(err));
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- list

  const statusText = { active: 'Active', revoked: 'Revoked', expired: 'Expired' };
  const emptyText = {
    active: 'No active API keys. Generate one for each integration.',
    revoked: 'No revoked API keys.',
    expired: 'No expired API keys.',
    all: 'No API keys yet. Generate one for each integration.',
  };

  function scopeNames(scopes) {
    const s = Array.isArray(scopes) && scopes.length ? scopes : ['read', 'write'];
    return s.map((x) => (x === 'read' ? 'Read' : x === 'write' ? 'Write' : x));
  }

  function keyCell(k) {
    return el('td', { class: 'c-key', 'data-col': 'Key' },
      el('span', { class: 'label', text: k.label }),
      el('span', { class: 'sub' },
        el('code', { class: 'hint-code', text: k.hint }),
        ' · created ',
        el('time', { datetime: k.createdAt, title: absolute(k.createdAt), text: withSeconds(k.createdAt) }),
        k.createdBy ? ' by ' + k.createdBy : ''));
  }

  // A link to a related key (successor or predecessor): it focuses that
  // key's row, showing all keys first when the filter hides it.
  function keyLink(id, text) {
    const known = state.keys.get(id);
    return el('button', {
      type: 'button', class: 'link', 'data-key-link': id,
      text: known ? text + ' ' + known.hint : text,
      onclick: () => focusKeyRow(id, true),
    });
  }

  function statusCell(k) {
    const td = el('td', { class: 'c-status', 'data-col': 'Status' },
      el('span', { class: 'badge badge-' + k.status, text: statusText[k.status] || k.status }));
    const line = (...parts) => td.append(el('span', { class: 'sub' }, ...parts));
    if (k.status === 'revoked' && k.revokedAt) {
      line('Revoked ', el('time', { datetime: k.revokedAt, title: absolute(k.revokedAt), text: withSeconds(k.revokedAt) }),
        k.revokedBy ? ' by ' + k.revokedBy : '');
    }
    const exp = parseTime(k.expiresAt);
    if (exp) {
      const ms = exp.getTime() - Date.now();
      if (k.status === 'active' && ms > 0 && ms <= EXPIRY_WARNING_DAYS * 86400000) {
        const days = Math.ceil(ms / 86400000);
        const hours = Math.ceil(ms / 3600000);
        const text = ms < 86400000 ? 'Expires in ' + hours + (hours === 1 ? ' hour' : ' hours')
          : 'Expires in ' + days + (days === 1 ? ' day' : ' days');
        td.append(el('span', { class: 'sub soon' }, el('time', { datetime: k.expiresAt, title: absolute(k.expiresAt), text: text })));
      } else {
        line(k.status === 'expired' || ms <= 0 ? 'Expired ' : 'Expires ',
          el('time', { datetime: k.expiresAt, title: absolute(k.expiresAt), text: withSeconds(k.expiresAt) }));
      }
    }
    if (k.replacedBy) line('Rolled: replaced by ', keyLink(k.replacedBy, 'the new key'));
    if (k.replaces) line('Replaces ', keyLink(k.replaces, 'an older key'));
    return td;
  }

  function lastUsedCell(k) {
    const td = el('td', { class: 'c-used', 'data-col': 'Last used' });
    if (!k.lastUsedAt) {
      td.append(el('span', { class: 'muted', text: 'Never' }));
      return td;
    }
    td.append(relativeTime(k.lastUsedAt));
    if (k.lastUsedIp) td.append(el('span', { class: 'sub' }, 'from ', el('code', { text: k.lastUsedIp })));
    return td;
  }

  function accessCell(k) {
    const td = el('td', { class: 'c-access', 'data-col': 'Access' });
    for (const s of scopeNames(k.scopes)) td.append(el('span', { class: 'badge badge-scope', text: s }), ' ');
    const ips = Array.isArray(k.allowedIps) ? k.allowedIps : [];
    if (ips.length === 0) {
      td.append(el('span', { class: 'sub muted', text: 'Any address' }));
    } else {
      const text = ips.length === 1 ? 'Only ' + ips[0] : 'Only ' + ips.length + ' addresses';
      td.append(el('span', { class: 'sub' },
        el('span', { class: 'badge badge-ip', title: ips.join(', '), text: text }),
        ips.length > 1 ? el('span', { class: 'visually-hidden', text: ': ' + ips.join(', ') }) : null));
    }
    return td;
  }

  function actionsCell(k, tr) {
    const td = el('td', { class: 'c-actions', 'data-col': 'Actions' });
    const name = k.label + ' (' + k.hint + ')';
    const button = (cls, text, what, fn) => el('button', {
      type: 'button', class: cls, text: text, 'aria-label': text + ' ' + name, 'data-action': what,
      onclick: (e) => fn(k, tr, e.currentTarget),
    });
    if (k.status === 'active' && canChange()) {
      td.append(button('act-edit', 'Edit', 'edit', openEdit));
      if (!k.replacedBy) td.append(button('act-roll', 'Roll', 'roll', openRoll));
    }
    if (k.status === 'active' && isAdmin()) td.append(button('danger act-revoke', 'Revoke', 'revoke', openRevoke));
    td.append(button('act-activity', 'Activity', 'activity', (key) => openActivity(key.id, true)));
    return td;
  }

  function keyRow(k) {
    state.keys.set(k.id, k);
    const tr = el('tr', { id: 'key-' + k.id, tabindex: '-1', 'data-key-id': k.id, 'data-status': k.status });
    tr.append(keyCell(k), statusCell(k), lastUsedCell(k), accessCell(k), actionsCell(k, tr));
    return tr;
  }

  // Successor links name the new key's hint once both rows are known.
  function relinkKeys() {
    for (const b of $('keys-body').querySelectorAll('button[data-key-link]')) {
      const k = state.keys.get(b.dataset.keyLink);
      if (k && !b.textContent.includes(k.hint)) b.textContent += ' ' + k.hint;
    }
  }

  async function loadKeys(fresh) {
    if (!state.token || !isAdmin()) return [];
    const body = $('keys-body');
    const params = new URLSearchParams({ status: state.filter, limit: String(PAGE_SIZE) });
    if (!fresh && state.nextCursor) params.set('cursor', state.nextCursor);
    const seq = ++state.keysLoad;
    $('keys-loading').hidden = false;
    $('load-more').hidden = true;
    if (fresh) {
      body.replaceChildren();
      state.keys.clear();
      state.nextCursor = null;
      $('keys-empty').hidden = true;
    }
    const added = [];
    try {
      const page = await api('GET', '/v1/api-keys?' + params.toString());
      if (seq !== state.keysLoad) return added; // a newer request (filter, refresh) took over
      for (const k of page.items) {
        const row = keyRow(k);
        body.appendChild(row);
        added.push(row);
      }
      relinkKeys();
      state.nextCursor = page.nextCursor || null;
      $('load-more').hidden = !state.nextCursor;
      $('keys-empty').textContent = emptyText[state.filter];
      $('keys-empty').hidden = body.children.length > 0;
    } catch (err) {
      if (seq === state.keysLoad) handleError(err);
    } finally {
      if (seq === state.keysLoad) $('keys-loading').hidden = true;
    }
    return added;
  }

  // After a change made on another screen, the list says what happened and
  // focuses the key concerned.
  function applyAfterKeys() {
    const after = state.afterKeys;
    state.afterKeys = null;
    if (!after) return;
    if (after.message) say(after.message);
    if (after.focusKeyId) {
      const row = $('key-' + after.focusKeyId);
      if (row) row.focus();
    }
  }

  async function focusKeyRow(id, widen) {
    let row = $('key-' + id);
    if (!row && widen && state.filter !== 'all') {
      state.filter = 'all';
      $('status-filter').value = 'all';
      await loadKeys(true);
      row = $('key-' + id);
    }
    if (row) row.focus();
    else say('That key is not on this page of the list.');
  }

  async function onLoadMore() {
    const added = await loadKeys(false);
    // Focus the first new row; the Load more button may have gone.
    if (added.length) added[0].focus();
    else if (!$('load-more').hidden) $('load-more').focus();
  }

  async function onRefresh() {
    clearMessages();
    await loadKeys(true);
    say('The list was refreshed at ' + absolute(new Date().toISOString()) + '.');
  }

  // ---------------------------------------------------------------- field errors

  function fieldError(id, message) {
    const p = $(id + '-error');
    p.textContent = message;
    p.hidden = false;
    const target = $(id);
    const controls = target.tagName === 'FIELDSET' ? target.querySelectorAll('input') : [target];
    for (const c of controls) c.setAttribute('aria-invalid', 'true');
    return controls[0];
  }

  function clearFieldError(id) {
    const p = $(id + '-error');
    p.textContent = '';
    p.hidden = true;
    const target = $(id);
    const controls = target.tagName === 'FIELDSET' ? target.querySelectorAll('input') : [target];
    for (const c of controls) c.removeAttribute('aria-invalid');
  }

  function formError(prefix, message) {
    const p = $(prefix + '-form-error');
    p.textContent = message || '';
    p.hidden = !message;
  }

  // Which field a server refusal is about, from its code and message; null
  // for the form as a whole.
  function fieldOf(err) {
    if (err.code === 'invalid_label') return 'label';
    if (err.code !== 'invalid_request') return null;
    const m = err.message || '';
    if (/unknown field|JSON/i.test(m)) return null;
    if (/^label|\blabel\b/i.test(m)) return 'label';
    if (/scope/i.test(m)) return 'scopes';
    if (/allowedIps|address|CIDR|\bIP/i.test(m)) return 'ips';
    if (/expir/i.test(m)) return 'expires';
    if (/grace/i.test(m)) return 'grace';
    return null;
  }

  // The server's messages name the API's members; the form's labels are
  // what the user sees.
  function inFormWords(message) {
    return (message || '')
      .replace(/^allowedIps entries must be IPv4 or IPv6 addresses or CIDR blocks/, 'Each allowed address must be an IPv4 or IPv6 address or a CIDR block')
      .replace(/\ballowedIps holds\b/g, 'Allowed addresses hold')
      .replace(/\ballowedIps\b/g, 'Allowed addresses')
      .replace(/\bexpiresAt\b/g, 'Expiry')
      .replace(/^scopes\b/, 'Access')
      .replace(/\bgracePeriodSeconds\b/g, 'Grace period');
  }

  // Show a server refusal next to its field (prefix: "new", "edit").
  function showServerError(prefix, err) {
    if (err.code === 'unauthorized') {
      handleError(err);
      return;
    }
    const field = fieldOf(err);
    const id = field === 'scopes' ? prefix + '-scopes' : field ? prefix + '-' + field : null;
    if (id && $(id + '-error')) {
      const message = inFormWords(err.message);
      const control = fieldError(id, message);
      control.focus();
      alertError('Please check the form: ' + message);
    } else {
      formError(prefix, describeError(err));
      alertError(describeError(err));
    }
  }

  // ---------------------------------------------------------------- labels

  // Trimmed as the server trims (Unicode White_Space) and counted as it
  // counts: code points, not UTF-16 units.
  function trimLabel(s) {
    return s.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, '');
  }

  function labelLength(s) {
    return [...trimLabel(s)].length;
  }

  // Live count, and a message past the limit instead of cutting the text.
  // Typing clears an earlier refusal of the label. Returns the problem, or
  // null.
  function checkLabel(prefix) {
    const n = labelLength($(prefix + '-label').value);
    $(prefix + '-label-count').textContent = n + ' of ' + MAX_LABEL + ' characters';
    clearFieldError(prefix + '-label');
    if (n > MAX_LABEL) {
      const msg = 'The label is ' + n + ' characters long; the limit is ' + MAX_LABEL +
        '. Remove ' + (n - MAX_LABEL) + (n - MAX_LABEL === 1 ? ' character.' : ' characters.');
      fieldError(prefix + '-label', msg);
      return msg;
    }
    if (n === 0) return 'Please enter a key label, such as "Production Integration".';
    return null;
  }

  // ---------------------------------------------------------------- form values

  function readScopes(prefix) {
    const out = [];
    if ($(prefix + '-scope-read').checked) out.push('read');
    if ($(prefix + '-scope-write').checked) out.push('write');
    return out;
  }

  function readIps(prefix) {
    return $(prefix + '-ips').value.split(/[\s,]+/).map((s) => s.trim()).filter((s) => s !== '');
  }

  // The end of a date (YYYY-MM-DD) in the browser's time zone, as RFC 3339 UTC.
  function endOfDay(value) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (!m) return null;
    const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 23, 59, 59);
    return isNaN(d.getTime()) ? null : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  function dateValue(iso) {
    const d = parseTime(iso);
    if (!d) return '';
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate());
  }

  function today() {
    return dateValue(new Date().toISOString());
  }

  // Client-side checks shared by New and Edit; each problem goes next to
  // its field. Returns the first control to fix, or null.
  function checkCommon(prefix, expiry) {
    let first = null;
    const mark = (id, msg) => {
      const c = fieldError(id, msg);
      if (!first) first = c;
    };
    const labelProblem = checkLabel(prefix);
    if (labelProblem) mark(prefix + '-label', labelProblem);
    if (readScopes(prefix).length === 0) mark(prefix + '-scopes', 'Choose Read, Write or both: a key needs at least one.');
    if (readIps(prefix).length > MAX_IPS) mark(prefix + '-ips', 'At most ' + MAX_IPS + ' addresses; this list has ' + readIps(prefix).length + '.');
    // expiry: 'optional' (New), 'required' (Edit, "Expires at the end of")
    // or 'none' (Edit, "Never expires").
    const exp = expiry === 'none' ? '' : $(prefix + '-expires').value;
    if (exp && !endOfDay(exp)) mark(prefix + '-expires', 'Please enter a date.');
    else if (exp && new Date(endOfDay(exp)).getTime() <= Date.now()) mark(prefix + '-expires', 'The expiry date must be in the future.');
    else if (!exp && expiry === 'required') mark(prefix + '-expires', 'Choose the date the key expires, or choose "Never expires".');
    return first;
  }

  function resetErrors(prefix, ids) {
    formError(prefix, '');
    for (const id of ids) clearFieldError(prefix + '-' + id);
  }

  // Editing a field clears its error; once no field is in error, the
  // form's messages go too.
  function clearOnEdit(prefix, ids) {
    for (const id of ids) {
      if (id === 'label') continue; // checkLabel keeps the label's state
      $(prefix + '-' + id).addEventListener(id === 'scopes' ? 'change' : 'input', () => {
        clearFieldError(prefix + '-' + id);
        if (!$(prefix + '-form').querySelector('[aria-invalid="true"]')) {
          formError(prefix, '');
          alertError('');
        }
      });
    }
  }

  // ---------------------------------------------------------------- new key

  function openNew(push) {
    clearMessages();
    $('new-form').reset();
    resetErrors('new', ['label', 'scopes', 'ips', 'expires']);
    $('new-expires').min = today();
    checkLabel('new');
    if (push) go('new');
    else show('new');
  }

  async function onGenerate(ev) {
    ev.preventDefault();
    clearMessages();
    resetErrors('new', ['label', 'scopes', 'ips', 'expires']);
    const bad = checkCommon('new', 'optional');
    if (bad) {
      alertError('Please check the form.');
      bad.focus();
      return;
    }
    // Members left at their defaults are not sent (the server's defaults
    // are the same: both scopes, any address, no expiry).
    const body = { label: $('new-label').value };
    const scopes = readScopes('new');
    if (scopes.length !== 2) body.scopes = scopes;
    const ips = readIps('new');
    if (ips.length) body.allowedIps = ips;
    const exp = $('new-expires').value;
    if (exp) body.expiresAt = endOfDay(exp);
    const button = $('new-submit');
    button.disabled = true;
    try {
      const created = await api('POST', '/v1/api-keys', body);
      const key = created.key;
      delete created.key;
      reveal(created, key, null);
    } catch (err) {
      showServerError('new', err);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- edit

  function openEdit(k) {
    clearMessages();
    state.editing = k;
    resetErrors('edit', ['label', 'scopes', 'ips', 'expires']);
    $('edit-which').textContent = 'Key ' + k.hint + ', created ' + withSeconds(k.createdAt) + '.';
    $('edit-label').value = k.label;
    const scopes = Array.isArray(k.scopes) ? k.scopes : ['read', 'write'];
    $('edit-scope-read').checked = scopes.includes('read');
    $('edit-scope-write').checked = scopes.includes('write');
    $('edit-ips').value = (Array.isArray(k.allowedIps) ? k.allowedIps : []).join('\n');
    $('edit-never').checked = !k.expiresAt;
    $('edit-on').checked = !!k.expiresAt;
    $('edit-expires').value = dateValue(k.expiresAt);
    $('edit-expires').min = today();
    syncExpiry();
    checkLabel('edit');
    go('edit');
  }

  function syncExpiry() {
    $('edit-expires').disabled = $('edit-never').checked;
  }

  function sameList(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  async function onSaveEdit(ev) {
    ev.preventDefault();
    const k = state.editing;
    if (!k) return;
    clearMessages();
    resetErrors('edit', ['label', 'scopes', 'ips', 'expires']);
    const never = $('edit-never').checked;
    const bad = checkCommon('edit', never ? 'none' : 'required');
    if (bad) {
      alertError('Please check the form.');
      bad.focus();
      return;
    }
    // PATCH sends only what changed.
    const body = {};
    if (trimLabel($('edit-label').value) !== k.label) body.label = $('edit-label').value;
    const scopes = readScopes('edit');
    if (!sameList(scopes, Array.isArray(k.scopes) ? k.scopes : ['read', 'write'])) body.scopes = scopes;
    const ips = readIps('edit');
    if (!sameList(ips, Array.isArray(k.allowedIps) ? k.allowedIps : [])) body.allowedIps = ips;
    if (never && k.expiresAt) body.expiresAt = null;
    if (!never && $('edit-expires').value !== dateValue(k.expiresAt)) body.expiresAt = endOfDay($('edit-expires').value);
    if (Object.keys(body).length === 0) {
      formError('edit', 'Nothing changed. Change a field, or Cancel.');
      alertError('Nothing changed.');
      return;
    }
    const button = $('edit-submit');
    button.disabled = true;
    try {
      const updated = await api('PATCH', '/v1/api-keys/' + encodeURIComponent(k.id), body);
      state.editing = null;
      backToKeys('The key "' + updated.label + '" (' + updated.hint + ') was updated.', updated.id);
    } catch (err) {
      showServerError('edit', err);
    } finally {
      button.disabled = false;
    }
  }

  // The screens reached from the list (New, Edit, Reveal) sit one history
  // entry above it: going back keeps Back and Forward in step.
  function backToKeys(message, focusKeyId) {
    state.afterKeys = { message: message, focusKeyId: focusKeyId };
    window.history.back();
  }

  // ---------------------------------------------------------------- revoke

  function facts(dl, k) {
    dl.replaceChildren(
      el('dt', { text: 'Label' }), el('dd', { text: k.label }),
      el('dt', { text: 'Key' }), el('dd', {}, el('code', { text: k.hint })),
      el('dt', { text: 'Created' }), el('dd', { text: withSeconds(k.createdAt) + (k.createdBy ? ' by ' + k.createdBy : '') }));
  }

  let revoking = null; // {k, tr}

  function openRevoke(k, tr, button) {
    clearMessages();
    revoking = { k: k, tr: tr };
    facts($('revoke-facts'), k);
    $('revoke-error').hidden = true;
    $('revoke-confirm').disabled = false;
    openDialog($('revoke-dialog'), button);
    $('revoke-cancel').focus();
  }

  async function onRevokeConfirm() {
    if (!revoking) return;
    const { k, tr } = revoking;
    $('revoke-confirm').disabled = true;
    try {
      const updated = await api('POST', '/v1/api-keys/' + encodeURIComponent(k.id) + '/revoke', {});
      revoking = null;
      // The row stays in place, now Revoked, and keeps the focus.
      const row = keyRow(updated);
      tr.replaceWith(row);
      $('revoke-dialog').dataset.keepFocus = 'true';
      $('revoke-dialog').close();
      row.focus();
      say('The key "' + updated.label + '" (' + updated.hint + ') was revoked.');
    } catch (err) {
      $('revoke-confirm').disabled = false;
      if (err.code === 'unauthorized') {
        $('revoke-dialog').close();
        handleError(err);
        return;
      }
      $('revoke-error').textContent = describeError(err);
      $('revoke-error').hidden = false;
    }
  }

  // ---------------------------------------------------------------- roll

  let rolling = null; // the Key

  function openRoll(k, tr, button) {
    clearMessages();
    rolling = k;
    facts($('roll-facts'), k);
    $('grace-86400').checked = true;
    $('roll-error').hidden = true;
    clearFieldError('roll-grace');
    $('roll-confirm').disabled = false;
    openDialog($('roll-dialog'), button);
    $('grace-86400').focus();
  }

  function graceText(seconds) {
    if (seconds === 0) return 'at once';
    if (seconds % 86400 === 0) return seconds / 86400 === 1 ? '24 hours' : seconds / 86400 + ' days';
    if (seconds % 3600 === 0) return seconds / 3600 === 1 ? '1 hour' : seconds / 3600 + ' hours';
    return seconds + ' seconds';
  }

  async function onRollConfirm() {
    if (!rolling) return;
    const k = rolling;
    const checked = document.querySelector('input[name="grace"]:checked');
    const grace = Number(checked ? checked.value : 86400);
    $('roll-confirm').disabled = true;
    try {
      const created = await api('POST', '/v1/api-keys/' + encodeURIComponent(k.id) + '/roll', { gracePeriodSeconds: grace });
      rolling = null;
      const key = created.key;
      delete created.key;
      $('roll-dialog').dataset.keepFocus = 'true';
      $('roll-dialog').close();
      reveal(created, key, { old: k, grace: grace });
    } catch (err) {
      $('roll-confirm').disabled = false;
      if (err.code === 'unauthorized') {
        $('roll-dialog').close();
        handleError(err);
        return;
      }
      if (fieldOf(err) === 'grace') {
        fieldError('roll-grace', err.message);
      } else {
        $('roll-error').textContent = describeError(err);
        $('roll-error').hidden = false;
      }
    }
  }

  // ---------------------------------------------------------------- reveal

  const copyIcon = 'M8 3h10a2 2 0 0 1 2 2v12h-2V5H8V3Zm-3 4h10a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2Zm0 2v11h10V9H5Z';
  const checkIcon = 'M9.5 16.2 5.3 12l-1.4 1.4 5.6 5.6 11-11-1.4-1.4-9.6 9.6Z';

  function icon(path) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('class', 'icon');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', path);
    p.setAttribute('fill', 'currentColor');
    svg.append(p);
    return svg;
  }

  // reveal shows a new key once, one history entry above the list: from New
  // it takes the place of the form's entry, so Back goes to the list (and
  // drops the key), as Done does.
  function reveal(created, key, roll) {
    historyEntry('reveal', null, !roll);
    revealedKey = key;
    revealedInfo = { id: created.id, label: created.label, hint: created.hint, roll: roll };
    $('reveal-label').textContent = 'Label: ' + created.label + ' · Hint: ' + created.hint;
    if (roll) {
      $('reveal-roll').textContent = 'This key replaces ' + roll.old.hint + '. ' +
        (roll.grace === 0 ? 'The old key stopped working at once.'
          : 'The old key keeps working for ' + graceText(roll.grace) + ', then expires.');
      $('reveal-roll').hidden = false;
    } else {
      $('reveal-roll').hidden = true;
      $('reveal-roll').textContent = '';
    }
    const value = el('code', { id: 'key-value', class: 'key-value', 'aria-describedby': 'reveal-warning' });
    value.textContent = key;
    const copy = el('button', { type: 'button', id: 'copy-key', class: 'icon-button', 'aria-label': 'Copy key', title: 'Copy key', onclick: copyKey });
    copy.append(icon(copyIcon));
    $('key-slot').replaceChildren(el('span', { class: 'visually-hidden', text: 'Your new API key: ' }), value, copy);
    $('copy-status').textContent = '';
    $('stored-confirm').checked = false;
    $('reveal-done').disabled = true;
    $('reveal-title').textContent = roll ? 'Your new API key (rolled)' : 'Your new API key';
    show('reveal');
  }

  async function copyKey() {
    if (!revealedKey) return;
    const status = $('copy-status');
    let copied = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(revealedKey);
        copied = true;
      } catch (e) {
        copied = false;
      }
    }
    if (!copied) {
      // Fallback for browsers without the async clipboard (or without
      // permission): select the key and use the legacy copy command.
      const node = $('key-value');
      if (node) {
        const range = document.createRange();
        range.selectNodeContents(node);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        try {
          copied = document.execCommand('copy');
        } catch (e) {
          copied = false;
        }
      }
    }
    const button = $('copy-key');
    if (button && copied) {
      button.replaceChildren(icon(checkIcon));
      button.classList.add('copied');
    }
    status.textContent = copied
      ? 'Copied to the clipboard. Store it somewhere safe, such as your password manager or secrets vault.'
      : 'Could not copy automatically: the key is selected, press Ctrl+C (⌘C on a Mac) to copy it.';
  }

  // Forget the key: clear the variable and remove its node from the page.
  function dropRevealedKey() {
    revealedKey = null;
    revealedInfo = null;
    const node = $('key-value');
    if (node) node.textContent = '';
    $('key-slot').replaceChildren();
    $('reveal-label').textContent = '';
    $('reveal-roll').textContent = '';
    $('copy-status').textContent = '';
    $('stored-confirm').checked = false;
    $('reveal-done').disabled = true;
    const sel = window.getSelection();
    if (sel) sel.removeAllRanges();
  }

  function onDone() {
    if (!$('stored-confirm').checked) return;
    const info = revealedInfo;
    dropRevealedKey();
    backToKeys(info ? 'Your new key "' + info.label + '" (' + info.hint + ') is active.' : 'Your new key is active.',
      info ? info.id : null);
  }

  // ---------------------------------------------------------------- activity

  const actionText = {
    'key.generated': 'Generated',
    'key.updated': 'Updated',
    'key.rolled': 'Rolled',
    'key.revoked': 'Revoked',
  };

  const memberText = { label: 'label', expiresAt: 'expiry', scopes: 'access', allowedIps: 'allowed addresses' };

  function eventRow(ev) {
    const d = ev.details || {};
    const what = el('td', { 'data-col': 'What' }, el('span', { class: 'action action-' + String(ev.action).replace(/\W/g, '-'), text: actionText[ev.action] || ev.action }));
    if (ev.action === 'key.updated' && Array.isArray(d.changed) && d.changed.length) {
      what.append(el('span', { class: 'sub', text: 'Changed: ' + d.changed.map((m) => memberText[m] || m).join(', ') }));
    }
    if (ev.action === 'key.rolled' && typeof d.gracePeriodSeconds === 'number') {
      what.append(el('span', { class: 'sub', text: 'Old key kept ' + graceText(d.gracePeriodSeconds) }));
    }
    return el('tr', { 'data-action': ev.action, tabindex: '-1' },
      el('td', { 'data-col': 'When' }, relativeTime(ev.at)),
      what,
      el('td', { 'data-col': 'Key' }, el('span', { class: 'label', text: ev.keyLabel || '' })),
      el('td', { 'data-col': 'By' }, el('span', { text: ev.actor || '' }),
        ev.sourceIp ? el('span', { class: 'sub' }, 'from ', el('code', { text: ev.sourceIp })) : null));
  }

  async function openActivity(keyId, push) {
    clearMessages();
    state.activityKey = keyId || null;
    const k = keyId ? state.keys.get(keyId) : null;
    $('activity-title').textContent = keyId ? 'Activity of one key' : 'Activity';
    $('activity-hint').textContent = keyId
      ? (k ? 'The key "' + k.label + '" (' + k.hint + '), newest first.' : 'One key, newest first.')
      : 'Who generated, changed, rolled and revoked your firm\'s keys, newest first.';
    $('activity-all').hidden = !keyId;
    if (push) go('activity', keyId);
    else show('activity');
    await loadActivity(true);
  }

  async function loadActivity(fresh) {
    const body = $('activity-body');
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.activityKey) params.set('keyId', state.activityKey);
    if (!fresh && state.activityCursor) params.set('cursor', state.activityCursor);
    const seq = ++state.activityLoad;
    $('activity-loading').hidden = false;
    $('activity-more').hidden = true;
    if (fresh) {
      body.replaceChildren();
      state.activityCursor = null;
      $('activity-empty').hidden = true;
    }
    const added = [];
    try {
      const page = await api('GET', '/v1/audit-events?' + params.toString());
      if (seq !== state.activityLoad) return added;
      for (const ev of page.items) {
        const row = eventRow(ev);
        body.appendChild(row);
        added.push(row);
      }
      state.activityCursor = page.nextCursor || null;
      $('activity-more').hidden = !state.activityCursor;
      $('activity-empty').hidden = body.children.length > 0;
    } catch (err) {
      if (seq === state.activityLoad) handleError(err);
    } finally {
      if (seq === state.activityLoad) $('activity-loading').hidden = true;
    }
    return added;
  }

  async function onActivityMore() {
    const added = await loadActivity(false);
    if (added.length) added[0].focus();
  }

  function refreshRelativeTimes() {
    for (const t of document.querySelectorAll('time[data-relative]')) fillRelative(t);
  }

  // ---------------------------------------------------------------- wiring

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', onSignIn);
    $('sign-out').addEventListener('click', () => {
      clearMessages();
      signOut();
      say('Signed out.');
    });

    $('settings-button').addEventListener('click', () => {
      if ($('settings-list').hidden) openMenu();
      else closeMenu(true);
    });
    $('settings-menu').addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !$('settings-list').hidden) {
        e.preventDefault();
        closeMenu(true);
      }
    });
    document.addEventListener('click', (e) => {
      if (!$('settings-menu').contains(e.target)) closeMenu(false);
    });
    $('settings-menu').addEventListener('focusout', (e) => {
      if (e.relatedTarget && !$('settings-menu').contains(e.relatedTarget)) closeMenu(false);
    });
    $('menu-api-keys').addEventListener('click', openKeysFromMenu);

    $('open-generate').addEventListener('click', () => openNew(true));
    $('open-activity').addEventListener('click', () => openActivity(null, true));
    $('status-filter').addEventListener('change', async (e) => {
      state.filter = e.target.value;
      clearMessages();
      await loadKeys(true);
    });
    $('refresh').addEventListener('click', onRefresh);
    $('load-more').addEventListener('click', onLoadMore);

    $('new-form').addEventListener('submit', onGenerate);
    clearOnEdit('new', ['scopes', 'ips', 'expires']);
    clearOnEdit('edit', ['scopes', 'ips', 'expires']);
    $('new-label').addEventListener('input', () => checkLabel('new'));
    $('cancel-new').addEventListener('click', () => backToKeys(null, null));

    $('edit-form').addEventListener('submit', onSaveEdit);
    $('edit-label').addEventListener('input', () => checkLabel('edit'));
    $('edit-never').addEventListener('change', syncExpiry);
    $('edit-on').addEventListener('change', () => {
      syncExpiry();
      $('edit-expires').focus();
    });
    $('cancel-edit').addEventListener('click', () => {
      const k = state.editing;
      state.editing = null;
      backToKeys(null, k ? k.id : null);
    });

    $('stored-confirm').addEventListener('change', (e) => {
      $('reveal-done').disabled = !e.target.checked;
    });
    $('reveal-done').addEventListener('click', onDone);

    $('activity-more').addEventListener('click', onActivityMore);
    $('activity-all').addEventListener('click', () => openActivity(null, true));
    $('activity-back').addEventListener('click', async () => {
      go('keys');
      await loadKeys(true);
    });

    for (const d of document.querySelectorAll('dialog')) d.addEventListener('close', onDialogClose);
    $('revoke-cancel').addEventListener('click', () => $('revoke-dialog').close());
    $('revoke-confirm').addEventListener('click', onRevokeConfirm);
    $('roll-cancel').addEventListener('click', () => $('roll-dialog').close());
    $('roll-confirm').addEventListener('click', onRollConfirm);

    window.addEventListener('popstate', onPopState);
    // Leaving or hiding the page forgets the key too.
    window.addEventListener('pagehide', dropRevealedKey);
    window.setInterval(refreshRelativeTimes, 30000);
    historyEntry('signin', null, true);
    show('signin');
  });
})();
