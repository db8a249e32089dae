// SPDX-License-Identifier: MIT
// The live Q&A on hubio.js. Everything people do (ask, vote, answer a poll,
// and the moderators' answer, hide, pin, poll) is an event into the Q&A's
// room, which is hooked to the backend: the emit settles with its verdict,
// and every member gets what the backend made of it, {v, questions: [...],
// poll?}: the changed questions (each with qv, the number of its last
// change) and the poll. The page keeps the newest of each and re-ranks.
// At start (and after every reconnect) it asks the backend for the whole
// state (the call `state`), after joining the room, so nothing falls
// between the two.
import * as hubio from '/lib/hubio.js';
import { signedIn, logout } from '/examples/common/session.js';

const $ = (id) => document.getElementById(id);
const ROOM = new URLSearchParams(location.search).get('room') || 'qna';
const EVENTS = ['ask', 'vote', 'unvote', 'answer', 'hide', 'unhide', 'pin', 'poll', 'pollclose', 'pick'];

const session = await signedIn($('main'));
const me = session.user.username;
$('me').textContent = me;

const questions = new Map();   // id -> question (hidden ones: {id, qv, hidden, text?})
const votes = new Set();       // the questions I voted for
let poll = null;               // {id, pv, question, options: [{text, count}], total, open}
let pick = null;               // {poll, option}
let moderator = false;
let noticeTimer = null;

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls)
		e.className = cls;
	if (text !== undefined)
		e.textContent = text;
	return e;
}

function notice(text, kind = 'error') {
	const n = $('notice');
	n.textContent = text;
	n.dataset.kind = kind;
	n.hidden = false;
	clearTimeout(noticeTimer);
	noticeTimer = setTimeout(() => { n.hidden = true; }, 6000);
}

// ---------------------------------------------------------------- the model

function applyQuestion(q) {
	const cur = questions.get(q.id);
	if (cur && cur.qv > q.qv)
		return;   // older than what is shown
	if (q.hidden)
		questions.set(q.id, { ...(cur || {}), id: q.id, qv: q.qv, hidden: true });   // moderators keep the text
	else
		questions.set(q.id, q);
}

function applyPoll(p) {
	if (!p)
		return;
	if (poll && poll.id === p.id && poll.pv > p.pv)
		return;
	if (poll && p.id < poll.id)
		return;
	if (!poll || poll.id !== p.id)
		pick = pick && pick.poll === p.id ? pick : null;
	poll = p;
}

/** What the backend sent: {v, questions, poll?}. */
function apply(changes) {
	if (!changes || typeof changes !== 'object')
		return;
	for (const q of changes.questions || [])
		applyQuestion(q);
	if (changes.poll)
		applyPoll(changes.poll);
	draw();
}

function applyState(s) {
	moderator = !!s.moderator;
	const seen = new Set();
	for (const q of s.questions) {
		applyQuestion(q);
		seen.add(q.id);
	}
	// gone from the state (hidden from me) and not changed since
	for (const [id, q] of questions)
		if (!seen.has(id) && q.qv <= s.v)
			questions.set(id, { id, qv: q.qv, hidden: true });
	votes.clear();
	s.votes.forEach((id) => votes.add(id));
	if (s.poll)
		applyPoll(s.poll);
	pick = s.pick;
	draw();
}

function ranked() {
	const visible = [...questions.values()].filter((q) => !q.hidden || (moderator && q.text !== undefined));
	const rank = (q) => (q.pinned ? 0 : q.hidden ? 3 : q.answered ? 2 : 1);
	return visible.sort((a, b) => rank(a) - rank(b) || (b.votes || 0) - (a.votes || 0) || a.ts - b.ts);
}

// ---------------------------------------------------------------- actions

async function act(event, data) {
	try {
		const verdict = await hub.timeout(10000).emit(ROOM, event, data);
		apply(verdict && verdict.data);
		return true;
	} catch (e) {
		notice(e.detail || (e.code === 'unavailable' ? 'The Q&A backend is not running.' : e.message));
		return false;
	}
}

async function toggleVote(id) {
	const voted = votes.has(id);
	if (await act(voted ? 'unvote' : 'vote', { id })) {
		if (voted)
			votes.delete(id);
		else
			votes.add(id);
		draw();
	}
}

async function choose(option) {
	const id = poll.id;
	if (await act('pick', { poll: id, option })) {
		pick = { poll: id, option };
		draw();
	}
}

// ---------------------------------------------------------------- drawing

function modButton(label, cls, fn) {
	const b = el('button', `btn btn-small ${cls}`, label);
	b.type = 'button';
	b.addEventListener('click', fn);
	return b;
}

function drawQuestion(q) {
	const li = el('li', 'question');
	li.dataset.id = q.id;
	li.dataset.votes = q.votes || 0;
	li.dataset.voted = votes.has(q.id);
	li.dataset.pinned = !!q.pinned;
	li.dataset.answered = !!q.answered;
	li.dataset.hidden = !!q.hidden;
	const vote = el('button', 'vote');
	vote.type = 'button';
	vote.setAttribute('aria-pressed', votes.has(q.id));
	vote.setAttribute('aria-label', `${votes.has(q.id) ? 'Take back your vote for' : 'Vote for'} this question (${q.votes || 0} votes)`);
	vote.append(el('span', 'arrow', '▲'), el('span', 'n', String(q.votes || 0)));
	vote.disabled = !!q.hidden;
	vote.addEventListener('click', () => toggleVote(q.id));
	const body = el('div', 'body');
	body.append(el('p', 'text', q.text || ''));
	const meta = el('div', 'meta');
	meta.append(el('span', '', `${q.display || q.by || ''}${q.by === me ? ' (you)' : ''}`));
	if (q.ts)
		meta.append(el('time', '', new Date(q.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })));
	if (q.pinned)
		meta.append(el('span', 'tag pinned', 'pinned'));
	if (q.answered)
		meta.append(el('span', 'tag answered', 'answered'));
	if (q.hidden)
		meta.append(el('span', 'tag hidden', 'hidden'));
	body.append(meta);
	if (q.answer)
		body.append(el("p", "answer-text", q.answer));
	if (moderator) {
		const mod = el('div', 'mod');
		if (!q.hidden) {
			mod.append(
				modButton(q.answered ? 'Reopen' : 'Mark answered', 'answer', () => act('answer', { id: q.id, answered: !q.answered })),
				modButton(q.pinned ? 'Unpin' : 'Pin', 'pin', () => act('pin', { id: q.id })),
				modButton('Hide', 'hide btn-danger', () => act('hide', { id: q.id })));
		} else {
			mod.append(modButton('Show again', 'unhide', () => act('unhide', { id: q.id })));
		}
		body.append(mod);
	}
	li.append(vote, body);
	return li;
}

function drawPoll() {
	const box = $('poll');
	box.replaceChildren();
	if (!poll) {
		box.append(el('p', 'muted', 'No poll right now.'));
		box.dataset.pollId = '';
		return;
	}
	box.dataset.pollId = poll.id;
	box.dataset.total = poll.total;
	box.dataset.open = poll.open;
	box.append(el('p', 'q', poll.question));
	const mine = pick && pick.poll === poll.id ? pick.option : null;
	const showCounts = moderator || mine !== null || !poll.open;
	const ul = el('ul');
	poll.options.forEach((o, i) => {
		const li = el('li', 'option');
		li.dataset.option = i;
		li.dataset.count = o.count;
		li.dataset.mine = mine === i;
		const bar = el('span', 'bar');
		bar.style.width = showCounts && poll.total ? `${Math.round((100 * o.count) / poll.total)}%` : '0';
		const row = el('div', 'row');
		row.append(el('span', 'label', o.text));
		if (showCounts)
			row.append(el('span', 'n', `${o.count}`));
		if (poll.open && mine === null) {
			const b = el('button', 'btn btn-small pick', 'Choose');
			b.type = 'button';
			b.setAttribute('aria-label', `Choose ${o.text}`);
			b.addEventListener('click', () => choose(i));
			row.append(b);
		}
		li.append(bar, row);
		ul.append(li);
	});
	box.append(ul);
	box.append(el('p', 'total', `${poll.total} answer${poll.total === 1 ? '' : 's'}${poll.open ? ' so far' : ' · closed'}`));
}

function draw() {
	const list = ranked();
	$('questions').replaceChildren(...list.map(drawQuestion));
	$('question-count').textContent = String(list.filter((q) => !q.hidden).length);
	$('no-questions').hidden = list.length > 0;
	$('mod-tag').hidden = !moderator;
	$('poll-form').hidden = !moderator;
	$('poll-close').disabled = !(poll && poll.open);
	drawPoll();
}

// ---------------------------------------------------------------- the hub

const hub = hubio.connect({ username: me, hooked: [ROOM] });
for (const ev of EVENTS)
	hub.on(ev, (data, meta) => meta.room === ROOM && apply(data));
// my own votes and answer, changed in another tab of mine
hub.on('mine', (data, meta) => {
	if (!meta.inbox || meta.from !== 'qna' || !data || !Array.isArray(data.votes))
		return;
	votes.clear();
	data.votes.forEach((id) => votes.add(id));
	pick = data.pick;
	draw();
});

async function load() {
	await hub.join(ROOM);
	const s = await hub.call('qna', 'state', {});
	if (s.ok)
		applyState(s);
	else
		notice(s.error === 'unavailable' ? 'The Q&A backend is not running.' : s.message || s.error);
}
hub.on('connect', () => {
	$('conn').dataset.state = 'online';
	$('conn').textContent = 'online';
	load().catch((e) => notice(e.message === 'forbidden' ? `You are not in room ${ROOM}.` : e.message));
});
hub.on('disconnect', () => {
	$('conn').dataset.state = 'offline';
	$('conn').textContent = 'reconnecting';
});
hub.on('error', (e) => {
	if (e.status === 401)
		location.reload();
});

$('ask-form').addEventListener('submit', async (e) => {
	e.preventDefault();
	const input = $('ask-input');
	const text = input.value.trim();
	if (text && (await act('ask', { text })))
		input.value = '';
});
$('ask-input').addEventListener('keydown', (e) => {
	if (e.key === 'Enter' && !e.shiftKey) {
		e.preventDefault();
		$('ask-form').requestSubmit();
	}
});
$('poll-form').addEventListener('submit', async (e) => {
	e.preventDefault();
	const question = $('poll-question').value.trim();
	const options = $('poll-options').value.split('\n').map((s) => s.trim()).filter(Boolean);
	if (await act('poll', { question, options })) {
		$('poll-question').value = '';
		$('poll-options').value = '';
	}
});
$('poll-close').addEventListener('click', () => act('pollclose', {}));
$('logout').addEventListener('click', async () => {
	await hub.close();
	logout();
});
addEventListener('pagehide', () => hub.close());
window.qnaPage = { hub, questions, votes, act };   // for the console (and the tests)
