// SPDX-License-Identifier: MIT
// The Q&A's rules (qna.mjs) without the hub. The same against the real
// hub, in Chromium: tests/integration/test_example_qna.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Qna } from '../qna.mjs';

function setup(opts = {}) {
	let now = 1_000_000;
	const qna = new Qna({ moderators: new Set(['host']), now: () => now, ...opts });
	const who = (user, role = 'user') => ({ user, displayName: user.toUpperCase(), role });
	const act = (user, event, data, role) => qna.hook(event, data, who(user, role));
	return { qna, act, who, tick: (ms) => { now += ms; } };
}

test('asking: a question reaches everyone with its id; bad text refused', () => {
	const { act } = setup();
	const v = act('alice', 'ask', { text: '  Why   MQTT?  ' });
	assert.equal(v.accept, true);
	assert.deepEqual(v.data, { v: 1, questions: [{ id: 1, qv: 1, text: 'Why MQTT?', by: 'alice',
		display: 'ALICE', ts: 1_000_000, votes: 0, answered: false, answer: null, pinned: false }] });
	assert.equal(act('alice', 'ask', { text: '   ' }).accept, false);
	assert.equal(act('alice', 'ask', { text: 'x'.repeat(281) }).accept, false);
	assert.equal(act('alice', 'ask', 'hi').accept, false);
});

test('one vote per user and question; a vote can be taken back', () => {
	const { act } = setup();
	act('alice', 'ask', { text: 'q1' });
	assert.equal(act('bob', 'vote', { id: 1 }).data.questions[0].votes, 1);
	const twice = act('bob', 'vote', { id: 1 });
	assert.deepEqual(twice, { accept: false, reason: 'you voted for this question already' });
	assert.equal(act('carol', 'vote', { id: 1 }).data.questions[0].votes, 2);
	assert.equal(act('bob', 'unvote', { id: 1 }).data.questions[0].votes, 1);
	assert.equal(act('bob', 'unvote', { id: 1 }).accept, false);
	assert.equal(act('bob', 'vote', { id: 1 }).data.questions[0].votes, 2);
	assert.equal(act('bob', 'vote', { id: 9 }).accept, false);
	assert.equal(act('bob', 'vote', { id: '1' }).accept, false);
});

test('moderation is for moderators (configured users and admins) only', () => {
	const { act } = setup();
	act('alice', 'ask', { text: 'q1' });
	for (const [ev, data] of [['answer', { id: 1 }], ['hide', { id: 1 }], ['unhide', { id: 1 }],
		['pin', { id: 1 }], ['poll', { question: 'x?', options: ['a', 'b'] }], ['pollclose', {}]]) {
		const v = act('bob', ev, data);
		assert.equal(v.accept, false, ev);
		assert.match(v.reason, /^only a moderator may/, ev);
	}
	assert.equal(act('host', 'pin', { id: 1 }).accept, true);
	assert.equal(act('root', 'answer', { id: 1, text: 'Because.' }, 'admin').accept, true);
});

test('hiding: the audience gets no text; moderators keep seeing it; unhide brings it back', () => {
	const { act, qna, who } = setup();
	act('alice', 'ask', { text: 'rude' });
	act('alice', 'ask', { text: 'fine' });
	const h = act('host', 'hide', { id: 1 });
	assert.deepEqual(h.data.questions, [{ id: 1, qv: 3, hidden: true }]);
	assert.deepEqual(qna.state(who('bob')).questions.map((q) => q.id), [2]);
	const mod = qna.state(who('host'));
	assert.equal(mod.moderator, true);
	assert.deepEqual(mod.questions.map((q) => [q.id, q.text, !!q.hidden]), [[1, 'rude', true], [2, 'fine', false]]);
	assert.equal(act('bob', 'vote', { id: 1 }).accept, false, 'no vote on a hidden question');
	assert.equal(act('host', 'unhide', { id: 1 }).data.questions[0].text, 'rude');
});

test('one question pinned at a time; answering unpins', () => {
	const { act } = setup();
	act('alice', 'ask', { text: 'a' });
	act('alice', 'ask', { text: 'b' });
	act('host', 'pin', { id: 1 });
	const v = act('host', 'pin', { id: 2 });
	assert.deepEqual(v.data.questions.map((q) => [q.id, q.pinned]), [[1, false], [2, true]]);
	const a = act('host', 'answer', { id: 2, text: 'yes' });
	assert.deepEqual([a.data.questions[0].answered, a.data.questions[0].answer, a.data.questions[0].pinned],
		[true, 'yes', false]);
	assert.equal(act('host', 'pin', { id: 1 }).data.questions[0].pinned, true);
	assert.equal(act('host', 'pin', { id: 1 }).data.questions[0].pinned, false, 'again: unpinned');
});

test('polls: moderators ask, everyone answers once, counts go to everyone', () => {
	const { act, qna, who } = setup();
	assert.equal(act('host', 'poll', { question: 'Tabs or spaces?', options: ['tabs'] }).accept, false);
	assert.equal(act('host', 'poll', { question: 'Tabs or spaces?', options: ['a', 'a'] }).accept, false);
	const p = act('host', 'poll', { question: 'Tabs or spaces?', options: ['tabs', 'spaces'] });
	assert.deepEqual(p.data.poll, { id: 1, pv: 1, question: 'Tabs or spaces?', open: true, total: 0,
		options: [{ text: 'tabs', count: 0 }, { text: 'spaces', count: 0 }] });
	assert.deepEqual(act('alice', 'pick', { poll: 1, option: 1 }).data.poll.options.map((o) => o.count), [0, 1]);
	assert.equal(act('alice', 'pick', { poll: 1, option: 0 }).reason, 'you answered this poll already');
	assert.equal(act('bob', 'pick', { poll: 1, option: 2 }).accept, false);
	assert.equal(act('bob', 'pick', { poll: 2, option: 0 }).accept, false);
	assert.equal(act('bob', 'pick', { poll: 1, option: 0 }).data.poll.total, 2);
	assert.deepEqual(qna.state(who('alice')).pick, { poll: 1, option: 1 });
	act('host', 'pollclose', {});
	assert.equal(act('carol', 'pick', { poll: 1, option: 0 }).reason, 'the poll is closed');
	assert.equal(act('host', 'poll', { question: 'Next?', options: ['x', 'y'] }).data.poll.id, 2);
});

test('the backend\'s own events cannot come from members', () => {
	const { act } = setup();
	for (const ev of ['state', 'changes', 'question'])
		assert.match(act('alice', ev, {}).reason, /only the Q&A announces/);
});

test('rate limit and the bound on questions', () => {
	const { act, tick } = setup({ askPerMinute: 2, maxQuestions: 3 });
	assert.equal(act('alice', 'ask', { text: '1' }).accept, true);
	assert.equal(act('alice', 'ask', { text: '2' }).accept, true);
	assert.match(act('alice', 'ask', { text: '3' }).reason, /at most 2 questions a minute/);
	tick(60001);
	assert.equal(act('alice', 'ask', { text: '3' }).accept, true);
	assert.match(act('bob', 'ask', { text: '4' }).reason, /no more questions \(3\)/);
});

test('state: own votes, the poll; the store round trip keeps everything', () => {
	const { act, qna, who } = setup();
	act('alice', 'ask', { text: 'a' });
	act('alice', 'ask', { text: 'b' });
	act('bob', 'vote', { id: 2 });
	act('host', 'hide', { id: 1 });
	act('host', 'pin', { id: 2 });
	act('host', 'poll', { question: 'p?', options: ['x', 'y'] });
	act('bob', 'pick', { poll: 1, option: 0 });
	const s = qna.state(who('bob'));
	assert.deepEqual([s.votes, s.pick, s.moderator, s.questions.length], [[2], { poll: 1, option: 0 }, false, 1]);
	const copy = new Qna({ moderators: new Set(['host']), state: JSON.parse(JSON.stringify(qna.save())) });
	assert.deepEqual(copy.state(who('bob')), s);
	assert.deepEqual(copy.state(who('host')), qna.state(who('host')));
	assert.equal(copy.hook('ask', { text: 'c' }, who('carol')).data.questions[0].id, 3);
	assert.throws(() => new Qna({ state: { format: 2 } }), /format 1/);
});
