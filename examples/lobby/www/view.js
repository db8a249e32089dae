// SPDX-License-Identifier: MIT
// The lobby's screen, shared by its two pages: index.html talks to the hub
// with hubio.js (app-hubio.js), sio.html with plain Socket.IO client code
// (app-sio.js). Neither decides anything: the backend does (seat limit,
// owner, kick, ready, countdown, start); this file only draws what it
// announces and hands the player's clicks to `actions`.
//
//   const view = createView({me, actions});
//   actions: sit(room), stand(room), ready(room, bool), kick(room, user),
//            finish(room), chat(room, text): each resolves {ok, message?}
//   view.setConn('online'|'offline', text)   view.setTables(list, seat)
//   view.setState(state)   view.log(entry)   view.chat(room, {display, text}, mine)
//   view.started(data)     view.kicked(data) view.notice(text, kind)

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls)
		e.className = cls;
	if (text !== undefined)
		e.textContent = text;
	return e;
}

const PHASES = { waiting: 'waiting', countdown: 'starting', playing: 'playing' };

export function createView({ me, actions }) {
	let tables = [];            // the list: [{table, title, seats, taken, phase}]
	let mine = null;            // the state of the table I sit at
	const lines = new Map();    // table -> its recent feed lines (the page hears every table)
	let ticker = null;
	let noticeTimer = null;

	$('me').textContent = me;

	// ---------------------------------------------------------------- notices

	function notice(text, kind = 'error') {
		const n = $('notice');
		n.textContent = text;
		n.dataset.kind = kind;
		n.hidden = false;
		clearTimeout(noticeTimer);
		noticeTimer = setTimeout(() => { n.hidden = true; }, 6000);
	}

	async function run(promise) {
		const r = await promise;
		if (!r.ok)
			notice(r.message || 'refused');
		return r;
	}

	// ---------------------------------------------------------------- the list

	function drawTables() {
		const ul = $('tables');
		ul.replaceChildren();
		for (const t of tables) {
			const li = el('li', 'table-card');
			li.dataset.table = t.table;
			li.dataset.taken = t.taken;
			li.dataset.seats = t.seats;
			li.dataset.phase = t.phase;
			const seated = mine && mine.table === t.table;
			if (seated)
				li.classList.add('mine');
			const head = el('div', 'table-head');
			head.append(el('h3', '', t.title), el('span', `phase phase-${t.phase}`, PHASES[t.phase] || t.phase));
			const seats = el('div', 'seats');
			seats.setAttribute('aria-label', `${t.taken} of ${t.seats} seats taken`);
			for (let i = 0; i < t.seats; i++)
				seats.append(el('span', i < t.taken ? 'seat taken' : 'seat'));
			const count = el('span', 'count', `${t.taken}/${t.seats}`);
			const btn = el('button', 'btn btn-small sit', seated ? 'Your table' : 'Sit');
			btn.type = 'button';
			btn.disabled = seated || t.taken >= t.seats || t.phase === 'playing';
			if (t.taken >= t.seats && !seated)
				btn.textContent = 'Full';
			btn.addEventListener('click', () => run(actions.sit(t.table)));
			const foot = el('div', 'table-foot');
			foot.append(seats, count, btn);
			li.append(head, foot);
			ul.append(li);
		}
	}

	function setTables(list) {
		tables = list || [];
		drawTables();
	}

	// ---------------------------------------------------------------- my table

	function leftText(ms) {
		return `${Math.ceil(ms / 1000)} s`;
	}

	function drawTable() {
		clearInterval(ticker);
		ticker = null;
		const panel = $('table');
		const s = mine;
		$('no-table').hidden = !!s;
		$('table-body').hidden = !s;
		if (!s) {
			panel.dataset.table = '';
			panel.dataset.phase = '';
			panel.dataset.owner = '';
			$('players').replaceChildren();
			$('feed').replaceChildren();
			$('table-title').textContent = 'Your table';
			$('table-phase').textContent = '';
			return;
		}
		panel.dataset.table = s.table;
		panel.dataset.phase = s.phase;
		panel.dataset.owner = s.owner || '';
		$('table-title').textContent = s.title;
		$('table-phase').textContent = PHASES[s.phase] || s.phase;
		$('table-phase').className = `phase phase-${s.phase}`;
		const meP = s.players.find((p) => p.user === me);
		const owner = s.owner === me;
		const ul = $('players');
		ul.replaceChildren();
		const t0 = performance.now();
		const awayTimers = [];
		for (const p of s.players) {
			const li = el('li', 'player');
			li.dataset.user = p.user;
			li.dataset.ready = p.ready;
			li.dataset.away = !!p.away;
			const name = el('span', 'name', p.display);
			if (p.user === me)
				name.append(el('span', 'you', ' (you)'));
			li.append(name);
			if (p.user === s.owner)
				li.append(el('span', 'badge owner', 'owner'));
			if (p.away) {
				const b = el('span', 'badge away', '');
				awayTimers.push(() => {
					const left = Math.max(0, p.away.leftMs - (performance.now() - t0));
					b.textContent = `away: ${p.away.reason} · seat kept ${leftText(left)}`;
				});
				li.append(b);
			} else {
				li.append(el('span', `badge ${p.ready ? 'ready' : 'not-ready'}`, p.ready ? 'ready' : 'not ready'));
			}
			if (owner && p.user !== me) {
				const k = el('button', 'btn btn-small btn-danger kick', 'Remove');
				k.type = 'button';
				k.setAttribute('aria-label', `Remove ${p.display} from the table`);
				k.addEventListener('click', () => run(actions.kick(s.table, p.user)));
				li.append(k);
			}
			ul.append(li);
		}
		for (let i = s.players.length; i < s.seats; i++)
			ul.append(el('li', 'player empty', 'empty seat'));

		const ready = $('ready');
		ready.disabled = !meP || s.phase === 'playing';
		ready.textContent = meP && meP.ready ? 'Not ready' : "I'm ready";
		ready.dataset.ready = meP ? meP.ready : false;
		$('finish').hidden = !(owner && s.phase === 'playing');
		$('chat-input').disabled = !meP;

		const cd = $('countdown');
		const tick = () => {
			awayTimers.forEach((f) => f());
			if (s.phase === 'countdown') {
				const left = Math.max(0, s.countdownLeftMs - (performance.now() - t0));
				cd.textContent = `Starting in ${Math.ceil(left / 1000)}…`;
			}
		};
		cd.hidden = s.phase !== 'countdown' && s.phase !== 'playing';
		if (s.phase === 'playing')
			cd.textContent = `Game ${s.game} is on`;
		tick();
		if (s.phase === 'countdown' || awayTimers.length)
			ticker = setInterval(tick, 250);
	}

	function setState(s) {
		if (!s)
			return;
		const seated = s.players.some((p) => p.user === me);
		if (seated) {
			if (mine && mine.table === s.table && s.v < mine.v)
				return;   // an older state than the one shown
			const moved = !mine || mine.table !== s.table;
			mine = s;
			if (moved)
				drawFeed();
		} else if (mine && mine.table === s.table) {
			if (s.v < mine.v)
				return;
			mine = null;  // I have no seat there any more
		} else {
			return;       // another table's
		}
		drawTable();
		drawTables();
	}

	function clearTable() {
		mine = null;
		drawTable();
		drawTables();
	}

	// ---------------------------------------------------------------- the feed

	function lineItem(l) {
		const li = el('li', `line line-${l.type} ${l.cls}`.trim());
		li.dataset.type = l.type;
		const text = el('span', 'text');
		if (l.who !== undefined)
			text.append(el('b', '', `${l.who}: `));
		text.append(document.createTextNode(l.text));
		li.append(el('time', '', l.time), text);
		return li;
	}

	function drawFeed() {
		const feed = $('feed');
		feed.replaceChildren(...(mine ? (lines.get(mine.table) || []).map(lineItem) : []));
		feed.scrollTop = feed.scrollHeight;
	}

	// a line for a table's feed: kept (the last 100 a table), and shown
	// when it is the table I sit at
	function feedLine(table, type, text, { cls = '', who } = {}) {
		const l = { type, text, cls, who,
			time: new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) };
		if (!lines.has(table))
			lines.set(table, []);
		const list = lines.get(table);
		list.push(l);
		if (list.length > 100)
			list.shift();
		if (mine && mine.table === table) {
			const feed = $('feed');
			feed.append(lineItem(l));
			while (feed.children.length > 100)
				feed.firstChild.remove();
			feed.scrollTop = feed.scrollHeight;
		}
	}

	function log(e) {
		if (!e || typeof e.table !== 'string')
			return;
		const who = e.display || e.user;
		const line = (type, text) => feedLine(e.table, type, text);
		switch (e.type) {
		case 'joined': line('joined', `${who} joined`); break;
		case 'left': line('left', `${who} left (${e.reason})`); break;
		case 'away': line('away', `${who} ${e.reason}: seat kept ${leftText(e.graceMs)}`); break;
		case 'back': line('back', `${who} is back`); break;
		case 'owner': line('owner', `${who} owns the table`); break;
		case 'ready': line('ready', `${who} is ready`); break;
		case 'unready': line('unready', `${who} is not ready`); break;
		case 'countdown': line('countdown', `Everybody is ready: starting in ${leftText(e.ms)}`); break;
		case 'countdown_stopped': line('countdown', 'Countdown stopped'); break;
		case 'started': line('started', `Game ${e.game} started: ${e.players.join(', ')}`); break;
		case 'finished': line('finished', `Game ${e.game} ended`); break;
		default: break;
		}
	}

	function chat(room, data, isMine) {
		if (typeof room !== 'string' || !data || typeof data.text !== 'string')
			return;
		feedLine(room, 'chat', data.text, { cls: isMine ? 'mine' : '', who: String(data.display) });
	}

	function started(d) {
		if (mine && d.table === mine.table)
			notice(`Game ${d.game} started!`, 'ok');
	}

	function kicked(d) {
		notice(`You were removed from ${d.title} by ${d.by}.`);
		if (mine && mine.table === d.table)
			clearTable();
	}

	function setConn(state, text) {
		const c = $('conn');
		c.dataset.state = state;
		c.textContent = text || state;
	}

	// ---------------------------------------------------------------- controls

	$('ready').addEventListener('click', () => {
		if (!mine)
			return;
		const meP = mine.players.find((p) => p.user === me);
		run(actions.ready(mine.table, !(meP && meP.ready)));
	});
	$('stand').addEventListener('click', () => {
		if (mine)
			run(actions.stand(mine.table));
	});
	$('finish').addEventListener('click', () => {
		if (mine)
			run(actions.finish(mine.table));
	});
	$('chat-form').addEventListener('submit', async (e) => {
		e.preventDefault();
		const input = $('chat-input');
		const text = input.value.trim();
		if (!mine || !text)
			return;
		const room = mine.table;
		const r = await run(actions.chat(room, text));
		if (r.ok) {
			input.value = '';
			chat(room, r.data || { display: me, text }, true);
		}
	});

	drawTable();
	return { setConn, setTables, setState, clearTable, log, chat, started, kicked, notice,
		get table() { return mine ? mine.table : null; } };
}
