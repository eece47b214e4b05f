import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

#: A worker that dies is started again; this many deaths within RESTART_WINDOW_S mean it
#: cannot run here (a broken install, say), and the demo stops with its error.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60


def web_command(host: str, port: int) -> list[str]:
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    options = "--workers 2 --threads 4 --timeout 120 --access-logfile -".split()
    return [gunicorn, "config.wsgi", "--bind", f"{host}:{port}", *options]


def worker_command() -> list[str]:
    return [sys.executable, "manage.py", "db_worker", "--queue-name", "*", "--interval", "1"]


class Command(BaseCommand):
    help = (
        "Serve Tunedesk with gunicorn and run one db_worker beside it (restarted if it dies); "
        "Ctrl-C stops both."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("TUNEDESK_PORT", 8000)))
        parser.add_argument("--host", default=os.environ.get("TUNEDESK_HOST", "127.0.0.1"))

    def handle(self, *args, port: int, host: str, **options):
        web = subprocess.Popen(web_command(host, port))
        worker = subprocess.Popen(worker_command())
        self.stdout.write(
            self.style.SUCCESS(f"Tunedesk is running at http://{host}:{port}/ — Ctrl-C stops it.")
        )
        deaths: list[float] = []
        try:
            while web.poll() is None:
                time.sleep(0.5)
                if worker.poll() is None:
                    continue
                now = time.monotonic()
                deaths = [t for t in deaths if now - t < RESTART_WINDOW_S] + [now]
                if len(deaths) > MAX_RESTARTS:
                    self.stderr.write(
                        f"The db_worker died {len(deaths)} times in {RESTART_WINDOW_S} s "
                        f"(last exit status {worker.returncode}); stopping. See its output above."
                    )
                    break
                self.stderr.write(
                    f"The db_worker exited (status {worker.returncode}); starting it again."
                )
                worker = subprocess.Popen(worker_command())
        except KeyboardInterrupt:
            pass
        finally:
            children = (web, worker)
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [
            c.args[0] for c in (web, worker) if c.returncode not in (0, -signal.SIGTERM, None)
        ]
        if failed:
            self.stderr.write(f"Stopped; {', '.join(failed)} exited with an error (see above).")
