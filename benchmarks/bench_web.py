"""Web app benchmark: every GET page of the web app on a large workspace (issue 6: ≤ 1 s each).

    nice -n 5 python benchmarks/bench_web.py --workspace /tmp/segbench/ws-1000000
    python benchmarks/bench_web.py --customers 20000          # makes a demo workspace first

The workspace is copied to a temporary folder (the benchmark creates a user and must not lock
or change the original). The app is ``create_app(ws)`` driven in-process by the TestClient
(server time without the network). Each page is fetched once cold (first request after start:
caches empty) and ``--repeat`` times warm; the table shows both, with the lazily loaded
sections of the Overview (``/overview/…``) as pages of their own. Path parameters are filled
with a real customer id; the customer search runs for an e-mail, a phone and part of a name.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

TARGET_SECONDS = 1.0


def _routes() -> list[str]:
    from segmint.server.web import PAGE_MODULES
    from segmint.server.web.core import PUBLIC_PATHS

    out = []
    for name in PAGE_MODULES:
        module = f"segmint.server.web.{name}"
        if importlib.util.find_spec(module) is None:
            continue
        for route in importlib.import_module(module).router.routes:
            if "GET" in getattr(route, "methods", ()) and route.path not in PUBLIC_PATHS:
                out.append(route.path)
    return out


def _workspace(args) -> Path:
    if args.workspace:
        return Path(args.workspace)
    folder = Path(tempfile.mkdtemp(prefix="bench-web-")) / "demo"
    subprocess.run(["segmint", "demo", str(folder), "--customers", str(args.customers)], check=True)
    return folder


# -- Segments, Broadcasts, Campaigns and Data pages (issue 6, part 2) ------------------------------
#: the builder's live count: country is HK, at least one completed order, WhatsApp consent
BUILDER = {
    "n.kind": "all", "n.was": "all",
    "n.0.kind": "trait", "n.0.was": "trait", "n.0.field": "country", "n.0.op": "eq",
    "n.0.value": "HK",
    "n.1.kind": "ordered", "n.1.was": "ordered", "n.1.name": "completed", "n.1.measure": "count",
    "n.1.aop": "gte", "n.1.avalue": "1", "n.1.win": "ever",
    "n.2.kind": "consent", "n.2.was": "consent", "n.2.channel": "whatsapp",
}  # fmt: skip
BROADCAST = {
    "name": "Bench VIP", "segments": "rfm_champions", "channel": "whatsapp", "holdout": "10",
    "fallbacks": "first_name: friend", "attribution_days": "7", "offer_codes": "on",
    "v0.name": "A", "v0.share": "45", "v0.en": "Hi {{ first_name }} {{ offer_code }}",
    "v0.zh": "{{ first_name }}你好 {{ offer_code }}",
    "v1.name": "B", "v1.share": "45", "v1.en": "Hey {{ first_name }}", "v1.zh": "{{ first_name }}",
}  # fmt: skip


def _part2(client, cid: str, repeat: int, only: str = "") -> list[tuple[str, int, float, float]]:
    """Time the part-2 pages and their live requests (POSTs with the session's CSRF token); the
    actions that change data (create, export, upload) run once (their warm time is the cold).
    ``/segments/<slug>/diagnostics`` answers from the last background check (or a placeholder
    that polls while ``ws.segments_check()`` runs as a job)."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/segments").text).group(1)
    headers = {"X-CSRF-Token": token, "HX-Request": "true"}
    rows: list[tuple[str, int, float, float]] = []

    def timed(label, call, times=repeat):
        if not re.search(only, label):
            return call()  # set-up for the pages after it; not timed
        t = time.perf_counter()
        r = call()
        cold = time.perf_counter() - t
        warm = []
        for _ in range(times):
            t = time.perf_counter()
            call()
            warm.append(time.perf_counter() - t)
        rows.append((label, r.status_code, cold, statistics.median(warm) if warm else cold))
        print(f"{label:<60} {r.status_code} cold {cold:6.3f} s  warm {rows[-1][3]:6.3f} s",
              flush=True)  # fmt: skip
        return r

    def get(path):
        return timed(path, lambda: client.get(path))

    def post(label, path, data, times=repeat):
        return timed(label, lambda: client.post(path, data=data, headers=headers), times)

    for path in ("/segments", "/segments/new", "/segments/new?start=rfm_champions",
                 "/segments/rfm_champions", "/segments/rfm_champions/count",
                 "/segments/rfm_champions/diagnostics",  # a placeholder; checks run as a job
                 f"/segments/rfm_champions/explain?customer_id={cid}"):  # fmt: skip
        get(path)
    n = itertools.count(1)  # a new definition each time: live counts are kept per definition
    timed("POST /segments/builder/preview (live count, 3 conditions, each new)",
          lambda: client.post("/segments/builder/preview", headers=headers,
                              data={**BUILDER, "n.1.avalue": str(next(n))}))  # fmt: skip
    timed("POST /segments/builder/form (add a condition, each new)",
          lambda: client.post("/segments/builder/form", headers=headers,
                              data={**BUILDER, "n.1.avalue": str(next(n)),
                                    "action": "add:n:sequence"}))  # fmt: skip
    get("/broadcasts")
    get("/broadcasts/new?segment=rfm_champions")
    post("POST /broadcasts/reach (template edited: same audience)", "/broadcasts/reach",
         BROADCAST)  # fmt: skip
    timed("POST /broadcasts/reach (audience changed: new frequency cap)",
          lambda: client.post("/broadcasts/reach", headers=headers,
                              data={**BROADCAST, "cap_max": str(next(n)), "cap_days": "7"}),
          times=1)  # fmt: skip
    r = client.post("/broadcasts", data=BROADCAST, headers={"X-CSRF-Token": token},
                    follow_redirects=False)  # fmt: skip
    campaign = r.headers["location"].rsplit("/", 1)[1]
    get(f"/broadcasts/{campaign}")
    page = get(f"/broadcasts/{campaign}/recipients")
    who = re.search(r'<option value="([^"]+)">[^<]* · A ·', page.text)
    if who:
        get(f"/broadcasts/{campaign}/preview?customer_id={who.group(1)}")
    post(f"POST /broadcasts/{campaign}/export (render + record, once)",
         f"/broadcasts/{campaign}/export", {"format": "csv"}, times=0)  # fmt: skip
    get("/campaigns")
    get(f"/campaigns/{campaign}")
    get("/data")
    csv_text = "Order,Customer,Total,Created at\no1,x1,12.5,2026-06-01\n"
    up = timed("POST /data/import (upload, once)", lambda: client.post(
        "/data/import", data={"kind": "orders"}, headers={"X-CSRF-Token": token},
        files={"file": ("o.csv", csv_text.encode())}, follow_redirects=False), times=0)  # fmt: skip
    if up.status_code == 303:
        get(up.headers["location"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", help="a workspace folder (copied first)")
    parser.add_argument("--customers", type=int, default=20_000, help="demo size without one")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--wait", type=float, default=1800, help="seconds to wait for background sections"
    )
    parser.add_argument("--only", default="", help="time only pages matching this regex")
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from segmint.server import create_app
    from segmint.workspace import Workspace

    source = _workspace(args)
    work = Path(tempfile.mkdtemp(prefix="bench-web-copy-")) / source.name
    t0 = time.perf_counter()
    shutil.copytree(source, work, ignore=shutil.ignore_patterns("data", "exports", "*.wal"))
    print(f"copied {source} in {time.perf_counter() - t0:.1f} s", flush=True)
    ws = Workspace.open(work)
    n = ws.table("profiles").count().execute()
    p = ws.table("profiles")
    sample = p.filter(p.email.notnull() & p.phone.notnull()).limit(1).to_pyarrow().to_pylist()[0]
    if "bench" not in {u.username for u in ws.users_list()}:
        ws.users_create("bench", "benchmark password")
    app = create_app(ws)
    cid = sample["customer_id"]
    name_part = (sample.get("name") or sample.get("last_name") or "a").split()[0][:4]
    pages: list[str] = []
    for path in _routes():
        if path == "/customers":
            pages += [
                "/customers",
                f"/customers?q={sample['email']}",
                f"/customers?q={sample['phone']}",
                f"/customers?q={name_part}",
            ]
        else:
            pages.append(re.sub(r"\{customer_id\}", cid, path))
    pages = [p for p in pages if "{" not in p and re.search(args.only, p)]
    rows = []
    quiet: list[tuple[str, float]] = []
    from segmint.server.web.cache import data_version

    version_at_start = dict(data_version(ws))
    with TestClient(app) as client:
        r = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
        form = {"username": "bench", "password": "benchmark password", "csrf_token": token}
        assert client.post("/login", data=form, follow_redirects=False).status_code == 303
        for page in pages:
            t = time.perf_counter()
            r = client.get(page)
            cold = time.perf_counter() - t
            warm = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                client.get(page)
                warm.append(time.perf_counter() - t)
            rows.append((page, r.status_code, cold, statistics.median(warm)))
            print(f"{page:<60} {r.status_code} cold {cold:6.3f} s  warm {rows[-1][3]:6.3f} s",
                  flush=True)  # fmt: skip
        # sections computed in the background (segmint.server.web.cache.background): how long
        # the job took, and the section once it is ready
        web = app.state.segmint_web
        t = time.perf_counter()
        web.jobs.wait(args.wait)
        print(f"background jobs done {time.perf_counter() - t:.1f} s after the last page")
        for key, record in list(web.cache.items()):
            if isinstance(record, dict) and "seconds" in record:
                error = f" (error: {record['error']})" if record.get("error") else ""
                print(f"background {key}: computed in {record['seconds']:.1f} s{error}")
        # every page again once nothing of ours runs in the background (the service's own
        # real-time sweep may still): the steady state
        for page in pages:
            times = []
            for _ in range(max(1, args.repeat)):
                t = time.perf_counter()
                r = client.get(page)
                times.append(time.perf_counter() - t)
            state = re.search(r'data-state="(\w+)"', r.text)
            quiet.append((page, statistics.median(times)))
            print(f"{page:<60} {r.status_code} after jobs {quiet[-1][1]:6.3f} s "
                  f"({state.group(1) if state else '-'})", flush=True)  # fmt: skip
        # what changed in the data while the app ran (the real-time sweep writes membership)
        now = dict(data_version(app.state.segmint.reader()))
        changed = {k: (version_at_start.get(k), v) for k, v in now.items()
                   if v != version_at_start.get(k)}  # fmt: skip
        print(f"data version parts changed while serving: {changed or 'none'}")
        rows += _part2(client, cid, args.repeat, args.only)  # Segments, Broadcasts, …, Data
    ws.close()
    shutil.rmtree(work.parent, ignore_errors=True)
    print(f"\n{n:,} customers; target ≤ {TARGET_SECONDS:.1f} s per page\n")
    after = dict(quiet)
    print("| page | status | cold (s) | warm (s) | after background jobs (s) |")
    print("| --- | --- | --- | --- | --- |")
    for page, status, cold, warm in rows:
        flag = "" if warm <= TARGET_SECONDS else " ⚠"
        late = f"{after[page]:.3f}" if page in after else "–"
        print(f"| `{page}` | {status} | {cold:.3f} | {warm:.3f}{flag} | {late} |")
    sys.exit(0)


if __name__ == "__main__":
    main()
