/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of devices/route.c: GeoJSON shapes accepted (FeatureCollection,
 * Feature, bare and multi geometries), every rejection with its reason, the
 * built-in demo routes, and the geometry along a line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "hc_err.h"
#include "route.h"

static int parse(const char *json, struct trk_routes *rs, char *err, size_t n)
{
	return trk_routes__parse(json, strlen(json), rs, err, n);
}

static void test_demo_routes(void **state)
{
	struct trk_routes rs;
	char err[256];
	(void)state;
	assert_int_equal(trk_routes__load_demo(&rs, err, sizeof(err)), HUB_OK);
	assert_int_equal(rs.n, 3);
	assert_string_equal(rs.r[0].name, "tiergarten-loop");
	assert_true(rs.r[0].loop);
	assert_string_equal(rs.r[1].name, "alex-warschauer");
	assert_false(rs.r[1].loop);
	for (size_t i = 0; i < rs.n; i++) {
		/* city routes of a few km */
		assert_true(rs.r[i].length > 1000 && rs.r[i].length < 20000);
		for (size_t j = 0; j < rs.r[i].n; j++) {
			assert_true(rs.r[i].pt[j].lat > 52.4 && rs.r[i].pt[j].lat < 52.6);
			assert_true(rs.r[i].pt[j].lon > 13.2 && rs.r[i].pt[j].lon < 13.6);
		}
	}
	trk_routes__free(&rs);
	assert_null(rs.r);
	trk_routes__free(NULL);
}

static void test_shapes(void **state)
{
	static const struct {
		const char *json;
		size_t routes;
	} ok[] = {
		{"{\"type\":\"LineString\",\"coordinates\":[[10,50],[10.001,50]]}", 1},
		{"{\"type\":\"LineString\",\"coordinates\":[[10,50,34.5],[10.001,50,35]]}", 1},
		{"{\"type\":\"Feature\",\"properties\":{\"name\":\"x\"},\"geometry\":"
		 "{\"type\":\"LineString\",\"coordinates\":[[10,50],[10.001,50]]}}",
			1},
		{"{\"type\":\"MultiLineString\",\"coordinates\":[[[10,50],[10.001,50]],"
		 "[[11,50],[11.001,50]]]}",
			2},
		{"{\"type\":\"GeometryCollection\",\"geometries\":[{\"type\":\"Point\","
		 "\"coordinates\":[1,2]},{\"type\":\"LineString\",\"coordinates\":[[10,50],"
		 "[10.001,50]]}]}",
			1},
		{"{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\","
		 "\"geometry\":null,\"properties\":{}},{\"type\":\"Feature\",\"geometry\":"
		 "{\"type\":\"Polygon\",\"coordinates\":[]}},{\"type\":\"Feature\","
		 "\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[10,50],[10.001,50]]}}]}",
			1},
	};
	struct trk_routes rs;
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int rc = parse(ok[i].json, &rs, err, sizeof(err));
		if (rc)
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(rs.n, ok[i].routes);
		trk_routes__free(&rs);
	}
	/* names: from properties, else numbered */
	assert_int_equal(parse(ok[2].json, &rs, err, sizeof(err)), HUB_OK);
	assert_string_equal(rs.r[0].name, "x");
	trk_routes__free(&rs);
	assert_int_equal(parse(ok[0].json, &rs, err, sizeof(err)), HUB_OK);
	assert_string_equal(rs.r[0].name, "route-1");
	trk_routes__free(&rs);
}

static void test_rejections(void **state)
{
	static const struct {
		const char *json, *reason;
	} bad[] = {
		{"", "not valid JSON"},
		{"{\"type\":", "not valid JSON"},
		{"[1,2]", "not GeoJSON"},
		{"{\"coordinates\":[]}", "not GeoJSON"},
		{"{\"type\":\"Point\",\"coordinates\":[1,2]}", "no LineString"},
		{"{\"type\":\"FeatureCollection\",\"features\":[]}", "no LineString"},
		{"{\"type\":\"FeatureCollection\"}", "without a features array"},
		{"{\"type\":\"LineString\",\"coordinates\":[[10,50]]}", "at least two positions"},
		{"{\"type\":\"LineString\",\"coordinates\":{}}", "must be an array"},
		{"{\"type\":\"LineString\",\"coordinates\":[[10,50],[10]]}", "position 1 is not"},
		{"{\"type\":\"LineString\",\"coordinates\":[[10,50],\"x\"]}", "position 1 is not"},
		{"{\"type\":\"LineString\",\"coordinates\":[[10,50],[10,91]]}", "outside"},
		{"{\"type\":\"LineString\",\"coordinates\":[[-181,50],[10,50]]}", "outside"},
		{"{\"type\":\"LineString\",\"coordinates\":[[10,50],[10,50]]}", "shorter than 1 m"},
		{"{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":"
		 "{\"type\":\"LineString\",\"coordinates\":[[10,50],[10.01,50]]}},{\"type\":"
		 "\"Feature\",\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[1,2]]}}]}",
			"features[1].geometry: a LineString needs"},
	};
	struct trk_routes rs;
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		int rc = parse(bad[i].json, &rs, err, sizeof(err));
		if (rc == HUB_OK)
			fail_msg("case %zu accepted: %s", i, bad[i].json);
		if (!strstr(err, bad[i].reason))
			fail_msg("case %zu: reason '%s' lacks '%s'", i, err, bad[i].reason);
		assert_null(rs.r);
		assert_int_equal(rs.n, 0);
	}
	/* (pointer, length): bytes after len are not read */
	{
		static const char text[] =
			"{\"type\":\"LineString\",\"coordinates\":[[10,50],[10.001,50]]}garbage";
		size_t len = (size_t)(strstr(text, "garbage") - text);
		assert_int_equal(trk_routes__parse(text, len, &rs, err, sizeof(err)), HUB_OK);
		trk_routes__free(&rs);
		assert_int_not_equal(
			trk_routes__parse(text, sizeof(text) - 1, &rs, err, sizeof(err)), HUB_OK);
		assert_non_null(strstr(err, "trailing data"));
		assert_int_equal(trk_routes__parse(text, len, &rs, err, sizeof(err)), HUB_OK);
	}
	trk_routes__free(&rs);
	assert_int_equal(
		trk_routes__load_file("/nonexistent/x.geojson", &rs, err, sizeof(err)), HUB_ERR_IO);
	assert_non_null(strstr(err, "/nonexistent/x.geojson"));
	assert_int_equal(trk_routes__load_file("/", &rs, err, sizeof(err)), HUB_ERR_IO);
}

static void test_geometry(void **state)
{
	struct trk_point a = {50.0, 10.0}, north = {51.0, 10.0}, east = {50.0, 10.01};
	struct trk_routes rs;
	struct trk_point p;
	double bearing, d;
	char err[256];
	(void)state;
	/* one degree of latitude is about 111.2 km */
	d = trk_geo__distance(&a, &north);
	assert_true(fabs(d - 111195) < 100);
	assert_true(fabs(trk_geo__bearing(&a, &north) - 0) < 1e-6);
	assert_true(fabs(trk_geo__bearing(&north, &a) - 180) < 1e-6);
	assert_true(fabs(trk_geo__bearing(&a, &east) - 90) < 0.01);
	assert_true(fabs(trk_geo__bearing(&east, &a) - 270) < 0.01);
	assert_true(trk_geo__distance(&a, &a) == 0);

	/* an L: east then north; a repeated vertex in the middle */
	assert_int_equal(parse("{\"type\":\"LineString\",\"coordinates\":[[10,50],[10.01,50],"
			       "[10.01,50],[10.01,50.01]]}",
				 &rs, err, sizeof(err)),
		HUB_OK);
	assert_false(rs.r[0].loop);
	d = rs.r[0].cum[1];
	trk_route__at(&rs.r[0], 0, &p, &bearing);
	assert_true(p.lat == 50.0 && p.lon == 10.0);
	assert_true(fabs(bearing - 90) < 0.01);
	trk_route__at(&rs.r[0], d / 2, &p, &bearing);
	assert_true(fabs(p.lon - 10.005) < 1e-6 && fabs(p.lat - 50.0) < 1e-9);
	/* at the corner: the next real segment's bearing (north) */
	trk_route__at(&rs.r[0], d + 0.001, &p, &bearing);
	assert_true(fabs(bearing) < 0.01 || fabs(bearing - 360) < 0.01);
	trk_route__at(&rs.r[0], rs.r[0].length, &p, &bearing);
	assert_true(fabs(p.lat - 50.01) < 1e-9 && fabs(p.lon - 10.01) < 1e-9);
	/* clamped */
	trk_route__at(&rs.r[0], -5, &p, NULL);
	assert_true(p.lat == 50.0 && p.lon == 10.0);
	trk_route__at(&rs.r[0], rs.r[0].length * 2, &p, NULL);
	assert_true(fabs(p.lat - 50.01) < 1e-9);
	trk_route__at(&rs.r[0], NAN, &p, NULL);
	assert_true(p.lat == 50.0);
	trk_routes__free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demo_routes),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_geometry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
