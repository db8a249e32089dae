// SPDX-License-Identifier: MIT
// Rooms, chat and presence: the room list with unread counts, the selected
// room's messages (history from hubd, then live over MQTT), the typing
// line, presence with online counts and joined/left lines. Presence here
// is people's: devices (trackers, phones) are on the map and the vehicle
// list, never a chat line or a row of the Online list. setRooms() applies
// a new room list (granted, revoked, level changed) while the page is open.
import * as api from './api.js';
import { $, el, clock, iso, textOf } from './dom.js';

const CHAT_EVENT = 'chat message';
const KEEP = 500;           // messages kept per room
const PAGE = 50;            // history page size
const TYPING_SHOWN_MS = 3500;
const PRESENCE_SHOWN = 200;

export class Chat {
	/**
	 * @param {object} hub   a hubio connection
	 * @param {string} me    the user's name
	 * @param {{room: string, level: string, hooked?: boolean}[]} rooms  from GET api/session
	 */
	constructor(hub, me, rooms) {
		this.hub = hub;
		this.me = me;
		this.rooms = new Map();
		for (const r of rooms) {
			this.noteHooked(r);
			this.rooms.set(r.room, newRoom(r));
		}
		this.current = null;
		this.gone = null;           // the room on screen that was revoked
		this.localSeq = 0;
		this.typingTimer = null;
		this.renderRooms();
		this.wire();
		for (const room of this.rooms.keys())
			this.joinRoom(room);
		const first = this.rooms.keys().next().value;
		const saved = sessionStorage.getItem('hub.room');
		if (first === undefined) {
			this.noRooms();
			return;
		}
		this.select(saved && this.rooms.has(saved) ? saved : first);
	}

	noRooms() {
		$('chat-title').textContent = 'No rooms yet';
		$('composer-input').disabled = true;
		$('send').disabled = true;
		$('composer-input').placeholder = 'An admin can add you to a room (hubctl grant)';
		$('messages').replaceChildren();
		this.renderPresence();
	}

	/**
	 * Apply the rooms of a fresh GET api/session: join the new ones, leave
	 * the revoked ones (they leave the list; the one on screen stays with
	 * its messages, marked, and its message box disabled, until another
	 * room is picked), and follow level changes (read-only or not).
	 * @param {{room: string, level: string, hooked?: boolean}[]} rooms
	 * @returns {boolean} whether rooms were added or removed
	 */
	/** A backend checks this room's events (GET api/session says so):
	 * hubio then makes a send there wait for the backend's verdict. */
	noteHooked(r) {
		if (typeof this.hub.hooked === 'function')
			this.hub.hooked(r.room, !!r.hooked);
	}

	setRooms(rooms) {
		for (const r of rooms)
			this.noteHooked(r);
		const now = new Map(rooms.map((r) => [r.room, r.level]));
		let changed = false;
		let membership = false;
		for (const [name, r] of [...this.rooms]) {
			if (now.has(name))
				continue;
			changed = membership = true;
			this.dropRoom(r);
		}
		for (const [name, level] of now) {
			const r = this.rooms.get(name);
			if (!r) {
				this.rooms.set(name, newRoom({ room: name, level }));
				this.joinRoom(name);
				changed = membership = true;
			} else if (r.level !== level) {
				r.level = level;
				changed = true;
				if (name === this.current)
					this.renderComposer();
			}
		}
		if (!changed)
			return false;
		if (this.current === null && !this.gone && this.rooms.size)
			this.select(this.rooms.keys().next().value);
		this.renderRooms();
		return membership;
	}

	/* A revoked room: unsubscribe, forget; marked when it is on screen. */
	dropRoom(r) {
		this.rooms.delete(r.name);
		if (r.unsubPresence)
			r.unsubPresence();
		this.hub.leave(r.name).catch(() => {});
		if (sessionStorage.getItem('hub.room') === r.name)
			sessionStorage.removeItem('hub.room');
		if (r.name !== this.current)
			return;
		this.current = null;
		this.gone = r.name;
		$('chat-title').textContent = `# ${r.name}`;
		const input = $('composer-input');
		input.disabled = true;
		$('send').disabled = true;
		input.placeholder = `You are no longer a member of #${r.name}`;
		$('history-note').hidden = false;
		$('history-note').textContent = `You are no longer a member of #${r.name}.` +
			(this.rooms.size ? ' Pick another room.' : '');
		$('load-older').hidden = true;
		$('typing').textContent = '';
		this.renderPresence();
	}

	wire() {
		const h = this.hub;
		this.onChat = (data, meta) => this.live(meta.room, {
			kind: 'msg', from: meta.from, ts: meta.ts, data, event: CHAT_EVENT,
		});
		this.onTyping = (data, meta) => {
			const r = this.rooms.get(meta.room);
			if (!r || meta.inbox || meta.from === this.me)
				return;
			if (data && data.typing === false)
				r.typing.delete(meta.from);
			else
				r.typing.set(meta.from, Date.now() + TYPING_SHOWN_MS);
			if (meta.room === this.current)
				this.renderTyping();
		};
		this.onJoined = (data, meta) => this.notice(meta.room, data, true);
		this.onLeft = (data, meta) => this.notice(meta.room, data, false);
		this.onConnect = () => {
			// the presence list is rebuilt from the retained topics; what was
			// said while away comes from the history
			for (const r of this.rooms.values())
				if (r.loaded && !r.denied)
					this.catchUp(r);
		};
		h.on(CHAT_EVENT, (data, meta) => {
			if (!meta.inbox)
				this.onChat(data, meta);
		});
		h.on('typing', this.onTyping);
		h.on('joined', this.onJoined);
		h.on('left', this.onLeft);
		h.on('connect', this.onConnect);

		const input = $('composer-input');
		this.onSubmit = (e) => {
			e.preventDefault();
			this.send(input.value);
		};
		this.onInput = () => {
			if (input.value.trim() && this.current)
				this.hub.typing(this.current);
		};
		$('composer').addEventListener('submit', this.onSubmit);
		input.addEventListener('input', this.onInput);
		this.onOlder = () => this.loadOlder();
		$('load-older').addEventListener('click', this.onOlder);
		this.typingTimer = setInterval(() => this.renderTyping(), 1000);
	}

	destroy() {
		clearInterval(this.typingTimer);
		$('composer').removeEventListener('submit', this.onSubmit);
		$('composer-input').removeEventListener('input', this.onInput);
		$('load-older').removeEventListener('click', this.onOlder);
		for (const r of this.rooms.values())
			if (r.unsubPresence)
				r.unsubPresence();
		$('room-list').replaceChildren();
		$('messages').replaceChildren();
		$('presence-list').replaceChildren();
		$('typing').textContent = '';
		$('chat-online').textContent = '';
		$('online-count').textContent = '0';
	}

	// ------------------------------------------------------------ rooms

	joinRoom(room) {
		const r = this.rooms.get(room);
		r.unsubPresence = this.hub.onPresence(room, (list) => {
			// people only: devices are on the map
			r.presence = list.filter((p) => !p.device);
			if (room === this.current)
				this.renderPresence();
		});
		this.hub.join(room).catch((e) => {
			if (e.code === 'forbidden' && this.rooms.get(room) === r) {
				r.denied = true;
				this.renderRooms();
			}
		});
	}

	renderRooms() {
		const ul = $('room-list');
		const items = [];
		for (const r of this.rooms.values()) {
			const badge = r.unread ? el('span', { class: 'badge',
				'aria-label': `${r.unread} unread` }, String(r.unread > 99 ? '99+' : r.unread)) : null;
			const btn = el('button', {
				type: 'button',
				'aria-current': r.name === this.current ? 'true' : 'false',
				dataset: { room: r.name },
				onclick: () => this.select(r.name),
			},
			el('span', { class: 'room-name' + (r.denied ? ' denied' : '') }, `# ${r.name}`),
			r.level === 'read' ? el('span', { class: 'level', title: 'read only' }, 'read') : null,
			badge);
			items.push(el('li', {}, btn));
		}
		ul.replaceChildren(...items);
	}

	select(room) {
		if (!room || !this.rooms.has(room))
			return;
		this.current = room;
		this.gone = null;
		sessionStorage.setItem('hub.room', room);
		const r = this.rooms.get(room);
		r.unread = 0;
		$('chat-title').textContent = `# ${room}`;
		$('history-note').hidden = true;
		this.renderComposer();
		this.renderRooms();
		this.renderMessages(true);
		this.renderPresence();
		this.renderTyping();
		if (!r.loaded && !r.loading)
			this.loadHistory(r);
	}

	renderComposer() {
		const r = this.rooms.get(this.current);
		if (!r)
			return;
		const input = $('composer-input');
		const readOnly = r.level === 'read';
		input.disabled = readOnly;
		$('send').disabled = readOnly;
		input.placeholder = readOnly ? `You can read #${r.name} but not write in it`
			: `Message #${r.name}`;
	}

	// ---------------------------------------------------------- history

	async loadHistory(r) {
		r.buffer = [];
		r.loading = api.history(r.name, PAGE).then((res) => {
			const hist = (res.messages || []).map(fromHistory);
			r.oldestId = hist.length ? hist[0].id : null;
			r.more = hist.length >= PAGE;
			// live messages (no id) that came while loading or before (the
			// room was not on screen yet, or they were sent from here) may
			// be in the history too: keep only those it does not have
			const older = r.items.filter((m) => m.kind !== 'msg' || m.id == null);
			const unseen = notIn(hist, [...older.filter((m) => m.kind === 'msg'), ...r.buffer]);
			r.items = mergeSorted(hist, older.filter((m) => m.kind !== 'msg' || unseen.has(m)),
				r.buffer.filter((m) => unseen.has(m)));
			r.loaded = true;
			$('history-note').hidden = true;
		}).catch((e) => {
			r.loaded = true;
			r.items = mergeSorted([], r.items, r.buffer);
			if (r.name === this.current) {
				$('history-note').hidden = false;
				$('history-note').textContent = e.status === 403
					? 'No history: you may not read this room.'
					: `History is unavailable (${e.message}).`;
			}
		}).finally(() => {
			r.buffer = null;
			r.loading = null;
			if (r.name === this.current)
				this.renderMessages(true);
		});
		return r.loading;
	}

	async loadOlder() {
		const r = this.rooms.get(this.current);
		if (!r || r.oldestId == null)
			return;
		const scroller = $('messages-scroll');
		const before = scroller.scrollHeight - scroller.scrollTop;
		try {
			const res = await api.history(r.name, PAGE, r.oldestId);
			const hist = (res.messages || []).map(fromHistory);
			if (hist.length)
				r.oldestId = hist[0].id;
			r.more = hist.length >= PAGE;
			r.items = [...hist, ...r.items];
		} catch (e) {
			r.more = false;
		}
		this.renderMessages(false);
		scroller.scrollTop = scroller.scrollHeight - before;
	}

	/* After a reconnect: fetch the newest page and add what is missing. */
	async catchUp(r) {
		try {
			const res = await api.history(r.name, PAGE);
			const hist = (res.messages || []).map(fromHistory);
			const known = new Set(r.items.filter((m) => m.id != null).map((m) => m.id));
			const live = r.items.filter((m) => m.id == null && m.kind === 'msg');
			// history entries that are not a copy of a live one
			const fresh = [...notIn(live, hist.filter((h) => !known.has(h.id)))];
			if (!fresh.length)
				return;
			r.items = mergeSorted(r.items, fresh, []);
			if (r.name === this.current)
				this.renderMessages(true);
		} catch {
			// history is a nicety; live messages keep flowing
		}
	}

	// ------------------------------------------------------------- live

	live(room, m) {
		const r = this.rooms.get(room);
		if (!r)
			return;
		r.typing.delete(m.from);
		if (r.buffer) {
			r.buffer.push(m);
			return;
		}
		this.push(r, m);
		if (room !== this.current) {
			r.unread++;
			this.renderRooms();
		}
	}

	notice(room, data, joined) {
		const r = this.rooms.get(room);
		// a device coming and going is no chat line (the OwnTracks app
		// connects once per fix): the map and the vehicle list show it
		if (!r || !data || !data.user || data.device === true)
			return;
		let text;
		if (joined)
			text = data.user === this.me ? 'you are online' : `${data.user} joined`;
		else
			text = data.reason && data.reason !== 'clean'
				? `${data.user} left (${data.reason})` : `${data.user} left`;
		if (joined && data.user === this.me)
			return;
		r.typing.delete(data.user);
		this.push(r, { kind: 'sys', text, joined, ts: Date.now() });
	}

	push(r, m) {
		r.items.push(m);
		if (r.items.length > KEEP) {
			r.items.splice(0, r.items.length - KEEP);
			r.more = true;
			const firstId = r.items.find((x) => x.id != null);
			r.oldestId = firstId ? firstId.id : r.oldestId;
		}
		if (r.name === this.current)
			this.appendItem(m);
	}

	async send(text) {
		const room = this.current;
		const r = this.rooms.get(room);
		text = text.trim();
		if (!text || !r || r.level === 'read')
			return;
		$('composer-input').value = '';
		const m = { kind: 'msg', from: this.me, ts: Date.now(), data: { content: text },
			local: ++this.localSeq, state: 'pending' };
		this.push(r, m);
		try {
			await this.hub.timeout(10000).emit(room, CHAT_EVENT, { content: text });
			m.state = 'sent';
		} catch (e) {
			m.state = 'failed';
			// in a room hooked to a backend the verdict tells (e.detail:
			// the backend's reason)
			m.error = e.message === 'forbidden' ? 'not sent: you may not write here'
				: e.message === 'timeout' ? 'not confirmed by the hub (will retry when connected)'
					: e.message === 'rejected' ? `not sent: ${e.detail || 'refused by the room'}`
						: e.message === 'unavailable' ? 'not sent: the room\'s checker is away'
							: `not sent: ${e.message}`;
		}
		this.updateItem(m);
	}

	// ----------------------------------------------------------- render

	itemNode(m) {
		if (m.kind === 'sys')
			return el('li', { class: 'sysline' + (m.joined ? ' joined' : ' left'),
				dataset: { kind: 'sys' } }, m.text);
		const mine = m.from === this.me;
		const cls = ['msg', mine ? 'mine' : '', m.state === 'pending' ? 'pending' : '',
			m.state === 'failed' ? 'failed' : ''].filter(Boolean).join(' ');
		const li = el('li', { class: cls, dataset: { from: m.from, id: m.id ?? '' } },
			el('span', { class: 'from' }, m.from),
			el('time', { datetime: iso(m.ts) }, clock(m.ts)),
			el('p', { class: 'text' }, (m.event && m.event !== CHAT_EVENT ? `[${m.event}] ` : '') +
				textOf(m.data)));
		if (m.state === 'failed')
			li.append(el('span', { class: 'state', role: 'status' }, m.error));
		m.node = li;
		return li;
	}

	updateItem(m) {
		if (!m.node || !m.node.isConnected)
			return;
		m.node.replaceWith(this.itemNode(m));
	}

	appendItem(m) {
		const sc = $('messages-scroll');
		const atBottom = sc.scrollHeight - sc.scrollTop - sc.clientHeight < 80;
		$('messages').append(this.itemNode(m));
		const list = $('messages');
		while (list.childElementCount > KEEP)
			list.firstElementChild.remove();
		if (atBottom || m.from === this.me)
			sc.scrollTop = sc.scrollHeight;
	}

	renderMessages(toBottom) {
		const r = this.rooms.get(this.current);
		if (!r)
			return;
		const nodes = r.items.map((m) => this.itemNode(m));
		$('messages').replaceChildren(...nodes);
		$('load-older').hidden = !(r.more && r.oldestId != null);
		if (toBottom) {
			const sc = $('messages-scroll');
			sc.scrollTop = sc.scrollHeight;
		}
	}

	renderTyping() {
		const r = this.rooms.get(this.current);
		const line = $('typing');
		if (!r) {
			line.textContent = '';
			return;
		}
		const now = Date.now();
		for (const [u, until] of r.typing)
			if (until < now)
				r.typing.delete(u);
		const who = [...r.typing.keys()].sort();
		let text = '';
		if (who.length === 1)
			text = `${who[0]} is typing…`;
		else if (who.length === 2)
			text = `${who[0]} and ${who[1]} are typing…`;
		else if (who.length > 2)
			text = 'several people are typing…';
		if (line.textContent !== text)
			line.textContent = text;
	}

	renderPresence() {
		const r = this.rooms.get(this.current);
		const list = r ? r.presence : [];
		$('online-count').textContent = String(list.length);
		$('chat-online').textContent = r ? `${list.length} online` : '';
		// a room full of trackers: the first PRESENCE_SHOWN, then a count
		const rows = list.slice(0, PRESENCE_SHOWN).map((p) => el('li',
			{ dataset: { user: p.user } },
			el('span', { class: 'user' }, p.user),
			p.user === this.me ? el('span', { class: 'you' }, '(you)') : null,
			p.since ? el('time', { class: 'since', datetime: iso(p.since * 1000),
				title: 'online since' }, clock(p.since * 1000)) : null));
		if (list.length > PRESENCE_SHOWN)
			rows.push(el('li', { class: 'more' }, `and ${list.length - PRESENCE_SHOWN} more`));
		$('presence-list').replaceChildren(...rows);
	}
}

function newRoom(r) {
	return {
		name: r.room,
		level: r.level,
		items: [],          // {kind:'msg'|'sys', ...} oldest first
		oldestId: null,
		more: false,
		loaded: false,
		loading: null,
		buffer: null,       // live messages while the history loads
		unread: 0,
		typing: new Map(),  // user -> until (ms)
		presence: [],       // people online (no devices)
		denied: false,
		unsubPresence: null,
	};
}

function fromHistory(h) {
	return { kind: 'msg', id: h.id, from: h.from, ts: h.ts, data: h.data, event: h.event };
}

/* The same message seen in the history and live (the live copy has no id). */
function sameMessage(h, m) {
	return h.from === m.from && JSON.stringify(h.data) === JSON.stringify(m.data) &&
		Math.abs(h.ts - m.ts) < 60000;
}

/* The messages of `msgs` that have no copy in `hist` (each copy absorbs
 * one message: the same text sent twice stays twice). */
function notIn(hist, msgs) {
	const left = [...hist];
	const out = new Set();
	for (const m of msgs) {
		const i = left.findIndex((h) => sameMessage(h, m));
		if (i >= 0)
			left.splice(i, 1);
		else
			out.add(m);
	}
	return out;
}

function mergeSorted(...lists) {
	return lists.flat().map((m, i) => [m, i])
		.sort((a, b) => (a[0].ts - b[0].ts) || (a[1] - b[1]))
		.map(([m]) => m);
}
