// KudurruStone admin console: Settings → API Keys.
//
// Rules this file keeps:
// - The plaintext key lives only in the reveal screen: one variable and one
//   DOM node, both dropped when the screen is left. It is never written to
//   web storage, a cookie, the URL or the browser's log.
// - The admin token lives in memory only; a reload signs out.
// - All text from the server goes in with textContent, never as HTML.
'use strict';

(function () {
  const state = {
    token: null, // admin JWT, memory only
    user: null, // {sub, firmId, role, tier} as signed in
    nextCursor: null,
  };

  // The plaintext of the key on the reveal screen, or null, and the
  // non-secret label and hint of that key.
  let revealedKey = null;
  let revealedInfo = null;

  const $ = (id) => document.getElementById(id);

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
        return 'API keys are a Premier feature. Your firm needs the Premier subscription to generate keys ' +
          '(existing keys can still be listed and revoked).';
      case 'invalid_label':
        return 'Please check the key label: ' + err.message;
      case 'key_limit_reached':
        return 'Your firm has reached its maximum number of active API keys. ' +
          'Revoke a key you no longer use, then generate the new one. (' + err.message + ')';
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

  // ---------------------------------------------------------------- views

  const views = ['view-signin', 'view-keys', 'view-generate', 'view-reveal'];

  function show(view) {
    if (view !== 'view-reveal') dropRevealedKey();
    for (const v of views) $(v).hidden = v !== view;
    const heading = $(view).querySelector('h1');
    if (heading) heading.focus();
  }

  // ---------------------------------------------------------------- sign-in

  function signedIn(token, user) {
    state.token = token;
    state.user = user;
    $('who-text').textContent = user.sub + ' · ' + user.firmId + ' · ' + user.role + ' · ' + user.tier;
    $('who').hidden = false;
  }

  function signOut() {
    dropRevealedKey();
    state.token = null;
    state.user = null;
    state.nextCursor = null;
    $('keys-body').replaceChildren();
    $('who').hidden = true;
    $('who-text').textContent = '';
    show('view-signin');
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
      show('view-keys');
      say('Signed in as ' + user.sub + ' (' + user.firmId + ').');
      await loadKeys(true);
    } catch (err) {
      alertError(describeError(err));
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- list

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  function formatDate(iso) {
    if (!iso) return null;
    const d = new Date(iso);
    return isNaN(d.getTime()) ? iso : dateFormat.format(d);
  }

  function timeCell(iso, empty) {
    const td = document.createElement('td');
    if (iso) {
      const t = document.createElement('time');
      t.dateTime = iso;
      t.textContent = formatDate(iso);
      td.appendChild(t);
    } else {
      td.textContent = empty;
      td.className = 'muted';
    }
    return td;
  }

  const statusText = { active: 'Active', revoked: 'Revoked', expired: 'Expired' };

  function keyRow(k) {
    const tr = document.createElement('tr');
    tr.dataset.keyId = k.id;
    tr.dataset.status = k.status;

    const label = document.createElement('td');
    label.className = 'label';
    label.textContent = k.label;
    tr.appendChild(label);

    const hint = document.createElement('td');
    const code = document.createElement('code');
    code.textContent = k.hint;
    hint.appendChild(code);
    tr.appendChild(hint);

    tr.appendChild(timeCell(k.createdAt, '—'));
    tr.appendChild(timeCell(k.lastUsedAt, 'Never'));

    const status = document.createElement('td');
    const badge = document.createElement('span');
    badge.className = 'badge badge-' + k.status;
    badge.textContent = statusText[k.status] || k.status;
    status.appendChild(badge);
    if (k.status === 'revoked' && k.revokedAt) {
      badge.title = 'Revoked ' + formatDate(k.revokedAt) + (k.revokedBy ? ' by ' + k.revokedBy : '');
    } else if (k.expiresAt) {
      badge.title = (k.status === 'expired' ? 'Expired ' : 'Expires ') + formatDate(k.expiresAt);
    }
    tr.appendChild(status);

    const actions = document.createElement('td');
    actions.className = 'row-actions';
    if (k.status === 'active') {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'danger';
      b.textContent = 'Revoke';
      b.setAttribute('aria-label', 'Revoke ' + k.label);
      b.addEventListener('click', () => revokeKey(k, tr, b));
      actions.appendChild(b);
    }
    tr.appendChild(actions);
    return tr;
  }

  async function loadKeys(fresh) {
    if (!state.token) return;
    const body = $('keys-body');
    const params = new URLSearchParams({ limit: '20' });
    if (!fresh && state.nextCursor) params.set('cursor', state.nextCursor);
    $('keys-loading').hidden = false;
    $('load-more').hidden = true;
    if (fresh) {
      body.replaceChildren();
      $('keys-empty').hidden = true;
    }
    try {
      const page = await api('GET', '/v1/api-keys?' + params.toString());
      for (const k of page.items) body.appendChild(keyRow(k));
      state.nextCursor = page.nextCursor || null;
      $('load-more').hidden = !state.nextCursor;
      $('keys-empty').hidden = body.children.length > 0;
    } catch (err) {
      handleError(err);
    } finally {
      $('keys-loading').hidden = true;
    }
  }

  // ---------------------------------------------------------------- revoke

  async function revokeKey(k, row, button) {
    clearMessages();
    const ok = window.confirm('Revoke the API key "' + k.label + '"?\n\n' +
      'Integrations using this key will stop working at once. This cannot be undone.');
    if (!ok) return;
    button.disabled = true;
    try {
      const updated = await api('POST', '/v1/api-keys/' + encodeURIComponent(k.id) + '/revoke', {});
      row.replaceWith(keyRow(updated));
      say('The key "' + updated.label + '" was revoked.');
    } catch (err) {
      button.disabled = false;
      handleError(err);
    }
  }

  // ---------------------------------------------------------------- generate

  function openGenerate() {
    clearMessages();
    $('generate-form').reset();
    show('view-generate');
    $('key-label').focus();
  }

  async function onGenerate(ev) {
    ev.preventDefault();
    clearMessages();
    const label = $('key-label').value;
    if (!label.trim()) {
      alertError('Please enter a key label, such as "Production Integration".');
      $('key-label').focus();
      return;
    }
    const button = $('generate-submit');
    button.disabled = true;
    try {
      const created = await api('POST', '/v1/api-keys', { label: label });
      const key = created.key;
      delete created.key;
      reveal(created, key);
    } catch (err) {
      handleError(err);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- reveal

  function reveal(created, key) {
    revealedKey = key;
    revealedInfo = { label: created.label, hint: created.hint };
    $('reveal-label').textContent = 'Label: ' + created.label + ' · Hint: ' + created.hint;
    const input = document.createElement('input');
    input.type = 'text';
    input.id = 'key-value';
    input.readOnly = true;
    input.className = 'key-value';
    input.autocomplete = 'off';
    input.spellcheck = false;
    input.setAttribute('aria-label', 'Your new API key');
    input.setAttribute('aria-describedby', 'reveal-warning');
    input.value = key;
    input.addEventListener('focus', () => input.select());
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.id = 'copy-key';
    copy.textContent = 'Copy';
    copy.addEventListener('click', copyKey);
    $('key-slot').replaceChildren(input, copy);
    $('copy-status').textContent = '';
    $('stored-confirm').checked = false;
    $('reveal-done').disabled = true;
    show('view-reveal');
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
      // permission): select the field and use the legacy copy command.
      const input = $('key-value');
      if (input) {
        input.focus();
        input.select();
        try {
          copied = document.execCommand('copy');
        } catch (e) {
          copied = false;
        }
      }
    }
    status.textContent = copied
      ? 'Copied to the clipboard. Store it somewhere safe, such as your password manager or secrets vault.'
      : 'Could not copy automatically: the key is selected, press Ctrl+C (⌘C on a Mac) to copy it.';
  }

  // Forget the key: clear the variable and remove its node from the page.
  function dropRevealedKey() {
    revealedKey = null;
    revealedInfo = null;
    const input = $('key-value');
    if (input) input.value = '';
    $('key-slot').replaceChildren();
    $('reveal-label').textContent = '';
    $('copy-status').textContent = '';
    $('stored-confirm').checked = false;
    $('reveal-done').disabled = true;
  }

  async function onDone() {
    if (!$('stored-confirm').checked) return;
    const info = revealedInfo;
    show('view-keys'); // drops the key
    say(info ? 'Your new key "' + info.label + '" (' + info.hint + ') is active.' : 'Your new key is active.');
    await loadKeys(true);
  }

  // ---------------------------------------------------------------- wiring

  document.addEventListener('DOMContentLoaded', () => {
    $('signin-form').addEventListener('submit', onSignIn);
    $('sign-out').addEventListener('click', () => {
      clearMessages();
      signOut();
      say('Signed out.');
    });
    $('open-generate').addEventListener('click', openGenerate);
    $('cancel-generate').addEventListener('click', () => {
      clearMessages();
      show('view-keys');
    });
    $('generate-form').addEventListener('submit', onGenerate);
    $('load-more').addEventListener('click', () => loadKeys(false));
    $('stored-confirm').addEventListener('change', (e) => {
      $('reveal-done').disabled = !e.target.checked;
    });
    $('reveal-done').addEventListener('click', onDone);
    // Leaving or hiding the page forgets the key too.
    window.addEventListener('pagehide', dropRevealedKey);
    show('view-signin');
  });
})();
