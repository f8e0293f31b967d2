"""S3 (audio+video) datasets of the seed README. Facts from DATASET_SOURCES.md sections 2.7, 3.3, 4 and 5.

Several of these have no public media at all (LRS2/LRS3, How2, HowTo100M): their entries say exactly what
the user must supply, and AudioSet names the substitutes that do carry video.
"""

from __future__ import annotations

from reap_omni.catalog.common import local, mteb
from reap_omni.catalog.spec import DatasetSpec, SourceSpec

VOXCELEB = DatasetSpec(
    name="voxceleb",
    title="VoxCeleb2",
    aliases=("voxceleb2", "vox2"),
    stratum="S3",
    modality="mixed",
    task="speaker",
    description_en="Interview videos of celebrities from YouTube, for speaker recognition; no transcripts.",
    description_zh="YouTube 名人访谈视频，用于说话人识别；无转录文本。",
    scale="1M+ utterances",
    licence="CC-BY-4.0 (mirror card tag); official copy needs a VGG request",
    homepage="https://www.robots.ox.ac.uk/~vgg/data/voxceleb/",
    languages=("multilingual",),
    note="VoxCeleb1 is audio-only (WAV) and is listed separately as the S1 entry voxceleb1. Rows have empty text.",
    note_zh="VoxCeleb1 仅有音频（WAV），作为 S1 条目 voxceleb1 单独列出。本数据集的行文本为空。",
    sources=(
        SourceSpec(
            kind="zip_range",
            repo="ProgramComputer/voxceleb",
            split="test",
            eval_split=True,
            files=("vox2/vox2_test_mp4.zip",),
            text_template="",
            options={"member_match": "suffix", "member_glob": "*.mp4", "group_pattern": r"(id\d+)/"},
            note="vox2/vox2_test_mp4.zip (8.91 GB): commit 23dcdd6 'Foldered' moved every file of the repo into "
            "vox1/ and vox2/ (hf.co/datasets/ProgramComputer/voxceleb/commit/23dcdd6d; latest tree seen 6067475 "
            "holds only vox1/, vox2/ and the README at the root; before it, 5a1087d had the zip at the root). The "
            "test set is read because the dev zips are byte-split parts that cannot be range-read. The mp4s carry "
            "audio: third-party VoxCeleb2 recipes extract wav from them with ffmpeg. CC-BY-4.0 tag; no gate seen.",
        ),
        local(
            "voxceleb",
            "Official VoxCeleb2 copy (dev/mp4/<id>/<video>/<n>.mp4); speaker id from the path. Pass it with "
            "--local-path DIR (the dev part is read; options.split=test for the test part).",
            text_template="",
            split="dev",
        ),
    ),
)

LRS2 = DatasetSpec(
    name="lrs2",
    title="LRS2",
    aliases=("lrs2-bbc", "lrs"),
    stratum="S3",
    modality="mixed",
    task="asr",
    description_en="BBC television sentences for audio-visual speech recognition (lip reading).",
    description_zh="BBC 电视节目句子，用于音视频语音识别（唇读）。",
    scale="1000s of sentences",
    licence="BBC R&D agreement, academic non-commercial",
    homepage="https://www.robots.ox.ac.uk/~vgg/data/lip_reading/lrs2.html",
    gated=True,
    access="Sign the BBC R&D data sharing agreement, download LRS2 yourself and pass it with "
    "--local-path /data/lrs2. Unofficial Hub copies are not used.",
    access_zh="签署 BBC R&D 数据共享协议后自行下载 LRS2，并用 --local-path /data/lrs2 指向它。"
    "不使用 Hub 上的非官方副本。",
    languages=("en",),
    sources=(
        local(
            "lrs2",
            "Layout main/<video_id>/<NNNNN>.mp4 + <NNNNN>.txt; the transcript is the 'Text:' line (format "
            "unverified).",
        ),
    ),
)

LRS3 = DatasetSpec(
    name="lrs3",
    title="LRS3",
    aliases=("lrs3-ted",),
    stratum="S3",
    modality="mixed",
    task="asr",
    description_en="TED/TEDx talk sentences for audio-visual speech recognition.",
    description_zh="TED/TEDx 演讲句子，用于音视频语音识别。",
    scale="1000s of sentences",
    licence="TED terms; official download withdrawn",
    homepage="https://www.robots.ox.ac.uk/~vgg/data/lip_reading/lrs3.html",
    gated=True,
    access="The official download has been withdrawn: supply a copy you already hold with "
    "--local-path /data/lrs3.",
    access_zh="官方下载已撤回：请用 --local-path /data/lrs3 指向您已有的副本。",
    languages=("en",),
    sources=(
        local(
            "lrs3",
            "Layout {pretrain,trainval,test}/<youtube_id>/<NNNNN>.mp4 + .txt; the training parts are read "
            "(options.split=test for the benchmark part).",
            split="pretrain,trainval",
        ),
    ),
)

HOW2 = DatasetSpec(
    name="how2",
    title="How2",
    stratum="S3",
    modality="mixed",
    task="asr",
    description_en="Instructional YouTube videos with English transcripts, Portuguese translations and summaries.",
    description_zh="YouTube 教学视频，附英文转录、葡萄牙语翻译与摘要。",
    scale="80K clips",
    licence="Request form (now struck through); videos are YouTube content",
    homepage="https://github.com/srvk/how2-dataset",
    gated=True,
    access="Official releases contain features, not media: supply the videos (downloaded by their YouTube ids "
    "from srvk/how2-dataset) plus text.en, and pass them with --local-path DIR.",
    access_zh="官方发布只含特征、不含媒体：请自行提供视频（按 srvk/how2-dataset 的 YouTube id 下载）及 text.en，"
    "并用 --local-path 指向。",
    languages=("en",),
    sources=(
        local(
            "how2",
            "Videos named <video_id>.mp4 plus the text.en / segments files joined by video id.",
        ),
    ),
)

AUDIOSET = DatasetSpec(
    name="audioset",
    title="AudioSet",
    aliases=("audio_set",),
    stratum="S3",
    modality="mixed",
    task="classification",
    description_en="10 s YouTube segments labelled with 527 sound event classes.",
    description_zh="带 527 类声音事件标签的 10 秒 YouTube 片段。",
    scale="2M+ clips",
    licence="CC-BY-4.0 (labels); videos are YouTube content",
    homepage="https://research.google.com/audioset/",
    substitutes=("valor32k", "vggsound"),
    note="No Hub copy carries video, so S3 rows come from YouTube (optional extra) or a local copy; otherwise use "
    "valor32k (audio-visual captions) or vggsound. AudioSet audio alone is the S1 entry audioset_audio.",
    note_zh="Hub 上没有带视频的副本：S3 行需通过 YouTube（可选依赖）或本地副本获得；否则请改用 valor32k（音视频描述）"
    "或 vggsound。仅音频的 AudioSet 见 S1 条目 audioset_audio。",
    sources=(
        SourceSpec(
            kind="youtube",
            url="http://storage.googleapis.com/us_audioset/youtube_corpus/v1/csv/balanced_train_segments.csv",
            split="balanced_train",
            columns={"id": "YTID", "group": "YTID", "start": "start_seconds", "end": "end_seconds",
                     "label": "positive_labels"},
            text_template="the sound of {label}",
            options={
                "metadata_format": "csv",
                "label_names_url": "http://storage.googleapis.com/us_audioset/youtube_corpus/v1/csv/"
                "class_labels_indices.csv",
            },
            opt_in=True,
            note="Needs pip install -e '.[youtube]' and --opt-in; 5-10% of ids are dead. The balanced training "
            "segments (not eval_segments.csv, the benchmark). The CSV URLs are the ones public AudioSet downloaders "
            "use; the file opens with '#' comment lines and its header is one of them ('# YTID, start_seconds, "
            "end_seconds, positive_labels'), which the reader takes as the header.",
        ),
        local(
            "audioset",
            "Local clips named <YTID>_<start>.mp4 (or <YTID>.mp4) plus a segments CSV (balanced_train_segments.csv "
            "or eval_segments.csv, '#' comment header) and class_labels_indices.csv. Pass them with --local-path DIR.",
            columns={"label": "positive_labels"},
            text_template="the sound of {label}",
        ),
    ),
)

VGGSOUND = DatasetSpec(
    name="vggsound",
    title="VGGSound",
    aliases=("vgg_sound", "vgg-sound"),
    stratum="S3",
    modality="mixed",
    task="classification",
    description_en="10 s YouTube clips where the labelled sound source is visible (309 classes).",
    description_zh="声源可见的 10 秒 YouTube 片段（309 类）。",
    scale="210K videos",
    licence="CC-BY-4.0",
    homepage="https://www.robots.ox.ac.uk/~vgg/data/vggsound/",
    languages=("en",),
    recommended=True,
    sources=(
        SourceSpec(
            kind="hf_tar",
            repo="Loie/VGGSound",
            split="train",
            files=("vggsound_00.tar.gz",),
            metadata="vggsound.csv",
            columns={"video": "youtube_id", "label": "label", "id": "youtube_id", "group": "youtube_id",
                     "start": "start"},
            text_template="the sound of {label}",
            options={"metadata_format": "csv", "csv_header": ["youtube_id", "start", "label", "split"],
                     "member_template": "{youtube_id}_{start:06d}.mp4", "member_match": "stem",
                     "filter": {"split": "train"}},
            note="Main (2ca3012) has vggsound.csv (7.75 MB) and vggsound_00.tar.gz (16,423,310,623 B) plus 01-19 "
            "(hf.co/datasets/Loie/VGGSound/tree/main); its README gives the CSV columns as 'YouTube ID, start "
            "seconds, label, train/test split' and CC-BY-4.0. The tar is streamed as a prefix and only rows whose CSV "
            "split is train are kept. Header-less CSV and members {youtube_id}_{start:06d}.mp4: two independent "
            "third-party loaders (set options.csv_header / options.member_template if that changes).",
        ),
        mteb(
            "mteb/VGGSound",
            "a994211ca0996558ff6cbd6977b4c1749f49c889",
            {"video": "video", "audio": "audio", "label": "label"},
            text_template="the sound of {label}",
            note="~9,888 test rows (mteb VGGSound tasks pin this revision, split test, label a ClassLabel); audio "
            "present by construction. The benchmark split: a last resort after the training clips (source #0).",
        ),
    ),
)

MELD = DatasetSpec(
    name="meld",
    title="MELD",
    stratum="S3",
    modality="mixed",
    task="emotion",
    description_en="Multi-party dialogue utterances from the TV series Friends, labelled with emotion.",
    description_zh="美剧《老友记》多人对话语句，带情感标签。",
    scale="13K utterances (TV episodes)",
    licence="GPL-3.0",
    homepage="https://affective-meld.github.io/",
    languages=("en",),
    recommended=True,
    sources=(
        SourceSpec(
            kind="hf_tar",
            repo="declare-lab/MELD",
            split="train",
            files=("**/MELD.Raw.tar.gz",),
            metadata="https://raw.githubusercontent.com/declare-lab/MELD/master/data/MELD/train_sent_emo.csv",
            columns={"video": "Utterance_ID", "text": "Utterance", "group": "Speaker"},
            options={"nested": "*train*.tar.gz", "metadata_format": "csv",
                     "member_template": "dia{Dialogue_ID}_utt{Utterance_ID}.mp4", "member_match": "suffix"},
            note="Nested tar: MELD.Raw.tar.gz (10.9 GB, repo root, 9abc51e: hf.co/datasets/declare-lab/MELD/tree/main)"
            " -> MELD.Raw/train.tar.gz -> train_splits/dia{D}_utt{U}.mp4 (as many scripts unpack it), joined to "
            "train_sent_emo.csv from the declare-lab/MELD GitHub repo (header Sr No.,Utterance,Speaker,Emotion,"
            "Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime). Unverified: where train.tar.gz "
            "sits in the outer stream (a prefix may need much of the 10.9 GB; source #1 reads loose files instead).",
        ),
        SourceSpec(
            kind="hf_files",
            repo="0xPushkar/MELD",
            split="train",
            files=("train/train_splits/*.mp4",),
            metadata="train/train_sent_emo.csv",
            columns={"video": "Utterance_ID", "text": "Utterance", "group": "Speaker"},
            options={"metadata_format": "csv", "member_template": "dia{Dialogue_ID}_utt{Utterance_ID}.mp4",
                     "member_match": "suffix"},
            verified=False,
            note="MELD's training utterances as loose files, one mp4 each, so only the chosen clips are fetched "
            "(no archive prefix to stream): "
            "train/train_splits/dia{D}_utt{U}.mp4 + train/train_sent_emo.csv, 'every annotated train clip is "
            "present' (hf.co/datasets/0xPushkar/MELD card text; no file listing seen, revision and date unknown). "
            "The CSV header is the declare-lab one (Sr No., Utterance, Speaker, Emotion, Sentiment, Dialogue_ID, "
            "Utterance_ID, ...). Row id = the member name (dia{D}_utt{U}).",
        ),
        mteb(
            "mteb/MELD",
            "6c0bf58845b1acccefc450b131c304378c1e38d5",
            {"video": "video", "audio": "audio", "label": "emotion", "text": "utterance", "id": "video_id"},
            note="~2,610 test rows (mteb MELDClassification pins this revision, label column emotion); the rows carry "
            "the transcript: the README at 6c0bf58 lists video_id, video, audio, utterance, speaker, ... "
            "(hf.co/datasets/mteb/MELD/blob/main/README.md). The benchmark split: a last resort after the training "
            "sources.",
        ),
    ),
)

HOWTO100M = DatasetSpec(
    name="howto100m",
    title="HowTo100M",
    aliases=("howto",),
    stratum="S3",
    modality="mixed",
    task="caption",
    description_en="Narrated instructional YouTube videos with automatic-speech-recognition captions.",
    description_zh="带自动语音识别字幕的 YouTube 解说教学视频。",
    scale="136M clips",
    licence="Research use; videos are YouTube content",
    homepage="https://www.di.ens.fr/willow/research/howto100m/",
    gated=True,
    access="Download HowTo100M.zip metadata (caption.json, HowTo100M_v1.csv) from the project page; then either "
    "fetch clips from YouTube (pip install -e '.[youtube]', --opt-in, "
    "--source-option howto100m:0:metadata=<caption.json>) "
    "or pass local videos with --local-path DIR (the authors' mirror needs a password form).",
    access_zh="从项目主页下载 HowTo100M.zip 元数据（caption.json、HowTo100M_v1.csv）；然后通过 YouTube 获取片段"
    "（pip install -e '.[youtube]'，--opt-in，--source-option howto100m:0:metadata=<caption.json>），"
    "或用 --local-path 指向本地视频（作者镜像需填写密码申请表）。",
    languages=("en",),
    sources=(
        SourceSpec(
            kind="youtube",
            columns={"id": "video_id", "group": "video_id", "text": "text", "start": "start", "end": "end"},
            options={"metadata_format": "howto100m_captions", "window_s": 30},
            opt_in=True,
            note="Needs the user's caption.json as metadata (no public URL is assumed); clip text concatenates "
            "caption segments overlapping the window.",
        ),
        local(
            "howto100m",
            "Local videos <video_id>.mp4 plus caption.json {video_id: {text[], start[], end[]}}.",
            window_s=30,
        ),
    ),
)

DATASETS: tuple[DatasetSpec, ...] = (VOXCELEB, LRS2, LRS3, HOW2, AUDIOSET, VGGSOUND, MELD, HOWTO100M)
