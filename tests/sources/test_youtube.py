"""YouTube source: annotation parsing, clip download through yt-dlp from a loopback server, dead ids."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.media import make_video
from reap_omni.media.probe import probe
from reap_omni.media.video import normalize_video
from reap_omni.sources import youtube as yt
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.youtube import YouTubeSource, clip_of, parse_annotations

KINETICS = (
    "label,youtube_id,time_start,time_end,split,is_cc\n"
    "abseiling,--07WQ2iBlw,1,3,val,0\nair drumming,DEADDEADDEA,0,2,val,0\n"
)
AUDIOSET = (
    "# Segments csv created Sun Mar  5 10:54:31 2017\n# num_ytids=2, num_segs=2\n"
    "# YTID, start_seconds, end_seconds, positive_labels\n"
    '--4gqARaEJE, 0.000, 10.000, "/m/068hy,/m/07q6cd_"\n--BfvyPmVMo, 20.000, 30.000, "/m/03l9g"\n'
)


def test_parse_kinetics_audioset_vatex_howto100m():
    rows = parse_annotations(KINETICS)
    assert clip_of(rows[0], {}) == ("--07WQ2iBlw", 1.0, 3.0) and rows[0]["label"] == "abseiling"
    rows = parse_annotations(AUDIOSET)
    assert clip_of(rows[1], {}) == ("--BfvyPmVMo", 20.0, 30.0)
    assert rows[0]["positive_labels"] == "/m/068hy,/m/07q6cd_"
    vatex = parse_annotations(json.dumps([{"videoID": "Ptf_2VRj-V0_000122_000132", "enCap": ["a"]}]))
    assert clip_of(vatex[0], {}) == ("Ptf_2VRj-V0", 122.0, 132.0)
    cap = json.dumps({"v1": {"start": [4, 10], "end": [8, 50], "text": ["a", "b"]}})
    rows = parse_annotations(cap, "howto100m_captions", window_s=30)
    assert rows == [{"video_id": "v1", "text": "a b", "start": 4.0, "end": 34.0}]
    assert clip_of(rows[0], {"id": "video_id", "start": "start", "end": "end"}) == ("v1", 4.0, 34.0)


def test_missing_extra_is_reported(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_yt_dlp(name, *args, **kwargs):
        if name == "yt_dlp" or name.startswith("yt_dlp."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_yt_dlp)
    source = YouTubeSource(SourceSpec(kind="youtube"), rows=parse_annotations(KINETICS))
    with pytest.raises(SourceUnavailable, match=r"yt-dlp: pip install (-e )?\S*\[youtube\]") as err:
        source.units()
    assert err.value.reason == "missing_extra"


class _Videos(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_HEAD(self):  # noqa: N802
        self._reply(body=False)

    def do_GET(self):  # noqa: N802
        self._reply(body=True)

    def _reply(self, body: bool) -> None:
        data = self.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404, "Video unavailable")
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def video_server():
    _Videos.files = {"--07WQ2iBlw.mp4": make_video(None, seconds=4.0, fps=10)}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Videos)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_from_loopback_and_dead_ids_are_recorded(video_server, tmp_path):
    pytest.importorskip("yt_dlp", reason="yt-dlp not installed (pip install 'reap-omni[youtube]')")
    annotations = tmp_path / "val.csv"
    annotations.write_text(KINETICS)
    spec = SourceSpec(
        kind="youtube",
        metadata=str(annotations),
        columns={"label": "label"},
        options={"url_template": video_server + "/{id}.mp4", "cut": "local"},
    )
    source = YouTubeSource(spec)
    units = source.units()
    assert [u.key for u in units] == ["--07WQ2iBlw_1_3", "DEADDEADDEA_0_2"]
    got = [c for u in units for c in source.read(u)]
    assert len(got) == 1
    cand = got[0]
    assert cand.fields["label"] == "abseiling" and cand.group == "--07WQ2iBlw"
    assert (cand.fields["start"], cand.fields["end"]) == (1.0, 3.0)
    assert cand.provenance.url == video_server + "/--07WQ2iBlw.mp4"
    assert source.bytes_read == len(cand.media["video"].read())
    assert [f["id"] for f in source.failures] == ["DEADDEADDEA"]
    assert source.failures[0]["reason"] == "dead"
    # the downloaded bytes go through the media step, cut to the annotated window
    res = normalize_video(cand.media["video"].read(), tmp_path / "clip.mp4", name=cand.media["video"].name,
                          segment=(cand.fields["start"], cand.fields["end"]), max_seconds=2.0)  # fmt: skip
    assert (res.clip_start, res.clip_end) == pytest.approx((1.0, 3.0))
    assert probe(tmp_path / "clip.mp4").duration == pytest.approx(2.0, abs=0.05)


def test_all_failing_gives_one_clear_message(video_server, monkeypatch):
    pytest.importorskip("yt_dlp", reason="yt-dlp not installed (pip install 'reap-omni[youtube]')")
    rows = [{"youtube_id": f"gone{i:07d}", "time_start": "0", "time_end": "1"} for i in range(3)]
    spec = SourceSpec(kind="youtube", options={"url_template": video_server + "/{id}.mp4", "give_up_after": 3})
    source = YouTubeSource(spec, rows=rows)
    units = source.units()
    assert list(source.read(units[0])) == [] and list(source.read(units[1])) == []
    with pytest.raises(SourceUnavailable, match="all 3 attempts failed") as err:
        list(source.read(units[2]))
    assert err.value.reason == "network"


def test_ytdlp_cut_mode_requests_only_the_window(monkeypatch):
    yt_dlp = pytest.importorskip("yt_dlp", reason="yt-dlp not installed (pip install 'reap-omni[youtube]')")
    seen = {}

    class FakeYDL:
        def __init__(self, opts):
            seen.update(opts)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def extract_info(self, url, download):
            raise yt_dlp.utils.DownloadError("ERROR: [youtube] abc: Video unavailable")

    monkeypatch.setattr(yt_dlp, "YoutubeDL", FakeYDL)
    source = YouTubeSource(SourceSpec(kind="youtube", options={"cut": "ytdlp"}), rows=parse_annotations(KINETICS))
    assert list(source.read(source.units()[0])) == []
    assert seen["force_keyframes_at_cuts"] is True
    ranges = list(seen["download_ranges"]({"duration": 10.0}, None))
    assert ranges[0]["start_time"] == 1.0 and ranges[0]["end_time"] == 3.0
    assert source.failures[0]["reason"] == "dead"
    assert yt.DEFAULT_URL_TEMPLATE.format(id="x") == "https://www.youtube.com/watch?v=x"
