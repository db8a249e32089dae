/* SPDX-License-Identifier: MIT */
/*
 * Routes: GeoJSON LineStrings the simulated vehicles drive along, and the
 * little geometry the simulation needs (distances, bearings, the point at a
 * given distance along a line).
 *
 * Accepted input: a FeatureCollection, a Feature, or a bare geometry; every
 * LineString (and each line of a MultiLineString) becomes one route, other
 * geometries (Points for depots, Polygons for zones) are skipped. Positions
 * are [lon, lat(, alt)] in degrees (RFC 7946). A route needs at least two
 * positions and at least 1 m of length. A route whose last position equals
 * its first is driven as a loop, any other back and forth.
 *
 * The built-in demo routes are devices/routes/demo-routes.geojson, compiled
 * into the program at build time (the dashboard draws the same file), and
 * parsed with the same code as --route files.
 */
#ifndef TRK_ROUTE_H
#define TRK_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define TRK_ROUTE_FILE_MAX   (16u * 1024 * 1024) /* largest --route file, bytes */
#define TRK_ROUTES_MAX	     10000		 /* routes in one file */
#define TRK_ROUTE_POINTS_MAX 1000000		 /* positions in one route */

struct trk_point {
	double lat, lon; /* degrees */
};

struct trk_route {
	char name[65];	      /* properties.name (cut), or "route-N" */
	size_t n;	      /* positions, >= 2 */
	struct trk_point *pt; /* owned, n entries */
	double *cum;	      /* owned, n entries: metres from pt[0] to pt[i] */
	double length;	      /* metres, cum[n-1] */
	bool loop;	      /* last position == first */
};

struct trk_routes {
	struct trk_route *r; /* owned, n entries */
	size_t n;
};

/* Parse len bytes of GeoJSON into out (zeroed by the caller or fresh).
 * Returns HUB_OK, or HUB_ERR_INVAL / HUB_ERR_NOMEM / HUB_ERR_TOOBIG with a
 * one-line reason in err (what and where: "features[2].geometry: ..."). On
 * error out holds nothing to free. */
int trk_routes__parse(const char *buf, size_t len, struct trk_routes *out, char *err, size_t errsz);
/* Read and parse a file (at most TRK_ROUTE_FILE_MAX bytes). HUB_ERR_IO
 * when it cannot be read. err names the file. */
int trk_routes__load_file(const char *path, struct trk_routes *out, char *err, size_t errsz);
/* The built-in demo routes. */
int trk_routes__load_demo(struct trk_routes *out, char *err, size_t errsz);
/* Free what a parse/load filled in; out is left empty. NULL-safe. */
void trk_routes__free(struct trk_routes *rs);

/* The point at distance d metres along r (clamped to [0, length]) and the
 * bearing of the segment it lies on (degrees clockwise from north, [0,360)). */
void trk_route__at(const struct trk_route *r, double d, struct trk_point *p, double *bearing);

/* Great-circle distance in metres and initial bearing in degrees [0,360). */
double trk_geo__distance(const struct trk_point *a, const struct trk_point *b);
double trk_geo__bearing(const struct trk_point *a, const struct trk_point *b);

#endif
