"""The scale benchmark: load N demo organisations into PostgreSQL, start the system as in production
and time what managers do most, with 1 and 20 concurrent clients on loopback.

    .venv/bin/python bench/run.py --orgs 50000 --database postgresql://127.0.0.1:5432/bench

A database that already holds a client base is reused as it is (its migrations are applied);
--reset empties it first. Prints a table and writes the same figures to bench/results-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import User, measure  # noqa: E402
from bench.stack import CpuSampler, Stack, TimedSmtpSink  # noqa: E402

ADMIN_PASSWORD = "Bench-Admin-Passw0rd"
DEMO_PASSWORD = "Bench-Demo-Passw0rd"
OWN_MANAGER = "a.smirnov"  # a demo manager who sees only his own records
SAMPLES = 20
TARGETS = {"page_p95_ms_at_20": 150, "agent_poll_ms": 15, "reminders_seconds": 60, "web_worker_mb": 200}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=50_000, help="organisations to load into an empty database")
    parser.add_argument("--database", default="postgresql://127.0.0.1:5432/bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="its database is flushed")
    parser.add_argument("--reset", action="store_true", help="drop everything in --database and load anew")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--rq-workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--requests", type=int, default=200, help="requests per case at concurrency 20")
    parser.add_argument("--requests-single", type=int, default=50, help="requests per case at concurrency 1")
    parser.add_argument("--reminders", type=int, default=5000, help="reminders coming due at once")
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (default: a free one)")
    parser.add_argument("--cases", default="", help="only the cases whose names contain this (comma-separated)")
    parser.add_argument("--skip-reminders", action="store_true", help="leave out the reminder burst")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: bench/results-<date>.json)")
    return parser.parse_args()


def environment(args: argparse.Namespace, instance: Path, smtp_port: int) -> dict[str, str]:
    """What every process gets, the in-process app included: production settings, our services."""
    env = {
        "CRM_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": args.database,
        "REDIS_URL": args.redis,
        "INSTANCE_DIR": str(instance),
        "UPLOAD_FOLDER": str(instance / "uploads"),
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_DEFAULT_SENDER": "crm@zaptrade.example",
        "PUBLIC_URL": "http://127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    return {**os.environ, **env}


def flask(env: dict[str, str], *command: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run", "crm", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask crm {' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> dict:
    from sqlalchemy import create_engine, text

    from config import database_url

    engine = create_engine(database_url())
    create_database_if_missing(engine)
    if args.reset:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    flask(env, "init")
    with engine.connect() as connection:
        existing = connection.execute(text("SELECT count(*) FROM organization")).scalar_one()
    load: dict = {"organizations_before": existing}
    if not existing:
        print(f"Loading {args.orgs} demo organisations...", flush=True)
        started = time.monotonic()
        output = flask(env, "demo", "--orgs", str(args.orgs), "--seed", "1", "--password", DEMO_PASSWORD)
        load["seconds"] = round(time.monotonic() - started, 1)
        load["summary"] = [line for line in output.splitlines() if line.startswith("  ") or "loaded" in line]
        print("\n".join(load["summary"]), flush=True)
    started = time.monotonic()
    load["agent_events_added"] = add_agent_history(engine)
    load["agent_history_seconds"] = round(time.monotonic() - started, 1)
    with engine.connect() as connection:
        for table in ("organization", "contact", "client_request", "agent_event", "reminder"):
            load[f"rows_{table}"] = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return load


def create_database_if_missing(engine) -> None:
    """A fresh machine's PostgreSQL has no `bench` database yet: make it (as `createdb` would)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    try:
        engine.connect().close()
    except OperationalError as error:
        if "does not exist" not in str(error):
            raise
        server = create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{engine.url.database}"'))
        server.dispose()
        print(f"Created the database {engine.url.database}", flush=True)


def add_agent_history(engine) -> int:
    """The Agent events three years of work would have left (the demo writes none): one per request
    created, status or delivery change and comment, so that polls read a table of realistic size."""
    from sqlalchemy import text

    with engine.begin() as connection:
        events = connection.execute(text("SELECT count(*) FROM agent_event")).scalar_one()
        requests = connection.execute(text("SELECT count(*) FROM client_request")).scalar_one()
        if events >= requests:
            return 0
        added = connection.execute(
            text(
                """
                INSERT INTO agent_event (kind, request_id, recipient_id, actor_id, title, message, created_on)
                SELECT kind, request_id, NULL, actor_id, title, message, created_on FROM (
                    SELECT 'request_created' AS kind, id AS request_id, created_by_fk AS actor_id,
                           'Новый запрос ' || number AS title, equipment_text AS message, created_on
                      FROM client_request
                    UNION ALL
                    SELECT 'request_status', request_id, changed_by_fk, 'Статус: ' || new_value, comment, changed_on
                      FROM request_status_change WHERE old_value IS NOT NULL
                    UNION ALL
                    SELECT 'delivery_status', request_id, changed_by_fk, 'Поставка: ' || new_value, comment,
                           changed_on
                      FROM request_delivery_change
                    UNION ALL
                    SELECT 'request_comment', request_id, author_id, 'Комментарий', text, created_on
                      FROM request_comment
                ) AS history ORDER BY created_on
                """
            )
        ).rowcount
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE) agent_event"))
    return added


def samples_for(username: str) -> dict:
    """Ids, name fragments and phones of records the user may see, for the cases to rotate through."""
    from sqlalchemy import select

    from app import access
    from app.extensions import db
    from app.models import Contact, CrmUser, Organization, Request
    from app.models.clients import phone_digits

    rng = random.Random(username)
    user = db.session.scalars(select(CrmUser).where(CrmUser.username == username)).one()
    organization_ids = db.session.scalars(access.visible_organizations(user).with_only_columns(Organization.id)).all()
    organizations = [db.session.get(Organization, pk) for pk in rng.sample(organization_ids, SAMPLES)]
    request_ids = db.session.scalars(access.visible_requests(user).with_only_columns(Request.id)).all()
    phones = db.session.scalars(
        select(Contact.mobile_phone).where(
            Contact.organization_id.in_([o.id for o in organizations]), Contact.mobile_phone.is_not(None)
        )
    ).all()
    fragments = []
    for organization in organizations:
        word = re.search(r"«([^»]+)»", organization.name) or re.search(r"ИП (\S+)", organization.name)
        fragments.append(word.group(1)[:6].lower())
    return {
        "organizations": [o.id for o in organizations],
        "requests": rng.sample(request_ids, SAMPLES),
        "fragments": fragments,
        "phones": [phone_digits(p)[-10:] for p in phones],
        "reports": access.may_see_reports(user),
    }


def cases(samples: dict) -> list[tuple[str, str, callable]]:
    """(name, kind, call(user, i)): what a manager does most, rotating through his records."""

    def pick(key: str, i: int) -> str:
        values = samples[key]
        return urllib.parse.quote(str(values[i % len(values)]))

    return [
        ("organisations list", "page", lambda u, i: u.get("/organizationview/list/")),
        ("quick search: name", "page", lambda u, i: u.get(f"/organizationview/list/?q={pick('fragments', i)}")),
        ("quick search: phone", "page", lambda u, i: u.get(f"/organizationview/list/?q={pick('phones', i)}")),
        ("requests: stalled", "page", lambda u, i: u.get("/requestview/list/?status=stalled")),
        ("organisation page", "page", lambda u, i: u.get(f"/organizationview/show/{pick('organizations', i)}")),
        ("request page", "page", lambda u, i: u.get(f"/requestview/show/{pick('requests', i)}")),
        ("agent poll (empty)", "poll", lambda u, i: u.api("GET", f"/api/v1/agent/events?after={u.cursor}")),
        # The manager's day and the head's view.
        ("start page «Сегодня»", "page", lambda u, i: u.get("/")),
        ("board «Воронка»", "page", lambda u, i: u.get("/board/")),
        *(
            [("report: this year", "page", lambda u, i: u.get(f"/reports/?from={datetime.now():%Y}-01-01"))]
            if samples.get("reports")
            else []
        ),
    ]


def create_case(samples: dict):
    def create(user: User, i: int):
        organization = samples["organizations"][i % len(samples["organizations"])]
        return user.api("POST", "/api/v1/request/", {"organization": organization})

    return ("create request (API)", "api", create)


def wanted(args: argparse.Namespace, name: str) -> bool:
    parts = [part.strip() for part in args.cases.split(",") if part.strip()]
    return not parts or any(part in name for part in parts)


def count_statements(app, username: str, password: str, samples: dict, args) -> dict[str, int]:
    """SQL statements each case runs, counted in-process on the same database."""
    from sqlalchemy import event

    from app.extensions import db
    from tests.conftest import api_token, csrf_token

    client = app.test_client()
    token = csrf_token(client, "/login/")
    client.post("/login/", data={"username": username, "password": password, "csrf_token": token})
    headers = {"Authorization": f"Bearer {api_token(client, username, password)}"}
    statements: list[str] = []

    def record(*_args) -> None:
        statements.append("")

    class InProcess:
        cursor = client.get("/api/v1/agent/events", headers=headers).get_json()["cursor"]

        @staticmethod
        def get(path):
            return client.get(path)

        @staticmethod
        def api(method, path, payload=None):
            return client.open(path, method=method, json=payload, headers=headers)

    counts = {}
    with app.app_context():
        engine = db.engine
    for name, _kind, call in [*cases(samples), create_case(samples)]:
        if not wanted(args, name):
            continue
        call(InProcess, 0)
        event.listen(engine, "before_cursor_execute", record)
        statements.clear()
        answer = call(InProcess, 1)
        event.remove(engine, "before_cursor_execute", record)
        counts[name] = len(statements) if answer.status_code in (200, 201) else f"HTTP {answer.status_code}"
    return counts


def run_cases(
    port: int, users: dict[str, str], samples: dict, counts: dict, args, web_workers: list[int]
) -> list[dict]:
    results = []
    sessions = {}
    for username, password in users.items():
        sessions[username] = User(port, username)
        sessions[username].log_in(password)
    plan = [(username, case) for username in users for case in cases(samples[username])]
    plan += [(username, create_case(samples[username])) for username in users]
    plan = [(username, case) for username, case in plan if wanted(args, case[0])]
    for username, (name, kind, call) in plan:
        user = sessions[username]
        user.renew_token()
        if kind == "poll":
            user.cursor = user.api("GET", "/api/v1/agent/events").json()["cursor"]
        for i in range(3):  # warm-up
            call(user, i)
        # A poll is quick: more of them, so that its p95 is not just the slowest two or three.
        single = max(args.requests_single, 200) if kind == "poll" else args.requests_single
        for concurrency, total in ((1, single), (20, args.requests)):
            cpu = CpuSampler(web_workers)
            figures = measure(lambda i, call=call, user=user: call(user, i), concurrency, total,
                              expected=201 if kind == "api" else 200)  # fmt: skip
            figures.update(case=name, kind=kind, user=username, sql=counts[username][name], **cpu.figures(total))
            results.append(figures)
            print(row(figures), flush=True)
    return results


def row(f: dict) -> str:
    return (
        f"{f['case']:<24} {f['user']:<10} {f['concurrency']:>3} {f['requests']:>5} {f['median_ms']:>9.1f} "
        f"{f['p95_ms']:>9.1f} {f['rps']:>7.1f} {f['errors']:>4} {f['sql']!s:>5} {f['cpu']:>5.2f} "
        f"{f['cpu_ms_web']:>6.1f} {f['cpu_ms_postgres']:>6.1f} {f['cpu_ms_clients']:>6.1f}"
    )


HEADER = (
    f"{'case':<24} {'user':<10} {'c':>3} {'n':>5} {'median ms':>9} {'p95 ms':>9} {'req/s':>7} {'err':>4} "
    f"{'SQL':>5} {'CPU':>5} {'web':>6} {'pg':>6} {'client':>6}"
)
# CPU: the machine's busy share; web, pg, client: CPU milliseconds per request spent by the gunicorn
# workers, PostgreSQL and this benchmark's own HTTP clients.


def reminder_burst(app, sink: TimedSmtpSink, count: int, lead: float = 15.0) -> dict:
    """`count` reminders of the demo managers, all due at the same second, scheduled as the app does."""
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.jobs.reminders import wake_sweep_at
    from app.models import CrmUser, Delivery, Reminder

    with app.app_context():
        owners = db.session.scalars(select(CrmUser.id).where(CrmUser.email.like("%@example.com"))).all()
        now = datetime.now(UTC)
        due = (now + timedelta(seconds=lead)).replace(microsecond=0)
        rows = [
            {
                "owner_id": owners[i % len(owners)],
                "text": f"Нагрузочная проверка {i}: позвонить клиенту",
                "due_at": due,
                "next_attempt_at": due,
                "delivery": Delivery.PENDING.value,
                "attempts": 0,
                "created_on": now,
            }
            for i in range(count)
        ]
        ids = set(db.session.execute(insert(Reminder).returning(Reminder.id), rows).scalars())
        db.session.commit()
        wake_sweep_at(due)  # what schedule_reminder() does after each reminder is saved
    print(f"{count} reminders due at {due:%H:%M:%S} UTC; waiting for their e-mails...", flush=True)
    deadline = due.timestamp() + 600
    while time.time() < deadline:
        arrived = {k: v for k, v in sink.arrivals().items() if k in ids}
        if len(arrived) >= count:
            break
        time.sleep(0.5)
    delays = sorted(arrived[k] - due.timestamp() for k in arrived)
    return {
        "reminders": count,
        "e_mailed": len(arrived),
        "duplicates": sink.recorder.duplicates,
        "last_e_mail_after_due_s": round(delays[-1], 1) if delays else None,
        "median_delay_s": round(delays[len(delays) // 2], 1) if delays else None,
        "worst_delay_s": round(delays[-1], 1) if delays else None,
        "first_e_mail_after_due_s": round(delays[0], 1) if delays else None,
    }


def machine() -> dict:
    memory = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(int(memory.split()[1]) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def main() -> int:
    args = parse_args()
    instance = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    sink = TimedSmtpSink()
    sink.start()
    env = environment(args, instance, sink.port)
    from redis import Redis

    Redis.from_url(args.redis).flushdb()
    report: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine()}
    report["settings"] = {k: v for k, v in vars(args).items() if k != "out"} | {"database": args.database}
    report["load"] = prepare_database(args, env)

    from sqlalchemy import text

    from app import create_app
    from app.extensions import db

    app = create_app()
    users = {"admin": ADMIN_PASSWORD, OWN_MANAGER: DEMO_PASSWORD}
    with app.app_context():
        report["machine"]["postgresql"] = db.session.execute(text("SHOW server_version")).scalar_one()
        samples = {username: samples_for(username) for username in users}
    counts = {
        username: count_statements(app, username, password, samples[username], args)
        for username, password in users.items()
    }

    stack = Stack(env, instance)
    port = args.port or _free_port()
    try:
        stack.start_web(port, args.workers)
        stack.start_background(args.rq_workers)
        print(f"\ngunicorn {args.workers} workers on 127.0.0.1:{port}; logs in {instance}\n\n{HEADER}", flush=True)
        report["cases"] = run_cases(port, users, samples, counts, args, stack.web_workers())
        report["web_workers_memory"] = [stack.memory_mb(pid) for pid in stack.web_workers()]
        print(f"\nWeb workers' memory: {report['web_workers_memory']}", flush=True)
        if not args.skip_reminders:
            report["reminders"] = reminder_burst(app, sink, args.reminders)
            print(f"Reminders: {report['reminders']}", flush=True)
    finally:
        stack.stop()
        sink.stop()
    report["targets"] = verdicts(report)
    for line in report["targets"]["lines"]:
        print(line)
    out = args.out or ROOT / "bench" / f"results-{datetime.now():%Y-%m-%d}.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"\nWritten {out}")
    return 0


def verdicts(report: dict) -> dict:
    lines, failed = [], []

    def check(label: str, value, limit, ok: bool) -> None:
        lines.append(f"{'ok  ' if ok else 'MISS'} {label}: {value} (target {limit})")
        if not ok:
            failed.append(label)

    for f in report["cases"]:
        if f["kind"] in ("page", "api") and f["concurrency"] == 20:
            check(f"{f['case']} / {f['user']} p95 at 20", f"{f['p95_ms']} ms", "< 150 ms", f["p95_ms"] < 150)
        if f["kind"] == "poll":
            limit = TARGETS["agent_poll_ms"]
            label = f"agent poll / {f['user']} p95 at {f['concurrency']}"
            check(label, f"{f['p95_ms']} ms", f"< {limit} ms", f["p95_ms"] < limit)
    reminders = report.get("reminders")
    if reminders:
        last = reminders["last_e_mail_after_due_s"]
        all_sent = reminders["e_mailed"] == reminders["reminders"] and last is not None
        done = f"{reminders['e_mailed']} in {last} s"
        check("reminders all e-mailed", done, "all within 60 s", all_sent and last < 60)
    worst = max(m["peak_rss_mb"] for m in report["web_workers_memory"])
    check("web worker memory (peak RSS)", f"{worst} MiB", "< 200 MB", worst < 200)
    return {"lines": lines, "missed": failed}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    raise SystemExit(main())
