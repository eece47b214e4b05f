"""The db_worker loop, made to outlive a database that is locked or briefly away.

django-tasks-db's worker exits on the first "database is locked" outside its claim query
(seen: an import holding SQLite's write lock past the busy timeout stopped the worker, and
nothing restarted it) and on a dropped connection. This one backs off and tries again, never
loses a task's end (the result write is retried), and sweeps (`jobs.services.sweep`: orphaned
jobs, dead uploads) on a timer whether or not tasks come.
"""

from __future__ import annotations

import logging
import random
import time

from django.db import close_old_connections
from django.db.utils import DatabaseError, InterfaceError
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

from jobs import services

logger = logging.getLogger("django_tasks_db")

DB_ERRORS = (DatabaseError, InterfaceError)
MAX_BACKOFF_S = 10.0


class ResilientWorker(Worker):
    def run(self) -> None:
        logger.info(
            "Starting worker worker_id=%s queues=%s", self.worker_id, ",".join(self.queue_names)
        )
        if self.startup_delay and self.interval:
            time.sleep(random.random())  # noqa: S311 - spreads a herd of workers
        backoff = 0.0
        while self.running:
            try:
                finished = self._once()
            except DB_ERRORS as e:
                backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF_S)
                logger.warning("Database unavailable (%s); trying again in %.1f s", e, backoff)
                close_old_connections()
                time.sleep(backoff)
                continue
            backoff = 0.0
            if finished:
                return

    def _once(self) -> bool:
        """One turn of the loop: sweep if due, claim and run one task. True: stop the worker."""
        close_old_connections()
        services.sweep()
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        with exclusive_transaction(tasks.db):
            task_result = tasks.get_locked()
            if task_result is not None:
                task_result.claim(self.worker_id)  # no other worker runs it
        if task_result is not None:
            self.run_task(task_result)
        if self.batch and task_result is None:
            logger.info("No more tasks to run for worker_id=%s - exiting.", self.worker_id)
            return True
        if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
            logger.info("Ran the maximum tasks (%d) on worker=%s.", self._run_tasks, self.worker_id)
            return True
        close_old_connections()
        if self.running and task_result is None:
            time.sleep(self.interval)
        return False

    def run_task(self, db_task_result: DBTaskResult) -> None:
        # The task ran: its end is written however long the database stays locked.
        set_successful, set_failed = db_task_result.set_successful, db_task_result.set_failed
        db_task_result.set_successful = lambda value: services.retry_on_locked(
            lambda: set_successful(value)
        )
        db_task_result.set_failed = lambda exc: services.retry_on_locked(lambda: set_failed(exc))
        super().run_task(db_task_result)
