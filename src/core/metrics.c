/**
 * @file metrics.c  Process metrics in Prometheus text exposition format
 *
 * Metrics are registered at start-up by the components that own them and
 * updated with plain integer arithmetic on the loop thread.
 */
#include <string.h>
#include <re.h>
#include "core.h"

struct metric {
	struct le le;
	enum metric_type type;
	char *name;
	char *labels; /* may be NULL */
	char *help;
	int64_t value;
};

static struct list metricl = LIST_INIT;

static void destructor(void *arg)
{
	struct metric *m = arg;

	list_unlink(&m->le);
	mem_deref(m->name);
	mem_deref(m->labels);
	mem_deref(m->help);
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

struct metric *metrics_get(enum metric_type type, const char *name,
			   const char *labels, const char *help)
{
	struct metric *m;
	struct le *le;

	if (!name)
		return NULL;

	for (le = metricl.head; le; le = le->next) {
		m = le->data;
		if (!strcmp(m->name, name) && str_eq(m->labels, labels))
			return m;
	}

	m = mem_zalloc(sizeof(*m), destructor);
	if (!m)
		return NULL;

	m->type = type;
	if (str_dup(&m->name, name) ||
	    (labels && str_dup(&m->labels, labels)) ||
	    str_dup(&m->help, help ? help : name)) {
		mem_deref(m);
		return NULL;
	}

	list_append(&metricl, &m->le, m);
	return m;
}

void metric_add(struct metric *m, int64_t v)
{
	if (m)
		m->value += v;
}

void metric_set(struct metric *m, int64_t v)
{
	if (m)
		m->value = v;
}

int64_t metric_value(const struct metric *m)
{
	return m ? m->value : 0;
}

/* True if a metric of this name was registered before m. */
static bool seen_before(const struct metric *m)
{
	struct le *le;

	for (le = metricl.head; le && le->data != m; le = le->next) {
		const struct metric *o = le->data;
		if (!strcmp(o->name, m->name))
			return true;
	}
	return false;
}

int metrics_print(struct re_printf *pf)
{
	struct le *le, *le2;
	int err = 0;

	/* Exposition format wants one HELP/TYPE block per name with all of
	 * its label sets together; registration order is kept otherwise. */
	for (le = metricl.head; le && !err; le = le->next) {
		const struct metric *m = le->data;

		if (seen_before(m))
			continue;

		err |= re_hprintf(
		    pf, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help,
		    m->name, m->type == METRIC_COUNTER ? "counter" : "gauge");
		for (le2 = le; le2 && !err; le2 = le2->next) {
			const struct metric *o = le2->data;
			if (strcmp(o->name, m->name))
				continue;
			if (o->labels)
				err |=
				    re_hprintf(pf, "%s{%s} %lld\n", o->name,
					       o->labels, (long long)o->value);
			else
				err |= re_hprintf(pf, "%s %lld\n", o->name,
						  (long long)o->value);
		}
	}

	return err;
}

void metrics_close(void)
{
	list_flush(&metricl);
}
