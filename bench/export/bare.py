"""The export benchmark's limit: a bare script writing the same rows as JSON and CSV into a ZIP."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
import zipfile
from pathlib import Path

import psycopg

from bench.export import emit
from bench.harness import libpq
from bench.procs import peak_mib, status_mib


class _Unseekable:
    """Only ``write`` and ``flush``: zipfile must stream (data descriptors), as to a socket."""

    def __init__(self, fh):
        self._fh = fh

    def write(self, data) -> int:
        return self._fh.write(data)

    def flush(self) -> None:
        self._fh.flush()


def bare_main(spec: dict) -> int:
    """The limit: same rows, plain driver, json + csv + zipfile, nothing else."""
    categories = json.loads(Path(spec["queries"]).read_text())
    if spec["backend"] == "postgresql":
        conn = psycopg.connect(libpq(spec["shop_url"]))

        def rows(sql):
            with conn.cursor(name="bare") as cur:
                cur.itersize = 2000
                cur.execute(sql)
                yield from cur
            conn.commit()

    else:
        conn = sqlite3.connect(spec["shop_url"].removeprefix("sqlite:///"))

        def rows(sql):
            cur = conn.execute(sql)
            cur.arraysize = 2000
            yield from cur
            cur.close()

    baseline = status_mib("VmRSS")
    path = Path(spec["out_dir"]) / "bare.zip"
    t0, c0 = time.perf_counter(), time.process_time()
    records = 0
    with open(path, "wb") as raw:
        with zipfile.ZipFile(
            _Unseekable(raw), "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6
        ) as zf:
            for category in categories:
                code = category["code"]
                with (
                    zf.open(f"{code}/{code}.json", "w", force_zip64=True) as member,
                    io.TextIOWrapper(member, encoding="utf-8") as out,
                ):
                    out.write(json.dumps({"category": code})[:-1] + ', "records": [\n')
                    sep = ""
                    for table in category["tables"]:
                        name, columns = table["table"], table["columns"]
                        for row in rows(table["sql"]):
                            record = {"record_type": name, **dict(zip(columns, row, strict=True))}
                            text = json.dumps(
                                record, ensure_ascii=False, separators=(",", ":"), default=str
                            )
                            out.write(sep + text)
                            sep = ",\n"
                            records += 1
                    out.write("\n]}\n")
                header = list(dict.fromkeys(c for t in category["tables"] for c in t["columns"]))
                index = {c: i for i, c in enumerate(header)}
                with (
                    zf.open(f"{code}/{code}.csv", "w", force_zip64=True) as member,
                    io.TextIOWrapper(member, encoding="utf-8-sig", newline="") as out,
                ):
                    writer = csv.writer(out)
                    writer.writerow(["record_type", *header])
                    for table in category["tables"]:
                        positions = [index[c] for c in table["columns"]]
                        for row in rows(table["sql"]):
                            line = [""] * len(header)
                            for i, value in zip(positions, row, strict=True):
                                line[i] = value
                            writer.writerow([table["table"], *line])
        raw.flush()
        os.fsync(raw.fileno())
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_mib()
    size = path.stat().st_size
    path.unlink()
    conn.close()
    emit(
        {
            "seconds": seconds,
            "cpu_s": cpu,
            "peak_mb": peak,
            "baseline_mb": baseline,
            "zip_bytes": size,
            "records": records,
        }
    )
    return 0
