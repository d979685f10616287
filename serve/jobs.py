"""The embedded background-job runner: a thread pool inside the service process.

Jobs live in the database (``models.store.db.Job``), so the runner holds no state of its own: a restart
re-queues interrupted jobs and submits every queued one (:meth:`JobRunner.recover`). A real queue
(Celery, RQ, arq ...) can take its place by implementing :meth:`JobRunner.submit` as "enqueue
``job_id``" and running :func:`serve.uploads.run_job` in its workers.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from models.store.db import is_contention
from models.taxonomy.catalogue import Catalogue
from serve.classifiers import Classifiers
from serve.uploads import requeue_interrupted, run_job

log = logging.getLogger(__name__)


class JobRunner:
    """Runs upload jobs on ``workers`` threads, each with its own database session; a job that meets a busy
    database is queued again and retried after ``retry_s`` seconds."""

    def __init__(self, sessions: sessionmaker[Session], *, media_root: Path, classifiers: Classifiers,
                 catalogue: Catalogue, top_k: int, workers: int = 1, retry_s: float = 5.0) -> None:
        self._sessions = sessions
        self._retry_s = float(retry_s)
        self._kwargs = dict(media_root=media_root, classifiers=classifiers, catalogue=catalogue, top_k=top_k)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="biodiv-job")

    def submit(self, job_id: str) -> Future:
        """Schedule a queued job."""
        return self._pool.submit(self._run, job_id)

    def _run(self, job_id: str) -> None:
        try:
            with self._sessions() as session:
                job = run_job(session, job_id, **self._kwargs)
                if job is not None:
                    log.info("job %s: %s %s", job_id, job.state, job.reason)
        except DBAPIError as exc:
            if not is_contention(exc):
                log.exception("job %s: database error", job_id)
                return
            # the database was busy: the job is queued again; try it after retry_s (a restart also resumes it)
            log.warning("job %s: database busy, retrying in %.0f s", job_id, self._retry_s)
            timer = threading.Timer(self._retry_s, self._resubmit, args=(job_id,))
            timer.daemon = True
            timer.start()

    def _resubmit(self, job_id: str) -> None:
        try:
            self.submit(job_id)
        except RuntimeError:  # shut down meanwhile: the job stays queued for the next start
            pass

    def recover(self) -> list[str]:
        """Re-queue jobs a previous process left ``running`` and submit every queued job; returns their IDs."""
        with self._sessions() as session:
            ids = requeue_interrupted(session)
        for job_id in ids:
            self.submit(job_id)
        if ids:
            log.info("resumed %d queued jobs", len(ids))
        return ids

    def shutdown(self) -> None:
        """Finish the running job; jobs not started stay ``queued`` in the database for the next start."""
        self._pool.shutdown(wait=True, cancel_futures=True)
