"""The extended set (``extended_datasets.py``): more speech/audio corpora and the video/mixed extras.

Facts from DATASET_SOURCES.md sections 3.1 (FLEURS onwards), 3.3 (VoxCeleb1, AudioSet audio), 3.4 and 4.
"""

from __future__ import annotations

from reap_omni.catalog.common import hf_access, hf_access_zh, local, mteb
from reap_omni.catalog.spec import DatasetSpec, SourceSpec

# --- S1 audio -------------------------------------------------------------------------------------------

FLEURS = DatasetSpec(
    name="fleurs",
    title="FLEURS",
    aliases=("google_fleurs",),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Read FLoRes sentences in 102 languages (n-way parallel), 16 kHz.",
    description_zh="102 种语言朗读的 FLoRes 句子（多语平行），16 kHz。",
    scale="~12 h per language",
    licence="CC-BY-4.0",
    homepage="https://huggingface.co/datasets/google/fleurs",
    languages=("multilingual", "en", "zh"),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="google/fleurs",
            revision="refs/convert/parquet",
            config="en_us",
            split="train",
            files=("en_us/train/*.parquet", "en_us/partial-train/*.parquet", "en_us/fleurs-train*.parquet"),
            columns={"audio": "audio", "text": "raw_transcription", "id": "id", "lang": "language"},
            note="The viewer's parquet branch, as unitxt loads it (revision='refs/convert/parquet', data_dir=<lang>; "
            "github IBM/unitxt prepare/cards/fleurs.py). Its stored commit still has the older converter layout "
            "en_us/fleurs-test.parquet (hf.co/datasets/google/fleurs/commit/03505e7d), so files lists both layouts "
            "of the train split; for another language or split change config, split and files together. Configs: "
            "en_us, cmn_hans_cn, ... (102) and all.",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="google/fleurs",
            config="en_us",
            split="train",
            columns={"audio": "audio", "text": "raw_transcription", "id": "id", "lang": "language"},
            verified=False,
            note="Parquet on main from PR #31 (parquet-data/) was not found, and main's last stored commit is "
            "'get back script' (fleurs.py restored, 4fcbd85): kept as a fallback in case main is converted.",
        ),
    ),
)

MLS = DatasetSpec(
    name="mls",
    title="Multilingual LibriSpeech",
    aliases=("multilingual_librispeech",),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Read audiobooks in 8 European languages (LibriVox); English lives in a separate repo.",
    description_zh="8 种欧洲语言的有声书朗读（LibriVox）；英语部分在单独的仓库。",
    scale="50K h",
    licence="CC-BY-4.0",
    homepage="https://www.openslr.org/94",
    languages=("de", "nl", "fr", "es", "it", "pt", "pl"),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="facebook/multilingual_librispeech",
            config="german",
            split="9_hours",
            columns={"audio": "audio", "text": "transcript", "id": "original_path", "group": "speaker_id"},
            options={"optional_columns": ["group"]},
            note="speaker_id is unverified and optional. Configs are language names (german, french, ...); splits "
            "train, dev, test, 9_hours, 1_hours: 9_hours is the limited-supervision training subset (German train "
            "is ~2,000 h of shards).",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="fixie-ai/multilingual_librispeech",
            config="german",
            split="dev",
            columns={"audio": "audio", "text": "transcript"},
            verified=False,
            note="Mirror; config, split and column names unverified.",
        ),
    ),
)

PEOPLES_SPEECH = DatasetSpec(
    name="peoples_speech",
    title="People's Speech",
    aliases=("peoplesspeech", "people_speech"),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Conversational and read English speech from public-domain and CC-licensed recordings.",
    description_zh="来自公有领域与 CC 许可录音的英语对话及朗读语音。",
    scale="30K h",
    licence="CC-BY 2.0-4.0 and CC-BY-SA 3.0/4.0",
    homepage="https://mlcommons.org/datasets/peoples-speech/",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="MLCommons/peoples_speech",
            config="microset",
            split="train",
            columns={"audio": "audio", "text": "text", "id": "id"},
            note="microset is 336 rows (train only; card and viewer); config test is the benchmark split. Gating "
            "unverified.",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="fixie-ai/peoples_speech",
            config="clean",
            split="validation",
            columns={"audio": "audio", "text": "text", "id": "id"},
            verified=False,
            note="Mirror; config and split names unverified (validation, since the clean train split is ~1.5M rows).",
        ),
    ),
)

SPGISPEECH = DatasetSpec(
    name="spgispeech",
    title="SPGISpeech",
    aliases=("spgi",),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Earnings-call speech with cased, punctuated, professionally formatted transcripts.",
    description_zh="财报电话会议语音，转录为专业格式（大小写与标点齐全）。",
    scale="5K h",
    licence="Kensho licence, academic non-commercial",
    homepage="https://datasets.kensho.com/datasets/spgispeech",
    gated=True,
    access=hf_access("kensho/spgispeech"),
    access_zh=hf_access_zh("kensho/spgispeech"),
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_tar",
            repo="kensho/spgispeech",
            split="dev",
            files=("data/audio/dev/dev_part_0.tar.gz",),
            metadata="data/meta/dev.csv",
            columns={"audio": "wav_filename", "text": "transcript", "id": "wav_filename"},
            options={"metadata_format": "psv", "member_match": "suffix"},
            gated=True,
            note="Script repo read as raw files (ESB layout: data/audio/<split>/<split>_part_N.tar.gz, dev has "
            "3 parts, + data/meta/<split>.csv): pipe-delimited CSV, wav_filename = <call_id>/<n>.wav. dev is read, "
            "not the test benchmark; the training subsets (s, m, l) are large.",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="hf-audio/esb-datasets-test-only-sorted",
            config="spgispeech",
            split="test",
            eval_split=True,
            columns={"audio": "audio", "text": "text", "id": "id"},
            verified=False,
            note="ESB test-only copy (the ESB benchmark split): spgispeech/test-000NN-of-00038.parquet "
            "(hf.co/datasets/hf-audio/esb-datasets-test-only-sorted); column names unverified.",
        ),
    ),
)

TEDLIUM = DatasetSpec(
    name="tedlium",
    title="TED-LIUM 3",
    aliases=("tedlium3", "ted-lium"),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="English TED talks with aligned lower-case transcripts.",
    description_zh="英语 TED 演讲，附对齐的小写转录。",
    scale="452 h",
    licence="CC-BY-NC-ND-3.0",
    homepage="https://www.openslr.org/51",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="LIUM/tedlium",
            revision="refs/convert/parquet",
            config="release3",
            split="validation",
            columns={"audio": "audio", "text": "text", "id": "id", "group": "speaker_id"},
            text_cleaner="tedlium",
            note="Script repo read from its parquet branch (release3: train, validation, test); validation (the dev "
            "set, 507 rows) is read because train is 268k rows; noise tokens and ignore_time_segment_in_scoring "
            "rows are removed by the tedlium cleaner.",
        ),
    ),
)

AUDIOCAPS = DatasetSpec(
    name="audiocaps",
    title="AudioCaps",
    stratum="S1",
    modality="audio",
    task="caption",
    description_en="Human-written captions for 10 s AudioSet clips.",
    description_zh="为 10 秒 AudioSet 片段人工撰写的音频描述。",
    scale="50K clips",
    licence="Captions MIT; audio is YouTube content",
    homepage="https://audiocaps.github.io/",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="OpenSound/AudioCaps",
            split="train",
            columns={"audio": "audio", "text": "caption"},
            note="Splits train (45.2k rows), validation (2.22k) and test (4.41k) in the viewer "
            "(hf.co/datasets/OpenSound/AudioCaps/viewer); other column names unverified (id/group left empty).",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="jp1924/AudioCaps",
            split="validation",
            columns={"audio": "audio", "text": "caption", "id": "audiocap_id", "group": "youtube_id"},
            note="48 kHz mirror: audiocap_id, youtube_id, start_time, audio, caption; data/{train,validation,test}-* "
            "(hf.co/datasets/jp1924/AudioCaps/blob/main/README.md). validation (2,230 rows) is read because its train "
            "split is 2 TB of shards.",
        ),
        SourceSpec(
            kind="youtube",
            url="https://raw.githubusercontent.com/cdjkim/audiocaps/master/dataset/train.csv",
            split="train",
            columns={"id": "audiocap_id", "group": "youtube_id", "text": "caption", "start": "start_time"},
            options={"metadata_format": "csv", "window_s": 10},
            opt_in=True,
            verified=False,
            note="Needs the [youtube] extra; dataset/train.csv is a file of github cdjkim/audiocaps (the branch name "
            "in the URL is unverified: set url). Some ids are dead.",
        ),
    ),
)

CLOTHO = DatasetSpec(
    name="clotho",
    title="Clotho",
    stratum="S1",
    modality="audio",
    task="caption",
    description_en="Freesound clips (15-30 s) with five crowd-sourced captions each.",
    description_zh="Freesound 音频片段（15–30 秒），每段 5 条众包描述。",
    scale="6K clips",
    licence="Freesound per-file CC licences (unverified overall)",
    homepage="https://zenodo.org/records/4783391",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="LakoreAI/clotho-dev-sample",
            split="train",
            columns={"audio": "audio", "text": "caption_1"},
            verified=False,
            note="Unofficial parquet (2.18 GB): data/train-0000{0..3}-of-00004.parquet and data/test-00000-of-00001"
            ".parquet (hf.co/datasets/LakoreAI/clotho-dev-sample/tree/main/data); train is read (with no split both "
            "would be). Column names unverified (set columns.text).",
        ),
        local(
            "folder",
            "Zenodo v2.1 (record 4783391): extract clotho_audio_development.7z (7z cannot be streamed) and save "
            "clotho_captions_development.csv (file_name, caption_1..caption_5) as metadata.csv next to the WAVs; "
            "pass that folder with --local-path DIR (development is the training split, evaluation the benchmark).",
            columns={"text": "caption_1"},
        ),
    ),
)

ESC50 = DatasetSpec(
    name="esc50",
    title="ESC-50",
    aliases=("esc-50",),
    stratum="S1",
    modality="audio",
    task="classification",
    description_en="2,000 five-second environmental sound recordings in 50 classes.",
    description_zh="2000 段 5 秒环境声音录音，共 50 类。",
    scale="2K clips",
    licence="CC-BY-NC-3.0 (unverified)",
    homepage="https://github.com/karolpiczak/ESC-50",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="ashraq/esc50",
            split="train",
            eval_split=True,
            columns={"audio": "audio", "label": "category", "id": "filename", "group": "src_file"},
            text_template="the sound of {label}",
            note="Single train split (2,000 rows, 5 folds); the class name is the text. That split is the benchmark: "
            "mteb's ESC50 classification, clustering and zero-shot tasks all evaluate on eval_splits=['train'] of "
            "mteb/esc50, a duplicate of this repo (mteb HEAD task files), so it is flagged although it is named "
            "train.",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="mteb/esc50",
            split="train",
            eval_split=True,
            columns={"audio": "audio", "label": "category", "id": "filename", "group": "src_file"},
            text_template="the sound of {label}",
            note="'Duplicate from ashraq/esc50' with the same features: the class is in category (there is no label "
            "column), split train (hf.co/datasets/mteb/esc50/commit/31ea5347). mteb's ESC50 tasks evaluate on this "
            "train split (eval_splits=['train']): it is the benchmark.",
        ),
    ),
)

MUSICCAPS = DatasetSpec(
    name="musiccaps",
    title="MusicCaps",
    aliases=("music_caps",),
    stratum="S1",
    modality="audio",
    task="caption",
    description_en="10 s music clips from AudioSet with captions written by musicians.",
    description_zh="来自 AudioSet 的 10 秒音乐片段，附音乐人撰写的描述。",
    scale="5.5K clips",
    licence="Captions CC-BY-SA-4.0; mirror audio licence unverified",
    homepage="https://huggingface.co/datasets/google/MusicCaps",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="mahendra0203/musiccaps_processed_full",
            split="train",
            columns={"audio": "audio", "text": "caption", "id": "youtube_id", "group": "youtube_id"},
            note="Community audio mirror: one train split of 5,355 rows with audio, caption, youtube_id, start_time, "
            "end_time, aspect_list (hf.co/datasets/mahendra0203/musiccaps_processed_full/blame/main/README.md). The "
            "official release has no audio. MusicCaps as a whole is often used as an evaluation set "
            "(is_audioset_eval marks AudioSet's eval clips).",
        ),
        SourceSpec(
            kind="youtube",
            url="https://huggingface.co/datasets/google/MusicCaps/resolve/main/musiccaps-public.csv",
            columns={"id": "ytid", "group": "ytid", "text": "caption", "start": "start_s", "end": "end_s"},
            options={"metadata_format": "csv"},
            opt_in=True,
            note="Needs the [youtube] extra and --opt-in; musiccaps-public.csv (2.94 MB) is the one file of "
            "google/MusicCaps main (hf.co/datasets/google/MusicCaps/tree/340b64e0).",
        ),
    ),
)

AISHELL3 = DatasetSpec(
    name="aishell3",
    title="AISHELL-3",
    aliases=("aishell-3",),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Multi-speaker Mandarin read speech (218 speakers) with hanzi and pinyin transcripts.",
    description_zh="多说话人中文普通话朗读语音（218 人），附汉字与拼音标注。",
    scale="85 h",
    licence="Apache-2.0 (unverified)",
    homepage="https://www.openslr.org/93",
    languages=("zh",),
    extended=True,
    sources=(
        SourceSpec(
            kind="http_tar",
            url="https://www.openslr.org/resources/93/data_aishell3.tgz",
            metadata="*/content.txt",
            columns={"audio": "id", "text": "text", "id": "id"},
            text_cleaner="aishell3",
            split="train",
            options={"metadata_format": "kaldi", "member_match": "stem", "group_pattern": r"/(SSB\d{4})/",
                     "split_pattern": "/train/"},
            verified=False,
            note="One tgz (train/ and test/ inside); the position of train/content.txt in the stream is unverified "
            "(wav members are buffered until it is read).",
        ),
    ),
)

KESPEECH = DatasetSpec(
    name="kespeech",
    title="KeSpeech",
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Mandarin and eight Chinese sub-dialects from speakers across 34 cities.",
    description_zh="来自 34 个城市说话人的普通话与 8 种汉语次方言语音。",
    scale="1.5K h",
    licence="Non-commercial, no redistribution",
    homepage="https://github.com/KeSpeech/KeSpeech",
    gated=True,
    access="Apply for KeSpeech by e-mail (see the homepage); then pass the extracted corpus with "
    "--local-path /data/KeSpeech.",
    access_zh="按主页说明通过电子邮件申请 KeSpeech；之后用 --local-path /data/KeSpeech "
    "指向解压后的语料。",
    languages=("zh",),
    extended=True,
    sources=(
        local(
            "kespeech",
            "Kaldi directories Tasks/ASR/<part>/{wav.scp,text,utt2spk,utt2subdialect}.",
            text_cleaner="kespeech",
        ),
    ),
)
VOXCELEB1 = DatasetSpec(
    name="voxceleb1",
    title="VoxCeleb1",
    aliases=("vox1",),
    stratum="S1",
    modality="audio",
    task="speaker",
    description_en="Celebrity interview speech for speaker recognition; the Hub mirror holds WAV only.",
    description_zh="名人访谈语音，用于说话人识别；Hub 镜像只有 WAV 音频。",
    scale="150K utterances",
    licence="CC-BY-4.0 (mirror card tag)",
    homepage="https://www.robots.ox.ac.uk/~vgg/data/voxceleb/",
    languages=("multilingual",),
    extended=True,
    sources=(
        SourceSpec(
            kind="zip_range",
            repo="ProgramComputer/voxceleb",
            split="test",
            eval_split=True,
            files=("vox1/vox1_test_wav.zip",),
            metadata="vox1/vox1_meta.csv",
            text_template="",
            options={"member_glob": "*.wav", "group_pattern": r"(id\d+)/"},
            note="vox1/vox1_test_wav.zip (1.07 GB) and vox1/vox1_meta.csv: commit 23dcdd6 'Foldered' moved them from "
            "the repo root into vox1/ (hf.co/datasets/ProgramComputer/voxceleb/commit/23dcdd6d; tree 6067475). The "
            "test set (VoxCeleb1-O), since the dev wavs are byte-split zips. No gate seen.",
        ),
    ),
)

AUDIOSET_AUDIO = DatasetSpec(
    name="audioset_audio",
    title="AudioSet (audio only)",
    stratum="S1",
    modality="audio",
    task="classification",
    description_en="AudioSet's 10 s clips as FLAC audio with their sound-event labels (no video).",
    description_zh="AudioSet 的 10 秒片段（FLAC 音频）及声音事件标签（无视频）。",
    scale="36K clips (balanced + eval)",
    licence="CC-BY-4.0",
    homepage="https://huggingface.co/datasets/agkphysics/AudioSet",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="agkphysics/AudioSet",
            config="balanced",
            split="train",
            files=("data/bal_train/*.parquet",),
            columns={"audio": "audio", "label": "human_labels", "id": "video_id", "group": "video_id"},
            text_template="the sound of {label}",
            note="Configs balanced and unbalanced, no default; balanced train = data/bal_train/*.parquet (18,685 "
            "rows), test = data/eval/*.parquet (hf.co/datasets/agkphysics/AudioSet/commit/cb06767e); video_id, "
            "audio, human_labels are card fields.",
        ),
    ),
)

# --- S2 video -------------------------------------------------------------------------------------------

CHARADES = DatasetSpec(
    name="charades",
    title="Charades",
    stratum="S2",
    modality="video",
    task="caption",
    description_en="Crowd-acted indoor videos of everyday activities with scripts and descriptions.",
    description_zh="众包表演的室内日常活动视频，附脚本与描述。",
    scale="10K videos",
    licence="Non-commercial, no redistribution",
    homepage="https://prior.allenai.org/projects/charades",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="zip_range",
            url="https://ai2-public-datasets.s3-us-west-2.amazonaws.com/charades/Charades_v1_480.zip",
            metadata="https://ai2-public-datasets.s3-us-west-2.amazonaws.com/charades/Charades.zip",
            columns={"video": "id", "text": "descriptions", "id": "id", "group": "id"},
            split="train",
            options={"metadata_format": "csv", "metadata_member": "Charades/Charades_v1_train.csv",
                     "member_template": "{id}.mp4", "member_match": "suffix"},
            verified=False,
            note="13 GB zip read by range; the annotations are a member of a second zip (options.metadata_member; "
            "the training CSV, Charades_v1_test.csv is the benchmark). The annotation CSV location and the text "
            "column (descriptions vs script) are unverified: set metadata / columns.text. Audio presence unverified.",
        ),
    ),
)

SSV2 = DatasetSpec(
    name="ssv2",
    title="Something-Something V2",
    aliases=("something_something_v2", "sthsthv2"),
    stratum="S2",
    modality="video",
    task="classification",
    description_en="Crowd-recorded clips of 174 template actions on everyday objects.",
    description_zh="众包录制的日常物体交互视频，174 类模板动作。",
    scale="220K clips",
    licence="Qualcomm registration terms",
    homepage="https://www.qualcomm.com/developer/software/something-something-v-2-dataset",
    languages=("en",),
    extended=True,
    sources=(
        mteb(
            "mteb/SomethingSomethingV2",
            "13bbc49a06df3ffe41f3823cf429e2d8d685689f",
            {"video": "video", "label": "label"},
            text_template="{label}",
            note="~5,444 test rows (mteb SSv2 task pins this revision). Clips have no audio (unverified): S2 only.",
        ),
    ),
)

MVBENCH = DatasetSpec(
    name="mvbench",
    title="MVBench",
    stratum="S2",
    modality="video",
    task="qa",
    description_en="20 temporal video-understanding tasks as multiple-choice questions over public clips.",
    description_zh="20 项时序视频理解任务的多项选择题，视频来自公开数据集。",
    scale="4K QA",
    licence="MIT (card); source video licences vary",
    homepage="https://huggingface.co/datasets/OpenGVLab/MVBench",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_files",
            repo="OpenGVLab/MVBench",
            revision="video",
            split="test",
            eval_split=True,
            files=("star/Charades_segment/*",),
            metadata="json/action_sequence.json",
            columns={"video": "video", "question": "question", "options": "candidates", "answer": "answer"},
            text_template="{question} {options} Answer: {answer}",
            options={"metadata_format": "json", "metadata_revision": "main", "member_match": "suffix"},
            verified=False,
            note="JSON on main, videos on the video branch: json/action_sequence.json and the branch exist, the clip "
            "folder was not seen. MVBench is an evaluation benchmark only. Gating unverified; tasks stored as frame "
            "folders are skipped; change metadata/files to use another task.",
        ),
    ),
)

TVQA = DatasetSpec(
    name="tvqa",
    title="TVQA",
    stratum="S2",
    modality="video",
    task="qa",
    description_en="Multiple-choice questions on clips of six TV shows, with subtitles.",
    description_zh="六部电视剧片段上的多项选择题，附字幕。",
    scale="152K QA",
    licence="TV-show copyright; videos need a form (unverified)",
    homepage="https://tvqa.cs.unc.edu/",
    languages=("en",),
    extended=True,
    sources=(
        SourceSpec(
            kind="hf_files",
            repo="OpenGVLab/MVBench",
            revision="video",
            split="test",
            eval_split=True,
            files=("tvqa/video_fps3_hq_segment/*",),
            metadata="json/episodic_reasoning.json",
            columns={"video": "video", "question": "question", "options": "candidates", "answer": "answer"},
            text_template="{question} {options} Answer: {answer}",
            options={"metadata_format": "json", "metadata_revision": "main", "member_match": "suffix"},
            verified=False,
            note="MVBench's episodic_reasoning clips (3 fps segments, no audio expected): json/episodic_reasoning.json "
            "exists, the clip folder was not seen; an evaluation benchmark only. Gating unverified.",
        ),
        local(
            "folder",
            "Your licensed TVQA clips as a videofolder: <clip>.mp4 files plus metadata.jsonl rows with file_name, "
            "q, a0..a4 and answer_idx (from tvqa_qa_release); pass it with --local-path DIR.",
            columns={"question": "q", "options": "a0,a1,a2,a3,a4", "answer": "answer_idx"},
            text_template="{question} {options} Answer: {answer}",
        ),
    ),
)

EGO4D = DatasetSpec(
    name="ego4d",
    title="Ego4D",
    stratum="S2",
    modality="video",
    task="caption",
    description_en="Egocentric daily-life video with dense narrations.",
    description_zh="第一人称日常生活视频，附密集旁白。",
    scale="3.7K h",
    licence="Ego4D licence agreement",
    homepage="https://ego4d-data.org/",
    gated=True,
    access="Sign the Ego4D licence, download clips with the ego4d CLI (--datasets clips), write a metadata.jsonl "
    "(file_name, text) next to the clips, then pass that folder with --local-path DIR.",
    access_zh="签署 Ego4D 许可协议，用 ego4d 命令行工具下载 clips，在片段旁写 metadata.jsonl（file_name、text），"
    "然后用 --local-path 指向该目录。",
    languages=("en",),
    extended=True,
    sources=(
        local(
            "folder",
            "Ego4D clips downloaded with the ego4d CLI, as a videofolder: the clip files plus metadata.jsonl rows "
            "with file_name and text (a narration from the narration JSON); pass it with --local-path DIR.",
            window_s=30,
        ),
    ),
)

ACTIVITYNET_CAPTIONS = DatasetSpec(
    name="activitynet_captions",
    title="ActivityNet Captions",
    aliases=("anet_captions",),
    stratum="S2",
    modality="video",
    task="caption",
    description_en="Dense event captions on ActivityNet videos.",
    description_zh="ActivityNet 视频的密集事件描述。",
    scale="20K videos",
    licence="Not specified",
    homepage="https://cs.stanford.edu/people/ranjaykrishna/densevid/",
    languages=("en",),
    extended=True,
    sources=(
        mteb(
            "mteb/ActivityNet_Captions_val2",
            "e87473c4832ea982bbeca1dde94bbebfa6ea6ada",
            {"video": "video", "text": "caption"},
            note="ActivityNet Captions val2 (its evaluation split) as split test with video and caption (mteb "
            "ActivityNetCaptions task pins this revision).",
        ),
    ),
)

# --- S3 mixed -------------------------------------------------------------------------------------------

VALOR32K = DatasetSpec(
    name="valor32k",
    title="VALOR-32K",
    aliases=("valor", "valor-32k"),
    stratum="S3",
    modality="mixed",
    task="caption",
    description_en="Audio-visual captions describing both what is seen and heard; best S3 stand-in for AudioSet.",
    description_zh="同时描述画面与声音的音视频描述数据；是 AudioSet 的最佳 S3 替代。",
    scale="32K clips",
    licence="Not specified",
    homepage="https://casia-iva-group.github.io/projects/VALOR/",
    languages=("en",),
    extended=True,
    sources=(
        mteb(
            "mteb/VALOR-32K",
            "003f74e0b5031c81bc0f3416f5d3de1153e21e16",
            {"video": "video", "audio": "audio", "text": "description"},
            note="~3,491 rows of desc_test as split test with video, audio, description (mteb VALOR task pins this "
            "revision).",
        ),
    ),
)

AVQA = DatasetSpec(
    name="avqa",
    title="AVQA",
    stratum="S3",
    modality="mixed",
    task="qa",
    description_en="Audio-visual question answering on VGGSound videos.",
    description_zh="基于 VGGSound 视频的音视频问答。",
    scale="57K QA",
    licence="CC-BY-4.0 (mteb label)",
    homepage="https://mn.cs.tsinghua.edu.cn/avqa/",
    languages=("en",),
    extended=True,
    sources=(
        mteb(
            "mteb/AVQA_val",
            "91c54bcc1debe3a468ff705ce98ac5e34712fd77",
            {"video": "video", "audio": "audio", "question": "question", "options": "candidates",
             "answer": "answer"},
            text_template="{question} {options} Answer: {answer}",
            note="~921 rows (AVQA's val set) as split test with video, audio, question, candidates, answer (card). "
            "mteb HEAD pins this revision (mteb/tasks/multichoice/eng/avqa.py, seen in the 2026-12-07 audit).",
        ),
    ),
)

MUSIC_AVQA = DatasetSpec(
    name="music_avqa",
    title="MUSIC-AVQA",
    aliases=("musicavqa", "music-avqa"),
    stratum="S3",
    modality="mixed",
    task="classification",
    description_en="Musical performance videos; the mteb copy is instrument classification (22 classes).",
    description_zh="乐器演奏视频；mteb 版本为乐器分类（22 类）。",
    scale="9.3K videos",
    licence="GPL-3.0 (mteb label)",
    homepage="https://gewu-lab.github.io/MUSIC-AVQA/",
    languages=("en",),
    extended=True,
    sources=(
        mteb(
            "mteb/MUSIC-AVQA_cls-preprocessed",
            "29f50ae80ad4e8c1cfdbc0148aefe6fe050833dd",
            {"video": "video", "audio": "audio", "label": "label"},
            text_template="the sound of {label}",
            note="~1,706 test rows; classification rather than QA (mteb MUSIC-AVQA task pins this revision).",
        ),
    ),
)

NEXTQA = DatasetSpec(
    name="nextqa",
    title="NExT-QA",
    aliases=("next-qa", "next_qa"),
    stratum="S3",
    modality="mixed",
    task="qa",
    description_en="Causal and temporal multiple-choice questions on everyday videos.",
    description_zh="日常视频上的因果与时序多项选择题。",
    scale="52K QA",
    licence="CC-BY-4.0 (mteb label)",
    homepage="https://github.com/doc-doc/NExT-QA",
    languages=("en",),
    extended=True,
    sources=(
        mteb(
            "mteb/NExT-QA",
            "18efe467c7dfd207d3e1cd6642d5ba3b31e8b25d",
            {"video": "video", "audio": "audio", "question": "question", "options": "candidates",
             "answer": "answer"},
            text_template="{question} {options} Answer: {answer}",
            note="993 rows (5.31 GB); the audio column makes it S3.",
        ),
        SourceSpec(
            kind="zip_range",
            repo="lmms-eval/NExTQA",
            fallback_repos=("lmms-lab/NExTQA",),
            config="MC",
            split="test",
            eval_split=True,
            files=("videos.zip",),
            metadata="MC/*.parquet",
            columns={"video": "video", "question": "question", "options": "a0,a1,a2,a3,a4", "answer": "answer",
                     "id": "qid", "group": "video"},
            text_template="{question} {options} Answer: {answer}",
            options={"metadata_format": "parquet", "member_template": "{video}.mp4", "member_match": "suffix"},
            verified=False,
            note="6.49 GB zip (seen); the MC annotations are the benchmark's test QA. Annotation path and member "
            "naming unverified; audio tracks in the mp4s unverified.",
        ),
    ),
)

VIDEOMME = DatasetSpec(
    name="videomme",
    title="Video-MME",
    aliases=("video-mme", "video_mme"),
    stratum="S3",
    modality="mixed",
    task="qa",
    description_en="Multiple-choice video QA across domains and durations; the short subset (<2 min) is used.",
    description_zh="跨领域、跨时长的视频多项选择问答；使用短视频子集（<2 分钟）。",
    scale="2.7K QA",
    licence="Unverified",
    homepage="https://video-mme.github.io/",
    languages=("en",),
    extended=True,
    sources=(
        mteb(
            "mteb/Video-MME_short",
            "ebbd19d8ea051d64dd075752c274f5f430b3ff7a",
            {"video": "video", "audio": "audio", "question": "question", "options": "candidates",
             "answer": "answer"},
            text_template="{question} {options} Answer: {answer}",
            note="~900 short-video test rows (mteb Video-MME task pins this revision).",
        ),
        SourceSpec(
            kind="zip_range",
            repo="lmms-eval/Video-MME",
            fallback_repos=("lmms-lab/Video-MME",),
            config="videomme",
            split="test",
            eval_split=True,
            files=("videos_chunked_01.zip",),
            metadata="videomme/test-*.parquet",
            columns={"video": "videoID", "question": "question", "options": "options", "answer": "answer",
                     "id": "question_id", "group": "videoID"},
            text_template="{question} {options} Answer: {answer}",
            options={"metadata_format": "parquet", "filter": {"duration": "short"}, "member_match": "stem"},
            verified=False,
            note="26.7 GB chunks read by range; annotation path unverified; gated: false (2024-07).",
        ),
    ),
)

AVSD = DatasetSpec(
    name="avsd",
    title="AVSD",
    stratum="S3",
    modality="mixed",
    task="chat",
    description_en="Audio-visual scene-aware dialogues about Charades videos (DSTC7).",
    description_zh="关于 Charades 视频的音视频场景对话（DSTC7）。",
    scale="11K dialogues",
    licence="DSTC7 registration; Charades terms",
    homepage="https://github.com/hudaAlamri/DSTC7-AVSD",
    gated=True,
    access="Register for DSTC7-AVSD to get {train,valid,test}_set4DSTC7-AVSD.json, download the Charades videos, "
    "write a metadata.jsonl (file_name, text) next to them, and pass that folder with --local-path DIR.",
    access_zh="注册 DSTC7-AVSD 获取 {train,valid,test}_set4DSTC7-AVSD.json，下载 Charades 视频，在视频旁写 "
    "metadata.jsonl（file_name、text），并用 --local-path 指向该目录。",
    languages=("en",),
    extended=True,
    sources=(
        local(
            "folder",
            "A videofolder of Charades <id>.mp4 files plus metadata.jsonl rows with file_name and text (the dialog's "
            "caption or summary from the DSTC7-AVSD JSON); pass it with --local-path DIR.",
        ),
    ),
)

DATASETS: tuple[DatasetSpec, ...] = (
    FLEURS, MLS, PEOPLES_SPEECH, SPGISPEECH, TEDLIUM, AUDIOCAPS, CLOTHO, ESC50, MUSICCAPS, AISHELL3, KESPEECH,
    VOXCELEB1, AUDIOSET_AUDIO,
    CHARADES, SSV2, MVBENCH, TVQA, EGO4D, ACTIVITYNET_CAPTIONS,
    VALOR32K, AVQA, MUSIC_AVQA, NEXTQA, VIDEOMME, AVSD,
)
