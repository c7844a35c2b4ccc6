"""SessionManager: owns this kernel's desktops, submits and ends their jobs, and follows them.

All Slurm commands run on the manager's own threads, never on the kernel's main thread: a click
returns at once and the widget follows the session through `subscribe` callbacks.

Following is two channels. Every `fast_poll` seconds the manager lists the sessions folder the
jobs write into (their start, readiness and last word: see `session_file`), which asks the
scheduler nothing; a ready desktop is shown from its file alone. `squeue` (one call for every
session) confirms what the files say and carries the lifecycle by itself where files are late
or never come (a node failure, a file system that caches listings): soon after a submit, at once
when a file or an End says something changed, otherwise every `slow_poll` seconds; see `pace`.
The scheduler is shared, so this bounds a kernel's load whatever its desktops do; calls back off
while the scheduler does not answer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from ..access.endpoint import Endpoint
from ..access.instructions import ROUTES, Access, pending
from ..access.routes import RouteOptions, Routes, jupyter_route_base
from ..common.listeners import Listeners
from ..common.poll_loop import Backoff, PollLoop
from ..common.recent import Recent
from ..transport.base import Transport, TransportError
from ..transport.local import LocalTransport
from .bounds import DesktopLimitReached
from .display import DisplayChoice
from .engines import ENGINES
from .pace import SqueuePace
from .request import InvalidRequest, LaunchRequest
from .session import (
    FINAL_STATES,
    DesktopSession,
    SessionState,
    observe,
    vanished,
    with_last_word,
)
from .session_file import (
    JobFile,
    SessionFile,
    SessionFileError,
    SessionPaths,
    job_files,
    parse_idle_word,
    parse_last_word,
    parse_session_file,
)
from .slurm import (
    JobStatus,
    JobTag,
    Partition,
    SlurmBackend,
    SlurmError,
    SlurmUnavailable,
    job_comment,
    parse_job_comment,
)
from .slurm_options import SlurmChoices

log = logging.getLogger(__name__)

Listener = Callable[[DesktopSession], None]
T = TypeVar("T")

FAST_POLL = 1.0
SLOW_POLL = 60.0
STARTUP_TIMEOUT = 600.0
MAX_BACKOFF = 60.0
SUBMIT_ATTEMPTS = 3
LOG_TAIL_LINES = 20
# How long after a job's end its last word may still be coming (its clean-up is still running
# when Slurm already reports it cancelled).
LAST_WORD_WAIT = 60.0
# A job's last word stays this long (seconds) for every manager following the job, then any
# manager listing the folder removes it; it looks for such files this often.
KEEP_LAST_WORD = 600.0
SWEEP_EVERY = 300.0


class SessionManager:
    """The desktops of one kernel (or one script) and the single poll loop that follows them."""

    def __init__(
        self,
        transport: Transport | None = None,
        *,
        fast_poll: float = FAST_POLL,
        slow_poll: float = SLOW_POLL,
        startup_timeout: float = STARTUP_TIMEOUT,
        origin: str = "",
        routes: RouteOptions | None = None,
        max_desktops: int = 0,
    ) -> None:
        self.transport = transport or LocalTransport()
        self.slurm = SlurmBackend(self.transport)
        # How browsers reach ready desktops (and the tunnels this manager holds for them).
        self.routes = Routes(self.transport, routes)
        self.fast_poll = fast_poll
        self.slow_poll = slow_poll
        self.startup_timeout = startup_timeout
        # Which notebook this manager's kernel runs (a hash; empty for scripts): it goes into
        # the job comment, so a restarted kernel re-attaches that notebook's desktops only.
        self.origin = origin
        # How many live desktops the user may have at once (0: no bound), counted in the queue
        # when submitting; the lock keeps this manager's count and the sbatch it allows together.
        self.max_desktops = max_desktops
        self._limit_lock = threading.Lock()
        self._paths: SessionPaths | None = None
        self._sessions: dict[str, DesktopSession] = {}
        self._endpoints: dict[str, Endpoint] = {}
        # Ended sessions whose job has not written its last word yet: key -> give-up time.
        self._awaiting_word: dict[str, float] = {}
        # What the last squeue said of each session's job (key -> status), and which files each
        # job had at the last listing of the sessions folder (job id -> kinds).
        self._jobs: dict[str, JobStatus] = {}
        self._files: dict[str, frozenset[JobFile]] = {}
        # The modification time of each job's idle word when last read (None: it had none).
        self._idle_read: dict[str, float | None] = {}
        self._pace = SqueuePace(slow_poll)
        # What the launchers show, read for all of them: the partitions (one sinfo), the user's
        # accounts, QOS and reservations (sacctmgr, one scontrol).
        self._partitions = Recent(self.slurm.partitions)
        self._choices = Recent(self.slurm.choices)
        self._closed = False
        self._swept = -math.inf
        self._listeners: Listeners[Listener] = Listeners()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Serialises listener calls, so no listener sees an older state after a newer one
        # (re-entrant: a listener may itself launch or end a desktop).
        self._notify_lock = threading.RLock()
        # One poll at a time: the poll thread and rediscover() must not judge a job twice.
        self._poll_lock = threading.Lock()
        self._loop = PollLoop("dcv-widget-poll", self._poll_round, self._has_work)
        self._backoff = Backoff(fast_poll, MAX_BACKOFF)
        self._actions = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dcv-widget-action")
        # Routes are worked out apart: slow AWS lookups must not hold up End, Launch, Connect.
        self._routing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dcv-widget-route")

    # -- what callers see -------------------------------------------------------------------

    def sessions(self) -> list[DesktopSession]:
        with self._lock:
            return list(self._sessions.values())

    def get(self, key: str) -> DesktopSession:
        with self._lock:
            return self._sessions[key]

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(session)` after every change of any session; returns an unsubscribe."""
        return self._listeners.add(listener)

    def launch(self, request: LaunchRequest) -> DesktopSession:
        """Start submitting a desktop job and return its session at once (SUBMITTING)."""
        session = DesktopSession(request=request, key=uuid.uuid4().hex, origin=self.origin)
        with self._changed:
            self._sessions[session.key] = session
            self._changed.notify_all()
        self._notify(session.key)
        self._actions.submit(self._submit, session.key)
        return session

    def end(self, key: str) -> Future[None]:
        """End the desktop (even one still being submitted): it is Ending from this call on, on
        every card, before any command runs. `scancel` runs on an action thread (several ends
        run side by side); the future is done once Slurm took the cancel. The session is ENDED
        once the poll sees Slurm report the job ended: at once for a queued job, after the
        job's clean-up on its node (the desktop closes; a few seconds) for a started one."""
        self._update(key, DesktopSession.start_ending)
        return self._actions.submit(self._cancel, key)

    def connect_url(self, key: str, display: DisplayChoice | None = None) -> Future[str]:
        """The URL that opens the desktop, secret included: for the browser, kept nowhere. On
        the jupyter route, the path of the Jupyter server's Connect entry, with no secret.
        `display`: how the browser chose to show a noVNC desktop (None: noVNC's own)."""
        return self._actions.submit(self._connect_url, key, display)

    def route(self, key: str) -> Future[Access | None]:
        """How the browser reaches a ready desktop, worked out if not yet (None: not ready)."""
        return self._routing.submit(self._prepare_route, key)

    def wait_for(
        self, key: str, predicate: Callable[[DesktopSession], bool], timeout: float
    ) -> DesktopSession:
        """Block until the session satisfies `predicate`; TimeoutError says the state reached."""
        with self._changed:
            ok = self._changed.wait_for(lambda: predicate(self._sessions[key]), timeout)
            session = self._sessions[key]
        if not ok:
            raise TimeoutError(
                f"desktop {session.job_id or key} is still {session.display_state} "
                f"({session.detail}) after {timeout:g} s"
            )
        return session

    def forget(self, key: str) -> None:
        """Drop an ended desktop (a dismissed card) from this manager and every widget."""
        with self._changed:
            session = self._sessions.get(key)
            if session is None or session.state != SessionState.ENDED:
                return
            del self._sessions[key]
            self._awaiting_word.pop(key, None)
            self._jobs.pop(key, None)
        self._drop_endpoint(key)
        self._notify(key, gone=session)

    def partitions(self, max_age: float) -> list[Partition]:
        """The partitions as one sinfo said them at most `max_age` seconds ago: every launcher
        of the kernel shares that sinfo (the scheduler is shared: see `pace`). A second of
        slack: a caller that read them itself `max_age` ago (its clock started just before
        this one's) gets a new answer, not its own old one."""
        return self._partitions.get(max_age)

    def choices(self, max_age: float) -> SlurmChoices:
        """The user's accounts, QOS and reservations, as read at most `max_age` seconds ago,
        shared as the partitions are; a part Slurm cannot say is None. SlurmUnavailable while
        Slurm does not answer (nothing kept: the next call asks again)."""
        return self._choices.get(max_age)

    def close(self) -> None:
        """Stop following the desktops and close the routes held for them; their jobs run on,
        and another manager adopts them (`rediscover`). For a server or script done with it."""
        with self._lock:
            self._closed = True
        self._loop.wake()
        self.routes.close_all()

    def poll_now(self) -> None:
        """Ask the poll loop for an immediate look at the scheduler."""
        self._pace.confirm(time.time())
        self._loop.wake()

    # -- actions, on the action threads ------------------------------------------------------

    def paths(self) -> SessionPaths:
        if self._paths is None:
            self._paths = SessionPaths(self.transport.home())
        return self._paths

    def _submit(self, key: str) -> None:
        session = self.get(key)
        try:
            paths = self.paths()
            for folder in (paths.root, paths.sessions, paths.logs):
                self.transport.make_private_dir(folder)
            job_id = self._submit_once(session, paths)
        except Exception as exc:
            if not isinstance(exc, SlurmError | OSError | TransportError | DesktopLimitReached):
                log.exception("launch failed")
            detail = str(exc) or f"unexpected {type(exc).__name__}; see the kernel's log"
            failed = partial(
                DesktopSession.moved_to,
                state=SessionState.ENDED,
                detail=detail,
                outcome="failed to submit",
            )
            self._update(key, failed)
            return
        queued = self._update(
            key,
            # A rediscover may have recorded the job already, and a poll moved it on since.
            lambda s: s if s.job_id == job_id else s.submitted(job_id),
        )
        self._pace.submitted(time.time())
        self._ensure_polling()
        if queued.ending:  # End was clicked while sbatch ran
            self._cancel(key)

    def _submit_once(self, session: DesktopSession, paths: SessionPaths) -> str:
        """sbatch, retried while Slurm does not answer; before each retry, look in the queue
        for this launch's job, so a submission whose answer was lost never runs twice."""
        engine = ENGINES[session.request.engine]
        script = engine.job_script(session.request, launch_id=session.key)
        tag = JobTag(engine.name, session.key, session.origin, session.request.access)
        comment = job_comment(tag)
        unanswered: SlurmUnavailable | None = None
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                if attempt:
                    found = self._job_of_launch(session.key)
                    if found:
                        return found
                limited = self._limit_lock if self.max_desktops else contextlib.nullcontext()
                with limited:
                    self._check_desktop_limit(session.key)
                    return self.slurm.submit(
                        session.request, script, output=paths.log_pattern(), comment=comment
                    )
            except SlurmUnavailable as exc:
                unanswered = exc
                self._update(session.key, lambda s: replace(s, unreachable=True))
                time.sleep(self.fast_poll * 2 ** (attempt + 1))
        # The last try may have gone through after all: never leave a job nobody follows.
        with contextlib.suppress(SlurmError):
            found = self._job_of_launch(session.key)
            if found:
                return found
        raise SlurmError(
            f"Slurm did not answer {SUBMIT_ATTEMPTS} tries to submit the desktop ({unanswered}); "
            "try again later or ask your cluster admin"
        ) from unanswered

    def _check_desktop_limit(self, launch_id: str) -> None:
        """DesktopLimitReached if the user's live desktops in the queue (any notebook's or
        script's, this launch's own excepted; one shutting down no longer counts) already reach
        max_desktops; one squeue call."""
        if not self.max_desktops:
            return
        live = 0
        for job in self.slurm.jobs().values():
            tag = parse_job_comment(job.comment)
            over = job.state in FINAL_STATES or job.state == "COMPLETING"
            if tag and tag.launch_id != launch_id and not over:
                live += 1
        if live >= self.max_desktops:
            raise DesktopLimitReached(live, self.max_desktops)

    def _job_of_launch(self, launch_id: str) -> str:
        """The id of the job this launch submitted, if the queue has one."""
        for job in self.slurm.jobs().values():
            tag = parse_job_comment(job.comment)
            if tag and tag.launch_id == launch_id:
                return job.job_id
        return ""

    def _cancel(self, key: str) -> None:
        session = self.get(key)
        # Without a job id sbatch is still running: _submit cancels once it has one.
        if session.job_id and session.state != SessionState.ENDED:
            try:
                self.slurm.cancel(session.job_id)
            except Exception:
                # Not ending after all: back to the normal poll (which sets the state's time
                # from Slurm's again), and the caller hears why.
                failed = partial(replace, ending=False, end_asked=False, detail="End failed")
                self._update(key, failed)
                raise
            self._update(key, DesktopSession.ending_asked)
            self.poll_now()

    def _read_session_file(self, job_id: str) -> SessionFile | None:
        text = self.transport.read_text(self.paths().session_file(job_id))
        return parse_session_file(text) if text else None

    def _connect_url(self, key: str, display: DisplayChoice | None) -> str:
        session = self.get(key)
        endpoint = self._endpoints.get(key)
        if session.state != SessionState.READY or endpoint is None:
            raise RuntimeError(
                f"desktop {session.job_id} is {session.state.value}, not ready: "
                "wait for it to be ready, then connect"
            )
        # A problem found earlier is looked at again: Connect is the user's "try again".
        route = self._prepare_route(key)
        browser = self.routes.browser_endpoint(key)
        if route is None or browser is None:
            raise RuntimeError(route.problem if route else "the desktop has just ended")
        if route.open_path:  # through the Jupyter server, which adds what the desktop needs
            query = f"?{display.query()}" if display else ""
            return jupyter_route_base() + route.open_path + query
        found = self._read_session_file(session.job_id)
        if found is None:
            raise RuntimeError(f"desktop {session.job_id} has closed; launch a new one")
        return ENGINES[endpoint.engine].connect_url(browser, found.secret, display)

    def access(self, key: str) -> Access | None:
        """How the browser reaches a ready desktop (no secret), for its card; None until the
        desktop is ready, and while its route is worked out."""
        if key not in self._endpoints:
            return None
        return self.routes.access(key) or pending(self.get(key).request.access)

    def _prepare_route(self, key: str) -> Access | None:
        """Work out the ready desktop's route (AWS lookups, a held tunnel), then tell the
        widgets; on an action thread."""
        session = self.get(key)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            return None
        route = self.routes.prepare(key, session.request.access, endpoint, session.job_id)
        if self._endpoints.get(key) is not endpoint:  # ended or requeued meanwhile
            self.routes.close(key, endpoint)  # this route only, not a newer one
            return None
        self._notify(key)
        return route

    def _drop_endpoint(self, key: str) -> None:
        """The desktop no longer listens where it did: forget it and close its route."""
        self._endpoints.pop(key, None)
        self.routes.close(key)

    # -- the poll loop ------------------------------------------------------------------------

    def _ensure_polling(self) -> None:
        self._loop.ensure_running()

    def _has_work(self) -> bool:
        """Whether anything is left to follow: a live job, or an ended one's last word."""
        with self._lock:
            return not self._closed and bool(self._awaiting_word or self._tracked_locked())

    def _poll_round(self) -> float:
        """One look at the job's files and, when one is due, at the scheduler; the seconds
        until the next round."""
        self._watch_files()
        if self._pace.due_in(time.time()) <= 0:
            try:
                self.poll_once()
            except SlurmUnavailable as exc:
                log.info("scheduler unreachable: %s", exc)
                self._mark_unreachable()
                self._pace.hold(time.time(), self._backoff.next())
            except Exception:
                log.exception("poll failed; retrying")
                self._pace.hold(time.time(), self.slow_poll)
            else:
                self._backoff.reset()
                if self._unconfirmed():
                    self._pace.not_yet(time.time())
                else:
                    self._pace.agreed()
        return min(self.fast_poll, self._pace.due_in(time.time()))

    def _unconfirmed(self) -> bool:
        """Whether the files (or an End) say something the last squeue did not show yet."""
        for session in self._tracked():
            kinds = self._files.get(session.job_id, frozenset())
            if session.ending or JobFile.ENDED in kinds:
                return True  # on its way out: Slurm says so within seconds
            if kinds and session.state in (SessionState.QUEUED, SessionState.STARTING):
                return True  # started (or even ready) on its node
        return False

    def _watch_files(self) -> None:
        """The fast channel: one listing of the sessions folder. A ready file moves a desktop
        Slurm already reported running to READY; a last word concludes an ended job waiting
        for it; other news asks squeue to confirm it now. A listing that fails changes nothing:
        squeue carries on by itself."""
        with self._poll_lock:
            tracked = self._tracked()
            with self._lock:
                awaiting = list(self._awaiting_word)
            if not tracked and not awaiting:
                return
            try:
                listing = self.transport.list_files(self.paths().sessions)
            except (OSError, TransportError) as exc:
                log.debug("could not list the sessions folder: %s", exc)
                return
            files = job_files(listing)
            for session in tracked:
                self._isolated(session, self._watch_idle, session, listing)
                # The idle word asks the scheduler nothing: only the job's other files do.
                kinds = files.get(session.job_id, frozenset()) - {JobFile.IDLE}
                if kinds == self._files.get(session.job_id, frozenset()):
                    continue
                self._files[session.job_id] = kinds
                job = self._jobs.get(session.key)
                running = job is not None and job.state == "RUNNING"
                if JobFile.READY in kinds and JobFile.ENDED not in kinds and running:
                    try:
                        self._isolated(session, self._follow, session, job)
                    except SlurmUnavailable:  # the node's address: squeue's round tries again
                        self._pace.confirm(time.time())
                else:
                    self._pace.confirm(time.time())
            for session in self._awaiting_sessions(awaiting):
                if JobFile.ENDED in files.get(session.job_id, frozenset()):
                    self._isolated(session, self._conclude, session.key, lambda ended: ended)
            self._sweep(listing)

    def _watch_idle(self, session: DesktopSession, listing: dict[str, float]) -> None:
        """Follow the job's idle word (written when nobody is connected, removed on a connect),
        read again when its modification time changes; its times move onto our clock."""
        written = listing.get(f"{session.job_id}.idle.json")
        if self._idle_read.get(session.job_id) == written:
            return
        word = None
        if written is not None:
            text = self.transport.read_text(self.paths().idle_file(session.job_id))
            word = parse_idle_word(text) if text else None
        self._idle_read[session.job_id] = written
        if word is None or word.launch_id != session.key:
            since, ends = None, None
        else:
            offset = self.slurm.clock.offset
            since, ends = word.since - offset, word.ends_at - offset
        self._update(session.key, lambda s: replace(s, idle_since=since, idle_ends_at=ends))

    def _tracked(self) -> list[DesktopSession]:
        """Sessions with a job that has not ended: the ones a poll looks at."""
        with self._lock:
            return self._tracked_locked()

    def _tracked_locked(self) -> list[DesktopSession]:
        return [s for s in self._sessions.values() if s.job_id and s.state != SessionState.ENDED]

    def poll_once(self) -> None:
        """One look at the scheduler for every tracked session: one squeue call for all, plus
        one sacct call only when some job has left the queue."""
        with self._poll_lock:
            # Take the list before squeue runs: a job submitted meanwhile is not yet in its
            # output and must not be judged by it.
            tracked = self._tracked()
            self._pace.asked(time.time())
            jobs = self.slurm.jobs()
            gone = [s.job_id for s in tracked if s.job_id not in jobs]
            accounted = self.slurm.accounting(gone) if gone else {}
            for session in tracked:
                job = jobs.get(session.job_id) or (accounted or {}).get(session.job_id)
                self._isolated(session, self._follow, session, job)
            with self._lock:
                awaiting = set(self._awaiting_word) - {s.key for s in tracked}
            for session in self._awaiting_sessions(awaiting):
                self._isolated(session, self._conclude, session.key, lambda ended: ended)

    def _awaiting_sessions(self, keys: Iterable[str]) -> list[DesktopSession]:
        """The sessions of `keys` whose last word is still awaited. A card dismissed meanwhile
        (`forget`, on the kernel's thread) is skipped, and no longer awaited: its key must not
        fail the poll, nor keep the poll loop running."""
        with self._lock:
            found = []
            for key in keys:
                session = self._sessions.get(key)
                if session is None:
                    self._awaiting_word.pop(key, None)
                elif key in self._awaiting_word:
                    found.append(session)
            return found

    def _isolated(self, session: DesktopSession, step: Callable[..., object], *args: Any) -> None:
        """Run one session's part of a poll; its trouble must not stall the other sessions."""
        try:
            step(*args)
        except SlurmUnavailable:
            raise
        except Exception:
            log.exception("desktop %s: could not follow it this time", session.job_id)

    def _follow(self, session: DesktopSession, job: JobStatus | None) -> None:
        """Move one session on from what the scheduler says of its job."""
        if job is not None:
            self._jobs[session.key] = job
        if job is None:
            self._conclude(session.key, vanished)
        elif job.state in FINAL_STATES:
            self._conclude(session.key, partial(observe, job=job, desktop_ready=False))
        else:
            ready = self._desktop_ready(session, job)
            updated = self._update(session.key, partial(observe, job=job, desktop_ready=ready))
            if self._start_up_overdue(updated):
                self._fail_start_up(updated)

    def _start_up_overdue(self, session: DesktopSession) -> bool:
        return (
            session.state == SessionState.LAUNCHING
            and not session.ending
            and time.time() - session.since > self.startup_timeout
        )

    def _fail_start_up(self, session: DesktopSession) -> None:
        """A desktop that never came up: cancel its job (no orphan keeps billing), say why."""
        self.slurm.cancel(session.job_id)
        minutes = self.startup_timeout / 60
        failed = session.moved_to(
            SessionState.ENDED,
            f"the desktop did not start within {minutes:g} minutes, so its job was cancelled; "
            "see the log below, or ask your cluster admin",
            outcome="failed",
        )
        self._conclude(session.key, lambda _: failed)

    def _conclude(self, key: str, ended: Callable[[DesktopSession], DesktopSession]) -> None:
        """Move a session to its end (`ended`) together with the job's last word, in one
        update when it is there; a last word still being written (the job is cleaning up while
        Slurm already says "cancelled") refines the ended session on a later poll, or is given
        up on after LAST_WORD_WAIT."""
        session = self.get(key)
        end_file = self.paths().end_file(session.job_id)
        deadline = self._awaiting_word.setdefault(key, time.time() + LAST_WORD_WAIT)
        try:
            text = self.transport.read_text(end_file)
        except (OSError, TransportError) as exc:
            log.warning("desktop %s: could not read its last word: %s", session.job_id, exc)
            text = None
        word = parse_last_word(text) if text else None
        failed = ended(session).outcome.startswith("failed") or (word and word.cause == "failed")
        tail = self._log_tail(session) if failed else ""
        if word is not None or time.time() >= deadline:
            self._awaiting_word.pop(key, None)
            self._drop_endpoint(key)
            self._jobs.pop(key, None)
            self._files.pop(session.job_id, None)
            self._idle_read.pop(session.job_id, None)
            # The job removes these itself; a job killed outright leaves them (with a secret).
            # The last word stays for every other manager following the job (the server's
            # panel, another kernel): `_sweep` removes it later.
            paths = self.paths()
            self._remove(session.job_id, paths.session_file(session.job_id))
            self._remove(session.job_id, paths.started_file(session.job_id))
            self._remove(session.job_id, paths.idle_file(session.job_id))
        self._update(key, lambda current: with_last_word(ended(current), word, tail))

    def _remove(self, job_id: str, path: str) -> None:
        try:
            self.transport.remove(path)
        except (OSError, TransportError) as exc:
            log.warning("desktop %s: could not remove %s: %s", job_id, path, exc)

    def _sweep(self, listing: dict[str, float]) -> None:
        """Remove the files of jobs whose last word is over KEEP_LAST_WORD old and that this
        manager does not follow: every manager that followed the job has read it by then, and
        the folder is listed every second. (Only jobs that ended: a last word is written as the
        job exits; the files of a running desktop are never touched.)"""
        now = time.time()
        if now - self._swept < SWEEP_EVERY:
            return
        self._swept = now
        with self._lock:
            followed = {
                s.job_id
                for k, s in self._sessions.items()
                if s.state != SessionState.ENDED or k in self._awaiting_word
            }
        paths = self.paths()
        for job_id, kinds in job_files(listing).items():
            said_at = listing.get(f"{job_id}.end.json")
            if JobFile.ENDED not in kinds or job_id in followed or said_at is None:
                continue
            if now - said_at >= KEEP_LAST_WORD:
                for path in (
                    paths.end_file(job_id),
                    paths.session_file(job_id),
                    paths.started_file(job_id),
                    paths.idle_file(job_id),
                ):
                    self._remove(job_id, path)

    def _log_tail(self, session: DesktopSession) -> str:
        """The end of the job's log (which never holds a secret), for failures."""
        try:
            text = self.transport.read_text(self.paths().log_file(session.job_id)) or ""
        except (OSError, TransportError) as exc:
            return f"(the job's log could not be read: {exc})"
        return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])

    def run_later(self, work: Callable[[], T]) -> Future[T]:
        """`work` on an action thread: for callers (the kernel's thread) that must not wait."""
        return self._actions.submit(work)

    def rediscover_later(self) -> Future[list[DesktopSession]]:
        """`rediscover` on an action thread: for callers that must not wait for Slurm."""
        return self.run_later(self.rediscover)

    def rediscover(self) -> list[DesktopSession]:
        """Adopt this user's live desktops that this manager does not follow yet (after a
        kernel restart, or launched elsewhere): found by their job name and comment."""
        known = {s.job_id for s in self.sessions()}
        adopted = []
        completed = False
        # Not the pace's call: this squeue judges only the desktops it adopts, so the
        # confirmations the others wait for still come.
        jobs = self.slurm.jobs()
        for job in jobs.values():
            tag = parse_job_comment(job.comment)
            if tag is None or job.job_id in known or job.state in FINAL_STATES:
                continue
            if tag.engine not in ENGINES:
                continue
            # A route this version does not know is shown as direct rather than not at all.
            access = tag.access if tag.access in ROUTES else "direct"
            try:
                request = LaunchRequest(
                    engine=tag.engine, partition=job.partition or None, access=access
                )
            except InvalidRequest:  # e.g. a job submitted to several partitions
                request = LaunchRequest(engine=tag.engine, access=access)
            with self._changed:
                existing = self._sessions.get(tag.launch_id)
                if existing is not None and existing.job_id:
                    continue
                if existing is not None:
                    # This kernel's own launch, seen between sbatch and the job id's return (or
                    # after a submission that seemed to fail went through): it keeps the
                    # request it was launched with, which the job comment does not carry.
                    session = existing.submitted(job.job_id)
                else:
                    session = DesktopSession(
                        request=request,
                        key=tag.launch_id,
                        origin=tag.origin,
                        job_id=job.job_id,
                        state=SessionState.QUEUED,
                        request_known=False,
                    )
                self._sessions[tag.launch_id] = session
                self._changed.notify_all()
            if existing is not None:
                self._notify(tag.launch_id)  # followed already: not adopted, only completed
                completed = True
                continue
            adopted.append(session)
        # The adopted are judged by the listing that found them: no second squeue. (Only they:
        # a launch submitted since the listing is not in it.)
        with self._poll_lock:
            for session in adopted:
                self._isolated(session, self._follow, session, jobs[session.job_id])
        if adopted or completed:
            self._ensure_polling()
        return [self.get(s.key) for s in adopted]

    def _desktop_ready(self, session: DesktopSession, job: JobStatus | None) -> bool:
        """Whether the job's desktop answers; learns its endpoint the first time it does."""
        if job is None or job.state != "RUNNING":
            # A requeued job starts a new desktop: forget where the old one listened.
            if session.key in self._endpoints:
                self._drop_endpoint(session.key)
            return False
        if session.key in self._endpoints:
            return True
        try:
            found = self._read_session_file(session.job_id)
            if found is None:
                return False
            if found.launch_id != session.key:
                log.warning("desktop %s: ignoring a session file of another launch", session.job_id)
                return False
            address = _listening_address(found.endpoint) or self.slurm.node_address(job.nodes)
        except (SessionFileError, SlurmError, OSError, TransportError) as exc:
            # One desktop's trouble must not stall the others: try again next poll.
            log.warning("desktop %s: %s", session.job_id, exc)
            return False
        self._endpoints[session.key] = replace(found.endpoint, host=address)
        self._routing.submit(self._isolated, session, self._prepare_route, session.key)
        return True

    def _mark_unreachable(self) -> None:
        for session in self._tracked():
            self._update(session.key, lambda current: replace(current, unreachable=True))

    def _update(
        self, key: str, change: Callable[[DesktopSession], DesktopSession]
    ) -> DesktopSession:
        """Apply `change` to the session's current value atomically, then tell the listeners."""
        with self._changed:
            old = self._sessions[key]
            new = change(old)
            if new == old:
                return old
            self._sessions[key] = new
            self._changed.notify_all()
        log.debug("desktop %s: %s: %s", new.job_id or key, new.state.value, new.detail)
        self._notify(key)
        return new

    def _notify(self, key: str, gone: DesktopSession | None = None) -> None:
        """Tell every listener of the session's newest state (or of `gone`, just forgotten)."""
        with self._notify_lock:
            with self._lock:
                session = gone or self._sessions[key]
            self._listeners.call(session, what="a session listener")


def _listening_address(endpoint: Endpoint) -> str:
    """The IP address the job says its desktop listens on, "" when it names a host instead.

    A job that binds one address records it (novnc), and URLs then name exactly it: a name
    could resolve to the other address family, where another user of the node may listen on
    the same port. Otherwise Slurm's NodeAddr is the address the browser can reach.
    """
    try:
        return str(ipaddress.ip_address(endpoint.host))
    except ValueError:
        return ""
