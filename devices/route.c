/* SPDX-License-Identifier: MIT */
/*
 * GeoJSON routes: parsing (cJSON, bounded input), validation with a reason
 * that says where the file is wrong, and geometry along a polyline. Lines
 * are short city segments, so positions are interpolated linearly in
 * degrees between vertices; distances and bearings are great-circle.
 */
#include "route.h"

#include "hc_err.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* demo_routes.c, generated at build time from devices/routes/demo-routes.geojson */
extern const unsigned char trk_demo_routes[];
extern const size_t trk_demo_routes_len;

#define EARTH_RADIUS_M 6371008.8
#define DEG	       (M_PI / 180.0)

double trk_geo__distance(const struct trk_point *a, const struct trk_point *b)
{
	double dlat = (b->lat - a->lat) * DEG, dlon = (b->lon - a->lon) * DEG;
	double h = sin(dlat / 2) * sin(dlat / 2) +
		   cos(a->lat * DEG) * cos(b->lat * DEG) * sin(dlon / 2) * sin(dlon / 2);
	if (h > 1.0)
		h = 1.0;
	return 2 * EARTH_RADIUS_M * asin(sqrt(h));
}

double trk_geo__bearing(const struct trk_point *a, const struct trk_point *b)
{
	double la = a->lat * DEG, lb = b->lat * DEG, dlon = (b->lon - a->lon) * DEG;
	double y = sin(dlon) * cos(lb);
	double x = cos(la) * sin(lb) - sin(la) * cos(lb) * cos(dlon);
	double deg = atan2(y, x) / DEG;
	deg = fmod(deg + 360.0, 360.0);
	return deg >= 360.0 ? 0.0 : deg;
}

void trk_route__at(const struct trk_route *r, double d, struct trk_point *p, double *bearing)
{
	size_t lo = 0, hi = r->n - 1;
	double seg, f;

	if (!(d > 0))
		d = 0;
	if (d > r->length)
		d = r->length;
	/* the last i with cum[i] <= d, kept below n-1 so a segment follows */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->cum[mid] <= d)
			lo = mid;
		else
			hi = mid;
	}
	/* skip zero-length segments (repeated positions) for the bearing */
	hi = lo + 1;
	while (hi < r->n - 1 && r->cum[hi] - r->cum[lo] <= 0)
		hi++;
	seg = r->cum[lo + 1] - r->cum[lo];
	f = seg > 0 ? (d - r->cum[lo]) / seg : 0;
	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	p->lat = r->pt[lo].lat + (r->pt[lo + 1].lat - r->pt[lo].lat) * f;
	p->lon = r->pt[lo].lon + (r->pt[lo + 1].lon - r->pt[lo].lon) * f;
	if (bearing)
		*bearing = trk_geo__bearing(&r->pt[lo], &r->pt[hi]);
}

static void route_free(struct trk_route *r)
{
	free(r->pt);
	free(r->cum);
	r->pt = NULL;
	r->cum = NULL;
}

void trk_routes__free(struct trk_routes *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		route_free(&rs->r[i]);
	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
}

/* Parsing state: the routes so far, and where we are for error texts. */
struct parse {
	struct trk_routes *out;
	size_t cap;
	char *err;
	size_t errsz;
};

static int fail(struct parse *ps, int rc, const char *where, const char *what)
{
	snprintf(ps->err, ps->errsz, "%s%s%s", where, *where ? ": " : "", what);
	return rc;
}

/* One LineString's coordinates array into a new route. */
static int add_line(struct parse *ps, const cJSON *coords, const char *name, const char *where)
{
	struct trk_route r = {0};
	const cJSON *pos;
	size_t i = 0;
	char msg[160];
	int n;

	if (!cJSON_IsArray(coords))
		return fail(ps, HUB_ERR_INVAL, where, "coordinates must be an array of positions");
	n = cJSON_GetArraySize(coords);
	if (n < 2)
		return fail(ps, HUB_ERR_INVAL, where, "a LineString needs at least two positions");
	if (n > TRK_ROUTE_POINTS_MAX)
		return fail(ps, HUB_ERR_TOOBIG, where, "too many positions in one LineString");
	if (ps->out->n >= TRK_ROUTES_MAX)
		return fail(ps, HUB_ERR_TOOBIG, where, "too many LineStrings in one file");
	r.pt = calloc((size_t)n, sizeof(*r.pt));
	r.cum = calloc((size_t)n, sizeof(*r.cum));
	if (!r.pt || !r.cum) {
		route_free(&r);
		return fail(ps, HUB_ERR_NOMEM, where, "out of memory");
	}
	cJSON_ArrayForEach(pos, coords)
	{
		const cJSON *lon = cJSON_GetArrayItem(pos, 0), *lat = cJSON_GetArrayItem(pos, 1);
		if (!cJSON_IsArray(pos) || !cJSON_IsNumber(lon) || !cJSON_IsNumber(lat)) {
			snprintf(msg, sizeof(msg), "position %zu is not [lon, lat]", i);
			route_free(&r);
			return fail(ps, HUB_ERR_INVAL, where, msg);
		}
		if (!isfinite(lon->valuedouble) || !isfinite(lat->valuedouble) ||
			fabs(lon->valuedouble) > 180 || fabs(lat->valuedouble) > 90) {
			snprintf(msg, sizeof(msg),
				"position %zu [%g, %g] is outside lon -180..180, lat -90..90", i,
				lon->valuedouble, lat->valuedouble);
			route_free(&r);
			return fail(ps, HUB_ERR_INVAL, where, msg);
		}
		r.pt[i].lon = lon->valuedouble;
		r.pt[i].lat = lat->valuedouble;
		r.cum[i] = i ? r.cum[i - 1] + trk_geo__distance(&r.pt[i - 1], &r.pt[i]) : 0;
		i++;
	}
	r.n = i;
	r.length = r.cum[r.n - 1];
	if (!(r.length >= 1.0)) {
		route_free(&r);
		return fail(ps, HUB_ERR_INVAL, where, "the LineString is shorter than 1 m");
	}
	r.loop = r.pt[0].lat == r.pt[r.n - 1].lat && r.pt[0].lon == r.pt[r.n - 1].lon;
	if (name && *name)
		snprintf(r.name, sizeof(r.name), "%s", name);
	else
		snprintf(r.name, sizeof(r.name), "route-%zu", ps->out->n + 1);
	if (ps->out->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 4;
		struct trk_route *nr = realloc(ps->out->r, cap * sizeof(*nr));
		if (!nr) {
			route_free(&r);
			return fail(ps, HUB_ERR_NOMEM, where, "out of memory");
		}
		ps->out->r = nr;
		ps->cap = cap;
	}
	ps->out->r[ps->out->n++] = r;
	return HUB_OK;
}

static int add_geometry(struct parse *ps, const cJSON *g, const char *name, const char *where)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(g, "type");
	const cJSON *coords = cJSON_GetObjectItemCaseSensitive(g, "coordinates");
	char sub[96];
	int rc;

	if (!cJSON_IsObject(g) || !cJSON_IsString(type))
		return fail(ps, HUB_ERR_INVAL, where, "not a GeoJSON object (no \"type\")");
	if (!strcmp(type->valuestring, "LineString"))
		return add_line(ps, coords, name, where);
	if (!strcmp(type->valuestring, "MultiLineString")) {
		const cJSON *line;
		int i = 0;
		if (!cJSON_IsArray(coords))
			return fail(ps, HUB_ERR_INVAL, where, "coordinates must be an array");
		cJSON_ArrayForEach(line, coords)
		{
			snprintf(sub, sizeof(sub), "%s.coordinates[%d]", where, i++);
			if ((rc = add_line(ps, line, name, sub)))
				return rc;
		}
		return HUB_OK;
	}
	if (!strcmp(type->valuestring, "GeometryCollection")) {
		const cJSON *gs = cJSON_GetObjectItemCaseSensitive(g, "geometries"), *one;
		int i = 0;
		if (!cJSON_IsArray(gs))
			return fail(ps, HUB_ERR_INVAL, where, "geometries must be an array");
		cJSON_ArrayForEach(one, gs)
		{
			snprintf(sub, sizeof(sub), "%s.geometries[%d]", where, i++);
			if ((rc = add_geometry(ps, one, name, sub)))
				return rc;
		}
		return HUB_OK;
	}
	/* Point, Polygon, ...: not a route; skipped */
	return HUB_OK;
}

static int add_feature(struct parse *ps, const cJSON *f, const char *where)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(f, "geometry");
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(f, "properties");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(props, "name");
	char sub[96];

	if (cJSON_IsNull(g))
		return HUB_OK; /* RFC 7946: an unlocated feature */
	snprintf(sub, sizeof(sub), "%s%sgeometry", where, *where ? "." : "");
	return add_geometry(ps, g, cJSON_IsString(name) ? name->valuestring : NULL, sub);
}

int trk_routes__parse(const char *buf, size_t len, struct trk_routes *out, char *err, size_t errsz)
{
	struct parse ps = {out, 0, err, errsz};
	const cJSON *type, *f;
	const char *end = NULL;
	cJSON *root = NULL;
	int rc = HUB_OK, i = 0;
	char where[64];

	out->r = NULL;
	out->n = 0;
	if (len > TRK_ROUTE_FILE_MAX)
		return fail(&ps, HUB_ERR_TOOBIG, "", "file too large");
	root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at && at >= buf && at <= buf + len ? (size_t)(at - buf) : 0;
		snprintf(err, errsz, "not valid JSON (near byte %zu)", off);
		return HUB_ERR_INVAL;
	}
	/* one JSON value and nothing but blanks after it */
	for (const char *p = end; p && p < buf + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n' && *p != '\0') {
			snprintf(err, errsz, "not valid JSON (trailing data at byte %zu)",
				(size_t)(p - buf));
			cJSON_Delete(root);
			return HUB_ERR_INVAL;
		}
	}
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!cJSON_IsObject(root) || !cJSON_IsString(type)) {
		rc = fail(&ps, HUB_ERR_INVAL, "", "not GeoJSON (no top-level \"type\")");
	} else if (!strcmp(type->valuestring, "FeatureCollection")) {
		const cJSON *fs = cJSON_GetObjectItemCaseSensitive(root, "features");
		if (!cJSON_IsArray(fs))
			rc = fail(&ps, HUB_ERR_INVAL, "",
				"FeatureCollection without a features array");
		cJSON_ArrayForEach(f, fs)
		{
			if (rc)
				break;
			snprintf(where, sizeof(where), "features[%d]", i++);
			rc = add_feature(&ps, f, where);
		}
	} else if (!strcmp(type->valuestring, "Feature")) {
		rc = add_feature(&ps, root, "");
	} else {
		rc = add_geometry(&ps, root, NULL, "geometry");
	}
	if (!rc && out->n == 0)
		rc = fail(&ps, HUB_ERR_INVAL, "", "no LineString in it (routes are LineStrings)");
	cJSON_Delete(root);
	if (rc)
		trk_routes__free(out);
	return rc;
}

int trk_routes__load_file(const char *path, struct trk_routes *out, char *err, size_t errsz)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf = NULL, why[200];
	size_t got;
	int rc;

	out->r = NULL;
	out->n = 0;
	if (!f) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return HUB_ERR_IO;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		fclose(f);
		return HUB_ERR_IO;
	}
	if ((unsigned long long)st.st_size > TRK_ROUTE_FILE_MAX) {
		snprintf(err, errsz, "%s: larger than %u bytes", path, TRK_ROUTE_FILE_MAX);
		fclose(f);
		return HUB_ERR_TOOBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errsz, "%s: out of memory", path);
		return HUB_ERR_NOMEM;
	}
	got = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size) {
		free(buf);
		snprintf(err, errsz, "%s: short read", path);
		return HUB_ERR_IO;
	}
	rc = trk_routes__parse(buf, got, out, why, sizeof(why));
	free(buf);
	if (rc)
		snprintf(err, errsz, "%s: %s", path, why);
	return rc;
}

int trk_routes__load_demo(struct trk_routes *out, char *err, size_t errsz)
{
	char why[200];
	int rc = trk_routes__parse(
		(const char *)trk_demo_routes, trk_demo_routes_len, out, why, sizeof(why));
	if (rc)
		snprintf(err, errsz, "built-in demo routes: %s", why);
	return rc;
}
