"""S1 (audio-only) datasets of the seed README. Facts from DATASET_SOURCES.md sections 3.1 and 4."""

from __future__ import annotations

from reap_omni.catalog.common import hf_access, hf_access_zh, local
from reap_omni.catalog.spec import DatasetSpec, SourceSpec

LIBRISPEECH = DatasetSpec(
    name="librispeech",
    title="LibriSpeech",
    aliases=("libri", "librispeech_asr"),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="English read audiobooks (LibriVox), 16 kHz, with upper-case transcripts.",
    description_zh="英语有声读物（LibriVox）朗读语音，16 kHz，附大写转录文本。",
    scale="960 h",
    licence="CC-BY-4.0",
    homepage="https://www.openslr.org/12",
    languages=("en",),
    recommended=True,
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="openslr/librispeech_asr",
            revision="71cacbfb7e2354c4226d01e70d77d5fca3d04ba1",
            config="clean",
            split="train.100",
            columns={"audio": "audio", "text": "text", "id": "id", "group": "speaker_id"},
            text_cleaner="sentence_case",
            note="Main is parquet now: at commit 71cacbfb it holds clean/test/0000.parquet and "
            "all/test.clean/0000.parquet (hf.co/datasets/openslr/librispeech_asr/tree/71cacbfb7e2354c4226d01e70d77d5fc"
            "a3d04ba1/clean/test, cited in GitHub READMEs); a third-party download script lists "
            "tree/main/clean/{train.100,validation,test} and fetches from resolve/main, so clean/train.100/*.parquet "
            "(the usual layout, matched at run time) is inferred from it, not seen. Pinned to that commit. Columns "
            "audio, text, id, speaker_id. Split names contain dots (train.100, train.360; test is the benchmark "
            "split).",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="fixie-ai/librispeech_asr",
            config="clean",
            split="train.100",
            columns={"audio": "audio", "text": "text", "id": "id", "group": "speaker_id"},
            text_cleaner="sentence_case",
            note="Parquet copy (CC-BY-4.0 allows it): main holds clean/train.100-000NN-of-00024.parquet "
            "(hf.co/datasets/fixie-ai/librispeech_asr, commit 0b7f906); the viewer lists config clean with "
            "train.100 (28.5k rows), train.360, validation and test.",
        ),
        SourceSpec(
            kind="http_tar",
            url="https://www.openslr.org/resources/12/train-clean-100.tar.gz",
            split="train.100",
            columns={"audio": "id", "text": "text", "id": "id"},
            text_cleaner="sentence_case",
            options={
                "metadata_format": "trans_txt",
                "member_template": "{id}.flac",
                "group_pattern": r"LibriSpeech/[^/]+/(\d+)/",
            },
            note="OpenSLR SLR12 train-clean-100 (6.3 GB; the URL librispeech_asr.py downloads) streamed as a "
            "prefix; FLAC members are buffered until their chapter's <spk>-<chapter>.trans.txt (lines 'ID TEXT') "
            "has been read. Members come speaker by speaker, so a prefix covers few speakers.",
        ),
    ),
)

COMMON_VOICE = DatasetSpec(
    name="common_voice",
    title="Common Voice",
    aliases=("commonvoice", "cv"),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Mozilla's crowd-sourced multilingual read speech; now distributed only through Mozilla "
    "Data Collective.",
    description_zh="Mozilla 众包多语言朗读语音；现仅通过 Mozilla Data Collective 发布。",
    scale="19K+ h",
    licence="CC0-1.0 (MDC terms forbid re-hosting)",
    homepage="https://datacollective.mozillafoundation.org",
    gated=True,
    access="pip install datacollective; export MDC_API_KEY=<key>; accept the dataset's terms on the Mozilla Data "
    "Collective website; then set the dataset id with --source-option common_voice:0:options.dataset=<id-or-slug>. "
    "Or pass an extracted tarball as a local copy. The mozilla-foundation/common_voice_* Hub repos are gone.",
    access_zh="pip install datacollective；设置 MDC_API_KEY；在 Mozilla Data Collective 网站同意该数据集条款；"
    "再用 --source-option common_voice:0:options.dataset=<id 或 slug> 指定数据集。也可提供已解压的本地 tar 包。"
    "Hub 上的 mozilla-foundation/common_voice_* 已被删除。",
    languages=("multilingual",),
    sources=(
        SourceSpec(
            kind="mdc",
            columns={"audio": "path", "text": "sentence", "group": "client_id", "lang": "locale"},
            options={"dataset": None, "language": "en", "split": "train"},
            gated=True,
            verified=False,
            note="Needs the datacollective package and MDC_API_KEY; downloads are whole .tar.gz archives (no per-"
            "sample API seen, unverified). Set options.dataset to the MDC id or slug of the release you accepted.",
        ),
        local(
            "common_voice",
            "Extracted Common Voice tarball: <lang>/{train,dev,test}.tsv (column path) + <lang>/clips/*.mp3. "
            "Pass it with --local-path DIR (train.tsv is read; options.split=dev for another).",
            language="en",
            split="train",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="fixie-ai/common_voice_17_0",
            config="en",
            split="validation",
            files=("en/validation/*/*.parquet",),
            columns={"audio": "audio", "text": "sentence", "group": "client_id", "lang": "locale"},
            opt_in=True,
            note="Third-party mirror kept opt-in: Common Voice is CC0 but MDC terms forbid re-hosting, so using it "
            "may breach those terms. Config = language code; en has train/validation/test (viewer, 2.93M rows): "
            "validation is read because en train is over a million rows (footers of every shard). Files sit one "
            "folder deeper than the usual layout: <lang>/validation/chunk-range-XXXXXXXXX-YYYYYYYYY/validation-0000K-"
            "of-0000N.parquet (hf.co/datasets/fixie-ai/common_voice_17_0/commits/26338ed, seen for gl; the en folder "
            "itself unverified), hence files.",
        ),
    ),
)

GIGASPEECH = DatasetSpec(
    name="gigaspeech",
    title="GigaSpeech",
    aliases=("giga",),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Multi-domain English speech (audiobooks, podcasts, YouTube) with punctuation tags.",
    description_zh="多领域英语语音（有声书、播客、YouTube），转录含标点标签。",
    scale="10K+ h",
    licence="Apache-2.0 (card); non-commercial research/education terms",
    homepage="https://github.com/SpeechColab/GigaSpeech",
    gated=True,
    access=hf_access("speechcolab/gigaspeech", "The conditions ask for contact information."),
    access_zh=hf_access_zh("speechcolab/gigaspeech", "条件要求填写联系方式。"),
    languages=("en",),
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="speechcolab/gigaspeech",
            config="xs",
            split="train",
            columns={"audio": "audio", "text": "text", "id": "segment_id", "group": "audio_id"},
            text_cleaner="gigaspeech",
            gated=True,
            verified=False,
            note="The Hub page header says 'Formats: parquet', but the split names on main were not seen (xs is the "
            "10 h training subset); change split, or use source #1 (refs/pr/20).",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="speechcolab/gigaspeech",
            revision="refs/pr/20",
            config="xs",
            split="train",
            columns={"audio": "audio", "text": "text", "id": "segment_id", "group": "audio_id"},
            text_cleaner="gigaspeech",
            gated=True,
            note="Parquet PR branch: SpeechColab/GigaSpeech#143 loads config xl at refs/pr/20 with columns text and "
            "audio; the xs train file names are listed at run time.",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="fixie-ai/gigaspeech",
            config="xl",
            split="train",
            files=("xl/train-0000[0-3]-of-02279.parquet",),
            columns={"audio": "audio", "text": "text", "id": "segment_id", "group": "audio_id"},
            text_cleaner="gigaspeech",
            note="Ungated mirror of a gated corpus: GigaSpeech's non-commercial terms still apply. Training data: "
            "the repo has xl/train-000NN-of-02279.parquet beside dev/ (hf.co/datasets/fixie-ai/gigaspeech, commit "
            "e9b9f92); four pinned shards, so the reader does not fetch 2,279 footers. Its dev split is not read: "
            "the GigaSpeech leaderboard reports Dev/Test WER. segment_id, text, audio, audio_id are on its card.",
        ),
        local(
            "gigaspeech",
            "Official decrypted release: GigaSpeech.json + audio/. Pass it with --local-path DIR (segments of the "
            "XS training subset are read; options.subset=DEV for another).",
            text_cleaner="gigaspeech",
            subset="XS",
        ),
    ),
)

VOXPOPULI = DatasetSpec(
    name="voxpopuli",
    title="VoxPopuli",
    aliases=("vox_populi",),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="European Parliament speeches in 16+ languages; transcribed segments of plenary sessions.",
    description_zh="欧洲议会多语言演讲，按句切分并带转录。",
    scale="400K+ h",
    licence="CC0-1.0 (+ Europarl notice)",
    homepage="https://github.com/facebookresearch/voxpopuli",
    languages=("en", "de", "fr", "es", "it", "pl", "nl", "multilingual"),
    recommended=True,
    sources=(
        SourceSpec(
            kind="hf_tar",
            repo="facebook/voxpopuli",
            config="en",
            split="dev",
            files=("data/en/dev/dev_part_0.tar.gz",),
            metadata="data/en/asr_dev.tsv",
            columns={"audio": "id", "text": "normalized_text", "id": "id", "group": "speaker_id"},
            options={"metadata_format": "tsv", "member_template": "{id}.wav", "member_match": "stem"},
            note="Script repo read as raw files (voxpopuli.py layout data/<lang>/<split>/<split>_part_N.tar.gz + "
            "asr_<split>.tsv: data/en/test/ and data/<lang>/train/train_part_0.tar.gz are on the stored trees). The "
            "dev split is read (the HF split 'validation'): asr_train.tsv of en is tens of MB for ~180k rows; set "
            "files/metadata to the train ones for train. For another language replace 'en'. raw_text may be empty.",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="facebook/voxpopuli",
            revision="refs/convert/parquet",
            config="en",
            split="train",
            columns={"audio": "audio", "text": "normalized_text", "id": "audio_id", "group": "speaker_id"},
            options={"optional_columns": ["id", "group"]},
            note="Auto-converted parquet: the branch was renamed to <lang>/<split>/0000.parquet (commit 420d7e5; "
            "partial-<split>/ for big splits, both listed at run time); audio_id and normalized_text are card fields.",
        ),
    ),
)

WENETSPEECH = DatasetSpec(
    name="wenetspeech",
    title="WenetSpeech",
    aliases=("wenet",),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Multi-domain Mandarin speech from podcasts and online video.",
    description_zh="多领域中文普通话语音（播客、网络视频）。",
    scale="10K+ h",
    licence="CC-BY-4.0, non-commercial",
    homepage="https://wenet.org.cn/WenetSpeech/",
    gated=True,
    access=hf_access("wenet-e2e/wenetspeech", "WenetSpeech also requires its Google Form to be submitted."),
    access_zh=hf_access_zh("wenet-e2e/wenetspeech", "另需提交 WenetSpeech 的 Google 表单。"),
    languages=("zh",),
    sources=(
        SourceSpec(
            kind="hf_tar",
            repo="wenet-e2e/wenetspeech",
            split="DEV",
            eval_split=True,
            files=("data/*DEV.000000.tar*",),
            metadata="data/cuts_DEV.000000.jsonl.gz",
            columns={"audio": "id", "text": "text", "id": "id", "group": "recording_id"},
            options={"metadata_format": "lhotse_cuts", "member_match": "stem"},
            gated=True,
            verified=False,
            note="No stored listing of this repo was found: the shard names (data/cuts_<SUBSET>.NNNNNN.jsonl.gz + "
            "tar), tar member naming and the cuts' text key are unverified; if the join fails, the error lists the "
            "members. DEV (20 h) is an evaluation split: toolkit comparisons report Dev next to Test_Net and "
            "Test_Meeting (thu-spmi/CAT egs/wenetspeech readme: Kaldi 9.07 / ESPnet 9.70 / WeNet 8.88 on Dev); set "
            "split/files/metadata for the S training subset (its shard names are not seen either).",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="TwinkStart/WenetSpeech",
            split="test_net",
            eval_split=True,
            columns={"audio": "audio", "text": "text"},
            note="Ungated third-party parquet holding only the benchmarks test_net (24,774 rows) and test_meeting; "
            "features include text and audio (hf.co/datasets/TwinkStart/WenetSpeech/commit/a5cfb8be).",
        ),
        local(
            "wenetspeech",
            "Official release decrypted with openssl aes-256-cbc -d -pbkdf2: WenetSpeech.json + audio/. "
            "Pass it with --local-path DIR (segments of the S training subset are read; options.subset=DEV for dev).",
            subset="S",
        ),
    ),
)

WAVCAPS = DatasetSpec(
    name="wavcaps",
    title="WavCaps",
    stratum="S1",
    modality="audio",
    task="caption",
    description_en="Weakly-labelled audio captions (ChatGPT-rewritten) for FreeSound, BBC, SoundBible, AudioSet.",
    description_zh="弱标注音频描述数据集（ChatGPT 改写），来源为 FreeSound、BBC、SoundBible、AudioSet。",
    scale="400K clips",
    licence="CC-BY-4.0 (card); academic use only (unverified)",
    homepage="https://github.com/XinhaoMei/WavCaps",
    languages=("en",),
    note="Only the SoundBible subset is a single zip that can be range-read; the other sources are multi-volume "
    "zips (merge with zip -F before extraction). AudioSet_SL overlaps AudioCaps, FreeSound overlaps Clotho.",
    note_zh="只有 SoundBible 子集是可按范围读取的单个 zip；其余为分卷 zip（需 zip -F 合并）。AudioSet_SL 与 AudioCaps "
    "重叠，FreeSound 与 Clotho 重叠。",
    sources=(
        SourceSpec(
            kind="zip_range",
            repo="cvssp/WavCaps",
            files=("Zip_files/SoundBible/SoundBible.zip",),
            metadata="json_files/SoundBible/sb_final.json",
            columns={"audio": "id", "text": "caption", "id": "id"},
            options={"metadata_format": "json", "json_items": "data", "member_template": "{id}.flac",
                     "member_match": "suffix"},
            note="One single-volume zip, Zip_files/SoundBible/SoundBible.zip (580 MB), plus sb_final.json (data[].id, "
            "caption): hf.co/datasets/cvssp/WavCaps/tree/85a0c21e/Zip_files/SoundBible. Members {id}.flac sit under "
            "mnt/fast/nobackup/scratch4weeks/xm00178/WavCaps/data/waveforms/SoundBible_flac/. WavCaps has no "
            "evaluation split (it is training data).",
        ),
    ),
)

AISHELL1 = DatasetSpec(
    name="aishell1",
    title="AISHELL-1",
    aliases=("aishell", "aishell-1"),
    stratum="S1",
    modality="audio",
    task="asr",
    description_en="Mandarin read speech from 400 speakers, recorded at 16 kHz.",
    description_zh="400 名说话人的中文普通话朗读语音，16 kHz 录制。",
    scale="170 h",
    licence="Apache-2.0",
    homepage="https://www.openslr.org/33",
    languages=("zh",),
    recommended=True,
    sources=(
        SourceSpec(
            kind="hf_tar",
            repo="AISHELL/AISHELL-1",
            split="train",
            files=("data_aishell/wav/*.tar.gz",),
            metadata="data_aishell/transcript/aishell_transcript_v0.8.txt",
            columns={"audio": "id", "text": "text", "id": "id"},
            text_cleaner="aishell",
            options={"metadata_format": "kaldi", "member_match": "stem", "nested": "*.tar.gz",
                     "group_pattern": r"(S\d{4})/"},
            note="Main holds one data upload ('Upload 101 files', commit 8515aae): the transcript plus 100 "
            "per-speaker tars data_aishell/wav/S0002.tar.gz, S0003, ... in sequence, i.e. training speakers only "
            "(dev S0724-S0763 and test S0764+ are absent), so every member is a train utterance (<S>/<UTT>.wav). "
            "The page shows no access form.",
        ),
        SourceSpec(
            kind="hf_parquet",
            repo="AudioLLMs/aishell_1_zh_test",
            split="test",
            eval_split=True,
            columns={"audio": "context", "text": "answer"},
            text_cleaner="aishell",
            note="Test-only parquet (data/test-0000{0..2}-of-00003.parquet, 6,920 rows): the audio is column "
            "'context' and the transcript 'answer' (with 'instruction'); no audio/text columns "
            "(hf.co/datasets/AudioLLMs/aishell_asr_zh_test_v1/blame/main/README.md, same upload 2f70dd6).",
        ),
    ),
)

COVOST2 = DatasetSpec(
    name="covost2",
    title="CoVoST 2",
    aliases=("covost",),
    stratum="S1",
    modality="audio",
    task="translation",
    description_en="Speech translation built on Common Voice: 21 languages into English and English into 15.",
    description_zh="基于 Common Voice 的语音翻译：21 种语言译英、英译 15 种语言。",
    scale="2.9K h",
    licence="CC-BY-NC-4.0",
    homepage="https://github.com/facebookresearch/covost",
    languages=("multilingual",),
    note="Audio comes from Common Voice, whose re-hosting terms may apply to this mirror (unverified).",
    note_zh="音频来自 Common Voice，其禁止转载的条款可能同样适用于该镜像（未核实）。",
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="fixie-ai/covost2",
            config="en_zh-CN",
            split="train",
            columns={"audio": "audio", "text": "sentence", "translation": "translation", "id": "id",
                     "group": "client_id"},
            note="Configs are {src}_{tgt}: X->en (fr_en, de_en, zh-CN_en, ...) and en->X (en_de, en_zh-CN, ...), "
            "each with train/validation/test (hf.co/datasets/fixie-ai/covost2/blob/442a2350/README.md). Text is the "
            "source-language transcript; translation is kept as a field.",
        ),
    ),
)

DATASETS: tuple[DatasetSpec, ...] = (
    LIBRISPEECH, COMMON_VOICE, GIGASPEECH, VOXPOPULI, WENETSPEECH, WAVCAPS, AISHELL1, COVOST2,
)
