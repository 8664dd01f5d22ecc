/**
 * @file web_route.h  Route tables: path patterns, methods and handlers
 *
 * Every HTTP resource is reached through a table read top to bottom, one
 * per component (like the configuration keys in src/conf/conf_keys.c):
 *
 *     static const struct web_route routes[] = {
 *         {"me",                 WEB_GET,            me_get},
 *         {"people/contacts/{uri}", WEB_GET | WEB_DELETE, contact},
 *         {"communication/{rest*}", WEB_ANY,         comm},
 *     };
 *
 * A pattern is a list of segments separated by '/': a literal, "{name}"
 * (one non-empty segment) or, last, "{name*}" (the rest of the path, maybe
 * empty). Leading and single trailing '/' of a path are ignored. Several
 * rows may share a pattern with different methods; the first row whose
 * pattern and method match wins. A path that matches no pattern is a 404
 * (answered by the table's own handler, so each component keeps its error
 * format); a path that matches with no row for the method is a 405 whose
 * Allow lists the methods of every matching row. Both come from here.
 */
#ifndef MOB_WEB_ROUTE_H
#define MOB_WEB_ROUTE_H

#include <re.h>

struct web_req;

/** Methods, as bits of a route's method set (in the order Allow lists
 * them). */
enum web_method {
	WEB_GET = 1u << 0,
	WEB_HEAD = 1u << 1,
	WEB_POST = 1u << 2,
	WEB_PUT = 1u << 3,
	WEB_PATCH = 1u << 4,
	WEB_DELETE = 1u << 5,
	WEB_OPTIONS = 1u << 6,
	WEB_ANY = 0x7fu, /**< the handler answers every method itself */
};

/** Named limits of a pattern. */
enum {
	WEB_ROUTE_PARAMS = 4, /**< parameters of one pattern */
	WEB_ALLOW_MAX = 64,   /**< "Allow: " value of every method */
};

/** Parameters of a matched pattern; values point into the path. */
struct web_params {
	struct pl name[WEB_ROUTE_PARAMS];  /**< from the pattern          */
	struct pl value[WEB_ROUTE_PARAMS]; /**< not percent-decoded       */
	unsigned n;
};

/**
 * Route handler.
 *
 * @param req Request (borrowed, as for web_req_h)
 * @param prm Parameters of the pattern (borrowed, for this call only)
 * @param arg The argument given to web_route()
 */
typedef void(web_route_h)(struct web_req *req, const struct web_params *prm,
			  void *arg);

/** Answers a path no pattern matches (404 in the component's format). */
typedef void(web_route_nf_h)(struct web_req *req, void *arg);

/** One row of a route table. */
struct web_route {
	const char *pattern; /**< relative to the table's base */
	unsigned methods;    /**< enum web_method bits          */
	web_route_h *h;
};

/** A component's table. */
struct web_routes {
	const struct web_route *v;
	size_t n;
	bool nocase;              /**< literals compared ignoring case */
	web_route_nf_h *notfound; /**< NULL: not handled (see web_route) */
};

/** The method bit of a request method (0 if none we know). */
unsigned web_method_bit(const struct pl *method);

/**
 * Find the row for a method and a path.
 *
 * @param rt     Table
 * @param method Method bit (web_method_bit)
 * @param path   Path relative to the table's base (borrowed)
 * @param prm    Set to the parameters of the row found
 * @param allow  Set to the methods of every row whose pattern matches
 *
 * @return the row, or NULL (*allow 0: no pattern matched; else: a 405)
 */
const struct web_route *web_route_find(const struct web_routes *rt,
				       unsigned method, const struct pl *path,
				       struct web_params *prm, unsigned *allow);

/**
 * Write an Allow value ("GET, POST") of a method set.
 *
 * @return 0, or ENOMEM if it does not fit
 */
int web_allow_print(char *buf, size_t size, unsigned methods);

/**
 * Route a request: call the row's handler, or answer 405 with Allow, or
 * the table's 404.
 *
 * @param rt   Table
 * @param req  Request (borrowed)
 * @param path Path relative to the table's base (borrowed; it must live
 *             as long as the request)
 * @param arg  Handler argument (borrowed)
 *
 * @return true if answered or handed to a handler; false if no pattern
 *         matched and the table has no 404 handler
 */
bool web_route(const struct web_routes *rt, struct web_req *req,
	       const struct pl *path, void *arg);

/**
 * The value of a parameter by name.
 *
 * @return the value, or NULL if the pattern has no such parameter
 */
const struct pl *web_param(const struct web_params *prm, const char *name);

#endif
