// SPDX-License-Identifier: MIT
// Small DOM and formatting helpers. Text always goes in through
// textContent: nothing received is ever parsed as HTML.

export const $ = (id) => document.getElementById(id);

/** el('li', {class: 'x', dataset: {a: 1}}, 'text', child...) */
export function el(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v == null || v === false)
			continue;
		if (k === 'class')
			e.className = v;
		else if (k === 'dataset')
			Object.assign(e.dataset, v);
		else if (k === 'text')
			e.textContent = v;
		else if (k.startsWith('on'))
			e.addEventListener(k.slice(2), v);
		else
			e.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children)
		if (c != null)
			e.append(c);
	return e;
}

export function clock(ms) {
	return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function iso(ms) {
	return new Date(ms).toISOString();
}

/** "4 s", "3 min", "2 h" */
export function age(ms) {
	const s = Math.max(0, Math.round(ms / 1000));
	if (s < 60)
		return `${s} s`;
	if (s < 3600)
		return `${Math.floor(s / 60)} min`;
	if (s < 86400)
		return `${Math.floor(s / 3600)} h`;
	return `${Math.floor(s / 86400)} d`;
}

/** The text of a message payload: a string, or {content|text|message|msg}. */
export function textOf(data) {
	if (typeof data === 'string')
		return data;
	if (data && typeof data === 'object')
		for (const k of ['content', 'text', 'message', 'msg', 'body', 'title'])
			if (typeof data[k] === 'string')
				return data[k];
	return JSON.stringify(data);
}

