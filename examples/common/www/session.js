// SPDX-License-Identifier: MIT
// What the example pages share: who is signed in (GET /api/session), and a
// sign-in form when nobody is (POST /api/login, which sets the hub_sid
// cookie for this origin: hubio.js and Socket.IO's io() then connect with
// it). Served at /examples/common/session.js; no inline script anywhere
// (the pages get the dashboard's CSP).
//
//   import { signedIn, logout } from '/examples/common/session.js';
//   const session = await signedIn(document.querySelector('main'));
//   // session = {user: {username, display_name, role}, rooms: [{room, level, hooked}]}

/** GET /api/session: the session, or null when nobody is signed in. */
export async function currentSession() {
	const r = await fetch('/api/session?optional=1', { credentials: 'same-origin' });
	if (r.status === 204 || r.status === 401)
		return null;
	if (!r.ok)
		throw new Error(`GET /api/session: HTTP ${r.status}`);
	return r.json();
}

function el(tag, attrs = {}, text = '') {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs))
		e.setAttribute(k, v);
	if (text)
		e.textContent = text;
	return e;
}

/**
 * The session; when nobody is signed in, a sign-in form is shown in
 * `container` (its other children hidden meanwhile) until a login works.
 */
export async function signedIn(container, { hint = 'Use your hub account (make run prints the demo logins).' } = {}) {
	const s = await currentSession();
	if (s)
		return s;
	const hidden = [...container.children].filter((c) => !c.hidden);
	hidden.forEach((c) => { c.hidden = true; });
	const form = el('form', { class: 'card ex-signin', id: 'ex-signin' });
	form.append(el('h2', {}, 'Sign in'), el('p', { class: 'muted' }, hint));
	const user = el('input', { id: 'ex-username', name: 'username', autocomplete: 'username',
		autocapitalize: 'none', spellcheck: 'false', maxlength: '64', required: '' });
	const pass = el('input', { id: 'ex-password', name: 'password', type: 'password',
		autocomplete: 'current-password', required: '' });
	const err = el('p', { class: 'error', role: 'alert' });
	err.hidden = true;
	const btn = el('button', { class: 'btn btn-primary', type: 'submit', id: 'ex-signin-submit' }, 'Sign in');
	form.append(el('label', { for: 'ex-username' }, 'Username'), user,
		el('label', { for: 'ex-password' }, 'Password'), pass, err, btn);
	container.append(form);
	user.focus();
	return new Promise((resolve) => {
		form.addEventListener('submit', async (e) => {
			e.preventDefault();
			btn.disabled = true;
			err.hidden = true;
			try {
				const r = await fetch('/api/login', {
					method: 'POST',
					credentials: 'same-origin',
					headers: { 'content-type': 'application/json' },
					body: JSON.stringify({ username: user.value.trim(), password: pass.value }),
				});
				if (r.ok) {
					const session = await currentSession();
					if (session) {
						form.remove();
						hidden.forEach((c) => { c.hidden = false; });
						resolve(session);
						return;
					}
				}
				err.textContent = r.status === 401 ? 'Wrong username or password.'
					: r.status === 429 ? 'Too many failed attempts; try again later.'
						: `Sign-in failed (HTTP ${r.status}).`;
			} catch {
				err.textContent = 'Cannot reach the hub.';
			}
			err.hidden = false;
			btn.disabled = false;
		});
	});
}

/** POST /api/logout, then reload (the page shows the sign-in form). */
export async function logout() {
	await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
	location.reload();
}
