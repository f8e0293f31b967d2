"""How fast and how quietly ``reap-omni quickstart`` gives up on a dead network, next to the naive retry policy.

Scenarios (every Hub request goes to HF_ENDPOINT; the few non-Hub hosts of the catalog resolve or not as the
machine's network allows — on an offline machine they fail name resolution too):

1. refused: ``HF_ENDPOINT`` is a closed loopback port (connection refused);
2. dns: ``HF_ENDPOINT=http://nonexistent.invalid`` (name resolution failure);
3. silent: ``HF_ENDPOINT`` is a loopback server that accepts connections and never answers, with the default
   timeouts (10 s connect, 30 s read); target: the whole run ends in under 3 minutes;
4. silent-short: the same with ``REAP_OMNI_HTTP_TIMEOUT=2``, so the naive baseline finishes in a minute or two.

Each runs ``reap-omni quickstart --output <tmp>`` in a child process and reports wall time, output lines
(stdout + stderr), the longest line and connection attempts (calls to urllib3's ``create_connection``; for
``silent`` also the connections the server accepted). The baseline is the client's previous policy, run in
the same way: every network error retried 5 times per URL with 1-8 s back-off, exception text in every
message, no memory of dead hosts. Targets for refused and dns: under 15 s, one line per dataset plus the
summary table.

Run: python benchmarks/offline_failfast.py [--no-baseline] [--skip-silent] [--workers W]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve()


# -- the child: one quickstart, with attempts counted and optionally the naive policy ------------------------
def _naive_request(self, method, url, *, ctx=None, headers=None, stream=True, **kwargs):
    """The client's request loop before fail-fast: retry every network error, full exception text."""
    from reap_omni.sources import http
    from reap_omni.sources.base import SourceUnavailable

    ctx = ctx or http.ErrorContext()
    last = ""
    for attempt in range(self.retries + 1):
        try:
            resp = self.session.request(method, url, headers=self._headers(url, headers), stream=stream,
                                        timeout=self.timeout, **kwargs)
        except http._NETWORK_ERRORS as exc:
            last = f"{type(exc).__name__}: {exc}"
            delay = self._delay(attempt)
        else:
            if resp.status_code < 400:
                return resp
            if resp.status_code not in http.RETRY_STATUSES:
                resp.close()
                raise self._http_error(resp, url, ctx)
            last, delay = f"HTTP {resp.status_code}", self._delay(attempt)
            resp.close()
        if attempt == self.retries:
            break
        http.log.warning("%s: %s for %s; retry %d/%d in %.1fs", ctx.label(), last, url, attempt + 1,
                         self.retries, delay)
        self._sleep(delay)
    raise SourceUnavailable(f"{ctx.label()}: {url} failed after {self.retries + 1} attempts ({last}); check the "
                            "network or HF_ENDPOINT and retry later", reason="network")


def child(policy: str, count_file: str, argv: list[str]) -> int:
    import urllib3.util.connection as u3conn

    attempts: Counter = Counter()
    real = u3conn.create_connection

    def counting(address, *args, **kwargs):
        attempts[f"{address[0]}:{address[1]}"] += 1
        return real(address, *args, **kwargs)

    u3conn.create_connection = counting
    if policy == "naive":
        from reap_omni.sources.http import HttpClient

        HttpClient.request = _naive_request
    from reap_omni.cli import run

    try:
        return run(argv)
    finally:
        Path(count_file).write_text(json.dumps(attempts))


# -- the parent ----------------------------------------------------------------------------------------------
def quickstart(policy: str, env: dict[str, str], workers: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="reap-omni-failfast-") as tmp:
        counts = Path(tmp) / "attempts.json"
        cmd = [sys.executable, str(HERE), "--child", policy, str(counts), "--",
               "quickstart", "--output", str(Path(tmp) / "qs"), "--workers", str(workers)]
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            out, timed_out = proc.stdout + proc.stderr, False
        except subprocess.TimeoutExpired as exc:
            out, timed_out = ((exc.stdout or b"") + (exc.stderr or b"")).decode(errors="replace"), True
        seconds = time.monotonic() - start
        attempts = json.loads(counts.read_text()) if counts.exists() else {}
    lines = out.splitlines()
    return {"seconds": seconds, "lines": len(lines), "longest": max(map(len, lines), default=0),
            "attempts": sum(attempts.values()), "timed_out": timed_out, "output": out,
            "dataset_lines": sum(1 for line in lines if " rows: " in line and "stratum" not in line)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-baseline", action="store_true", help="skip the naive runs (about 5 minutes)")
    ap.add_argument("--skip-silent", action="store_true", help="skip the never-answering server scenarios")
    ap.add_argument("--workers", type=int, default=4, help="quickstart --workers (default 4, its default)")
    ap.add_argument("--show", action="store_true", help="print the new policy's output of each scenario")
    args = ap.parse_args()

    base_env = {k: v for k, v in os.environ.items() if k != "REAP_OMNI_HTTP_TIMEOUT"}
    base_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parents[1] / "src"),
                                                           base_env.get("PYTHONPATH")]))
    from reap_omni.catalog.registry import select
    from reap_omni.fixtures.silent_server import SilentServer, closed_port

    datasets = len(select(None, "all", recommended_only=True))
    silent = None if args.skip_silent else SilentServer()
    scenarios: list[tuple[str, dict[str, str]]] = [
        ("refused", {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}),
        ("dns", {"HF_ENDPOINT": "http://nonexistent.invalid"}),
    ]
    if silent is not None:
        scenarios += [("silent", {"HF_ENDPOINT": silent.url}),
                      ("silent-short", {"HF_ENDPOINT": silent.url, "REAP_OMNI_HTTP_TIMEOUT": "2"})]
    print(f"{'scenario':<13} {'policy':<8} {'seconds':>8} {'lines':>6} {'longest':>8} {'connects':>9} "
          f"{'accepted':>9}  target")
    ok = True
    try:
        for name, extra in scenarios:
            for policy in ("fail-fast", "naive"):
                if policy == "naive" and (args.no_baseline or name == "silent"):
                    continue  # naive + 30 s read timeout: 6 x 30 s per URL, URLs in turn: many minutes
                before = silent.accepted if silent is not None else 0
                limit = 180.0 if policy == "fail-fast" else 1200.0
                r = quickstart("naive" if policy == "naive" else "new", {**base_env, **extra}, args.workers, limit)
                accepted = (silent.accepted - before) if silent is not None and name.startswith("silent") else None
                target = ""
                if policy == "fail-fast":
                    if name in ("refused", "dns"):
                        met = r["seconds"] < 15 and r["dataset_lines"] == datasets and not r["timed_out"]
                        target = f"< 15 s, one line per dataset: {'yes' if met else 'NO'}"
                    else:
                        met = r["seconds"] < 180 and not r["timed_out"]
                        target = f"< 180 s: {'yes' if met else 'NO'}"
                    ok = ok and met
                print(f"{name:<13} {policy:<8} {r['seconds']:>8.1f} {r['lines']:>6} {r['longest']:>8} "
                      f"{r['attempts']:>9} {accepted if accepted is not None else '-':>9}  "
                      f"{target}{' (timed out)' if r['timed_out'] else ''}", flush=True)
                if args.show and policy == "fail-fast":
                    print("    | " + r["output"].rstrip().replace("\n", "\n    | "))
    finally:
        if silent is not None:
            silent.close()
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        policy, count_file, _, *rest = sys.argv[2:]
        sys.exit(child(policy, count_file, rest))
    sys.exit(main())
