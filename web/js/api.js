// SPDX-License-Identifier: MIT
// hubd's HTTP API as the dashboard uses it (cookie session, same origin).
// Every function resolves with parsed JSON or throws an ApiError carrying
// the HTTP status, the error code and Retry-After (seconds) when given.

export class ApiError extends Error {
	constructor(status, code, message, retryAfter) {
		super(message || code || `HTTP ${status}`);
		this.status = status;
		this.code = code;
		this.retryAfter = retryAfter;
		// a 401 means the session is gone: hubio stops reconnecting on it
		this.fatal = status === 401;
	}
}

async function call(method, path, body) {
	let r;
	try {
		r = await fetch(path, {
			method,
			credentials: 'same-origin',
			headers: body ? { 'content-type': 'application/json' } : {},
			body: body ? JSON.stringify(body) : undefined,
			cache: 'no-store',
		});
	} catch (e) {
		throw new ApiError(0, 'network', 'cannot reach the hub');
	}
	if (r.status === 204)
		return null;
	let json = null;
	try {
		json = await r.json();
	} catch {
		// not JSON (a proxy's error page...)
	}
	if (!r.ok) {
		const ra = Number.parseInt(r.headers.get('retry-after') || '', 10);
		throw new ApiError(r.status, json && json.error, json && json.message,
			Number.isFinite(ra) ? ra : undefined);
	}
	return json;
}

/** POST api/login → {user, token, expires_at} (sets the hub_sid cookie). */
export const login = (username, password) => call('POST', 'api/login', { username, password });
/** GET api/session → {user, rooms: [{room, level}]}; ApiError 401 without one. */
export const session = () => call('GET', 'api/session');
/** GET api/session?optional=1 → the same, or null without a live session
 * (hubd answers 204: a page load asking "am I signed in?" fails no request). */
export const sessionIfAny = () => call('GET', 'api/session?optional=1');
/** POST api/token → {token, expires_at}. */
export const token = () => call('POST', 'api/token');
/** POST api/logout (204). */
export const logout = () => call('POST', 'api/logout');
/** GET api/config → {mqtt_ws_port, sio_port, mqtt_port, tls, mqtts_port, token_ttl, map_tiles,
 * map_attribution}. */
export const config = () => call('GET', 'api/config');
/** GET api/rooms/{room}/messages → {room, messages: [...]} (newest last). */
export function history(room, limit = 50, before) {
	const q = new URLSearchParams({ limit: String(limit) });
	if (before != null)
		q.set('before', String(before));
	return call('GET', `api/rooms/${encodeURIComponent(room)}/messages?${q}`);
}
