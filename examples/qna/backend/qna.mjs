// SPDX-License-Identifier: MIT
// The live Q&A's rules, without I/O: questions from the audience, one
// upvote per user and question, moderators who answer, hide and pin, and a
// poll the host asks. server.mjs wires it to the hub; the Socket.IO server a
// team would have written instead is in docs/examples.md.
//
// What people do is an event into the Q&A's room, which is hooked to the
// backend (only the room's members may send one, the hub's ACL): `ask`
// {text}, `vote` {id}, `unvote` {id}, and for moderators `answer` {id,
// text?}, `hide` {id}, `unhide` {id}, `pin` {id} (again: unpin), `poll`
// {question, options}, `pollclose`; the audience answers a poll with `pick`
// {poll, option}. hook() decides; an accepted event reaches every member
// with the backend's data instead of the sender's: the changes,
//
//   {v, questions: [question...], poll?: poll}
//
// where a question is {id, qv, text, by, display, ts, votes, answered,
// answer, pinned} or, hidden, {id, qv, hidden: true} (no text: the audience
// must not see it), and a poll {id, pv, question, options: [{text, count}],
// total, open}. `qv`/`pv` is the change number of its last change: a page
// keeps the newest of each. The call `state` (members only, server.mjs
// checks) gives a page everything at start: the visible questions, the
// poll, the caller's own votes and pick, and for moderators the hidden
// questions with their text.

const TEXT_MAX = 280;
const ANSWER_MAX = 1000;
const OPTION_MAX = 80;

function refuse(reason) {
	return { accept: false, reason };
}

export class Qna {
	/**
	 * moderators: a Set of user names (admins always are); maxQuestions: in
	 * all, hidden ones too; askPerMinute: per user; now: for tests; state:
	 * what load() gave (the backend's own store).
	 */
	constructor({ moderators = new Set(), maxQuestions = 200, askPerMinute = 3, now = Date.now, state } = {}) {
		this.moderators = moderators;
		this.maxQuestions = maxQuestions;
		this.askPerMinute = askPerMinute;
		this.now = now;
		this.v = 0;
		this.nextId = 1;
		this.questions = new Map();   // id -> {id, qv, text, by, display, ts, voters: Set, answered, answer, hidden}
		this.pinned = null;           // id
		this.poll = null;             // {id, pv, question, options: [text], picks: Map(user -> option), open}
		this.asked = new Map();       // user -> [times] (rate limit; not stored)
		if (state)
			this.load(state);
	}

	isModerator(ctx) {
		return ctx.role === 'admin' || this.moderators.has(ctx.user);
	}

	// ---------------------------------------------------------------- views

	question(q) {
		if (q.hidden)
			return { id: q.id, qv: q.qv, hidden: true };
		return {
			id: q.id, qv: q.qv, text: q.text, by: q.by, display: q.display, ts: q.ts,
			votes: q.voters.size, answered: q.answered, answer: q.answer, pinned: this.pinned === q.id,
		};
	}

	pollView() {
		const p = this.poll;
		if (!p)
			return null;
		const counts = p.options.map(() => 0);
		for (const o of p.picks.values())
			counts[o]++;
		return {
			id: p.id, pv: p.pv, question: p.question, open: p.open, total: p.picks.size,
			options: p.options.map((text, i) => ({ text, count: counts[i] })),
		};
	}

	/**
	 * The call `state`: what a page shows at start. The caller's own votes
	 * and pick; moderators also get the hidden questions, with their text.
	 */
	state(ctx) {
		const moderator = this.isModerator(ctx);
		const questions = [];
		for (const q of this.questions.values()) {
			if (!q.hidden)
				questions.push(this.question(q));
			else if (moderator)
				questions.push({ ...this.question({ ...q, hidden: false }), hidden: true });
		}
		return { ok: true, v: this.v, moderator, questions, poll: this.pollView(), ...this.mine(ctx) };
	}

	/** The user's own votes and poll answer (sent to the user's other tabs when they change). */
	mine(ctx) {
		const votes = [...this.questions.values()].filter((q) => q.voters.has(ctx.user)).map((q) => q.id);
		const pick = this.poll && this.poll.picks.has(ctx.user)
			? { poll: this.poll.id, option: this.poll.picks.get(ctx.user) } : null;
		return { votes, pick };
	}

	// ---------------------------------------------------------------- actions

	/**
	 * A member's event into the Q&A room (ctx {user, displayName, role}):
	 * {accept: true, data: changes} or {accept: false, reason}.
	 */
	hook(event, data, ctx) {
		const d = data && typeof data === 'object' ? data : {};
		switch (event) {
		case 'ask': return this.ask(ctx, d.text);
		case 'vote': return this.vote(ctx, d.id, true);
		case 'unvote': return this.vote(ctx, d.id, false);
		case 'pick': return this.pick(ctx, d.poll, d.option);
		case 'answer': case 'hide': case 'unhide': case 'pin': case 'poll': case 'pollclose':
			if (!this.isModerator(ctx))
				return refuse(`only a moderator may ${event === 'pollclose' ? 'close the poll' : event === 'poll' ? 'ask a poll' : `${event} questions`}`);
			return this[`mod_${event}`](d);
		default:
			return refuse(`only the Q&A announces '${event}'`);
		}
	}

	_change(questions, withPoll = false) {
		this.v++;
		for (const q of questions)
			q.qv = this.v;
		if (withPoll)
			this.poll.pv = this.v;
		const data = { v: this.v, questions: questions.map((q) => this.question(q)) };
		if (withPoll)
			data.poll = this.pollView();
		return { accept: true, data };
	}

	_get(id) {
		const q = typeof id === 'number' ? this.questions.get(id) : undefined;
		return q || null;
	}

	ask(ctx, raw) {
		const text = typeof raw === 'string' ? raw.trim().replace(/\s+/g, ' ') : '';
		if (!text)
			return refuse('empty question');
		if (text.length > TEXT_MAX)
			return refuse(`at most ${TEXT_MAX} characters`);
		if (this.questions.size >= this.maxQuestions)
			return refuse(`this session takes no more questions (${this.maxQuestions})`);
		const now = this.now();
		const times = (this.asked.get(ctx.user) || []).filter((t) => t > now - 60000);
		if (times.length >= this.askPerMinute)
			return refuse(`at most ${this.askPerMinute} questions a minute; try again in ${Math.ceil((times[0] + 60000 - now) / 1000)} s`);
		times.push(now);
		this.asked.set(ctx.user, times);
		if (this.asked.size > 10000)
			for (const [u, t] of this.asked)
				if (!t.some((x) => x > now - 60000))
					this.asked.delete(u);
		const q = { id: this.nextId++, qv: 0, text, by: ctx.user, display: ctx.displayName || ctx.user,
			ts: now, voters: new Set(), answered: false, answer: null, hidden: false };
		this.questions.set(q.id, q);
		return this._change([q]);
	}

	vote(ctx, id, up) {
		const q = this._get(id);
		if (!q || q.hidden)
			return refuse('no such question');
		if (up && q.voters.has(ctx.user))
			return refuse('you voted for this question already');
		if (!up && !q.voters.has(ctx.user))
			return refuse('you have not voted for this question');
		if (up)
			q.voters.add(ctx.user);
		else
			q.voters.delete(ctx.user);
		return this._change([q]);
	}

	pick(ctx, pollId, option) {
		const p = this.poll;
		if (!p || p.id !== pollId)
			return refuse('no such poll');
		if (!p.open)
			return refuse('the poll is closed');
		if (!Number.isInteger(option) || option < 0 || option >= p.options.length)
			return refuse('no such option');
		if (p.picks.has(ctx.user))
			return refuse('you answered this poll already');
		p.picks.set(ctx.user, option);
		return this._change([], true);
	}

	mod_answer(d) {
		const q = this._get(d.id);
		if (!q)
			return refuse('no such question');
		const text = typeof d.text === 'string' ? d.text.trim() : '';
		if (text.length > ANSWER_MAX)
			return refuse(`answers are at most ${ANSWER_MAX} characters`);
		q.answered = d.answered !== false;
		q.answer = q.answered && text ? text : null;
		const changed = [q];
		if (q.answered && this.pinned === q.id)
			this.pinned = null;   // answered: it leaves the top
		return this._change(changed);
	}

	mod_hide(d) {
		const q = this._get(d.id);
		if (!q)
			return refuse('no such question');
		q.hidden = true;
		if (this.pinned === q.id)
			this.pinned = null;
		return this._change([q]);
	}

	mod_unhide(d) {
		const q = this._get(d.id);
		if (!q)
			return refuse('no such question');
		q.hidden = false;
		return this._change([q]);
	}

	mod_pin(d) {
		const q = this._get(d.id);
		if (!q || q.hidden)
			return refuse('no such question');
		const before = this._get(this.pinned);
		this.pinned = this.pinned === q.id ? null : q.id;
		return this._change(before && before !== q ? [before, q] : [q]);
	}

	mod_poll(d) {
		const question = typeof d.question === 'string' ? d.question.trim() : '';
		const options = Array.isArray(d.options)
			? d.options.map((o) => (typeof o === 'string' ? o.trim() : '')).filter(Boolean) : [];
		if (!question || question.length > TEXT_MAX)
			return refuse(`a poll needs a question of 1-${TEXT_MAX} characters`);
		if (options.length < 2 || options.length > 6 || options.some((o) => o.length > OPTION_MAX))
			return refuse(`a poll needs 2-6 options of at most ${OPTION_MAX} characters`);
		if (new Set(options).size !== options.length)
			return refuse('the options must differ');
		this.poll = { id: (this.poll ? this.poll.id : 0) + 1, pv: 0, question, options, picks: new Map(), open: true };
		return this._change([], true);
	}

	mod_pollclose() {
		if (!this.poll || !this.poll.open)
			return refuse('no open poll');
		this.poll.open = false;
		return this._change([], true);
	}

	// ---------------------------------------------------------------- the store

	/** What the backend writes to its store (HUB_DATA/qna.json). */
	save() {
		return {
			format: 1, v: this.v, nextId: this.nextId, pinned: this.pinned,
			questions: [...this.questions.values()].map((q) => ({ ...q, voters: [...q.voters] })),
			poll: this.poll ? { ...this.poll, picks: [...this.poll.picks] } : null,
		};
	}

	load(s) {
		if (!s || s.format !== 1 || !Array.isArray(s.questions))
			throw new Error('not a Q&A store (format 1)');
		this.v = Number(s.v) || 0;
		this.nextId = Number(s.nextId) || 1;
		this.pinned = s.pinned ?? null;
		this.questions = new Map(s.questions.map((q) => [q.id, { ...q, voters: new Set(q.voters) }]));
		this.poll = s.poll ? { ...s.poll, picks: new Map(s.poll.picks) } : null;
	}
}
