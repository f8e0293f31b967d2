"""Mozilla Data Collective (kind ``mdc``): where Common Voice is published since it left the Hub.

MDC serves each release as one ``.tar.gz`` and offers no per-sample API, so this source downloads the
release the user accepted once with the ``datacollective`` SDK (resumable, cached in ``MDC_DOWNLOAD_PATH``),
extracts it once beside the archive (members checked like every archive we open), and reads the result
with the local Common Voice importer. Each missing piece (package, key, dataset id, terms) is one line.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import msgspec

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fileio import temp_path_for
from reap_omni.sources.archive_safety import UnsafeArchive, check_member_name
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.local_corpora import LocalCorpusSource

MDC_SITE = "https://datacollective.mozillafoundation.org"


def _how(name: str) -> str:
    return (f"pip install datacollective, set MDC_API_KEY (from {MDC_SITE}/api-reference), accept the release's "
            f"terms on {MDC_SITE}, then --source-option {name}:0:options.dataset=<MDC id or slug>; "
            f"or pass an extracted copy with --local-path DIR")


def _safe_members(tar: tarfile.TarFile, archive: Path):
    """Refuse absolute paths, ``..``, links and devices: an archive must not write outside its folder."""
    for m in tar:
        check_member_name(m.name, str(archive))
        if not (m.isfile() or m.isdir()):
            raise UnsafeArchive(f"{archive}: unsafe archive member {m.name!r} is a link or special file; "
                                "refusing to extract")
        yield m


def extract_once(archive: Path) -> Path:
    """Extract ``archive`` to ``<archive without .tar.gz>/`` unless already there; atomic via a temp folder."""
    name = archive.name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    dest = archive.with_name(name)
    if dest.is_dir():
        return dest
    tmp = temp_path_for(dest)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in _safe_members(tar, archive):
                tar.extract(member, tmp, set_attrs=False)
        os.replace(tmp, dest)
    except (tarfile.TarError, OSError) as exc:
        raise SourceUnavailable(f"{archive}: cannot extract the MDC archive: {exc}", reason="layout") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _download(sdk: Any, dataset_id: str, name: str) -> Path:
    fetch = getattr(sdk, "download_dataset", None) or getattr(sdk, "save_dataset_to_disk", None)
    if fetch is None:
        raise SourceUnavailable(f"{name}: the installed datacollective has no download_dataset; upgrade it "
                                "(pip install -U datacollective)", reason="missing_extra")
    try:
        return Path(fetch(dataset_id, download_directory=os.environ.get("MDC_DOWNLOAD_PATH") or None,
                          show_progress=False))
    except PermissionError:
        raise SourceUnavailable(f"{name}: MDC refused access to {dataset_id!r}: accept its terms on {MDC_SITE} "
                                "with the account of your MDC_API_KEY", reason="gated") from None
    except FileNotFoundError:
        raise SourceUnavailable(f"{name}: MDC has no dataset {dataset_id!r}; set --source-option "
                                f"{name}:0:options.dataset=<MDC id or slug>", reason="not_found") from None
    except Exception as exc:  # the SDK raises requests/runtime errors for network faults and rate limits
        raise SourceUnavailable(f"{name}: MDC download of {dataset_id!r} failed: {type(exc).__name__}: {exc}",
                                reason="network") from None


def open_source(spec: SourceSpec, *, token: str | None = None, dataset: str | None = None,
                local_path: str | os.PathLike[str] | None = None, **_: Any) -> LocalCorpusSource:
    """``sources.factory`` entry point: download (once) and open the accepted MDC release."""
    name = dataset or "common_voice"
    try:
        import datacollective as sdk
    except ImportError:
        raise SourceUnavailable(f"{name}: Mozilla Data Collective needs its SDK: {_how(name)}",
                                reason="missing_extra") from None
    if not os.environ.get("MDC_API_KEY"):
        raise SourceUnavailable(f"{name}: MDC_API_KEY is not set: {_how(name)}", reason="gated")
    dataset_id = spec.options.get("dataset")
    if not dataset_id:
        raise SourceUnavailable(f"{name}: no MDC release chosen: {_how(name)}", reason="layout")
    root = extract_once(_download(sdk, str(dataset_id), name))
    options = {k: v for k, v in spec.options.items() if k != "dataset"}
    local = msgspec.structs.replace(spec, kind="local", options={**options, "layout": "common_voice"})
    return LocalCorpusSource(local, local_path=root)
