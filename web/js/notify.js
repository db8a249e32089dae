// SPDX-License-Identifier: MIT
// The notifications panel: events sent to the user's inbox
// (users/{me}/inbox/{event}/{sender}: direct messages, the publish API's
// notifications), newest first, with an unread count.
import { $, el, clock, iso, textOf } from './dom.js';

const KEEP = 100;

export class Notifications {
	constructor(hub) {
		this.hub = hub;
		this.items = [];
		this.unread = 0;
		this.onAny = (event, data, meta) => {
			if (meta && meta.inbox && event !== 'reply' && event !== 'typing')
				this.add(event, data, meta);
		};
		hub.onAny(this.onAny);
		this.onRead = () => this.markRead();
		$('notif-read').addEventListener('click', this.onRead);
		this.render();
	}

	destroy() {
		this.hub.offAny(this.onAny);
		$('notif-read').removeEventListener('click', this.onRead);
		$('notif-list').replaceChildren();
		this.items = [];
		this.unread = 0;
		this.renderCount();
	}

	add(event, data, meta) {
		const item = { event, data, from: meta.from, ts: meta.ts || Date.now(), unread: true };
		this.items.unshift(item);
		if (this.items.length > KEEP)
			this.items.length = KEEP;
		this.unread++;
		$('notif-list').prepend(this.node(item));
		while ($('notif-list').childElementCount > KEEP)
			$('notif-list').lastElementChild.remove();
		this.renderCount();
	}

	node(n) {
		return el('li', { class: n.unread ? 'unread' : '', dataset: { event: n.event, from: n.from } },
			el('div', { class: 'n-head' },
				el('span', { class: 'n-event' }, n.event),
				el('span', { class: 'muted' }, `from ${n.from}`),
				el('time', { datetime: iso(n.ts) }, clock(n.ts))),
			el('p', { class: 'n-body' }, textOf(n.data)));
	}

	markRead() {
		this.unread = 0;
		for (const n of this.items)
			n.unread = false;
		this.render();
	}

	render() {
		$('notif-list').replaceChildren(...this.items.map((n) => this.node(n)));
		this.renderCount();
	}

	renderCount() {
		const c = $('notif-count');
		c.hidden = this.unread === 0;
		c.textContent = String(this.unread);
		c.setAttribute('aria-label', `${this.unread} unread`);
		$('notif-empty').hidden = this.items.length > 0;
	}
}
