"""One queue for a whole class: no session may hold more than a few of its places."""

from __future__ import annotations

import gradio as gr

from .context import LOG

MAX_WAITING_PER_SESSION = 3  # requests one session may have queued or running at once


def share_the_queue(demo: gr.Blocks) -> None:
    """Refuse a request before it joins the queue when its session already has a few waiting or
    running, so one client cannot fill the queue a whole class shares. Gradio has no such option:
    this wraps its queue's join step (the version is pinned; a test checks the behaviour) and
    answers as its own input validation does, with the message on the class picker."""
    queue = demo._queue
    join = queue.push

    async def fair_push(body, request, username):
        waiting = len(queue.pending_event_ids_session.get(body.session_hash, ()))
        if not body.session_hash or waiting < MAX_WAITING_PER_SESSION or body.fn_index is None:
            return await join(body=body, request=request, username=username)
        LOG.info("refused: a session with %d requests waiting", waiting)
        message = (f"this session already has {waiting} requests waiting or running (at most "
                   f"{MAX_WAITING_PER_SESSION}); wait for one to finish, or stop one (Stop on the page, job.cancel() "
                   "in a script)")
        fn = demo.fns[body.fn_index]
        inputs, names = len(fn.inputs), fn.input_parameter_names or []
        shown = min(1, inputs - 1)  # the class picker of Generate, Compare and the Lesson
        verdicts = [{"__type__": "validate", "is_valid": k != shown, "message": message if k == shown else "",
                     "parameter_name": names[k] if k < len(names) and names[k] else f"param_{k}"}
                    for k in range(inputs)]
        return False, verdicts, "validator_error"

    queue.push = fair_push
