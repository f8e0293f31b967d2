"""The Mozilla Data Collective route: SDK download -> safe one-time extraction -> Common Voice importer.

The MDC service cannot be reached from tests, so a module standing in for the ``datacollective`` SDK
writes a generated Common Voice release archive where the real ``download_dataset`` would.
"""

from __future__ import annotations

import io
import sys
import tarfile
import types
from pathlib import Path

import pytest

from reap_omni.catalog.registry import get_dataset
from reap_omni.fixtures.media import make_audio
from reap_omni.media.probe import probe
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.factory import open_source


def _release(path: Path, evil: bool = False) -> None:
    tsv = "client_id\tpath\tsentence\tlocale\n" + "".join(
        f"spk{i % 2}\tcv_{i}.mp3\tsentence number {i}\ten\n" for i in range(4))
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("cv-corpus-test/en/train.tsv", tsv.encode())  # the split the catalog reads
        for i in range(4):
            add(f"cv-corpus-test/en/clips/cv_{i}.mp3", make_audio(None, seconds=0.3, fmt="mp3", freq=300 + 50 * i))
        if evil:
            add("../outside.txt", b"x")


@pytest.fixture
def sdk(monkeypatch, tmp_path):
    calls = []

    def download_dataset(dataset_id, download_directory=None, show_progress=True, overwrite_existing=False):
        calls.append(dataset_id)
        if dataset_id == "missing":
            raise FileNotFoundError(dataset_id)
        if dataset_id == "not-accepted":
            raise PermissionError(dataset_id)
        archive = Path(download_directory) / f"{dataset_id}.tar.gz"
        if not archive.exists():
            _release(archive, evil=dataset_id == "evil")
        return archive

    module = types.SimpleNamespace(download_dataset=download_dataset, calls=calls)
    monkeypatch.setitem(sys.modules, "datacollective", module)
    monkeypatch.setenv("MDC_API_KEY", "secret-key")
    monkeypatch.setenv("MDC_DOWNLOAD_PATH", str(tmp_path))
    return module


def _mdc_spec(**options):
    spec = next(s for s in get_dataset("common_voice").sources if s.kind == "mdc")
    import msgspec

    return msgspec.structs.replace(spec, options={**spec.options, **options})


def test_release_is_downloaded_once_extracted_once_and_read(sdk, tmp_path):
    source = open_source(_mdc_spec(dataset="cv-en-test"), dataset="common_voice")
    units = source.units()
    assert {u.info["client_id"] for u in units} == {"spk0", "spk1"}
    rows = [c for u in units for c in source.read(u)]
    assert sorted(c.fields["text"] for c in rows) == [f"sentence number {i}" for i in range(4)]
    assert all(probe(c.media["audio"].read(), name=c.media["audio"].name).has_audio for c in rows)
    assert (tmp_path / "cv-en-test").is_dir()
    open_source(_mdc_spec(dataset="cv-en-test"), dataset="common_voice").units()
    assert sdk.calls == ["cv-en-test", "cv-en-test"]  # the SDK itself skips an existing archive
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize(("dataset_id", "reason", "words"), [
    ("missing", "not_found", "has no dataset"),
    ("not-accepted", "gated", "accept its terms"),
    ("evil", "unsafe_archive", "unsafe archive member"),
])
def test_service_errors_are_one_actionable_line(sdk, tmp_path, dataset_id, reason, words):
    with pytest.raises(SourceUnavailable) as err:
        open_source(_mdc_spec(dataset=dataset_id), dataset="common_voice")
    assert err.value.reason == reason and words in str(err.value)
    assert "secret-key" not in str(err.value)
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path.parent / "outside.txt").exists()


def test_missing_sdk_key_or_release_say_what_to_do(monkeypatch, sdk):
    with pytest.raises(SourceUnavailable, match="no MDC release chosen") as err:
        open_source(_mdc_spec(), dataset="common_voice")
    assert "--source-option common_voice:0:options.dataset=" in str(err.value) and "--local-path" in str(err.value)
    monkeypatch.delenv("MDC_API_KEY")
    with pytest.raises(SourceUnavailable, match="MDC_API_KEY is not set") as err:
        open_source(_mdc_spec(dataset="x"), dataset="common_voice")
    assert err.value.reason == "gated"
    monkeypatch.setitem(sys.modules, "datacollective", None)  # import fails as if not installed
    with pytest.raises(SourceUnavailable, match="pip install datacollective") as err:
        open_source(_mdc_spec(dataset="x"), dataset="common_voice")
    assert err.value.reason == "missing_extra"
