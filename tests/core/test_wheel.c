/**
 * @file test_wheel.c  Timer wheel: ordering, cancel, restart, far deadlines,
 * catch-up after a stall, handlers that change the wheel, libre driving.
 */
#include <re.h>
#include "core.h"
#include "check.h"

struct rec {
	struct wheel_entry e;
	int id;
	int fired;
	uint64_t at;
};

static int order[64];
static size_t norder;
static uint64_t fake_now;

static void on_fire(void *arg)
{
	struct rec *r = arg;
	r->fired++;
	r->at = fake_now;
	if (norder < ARRAY_SIZE(order))
		order[norder++] = r->id;
}

static void advance_to(struct wheel *w, uint64_t t)
{
	/* step in 1 ms increments like a real clock would */
	while (fake_now < t) {
		++fake_now;
		wheel_advance(w, fake_now);
	}
}

static void test_order_and_resolution(void)
{
	struct wheel *w = NULL;
	struct rec a = {.id = 1}, b = {.id = 2}, c = {.id = 3};

	fake_now = 1000;
	norder = 0;
	CHECK(0 == wheel_alloc(&w, 10, 64, false));
	wheel_advance(w, fake_now);

	wheel_start(w, &c.e, 300, on_fire, &c);
	wheel_start(w, &a.e, 5, on_fire, &a);
	wheel_start(w, &b.e, 100, on_fire, &b);
	CHECK(wheel_count(w) == 3);
	CHECK(wheel_isrunning(&a.e));

	advance_to(w, 1004);
	CHECK(a.fired == 0); /* never early */
	advance_to(w, 1010);
	CHECK(a.fired == 1);
	CHECK(!wheel_isrunning(&a.e));
	advance_to(w, 1099);
	CHECK(b.fired == 0);
	advance_to(w, 1110);
	CHECK(b.fired == 1 && b.at >= 1100 && b.at <= 1110);
	advance_to(w, 1400);
	CHECK(c.fired == 1 && c.at >= 1300 && c.at <= 1310);
	CHECK(norder == 3 && order[0] == 1 && order[1] == 2 && order[2] == 3);
	CHECK(wheel_count(w) == 0);
	mem_deref(w);
}

static void test_cancel_restart(void)
{
	struct wheel *w = NULL;
	struct rec a = {.id = 1}, b = {.id = 2};

	fake_now = 0;
	norder = 0;
	CHECK(0 == wheel_alloc(&w, 10, 16, false));
	wheel_start(w, &a.e, 50, on_fire, &a);
	wheel_start(w, &b.e, 50, on_fire, &b);
	wheel_cancel(&a.e);
	wheel_cancel(&a.e); /* twice is harmless */
	CHECK(wheel_count(w) == 1);

	/* restart moves the deadline */
	wheel_start(w, &b.e, 200, on_fire, &b);
	CHECK(wheel_count(w) == 1);
	CHECK(wheel_remaining(w, &b.e) == 200);
	advance_to(w, 150);
	CHECK(a.fired == 0 && b.fired == 0);
	advance_to(w, 210);
	CHECK(b.fired == 1);
	mem_deref(w);
}

static void test_far_deadline(void)
{
	struct wheel *w = NULL;
	struct rec a = {.id = 1};

	/* 16 slots of 10 ms = 160 ms per turn; 1000 ms is several turns */
	fake_now = 0;
	CHECK(0 == wheel_alloc(&w, 10, 16, false));
	wheel_start(w, &a.e, 1000, on_fire, &a);
	advance_to(w, 999);
	CHECK(a.fired == 0);
	advance_to(w, 1010);
	CHECK(a.fired == 1 && a.at >= 1000);
	mem_deref(w);
}

static void test_stall_catch_up(void)
{
	struct wheel *w = NULL;
	struct rec a = {.id = 1}, b = {.id = 2}, c = {.id = 3};

	fake_now = 0;
	CHECK(0 == wheel_alloc(&w, 10, 16, false));
	wheel_start(w, &a.e, 30, on_fire, &a);
	wheel_start(w, &b.e, 5000, on_fire, &b);
	wheel_start(w, &c.e, 9000, on_fire, &c);
	/* one jump of many turns: everything due fires, the rest waits */
	fake_now = 6000;
	wheel_advance(w, fake_now);
	CHECK(a.fired == 1 && b.fired == 1 && c.fired == 0);
	CHECK(wheel_count(w) == 1);
	advance_to(w, 9010);
	CHECK(c.fired == 1);
	mem_deref(w);
}

static struct wheel *cur_wheel;
static struct rec *victim;

static void cancel_other(void *arg)
{
	on_fire(arg);
	wheel_cancel(&victim->e); /* due in the same tick */
}

static void restart_self(void *arg)
{
	struct rec *r = arg;
	on_fire(arg);
	if (r->fired < 3)
		wheel_start(cur_wheel, &r->e, 10, restart_self, r);
}

static void test_handlers_change_wheel(void)
{
	struct wheel *w = NULL;
	struct rec a = {.id = 1}, b = {.id = 2}, c = {.id = 3};

	fake_now = 0;
	CHECK(0 == wheel_alloc(&w, 10, 16, false));
	cur_wheel = w;
	victim = &b;
	wheel_start(w, &a.e, 10, cancel_other, &a);
	wheel_start(w, &b.e, 10, on_fire, &b);
	wheel_start(w, &c.e, 10, restart_self, &c);
	advance_to(w, 100);
	CHECK(a.fired == 1);
	CHECK(b.fired == 0);
	CHECK(c.fired == 3);
	CHECK(wheel_count(w) == 0);
	mem_deref(w);
}

static void test_many(void)
{
	enum { N = 20000 };
	static struct rec r[N];
	struct wheel *w = NULL;
	size_t i, fired = 0, early = 0;

	fake_now = 0;
	norder = 0;
	CHECK(0 == wheel_alloc(&w, 10, 256, false));
	for (i = 0; i < N; i++) {
		r[i].id = (int)i;
		wheel_start(w, &r[i].e, (i * 7919) % 60000, on_fire, &r[i]);
	}
	CHECK(wheel_count(w) == N);
	advance_to(w, 60010);
	for (i = 0; i < N; i++) {
		fired += r[i].fired;
		if (r[i].at < (i * 7919) % 60000)
			++early;
	}
	CHECK(fired == N);
	CHECK(early == 0);
	mem_deref(w);
}

/* No delay: fired by the next advance even at the same time, never
 * inside wheel_start(); one that restarts itself with no delay fires once
 * per advance. */
static void restart_now(void *arg)
{
	struct rec *r = arg;
	on_fire(r);
	wheel_start(cur_wheel, &r->e, 0, restart_now, r);
}

static void test_no_delay(void)
{
	struct wheel *w = NULL;
	struct rec a = {.id = 1}, b = {.id = 2}, c = {.id = 3};

	fake_now = 1003;
	norder = 0;
	CHECK(0 == wheel_alloc(&w, 50, 64, false));
	wheel_advance(w, fake_now); /* an undriven wheel learns the time */
	cur_wheel = w;
	wheel_start(w, &a.e, 0, on_fire, &a);
	wheel_start(w, &b.e, 1, on_fire, &b);
	wheel_start(w, &c.e, 0, restart_now, &c);
	CHECK(a.fired == 0 && c.fired == 0);
	CHECK(wheel_count(w) == 3);
	wheel_advance(w, fake_now);
	CHECK(a.fired == 1 && b.fired == 0 && c.fired == 1);
	CHECK(!wheel_isrunning(&a.e) && wheel_isrunning(&c.e));
	wheel_advance(w, fake_now);
	CHECK(c.fired == 2 && b.fired == 0);
	wheel_cancel(&c.e);
	wheel_start(w, &a.e, 0, on_fire, &a);
	wheel_cancel(&a.e);
	wheel_advance(w, fake_now);
	CHECK(a.fired == 1 && c.fired == 2);
	advance_to(w, 1050);
	CHECK(b.fired == 1);
	CHECK(wheel_count(w) == 0);
	mem_deref(w);
}

/* A wheel driven by the libre loop fires on real time. */
static void stop_loop(void *arg)
{
	struct rec *r = arg;
	r->fired++;
	r->at = tmr_jiffies();
	re_cancel();
}

static void test_driven(void)
{
	struct wheel *w = NULL;
	struct rec a = {.id = 1};
	uint64_t t0;

	CHECK(0 == wheel_alloc(&w, 5, 64, true));
	t0 = tmr_jiffies();
	wheel_start(w, &a.e, 40, stop_loop, &a);
	(void)re_main(NULL);
	CHECK(a.fired == 1);
	CHECK(a.at - t0 >= 40);
	mem_deref(w);
}

/* ... and one started with no delay does not wait for a tick. */
static void test_driven_no_delay(void)
{
	struct wheel *w = NULL;
	struct rec a = {.id = 1}, b = {.id = 2};
	uint64_t t0;

	CHECK(0 == wheel_alloc(&w, 1000, 64, true));
	wheel_start(w, &b.e, 5000, on_fire, &b);
	t0 = tmr_jiffies();
	wheel_start(w, &a.e, 0, stop_loop, &a);
	(void)re_main(NULL);
	CHECK(a.fired == 1);
	CHECK(a.at - t0 < 500);
	CHECK(b.fired == 0 && wheel_isrunning(&b.e));
	mem_deref(w);
}

int main(void)
{
	libre_init();
	test_order_and_resolution();
	test_cancel_restart();
	test_far_deadline();
	test_stall_catch_up();
	test_handlers_change_wheel();
	test_many();
	test_no_delay();
	test_driven();
	test_driven_no_delay();
	libre_close();
	return check_done("test_wheel");
}
