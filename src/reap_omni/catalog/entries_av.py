"""S3 (audio+video) training data beyond the seed list, found by the 2026-12-07 audit (CATALOG_EVIDENCE.md §2).

The seed's S3 datasets offered mostly benchmark test copies; these are training splits with real audio-visual
content. AVSpeech (a visible person talking) is the speech-rich one and part of the quickstart mix; AVE is a
pinned, ungated drop-in (little speech); FineVideo is speech-rich but gated.
"""

from __future__ import annotations

from reap_omni.catalog.common import hf_access, hf_access_zh, mteb
from reap_omni.catalog.spec import DatasetSpec, SourceSpec

AVSPEECH = DatasetSpec(
    name="avspeech",
    title="AVSpeech",
    aliases=("av-speech", "avspeech_visual_audio"),
    stratum="S3",
    modality="mixed",
    task="speaker",
    description_en="YouTube clips of one visible person talking (lectures, interviews, how-to); no transcripts.",
    description_zh="YouTube 单人可见说话片段（讲座、访谈、教程等）；无转录文本。",
    scale="4.7K h",
    licence="Not stated on the mirror's card (AVSpeech's own licence unverified)",
    homepage="https://looking-to-listen.github.io/avspeech/",
    languages=("multilingual",),
    extended=True,
    recommended=True,
    note="AVSpeech has no transcripts: every row's text is the one fact the dataset guarantees for each clip, "
    "'A person is talking on camera.' (so the rows convert to SFT like every other stratum's); it is not a "
    "transcript. The mirror's upload was in progress when it was seen (about 3K train rows at the pinned commit).",
    note_zh="AVSpeech 没有转录文本：每行文本是该数据集对每个片段都保证成立的事实“A person is talking on camera.”"
    "（使这些行能像其他层的行一样转换为 SFT），并非转录。镜像在核查时仍在上传中（固定版本约有 3K 条训练行）。",
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="ProgramComputer/avspeech-visual-audio",
            revision="8b139188077b5633079f776ff8088e4364fae34e",
            split="train",
            files=("train/*.parquet",),
            columns={"video": "video", "audio": "audio", "id": "clip_id"},
            text_template="A person is talking on camera.",
            note="train/train-rows-XXXXXXXXX-YYYYYYYYY-000.parquet, 128 rows and 60-80 MB each (~3k train rows, "
            "1.6 GB at tree 8b139188: hf.co/datasets/ProgramComputer/avspeech-visual-audio/tree/8b139188077b5633079f7"
            "76ff8088e4364fae34e/train); columns clip_id ({youtube_id}_{start}_{end}), avspeech_metadata, video "
            "(a video-only stream) and audio (an audio-only stream), both stream-copied (README at commit efdceb2a). "
            "The two streams are combined into one MP4 per row. Row-group size unverified (a group may be one file). "
            "Ungated; DOI 10.57967/hf/7867.",
        ),
    ),
)

AVE = DatasetSpec(
    name="ave",
    title="AVE (Audio-Visual Event)",
    aliases=("ave_dataset", "audio_visual_event"),
    stratum="S3",
    modality="mixed",
    task="classification",
    description_en="10 s YouTube clips of 28 audio-visual events (church bell, truck, dog barking, ...).",
    description_zh="28 类音视频事件（教堂钟声、卡车、狗叫等）的 10 秒 YouTube 片段。",
    scale="4.1K clips",
    licence="Not specified (mteb); the source repo UnFaZeD07/AVE-Dataset has an MIT card",
    homepage="https://sites.google.com/view/audiovisualresearch",
    languages=("en",),
    extended=True,
    sources=(
        mteb(
            "mteb/AVE-Dataset",
            "f6eb93b4e89456277a242583b5565b801bc1981d",
            {"video": "video", "audio": "audio", "label": "label", "id": "youtube_id", "group": "youtube_id"},
            split="train",
            eval_split=False,
            text_template="the sound of {label}",
            note="The official train split (~3,312 rows; mteb evaluates on test, 402 rows): mteb HEAD "
            "ave_dataset_classification.py and descriptive_stats/VideoClassification/AVEDatasetClassification.json "
            "(train and test both with video and audio). Features video, audio (16 kHz), label (28-class "
            "ClassLabel), youtube_id, start_seconds come from a reconstructed preparation script (youtube_id is "
            "optional here). Little speech.",
        ),
    ),
)

FINEVIDEO = DatasetSpec(
    name="finevideo",
    title="FineVideo",
    aliases=("fine_video",),
    stratum="S3",
    modality="mixed",
    task="caption",
    description_en="Creative Commons YouTube videos chosen from speech transcripts (YouTube-Commons), ~4.7 min each.",
    description_zh="从 YouTube-Commons 语音转录中挑选的知识共享许可 YouTube 视频，平均约 4.7 分钟。",
    scale="43.7K videos (3,425 h)",
    licence="Creative Commons (card tag cc); gated click-through terms",
    homepage="https://huggingface.co/datasets/HuggingFaceFV/finevideo",
    gated=True,
    access=hf_access("HuggingFaceFV/finevideo", "The terms share your contact information with the authors."),
    access_zh=hf_access_zh("HuggingFaceFV/finevideo", "条款会向作者提供您的联系方式。"),
    languages=("en",),
    extended=True,
    note="Rows have empty text: the captions sit in a nested json column the reader does not map.",
    note_zh="本数据集的行文本为空：描述位于读取器不映射的嵌套 json 列中。",
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="HuggingFaceFV/finevideo",
            revision="84c74091e1c6ee7a5dffabfafb5c9033e4718883",
            split="train",
            columns={"video": "mp4"},
            text_template="",
            gated=True,
            verified=False,
            note="Parquet under data/ with columns mp4 (binary) and json (struct: content_metadata, youtube_title, "
            "...) (hf.co/datasets/HuggingFaceFV/finevideo, refs/pr/5 README features); train only, ~600 GB. The "
            "revision is the one third-party code pins; shard names were not seen (the usual train layout is "
            "matched at run time). Audio: the downloader asked yt-dlp for 'best' (video and audio in one file; "
            "github huggingface/fineVideo rawdataset/ytdlps3/download_and_upload.py). Videos are cut to "
            "--max-video-seconds.",
        ),
    ),
)

DATASETS: tuple[DatasetSpec, ...] = (AVSPEECH, AVE, FINEVIDEO)
