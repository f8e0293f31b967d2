"""Orchestration of a build: plan -> sources -> sampler -> media -> manifest, in parallel, resumable.

For each dataset of the plan the runner tries its sources in catalog order. A source that cannot serve
(gated, missing, unreachable) is recorded with its reason and the next one is tried; a dataset whose
sources all fail does not stop the others. Units are read by a shared pool of ``--workers`` threads
(datasets are coordinated by their own threads, so a dataset waiting on its units never starves the pool).
Each good candidate is normalised to media on disk, then its row is appended to the stratum manifest.
At the end the lock file and ``stats.json`` are written and a summary table is printed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from reap_omni.calibration_set.locked import LockedSource
from reap_omni.calibration_set.normalize import Rejected, RowOrigin, normalize_candidate
from reap_omni.calibration_set.options import STRATA, BuildOptions
from reap_omni.calibration_set.outcome import (
    eval_split_line,
    merge_stats,
    no_source_message,
    shortfall,
    source_dict,
    with_access,
)
from reap_omni.calibration_set.output_lock import OutputLock
from reap_omni.calibration_set.plan import PlanItem
from reap_omni.calibration_set.resume import DatasetProgress, ResumeReport, prepare_output, row_id
from reap_omni.calibration_set.run_state import DatasetRun, Quota
from reap_omni.calibration_set.sampler import (
    FULL,
    OK,
    CandidateFilter,
    RoundPlanner,
    UnitContext,
    UnitResult,
    order_units,
    read_unit,
)
from reap_omni.calibration_set.writer import ManifestSet
from reap_omni.catalog.spec import DatasetSpec, SourceSpec
from reap_omni.errors import ReapOmniError
from reap_omni.fileio import WriteFailed, ensure_folder, storage_error, storage_errors
from reap_omni.manifest.jsonl import iter_json_objects
from reap_omni.manifest.lock import LOCK_NAME, build_lock, write_lock
from reap_omni.manifest.stats import STATS_NAME, BuildStats, DatasetStats
from reap_omni.sources.base import Candidate, Source, SourceUnavailable, Unit

#: What a rejected or aborted candidate answers besides the sampler's ``OK``/``FULL``.
DUPLICATE = "duplicate_key"
#: errnos that stop a run only when they concern a path inside the output (elsewhere they are read errors)
_OUTPUT_ONLY = frozenset({errno.EACCES, errno.EPERM, errno.ENOTDIR})

#: Opens a source for a spec of a dataset (``sources.factory.open_source`` with the token and local path bound).
SourceOpener = Callable[[SourceSpec, str], Source]


def source_id(spec: SourceSpec) -> str:
    """Stable identity of a source spec, prefixed to candidate and unit keys (unique across sources)."""
    where = spec.repo or spec.url or spec.adapter or ""
    return f"{spec.kind}:{where}:{spec.config or ''}:{spec.split or ''}"


def describe_source(spec: SourceSpec, revision: str | None = None) -> str:
    """``hf_parquet openslr/librispeech_asr@3f2a9c1d5e6f`` for the summary and stats."""
    where = spec.repo or spec.url or spec.adapter or "local"
    rev = revision or spec.revision
    return f"{spec.kind} {where}" + (f"@{str(rev)[:12]}" if rev else "")


class BuildRunner:
    """Runs plans against one output folder. ``open_source`` is injectable for tests.

    The runner holds the folder's ``OutputLock`` from the first ``run`` to ``finish`` (or ``close``; it is a
    context manager), so a second build into the same folder is refused instead of writing duplicates.
    A storage failure (disk full, read-only, no permission) stops every dataset at once and ``run`` raises
    one ``WriteFailed`` line saying how many rows were kept; rows already in the manifests stay intact.
    """

    def __init__(
        self,
        options: BuildOptions,
        open_source: SourceOpener | None = None,
        *,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        licence_of: Callable[[str], str | None] | None = None,
        selection: dict[str, dict[str, LockedSource]] | None = None,
    ):
        self.options = options
        self.open_source = open_source or default_opener(options)
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.licence_of = licence_of
        self.selection = selection  # --from-lock: dataset -> source id -> the exact units and keys to fetch
        self.stats = BuildStats(options=options.to_lock_dict(), demo=options.demo)
        self._licences: dict[str, str] = {}
        self._bar_lock = threading.Lock()
        self._bars = 0
        self._output_lock = OutputLock(options.calibration_dir, wait=options.wait_lock, err=self.err)
        self._abort = threading.Event()
        self._failure: WriteFailed | None = None
        #: datasets whose rows (this build) came from an evaluation-split source: name -> (title, split)
        self.eval_splits: dict[str, tuple[str, str]] = {}

    def __enter__(self) -> BuildRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the output folder (``finish`` does it too)."""
        self._output_lock.release()

    def _hold_output(self) -> None:
        if self._output_lock.held:
            return
        ensure_folder(self.options.output)
        ensure_folder(self.options.calibration_dir)
        self._output_lock.acquire()

    # -- public -------------------------------------------------------------------------------------
    def run(self, plan: Sequence[PlanItem]) -> BuildStats:
        """Build every item of ``plan`` (resuming what the output already holds) and record the results."""
        if not plan:
            raise ReapOmniError("nothing to build: no dataset was selected")
        for item in plan:
            self._licences[item.name] = item.dataset.licence
        self._hold_output()
        with storage_errors(self.options.output):
            report = prepare_output(self.options.output, [i.name for i in plan], overwrite=self.options.overwrite)
        self._note_resume(report)
        with ManifestSet(self.options.calibration_dir) as manifests, ThreadPoolExecutor(
            self.options.workers, thread_name_prefix="unit"
        ) as units:
            runs = [self._start(item, report.progress(item.name)) for item in plan]
            with ThreadPoolExecutor(min(len(runs), max(1, self.options.workers)), thread_name_prefix="dataset") as ds:
                futures = [ds.submit(self._run_dataset, r, units, manifests) for r in runs]
                try:
                    for fut in futures:
                        fut.result()
                except KeyboardInterrupt:
                    self._abort.set()  # the workers stop at their next candidate; written rows stay
                    raise
        if self._failure is not None:
            self._stop_on_failure(runs)
        for r in runs:
            prev = self.stats.datasets.get(r.stats.name)
            if prev is not None:  # a later pass over the same dataset (quickstart rebalancing): accumulate
                r.stats.new_rows += prev.new_rows
                r.stats.bytes_downloaded += prev.bytes_downloaded
                r.stats.failures.update(prev.failures)
                r.stats.source = r.stats.source or prev.source
            self.stats.add(r.stats)
        return self.stats

    def _stop_on_failure(self, runs: list[DatasetRun]) -> None:
        """Record what the manifests hold (when the disk still takes two small files) and raise one line."""
        failure = self._failure
        assert failure is not None
        kept = sum(r.quota.have for r in runs)
        wanted = sum(r.item.target for r in runs)
        for r in runs:
            self.stats.add(r.stats)
        with contextlib.suppress(ReapOmniError, OSError):
            self._write_records()
        self.close()
        fix = "free space and rerun" if failure.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else (
            "make it writable and rerun" if failure.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else "rerun")
        raise WriteFailed(failure.path, f"{failure.reason}; {kept}/{wanted} rows kept, {fix}", failure.errno)

    def _write_records(self) -> None:
        write_lock(self.options.calibration_dir / LOCK_NAME, self._lock_file())
        merged = merge_stats(self.options.calibration_dir / STATS_NAME, self.stats)
        merged.write(self.options.calibration_dir / STATS_NAME)

    def finish(self) -> None:
        """Write the lock and stats (merging earlier runs' entries), then print the summary table."""
        try:
            self._hold_output()
            with storage_errors(self.options.calibration_dir):
                self._write_records()
        finally:
            self.close()
        from reap_omni.manifest.stats import render_table

        print(render_table(self.stats), file=self.out)
        line = eval_split_line(self.eval_splits)
        if line:
            print(line, file=self.out)
        for d in self.stats.failed:
            print(f"reap-omni: {d.name}: {d.rows}/{d.requested} rows: {d.message or 'not enough usable rows'}",
                  file=self.err)  # fmt: skip

    # -- per dataset --------------------------------------------------------------------------------
    def _start(self, item: PlanItem, progress: DatasetProgress) -> DatasetRun:
        stats = DatasetStats(item.name, item.stratum, item.target, rows=progress.rows, seconds=progress.hours * 3600)
        run = DatasetRun(item, stats, Quota(progress.rows, item.target), progress)
        run.bar = self._bar(item, progress.rows)
        return run

    def _run_dataset(self, run: DatasetRun, units: ThreadPoolExecutor, manifests: ManifestSet) -> None:
        try:
            if not run.quota.full():
                self._check_language(run.item.dataset)
                specs = self.sources_for(run.item.dataset)
                if not specs:
                    raise ReapOmniError(no_source_message(run.item.dataset, self.options.allow_eval_splits))
                for spec in specs:
                    self._run_source(run, spec, units, manifests)
                    if run.quota.full() or self._abort.is_set():
                        break
        except WriteFailed as exc:
            self._fail(exc)  # every dataset stops; run() raises it once they have
        except ReapOmniError as exc:
            run.messages.append(str(exc))
            run.stats.failures["error"] += 1
        finally:
            if run.bar is not None:
                run.bar.close()
        run.stats.rows = run.quota.have
        if run.stats.rows < run.item.target:
            run.stats.message = "; ".join(dict.fromkeys(run.messages)) or shortfall(run.stats.failures)

    def sources_for(self, dataset: DatasetSpec) -> list[SourceSpec]:
        """The sources to try, in order: locked ones for ``--from-lock``; else the catalog's, without opt-in
        routes unless ``--opt-in``, and with local sources first when ``--local-path`` is given."""
        if self.selection is not None:
            return [sel.spec for sel in self.selection.get(dataset.name, {}).values()]
        specs = [s for s in dataset.sources if self.options.opt_in or not s.opt_in]
        if not self.options.allow_eval_splits:
            specs = [s for s in specs if not s.eval_split]
        if self.options.local_path is not None:
            specs.sort(key=lambda s: s.kind != "local")
        else:
            specs = [s for s in specs if s.kind != "local" or s.options.get("path")]
        return specs

    def _check_language(self, dataset: DatasetSpec) -> None:
        lang = self.options.language
        if lang and len(dataset.languages) > 1 and not any(_lang_match(lang, x) for x in dataset.languages):
            raise ReapOmniError(f"--language {lang} is not one of this dataset's: {', '.join(dataset.languages)}")

    def _run_source(self, run: DatasetRun, spec: SourceSpec, pool: ThreadPoolExecutor, manifests: ManifestSet) -> None:
        dataset = run.item.dataset
        sid = source_id(spec)
        prefix = sid + "|"
        run.specs[sid] = spec
        source: Source | None = None
        try:
            source = self.open_source(spec, dataset.name)
            unit_list = source.units()
        except SourceUnavailable as exc:
            run.stats.failures[exc.reason] += 1
            run.messages.append(with_access(str(exc), exc.reason, dataset))
            self._bytes(run, source)
            return
        except ReapOmniError as exc:
            run.stats.failures["error"] += 1
            run.messages.append(str(exc))
            return
        except Exception as exc:  # a source bug or an unexpected network error: keep the other datasets going
            run.stats.failures["source_error"] += 1
            run.messages.append(f"{describe_source(spec)}: unexpected {type(exc).__name__}: {exc}")
            return
        if not unit_list:
            run.stats.failures["empty_source"] += 1
            run.messages.append(f"{describe_source(spec)} lists no data files")
            return
        run.stats.source = describe_source(spec)
        mine = sum(1 for k in run.progress.keys if k.startswith(prefix))
        target = run.item.target - (run.quota.have - mine)  # rows this source must hold, credited ones included
        ctx = UnitContext(
            source=source,
            process=lambda cand, text, unit, key: self._process(run, manifests, sid, prefix, cand, text, unit, key),
            cand_filter=self._filter(dataset, spec),
            key_prefix=prefix,
            done_keys=run.progress.keys,  # live: rows this run writes join it (see DatasetRun.settle)
            done_by_unit=run.progress.by_unit,
            oversample=self.options.oversample,
            is_full=lambda: run.quota.full() or self._abort.is_set(),
        )
        locked = self.selection.get(dataset.name, {}).get(sid) if self.selection is not None else None
        if locked is not None:
            ctx.only_keys = frozenset(k for keys in locked.units.values() for k in keys)
            planner = None
            tasks, missing = locked.tasks(unit_list, prefix)
            if missing:
                run.stats.failures["unit_missing"] += len(missing)
                run.messages.append(f"{describe_source(spec)} no longer has {', '.join(missing[:3])}"
                                    + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))  # fmt: skip
        else:
            salt = self._stable(f"{dataset.name}|{sid}")
            planner = RoundPlanner(order_units(unit_list, self.options.seed, salt), target,
                                   self.options.spread)  # fmt: skip
            tasks = planner.first_round()
        while tasks:
            results: list[UnitResult] = [f.result() for f in [pool.submit(read_unit, t, ctx) for t in tasks]]
            for r in results:
                run.stats.failures.update(r.rejected)
                if r.error is not None:
                    run.stats.failures[r.error_reason or "source_error"] += 1
                    run.messages.append(r.error)
            if run.quota.full() or planner is None or self._abort.is_set():
                break
            tasks = planner.next_round(results)
        self._bytes(run, source)
        if not run.quota.full() and not run.messages:
            run.messages.append(f"{describe_source(spec)} gave only {run.quota.have} usable rows "
                                f"({shortfall(run.stats.failures)})")  # fmt: skip

    def _stable(self, key: str) -> str:
        """``key`` as row ids and the sampling order see it: in ``--demo`` without the fixture Hub's random port
        (archive URLs name it), so the same demo gives the same ids run after run."""
        endpoint = os.environ.get("HF_ENDPOINT") if self.options.demo else None
        return key.replace(endpoint.rstrip("/"), "demo-hub") if endpoint else key

    def _bytes(self, run: DatasetRun, source: Source | None) -> None:
        if source is not None:
            with contextlib.suppress(Exception):
                run.stats.bytes_downloaded += int(source.bytes_read)

    def _filter(self, dataset: DatasetSpec, spec: SourceSpec) -> CandidateFilter:
        from reap_omni.catalog.text import render_text, text_row

        if dataset.modality == "text":  # S0: the answer is the row's text, kept as written (newlines and all)
            return CandidateFilter(render=lambda fields: text_row(fields)[1], needs_media=False,
                                   language=self.options.language if len(dataset.languages) > 1 else None)
        template = getattr(spec, "text_template", None)
        return CandidateFilter(
            render=lambda fields: render_text(spec, fields, dataset.name),
            allow_empty_text=template == "",
            language=self.options.language if len(dataset.languages) > 1 else None,
            min_duration=self.options.min_duration,
            max_duration=self.options.max_duration,
        )

    def _process(
        self, run: DatasetRun, manifests: ManifestSet, sid: str, prefix: str,
        cand: Candidate, text: str, unit: Unit, key: str,
    ) -> str:  # fmt: skip
        if run.quota.full() or self._abort.is_set():
            return FULL
        if not run.claim(key):
            return DUPLICATE  # written earlier in this run or an earlier one, or being written by another unit
        written = False
        try:
            outcome = self._write_row(run, manifests, sid, prefix, cand, text, unit, key)
            written = outcome == OK
            return outcome
        finally:
            run.settle(key, written)

    def _write_row(
        self, run: DatasetRun, manifests: ManifestSet, sid: str, prefix: str,
        cand: Candidate, text: str, unit: Unit, key: str,
    ) -> str:  # fmt: skip
        dataset = run.item.dataset
        origin = RowOrigin(row_id(dataset.name, self._stable(key)), key, prefix + unit.key, sid)
        try:
            rec = normalize_candidate(cand, text, dataset, origin, self.options)
        except Rejected as exc:
            return exc.reason
        except (ReapOmniError, OSError) as exc:
            fatal = self._fatal(exc)
            if fatal is not None:
                self._fail(fatal)
                raise fatal from None
            return "invalid_media" if isinstance(exc, ReapOmniError) else "network"
        if not run.quota.reserve():
            _unlink_media(rec)
            return FULL
        spec = run.specs.get(sid)
        rec.source = source_dict(dataset, cand, origin, spec)
        try:
            manifests.append(dataset.modality, rec)
        except WriteFailed as exc:
            _unlink_media(rec)  # the row is not in the manifest: its files would be orphans
            run.quota.release()
            self._fail(exc)
            raise
        with run.lock:
            if spec is not None and spec.eval_split:
                self.eval_splits.setdefault(dataset.name, (dataset.title, spec.split or "test"))
            if cand.provenance.revision and "@" not in (run.stats.source or "@"):
                run.stats.source += f"@{cand.provenance.revision[:12]}"
            run.stats.new_rows += 1
            run.stats.seconds += rec.duration or 0.0
        if run.bar is not None:
            run.bar.update(1)
        return OK

    def _fatal(self, exc: BaseException) -> WriteFailed | None:
        """The ``WriteFailed`` that must stop the build, if ``exc`` is one (see ``_OUTPUT_ONLY``)."""
        failed = storage_error(exc)
        if failed is None:
            return None
        if failed.errno in _OUTPUT_ONLY and not _inside(failed.path, self.options.output):
            return None  # e.g. a local source file we may not read: that row's problem, not the output's
        return failed

    def _fail(self, exc: WriteFailed) -> None:
        with self._bar_lock:
            if self._failure is None:
                self._failure = exc
        self._abort.set()

    # -- reporting ----------------------------------------------------------------------------------
    def _bar(self, item: PlanItem, initial: int) -> Any:
        if self.options.quiet or not _isatty(self.err):
            return None
        from tqdm import tqdm

        with self._bar_lock:
            pos = self._bars
            self._bars += 1
        return tqdm(total=item.target, initial=min(initial, item.target), desc=item.name, unit="row",
                    position=pos, leave=True, file=self.err, dynamic_ncols=True)  # fmt: skip

    def _note_resume(self, report: ResumeReport) -> None:
        if self.options.quiet:
            return
        notes = []
        if report.torn_lines:
            notes.append(f"cut {report.torn_lines} torn manifest line(s)")
        if report.duplicate_rows:
            notes.append(f"removed {report.duplicate_rows} duplicate row(s) (kept the first of each)")
        if report.dropped_rows:
            notes.append(f"dropped {report.dropped_rows} row(s)" + (" (--overwrite)" if self.options.overwrite
                                                                       else " whose media were missing"))
        if report.changed_rows:
            notes.append(f"dropped {report.changed_rows} row(s) whose media changed on disk since they were "
                         "written (sha256 differs): they are fetched again")
        if report.stale_temps:
            notes.append(f"removed {report.stale_temps} temp file(s) of an interrupted run")
        if report.orphan_media:
            notes.append(f"removed {report.orphan_media} media file(s) no manifest row refers to")
        have = sum(p.rows for p in report.datasets.values())
        if have and not self.options.overwrite:
            notes.append(f"resuming: {have} row(s) already done")
        if notes:
            print("reap-omni: " + "; ".join(notes), file=self.err)

    def _lock_file(self):
        rows: list[dict[str, Any]] = []
        for stratum in STRATA:
            path = self.options.manifest_path(stratum)
            if path.exists():
                rows.extend(obj for _, obj in iter_json_objects(path))
        datasets: dict[str, dict[str, Any]] = {}
        for r in rows:
            name = (r.get("source") or {}).get("dataset")
            if name and name not in datasets:
                datasets[name] = {"modality": r.get("modality"), "licence": self._licence(name)}
        for d in self.stats.datasets.values():
            datasets.setdefault(d.name, {"modality": d.stratum, "licence": self._licence(d.name)})
            datasets[d.name]["requested"] = d.requested
        return build_lock(rows, options=self.options.to_lock_dict(), datasets=datasets, licence_of=self._licence,
                          demo=self.options.demo)  # fmt: skip

    def _licence(self, name: str) -> str | None:
        if name in self._licences:
            return self._licences[name]
        lic = None
        if self.licence_of is not None:
            lic = self.licence_of(name)
        else:
            with contextlib.suppress(Exception):
                from reap_omni.catalog.registry import get_dataset

                lic = get_dataset(name).licence
        self._licences[name] = lic  # type: ignore[assignment]
        return lic


def default_opener(options: BuildOptions) -> SourceOpener:
    """``sources.factory.open_source`` with the token bound, and ``--local-path`` for local sources."""
    from reap_omni.sources.factory import open_source

    def opener(spec: SourceSpec, dataset: str) -> Source:
        kwargs: dict[str, Any] = {"token": options.token, "dataset": dataset}
        if spec.kind == "local" and options.local_path is not None:
            kwargs["local_path"] = options.local_path
        return open_source(spec, **kwargs)

    return opener


def _unlink_media(rec: Any) -> None:
    for _, path in rec.media_paths():
        with contextlib.suppress(OSError):
            os.unlink(path)


def _inside(path: str, folder: Path) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) == os.path.realpath(folder)
    except ValueError:
        return False


def _lang_match(a: str, b: str) -> bool:
    return a.replace("_", "-").lower().split("-")[0] == b.replace("_", "-").lower().split("-")[0]


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
