import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Tunedesk with gunicorn and run one db_worker beside it; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("TUNEDESK_PORT", 8000)))
        parser.add_argument("--host", default=os.environ.get("TUNEDESK_HOST", "127.0.0.1"))

    def handle(self, *args, port: int, host: str, **options):
        bin_dir = os.path.dirname(sys.executable)
        web = subprocess.Popen(
            [
                os.path.join(bin_dir, "gunicorn"),
                "config.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                "120",
                "--access-logfile",
                "-",
            ]
        )
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--queue-name", "*", "--interval", "1"]
        )
        self.stdout.write(
            self.style.SUCCESS(f"Tunedesk is running at http://{host}:{port}/ — Ctrl-C stops it.")
        )
        children = (web, worker)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [c.args[0] for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
        if failed:
            self.stderr.write(f"Stopped; {', '.join(failed)} exited with an error (see above).")
