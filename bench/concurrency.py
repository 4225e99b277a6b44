"""Bounded concurrency (issue 12): the release binary in the plain mode refreshing
1, 20 and 200 targets with TABLEAU_MAX_CONCURRENCY=8, every fake Tableau request
answered after REQUEST_DELAY_MS; wall time and the most requests the fake saw in
flight at once (from arrival to answer), which must not pass the limit."""
import statistics

from harness import log, run, targets

COUNTS = (1, 20, 200)
LIMIT = 8
REQUEST_DELAY_MS = 50


def measure(services, workdir, warm):
    """[(n, figures)]; `warm` invocations after the first for each count."""
    out = []
    for n in COUNTS:
        log(f"==> bounded concurrency: {n} targets, TABLEAU_MAX_CONCURRENCY={LIMIT}, "
            f"{REQUEST_DELAY_MS} ms per Tableau request, {warm} warm invocations")
        env = {"REFRESH_TARGETS": targets(n), "DRY_RUN": "false", "TABLEAU_MAX_CONCURRENCY": str(LIMIT)}
        out.append((n, run(f"concurrency-{n}", "rust", services, workdir, env, warm,
                           fake={"request_delay_ms": REQUEST_DELAY_MS})))
    return out


def violations(runs):
    """Messages for runs where the fake saw more than LIMIT requests at once."""
    return [f"{n} targets: {r['tableau_total']['max_inflight']} Tableau requests in flight at once "
            f"with TABLEAU_MAX_CONCURRENCY={LIMIT}" for n, r in runs if r["tableau_total"]["max_inflight"] > LIMIT]


def report(runs, ms, fmt_answers):
    L = [f"### Bounded concurrency (issue 12): TABLEAU_MAX_CONCURRENCY={LIMIT}, "
         f"every Tableau request answered after {REQUEST_DELAY_MS} ms", ""]
    L.append("| targets | first call (ms) | warm median (ms) | Tableau requests per call | "
             "floor at 8 in flight (ms) | most requests in flight at once | answers |")
    L.append("| --- | --- | --- | --- | --- | --- | --- |")
    for n, r in runs:
        per_call = r["tableau_req"] if r["n_warm"] else r["first_tableau"]["requests"]
        # Sign-in and sign-out are alone on the wire; each target's lookup and
        # refresh hold one of the LIMIT permits, so targets go LIMIT at a time.
        per_target = max(per_call - 2, 0) / n
        floor = (2 + -(-n // LIMIT) * per_target) * REQUEST_DELAY_MS / 1000
        warm = ms(statistics.median(r["warm"])) if r["warm"] else "n/a"
        L.append(f"| {n} | {ms(r['first'])} | {warm} | {per_call:.0f} | {ms(floor)} | "
                 f"{r['tableau_total']['max_inflight']} | {fmt_answers(r)} |")
    L.append("")
    L.append("The first call also asks serverinfo (the API version is detected once per container) and "
             "opens the connections. The floor is the least the limit allows: sign-in, then the targets "
             f"{LIMIT} at a time (each target's lookup and refresh hold one permit), then sign-out, "
             "each request taking the delay.")
    L.append("")
    return L
