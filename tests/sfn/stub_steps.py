"""Stand-in step functions: the ASL's paths tested in moto without the real binary.

A Lambda function whose name starts with `stub-` is answered here instead of by a
Runtime API emulator. Its name says how it behaves: `stub-<flags>-<unique>`, the
flags joined by `_`:

    loop<N>        follow needs N checks before it is done (default 0: done at refresh)
    failed         the first target's refresh fails
    raise<step>    that step (resolve|refresh|check|report) raises a function error
    svcerr<step>   that step's first invoke meets a Lambda ServiceException (retried)
    nofollow       refresh returns a state without `follow`
    nooutcome      report returns a state without `outcome`
    longsubject    report's subject is over SNS's 100 characters
    notifyall      notify when everything succeeded too (NOTIFY_ON=all)

The state it returns has the shape PLAN.md "Workflow state" gives, only as much of it
as the ASL reads, so these tests prove the ASL, not the step code.
"""
import json
import re
import threading


class StubFunctionError(Exception):
    """What the function's runtime would post to /error."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type
        self.message = message


class StubServiceError(Exception):
    """Lambda itself failing (HTTP 500 ServiceException), before the function runs."""


_lock = threading.Lock()
_invocations = {}  # (function name, step) -> how many times it was invoked


def _flags(name):
    parts = name.split("-")
    return set(parts[1].split("_")) if len(parts) > 2 else set()


def _count(name, step):
    with _lock:
        _invocations[(name, step)] = _invocations.get((name, step), 0) + 1
        return _invocations[(name, step)]


def answer(name, event):
    """The state a stub step returns for `event` ({"step", "state"})."""
    flags = _flags(name)
    step = event.get("step")
    state = dict(event.get("state") or {})
    nth = _count(name, step)
    if f"svcerr{step}" in flags and nth == 1:
        raise StubServiceError(f"stub: Lambda failed before running step {step}")
    if f"raise{step}" in flags:
        raise StubFunctionError("StubStepError", f"stub: step {step} raised")
    loops = next((int(m.group(1)) for f in flags if (m := re.fullmatch(r"loop(\d+)", f))), 0)
    if step == "resolve":
        state["resolved"] = True
    elif step == "refresh":
        # Done at once (loop0) means Tableau already finished the job.
        result = "failed" if "failed" in flags else ("queued" if loops else "succeeded")
        state["reports"] = [{"kind": "workbook", "name": "Sales", "result": result, "job_id": "job-1"}]
        if "nofollow" not in flags:
            state["follow"] = {"waits": 0, "unreachable": 0, "wait_seconds": 1, "done": loops == 0}
    elif step == "check":
        follow = dict(state.get("follow") or {})
        follow["waits"] = follow.get("waits", 0) + 1
        follow["done"] = follow["waits"] >= loops
        state["follow"] = follow
        if follow["done"]:
            for report in state.get("reports", []):
                if report["result"] == "queued":
                    report["result"] = "succeeded"
    elif step == "report":
        if "nooutcome" not in flags:
            state["outcome"] = _outcome(state, flags)
    else:
        raise StubFunctionError("UnknownStep", f"stub: unknown step {step!r}")
    return state


def _outcome(state, flags):
    bad = [r for r in state.get("reports", []) if r["result"] not in ("succeeded", "already_queued")]
    failed = bool(bad) or "error" in state
    if "error" in state:
        summary = f"workflow broken: {state['error'].get('Error')}"
    elif bad:
        summary = f"{len(bad)} of {len(state['reports'])} refreshes failed"
    else:
        summary = "all refreshes succeeded"
    subject = f"Tableau refresh: {summary}"
    if "longsubject" in flags:
        subject = subject + " " + "x" * 100
    message = f"{summary}\n(stub report)"
    return {
        "notify": failed or "notifyall" in flags,
        "failed": failed,
        "subject": subject,
        "message": message,
        "summary": summary,
        # As the real report step: one text per protocol (MessageStructure json).
        "notification": json.dumps({"default": message, "email": message, "https": json.dumps({"version": "1.0", "source": "custom", "content": {"title": subject, "description": message}})}),
    }
