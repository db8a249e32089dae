/* SPDX-License-Identifier: MIT */
/*
 * The motion model. Time steps are whatever the publishing rate gives
 * (a fix every 1/rate s); the model integrates over the real elapsed time,
 * so a vehicle covers the same ground at 1 Hz or 10 Hz.
 */
#include "sim.h"

#include <math.h>
#include <stddef.h>

#define KMH_TO_MS (1000.0 / 3600.0)

uint64_t trk_rand__next(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

double trk_rand__unit(uint64_t *state)
{
	return (double)(trk_rand__next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Roughly normal, mean 0, deviation 1 (sum of uniforms: cheap, bounded). */
static double gauss(uint64_t *rng)
{
	double s = 0;
	for (int i = 0; i < 4; i++)
		s += trk_rand__unit(rng);
	return (s - 2.0) * 1.7320508;
}

void trk_sim__init(
	struct trk_sim *s, const struct trk_routes *rs, size_t index, size_t count, uint64_t seed)
{
	size_t nr = rs->n, per, slot;

	*s = (struct trk_sim){0};
	s->rng = seed ^ (0xD1B54A32D192ED03ull * (index + 1));
	trk_rand__next(&s->rng);
	s->route = &rs->r[index % nr];
	/* vehicles on the same route: evenly spaced, with a little scatter */
	per = (count + nr - 1) / nr;
	slot = index / nr;
	s->pos = s->route->length * ((double)slot + 0.3 * trk_rand__unit(&s->rng)) / (double)per;
	s->dir = (!s->route->loop && (slot & 1)) ? -1 : 1;
	s->cruise = 25.0 + 25.0 * trk_rand__unit(&s->rng);
	s->speed = s->cruise;
	s->batt = 60.0 + 40.0 * trk_rand__unit(&s->rng);
}

/* Move by dist metres, looping or turning back at the ends. */
static void advance(struct trk_sim *s, double dist)
{
	const struct trk_route *r = s->route;
	double p = s->pos + s->dir * dist;

	if (r->loop) {
		p = fmod(p, r->length);
		if (p < 0)
			p += r->length;
	} else {
		/* reflect off both ends; a step is far shorter than a route */
		for (int i = 0; i < 4 && (p < 0 || p > r->length); i++) {
			if (p > r->length)
				p = 2 * r->length - p;
			else
				p = -p;
			s->dir = -s->dir;
		}
		if (p < 0)
			p = 0;
		if (p > r->length)
			p = r->length;
	}
	s->pos = p;
}

void trk_sim__step(struct trk_sim *s, int64_t now_ms, struct trk_fix *out)
{
	double dt = s->last_ms ? (double)(now_ms - s->last_ms) / 1000.0 : 0;
	double bearing, acc, noise_m, ang;
	struct trk_point p;

	if (dt < 0)
		dt = 0;
	if (dt > 60)
		dt = 60; /* after a stall (suspend, debugger) do not teleport */
	s->last_ms = now_ms;

	/* speed: mean-reverting noise around the cruising speed; lights */
	if (s->stop_until_ms && now_ms >= s->stop_until_ms)
		s->stop_until_ms = 0;
	if (!s->stop_until_ms && dt > 0 && trk_rand__unit(&s->rng) < dt / 90.0)
		s->stop_until_ms = now_ms + 5000 + (int64_t)(25000 * trk_rand__unit(&s->rng));
	if (s->stop_until_ms) {
		s->speed = s->speed > 8 ? s->speed * 0.3 : 0;
	} else {
		double target = s->cruise + 6.0 * gauss(&s->rng);
		double k = dt > 0 ? 1.0 - exp(-dt / 4.0) : 0;
		s->speed += (target - s->speed) * (k > 0 ? k : 0.3);
		if (s->speed < 3)
			s->speed = 3;
		if (s->speed > 70)
			s->speed = 70;
	}
	advance(s, s->speed * KMH_TO_MS * dt);

	/* battery: about 30 %/h while driving, back to full at 1 %/6 s */
	if (s->charging) {
		s->batt += dt / 6.0;
		if (s->batt >= 100) {
			s->batt = 100;
			s->charging = 0;
		}
	} else {
		s->batt -= dt * (30.0 / 3600.0);
		if (s->batt <= 10)
			s->charging = 1;
	}

	trk_route__at(s->route, s->pos, &p, &bearing);
	if (s->dir < 0)
		bearing = fmod(bearing + 180.0, 360.0);
	/* accuracy 4-16 m; the reported position wanders within a third of it */
	acc = 4.0 + 12.0 * trk_rand__unit(&s->rng);
	noise_m = acc / 3.0 * trk_rand__unit(&s->rng);
	ang = 2 * M_PI * trk_rand__unit(&s->rng);
	p.lat += noise_m * cos(ang) / 111320.0;
	p.lon += noise_m * sin(ang) / (111320.0 * cos(p.lat * M_PI / 180.0));

	out->lat = p.lat;
	out->lon = p.lon;
	out->tst = now_ms / 1000;
	out->seq = ++s->seq;
	out->id = (uint32_t)trk_rand__next(&s->rng);
	out->vel = (int16_t)lround(s->speed);
	out->cog = (int16_t)(lround(bearing) % 360);
	out->acc = (int16_t)lround(acc);
	out->batt = (int8_t)lround(s->batt);
	out->bs = s->charging ? 2 : 1;
}
