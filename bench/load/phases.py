"""The phases of the load test: the ramp, the steady phase, intake idle and during a big export."""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time

import sqlalchemy as sa

from bench.harness import BenchError, summary
from bench.load import (
    DEMO_EMAIL,
    EXPORT_ROWS,
    FIXED_CLIENTS,
    INTAKE_RATE,
    INTAKE_SECONDS,
    P99_BOUND_MS,
    RAMP,
    RAMP_SECONDS,
    SECONDS,
    STAFF,
    WARMUP,
)
from bench.load.client import Client, Failed, Shared
from bench.load.journeys import Load, address, unknown
from bench.load.processes import Meter, Service
from bench.load.record import Record, Sink

# --- the ramp and the steady phase ---------------------------------------------------------------


def ramp(load: Load, record: Record) -> tuple[int, list[tuple[int, dict]]]:
    """Raise the number of virtual customers until it stops paying; the best level."""
    steps: list[tuple[int, dict]] = []
    best = None
    for level in RAMP:
        load.set_customers(level)
        start = time.monotonic() + WARMUP
        time.sleep(WARMUP + RAMP_SECONDS)
        w = record.window(start, time.monotonic())
        steps.append((level, w))
        print(
            f"  {level:3d} customers: {w['rps']:6.1f} req/s, p99 {w['all']['p99']:6.0f} ms, "
            f"{len(w['errors'])} errors",
            flush=True,
        )
        if w["errors"] or w["all"]["p99"] > P99_BOUND_MS:
            if best is None:
                print(
                    "  (the bound does not hold even at the first level: the steady phase runs it)"
                )
            break
        if best is not None and w["rps"] < best[1]["rps"] * 1.05:
            break
        best = (level, w)
    return (best or steps[0])[0], steps


def _print_window(title: str, w: dict, cpu: dict, rss: dict, peak: dict) -> None:
    print(f"\n{title}: {w['count']} answers in {w['seconds']:.0f} s = {w['rps']:.1f} req/s")
    print(f"  {'kind':<16} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, s in [*w["kinds"].items(), ("all", w["all"])]:
        print(
            f"  {kind:<16} {s['n']:>7} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['p99']:>8.1f} "
            f"{s['max']:>8.1f}"
        )
    for kind, s in w["waits"].items():
        print(
            f"  {kind}: p50 {s['p50']:.2f} s, p99 {s['p99']:.2f} s, max {s['max']:.2f} s "
            f"({s['n']} journeys)"
        )
    print(f"  errors: {len(w['errors'])} (goal 0)")
    shown: dict[str, int] = {}
    for _, kind, detail in w["errors"]:
        key = f"{kind}: {detail[:160]}"
        shown[key] = shown.get(key, 0) + 1
    for key, count in sorted(shown.items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {count} x {key}")
    print(
        "  CPU (share of one core): "
        + ", ".join(f"{role} {share * 100:.0f} %" for role, share in cpu.items())
    )
    print(
        "  RSS MiB now (peak): "
        + ", ".join(f"{role} {mib:.0f} ({peak.get(role, mib):.0f})" for role, mib in rss.items())
        + "  [web = gunicorn master + 2 workers]"
    )


# --- intake idle vs. during a 1,000,000-row export -----------------------------------------------


def intake_probe(base: str, record: Record, until, rate: float) -> list[float]:
    """``POST /api/v1/requests`` at ``rate`` per second (paced, 4 threads) until ``until()``."""
    times: list[float] = []
    threads = 4
    interval = threads / rate

    def run(i: int) -> None:
        rng = random.Random(1000 + i)
        client = Client(base, record, address(rng))
        next_at = time.monotonic() + i * interval / threads
        n = 0
        while not until():
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            n += 1
            client.address = address(rng)  # a proxy forwards many customers on one connection
            body = {"type": "access", **unknown(rng, i * 1_000_000 + n)}
            t0 = time.perf_counter()
            with contextlib.suppress(Failed):
                client.call("intake", "POST", "/api/v1/requests", json_body=body)
                times.append((time.perf_counter() - t0) * 1000)
        client.close()

    pool = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sorted(times)


def big_export(base: str, record: Record, sink: Sink) -> dict:
    """The 1,000,000-row customer asks for everything; intake is probed while it builds."""
    client = Client(base, record, "10.255.0.1")
    filed = time.monotonic()
    _, _, data = client.call(
        "big submit", "POST", "/api/v1/requests", json_body={"type": "access", "email": DEMO_EMAIL}
    )
    rid = json.loads(data)["id"]
    code = sink.code(rid, 60)
    if code is None:
        raise BenchError("no code for the 1,000,000-row customer's request")
    _, _, data = client.call(
        "big verify", "POST", f"/api/v1/requests/{rid}/verify", json_body={"code": code}
    )
    token = json.loads(data)["access_token"]
    verified = time.monotonic()
    state = {"ready": False, "building_at": None}

    def watch() -> None:
        watcher = Client(base, record, "10.255.0.2")
        while time.monotonic() - verified < 900:
            _, _, body = watcher.call("big status", "GET", f"/api/v1/requests/{rid}", token=token)
            export = json.loads(body).get("export") or {}
            if export.get("status") == "building" and state["building_at"] is None:
                state["building_at"] = time.monotonic()
            if export.get("status") in ("ready", "failed"):
                state["status"] = export["status"]
                break
            time.sleep(1.0)
        state["ready"] = True
        state["ready_at"] = time.monotonic()
        watcher.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    during = intake_probe(base, record, lambda: state["ready"], INTAKE_RATE)
    watcher.join()
    client.close()
    return {
        "times": during,
        "build": state["ready_at"] - verified,
        "status": state.get("status", "timed out"),
        "filed_to_verified": verified - filed,
    }


def _backlog(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT count(*) FROM export_archives WHERE status IN ('queued','building')"
                )
            ).scalar_one()
    finally:
        engine.dispose()


def _drain(database_url: str, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    while (left := _backlog(database_url)) and time.monotonic() < deadline:
        time.sleep(1)
    return left


def load_phases(base: str, record: Record, sink: Sink, service: Service, database_url: str) -> bool:
    """The ramp (unless LOAD_CLIENTS fixes the level), then the steady phase; True if no errors."""
    shared = Shared(base, record, sink)
    load = Load(shared)
    load.start_staff(STAFF)
    if FIXED_CLIENTS:
        level = FIXED_CLIENTS
        print(f"\nlevel fixed by LOAD_CLIENTS: {level} virtual customers + {STAFF} staff")
    else:
        print(
            f"\nramp: {RAMP_SECONDS:g} s per level (after {WARMUP:g} s), bound p99 <= "
            f"{P99_BOUND_MS:g} ms, 0 errors, +5 % req/s per level; {STAFF} staff throughout",
            flush=True,
        )
        level, _ = ramp(load, record)
        print(f"  -> steady phase at {level} virtual customers")
    load.set_customers(level)
    start = time.monotonic() + WARMUP
    time.sleep(WARMUP)
    meter = Meter(service, sink)
    time.sleep(SECONDS)
    end = time.monotonic()
    cpu = meter.read()
    rss = service.rss()
    backlog = _backlog(database_url)
    load.finish()
    w = record.window(start, end)
    # Answers to journeys still running at the end of the window count as errors if they fail.
    late = [e for e in record.errors if e[0] >= end]
    w["errors"] = w["errors"] + late
    _print_window(
        f"steady phase, {level} virtual customers + {STAFF} staff, {SECONDS:g} s",
        w,
        cpu,
        rss,
        service.peak_rss,
    )
    print(f"  exports queued or building at the end of the window: {backlog}")
    if record.expected_4xx:
        print(
            "  expected 4xx (not errors): "
            + ", ".join(f"{k}: {v}" for k, v in sorted(record.expected_4xx.items()))
        )
    print(
        f"  generator: {cpu['generator'] * 100:.0f} % of one core "
        f"(of which the SMTP sink {cpu['sink'] * 100:.0f} %), {os.cpu_count()} cores in all; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    return not w["errors"]


def intake_phase(base: str, record: Record, sink: Sink, database_url: str) -> bool:
    """Intake idle, then during the big export; True if no errors and the export was built."""
    left = _drain(database_url)
    print(
        f"\nintake (POST /api/v1/requests, contacts of no customer) at {INTAKE_RATE:g}/s "
        f"from 4 connections{'' if not left else f' ({left} exports still queued)'}"
    )
    errors_before = len(record.errors)
    stop_at = time.monotonic() + INTAKE_SECONDS
    idle = intake_probe(base, record, lambda: time.monotonic() >= stop_at, INTAKE_RATE)
    big = big_export(base, record, sink)
    during = big["times"]
    print(f"  {'':<44} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, values in (
        (f"idle ({INTAKE_SECONDS:g} s)", idle),
        (f"during the {EXPORT_ROWS:,}-row export ({big['build']:.1f} s)", during),
    ):
        s = summary(values)
        print(
            f"  {label:<44} {s['n']:>5} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['p99']:>8.1f} "
            f"{s['max']:>8.1f}"
        )
    si, sd = summary(idle), summary(during)
    if si["p99"]:
        print(f"  p99 during / idle: {sd['p99'] / si['p99']:.2f}x (export {big['status']})")
    errors = record.errors[errors_before:]
    print(f"  errors: {len(errors)}")
    for _, kind, detail in errors[:5]:
        print(f"    {kind}: {detail[:160]}")
    return not errors and big["status"] == "ready"
