"""S2 (video-only) datasets of the seed README. Facts from DATASET_SOURCES.md sections 2.7, 3.2 and 4."""

from __future__ import annotations

from reap_omni.catalog.common import hf_access, hf_access_zh, mteb
from reap_omni.catalog.spec import DatasetSpec, SourceSpec

_KINETICS_CVDF_NOTE = (
    "Training split: the path list and annotations/train.csv are the URLs cvdfoundation/kinetics-dataset's "
    "downloader scripts fetch; if they moved, set url (archive or path list) and metadata. Members are "
    "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4 (kinetics-dataset#21); part_120 was once a plain tar, so "
    "r|gz and r| are both tried. The train CSV is read whole (a few tens of MB). Audio in these mp4s is unverified "
    "(not needed for S2)."
)

KINETICS400 = DatasetSpec(
    name="kinetics400",
    title="Kinetics-400",
    aliases=("kinetics", "kinetics-400", "k400"),
    stratum="S2",
    modality="video",
    task="classification",
    description_en="10 s YouTube clips of 400 human action classes.",
    description_zh="400 类人体动作的 10 秒 YouTube 片段。",
    scale="306K clips",
    licence="Annotations CC-BY-4.0; video rights stay with YouTube uploaders",
    homepage="https://github.com/cvdfoundation/kinetics-dataset",
    languages=("en",),
    recommended=True,
    sources=(
        SourceSpec(
            kind="http_tar",
            url="https://s3.amazonaws.com/kinetics/400/train/k400_train_path.txt",
            metadata="https://s3.amazonaws.com/kinetics/400/annotations/train.csv",
            split="train",
            # time_start/time_end place the clip in the YouTube video; the member is already that clip, so
            # they are not a window inside it (mapping them would cut the wrong part with --max-video-seconds)
            columns={"video": "youtube_id", "label": "label", "id": "youtube_id", "group": "youtube_id"},
            text_template="a video of {label}",
            options={"url_is_list": True, "metadata_format": "csv",
                     "member_template": "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
                     "member_match": "suffix", "tar_modes": ["r|gz", "r|"]},
            note="242 train parts (k400_train_path.txt). " + _KINETICS_CVDF_NOTE,
        ),
        mteb(
            "mteb/kinetics-400",
            "e5b93b6eae80b8c9e9c88a381baae84d29b34fd2",
            {"video": "video", "audio": "audio", "label": "label"},
            split="train",
            eval_split=False,
            text_template="a video of {label}",
            note="The train split of mteb's copy: 3,973 rows with video and 16 kHz audio in-row, 400 classes "
            "(mteb HEAD descriptive_stats/VideoClassification/Kinetics400VA.json at this revision; kinetics400.py: "
            "'~3,970 train / ~4,000 test'); mteb evaluates on test only. cc-by-4.0 (mteb metadata), not gated.",
        ),
        mteb(
            "mteb/kinetics-400",
            "e5b93b6eae80b8c9e9c88a381baae84d29b34fd2",
            {"video": "video", "audio": "audio", "label": "label"},
            text_template="a video of {label}",
            note="~4,000 test rows stratified by class; mteb's Kinetics400VA task pins this revision with split "
            "test and inputs (video, audio). The benchmark split, so it comes after both training sources.",
        ),
    ),
)

KINETICS700 = DatasetSpec(
    name="kinetics700",
    title="Kinetics-700",
    aliases=("kinetics-700", "k700", "kinetics700_2020"),
    stratum="S2",
    modality="video",
    task="classification",
    description_en="10 s YouTube clips of 700 human action classes (2020 release).",
    description_zh="700 类人体动作的 10 秒 YouTube 片段（2020 版）。",
    scale="650K clips",
    licence="Annotations CC-BY-4.0; video rights stay with YouTube uploaders",
    homepage="https://github.com/cvdfoundation/kinetics-dataset",
    languages=("en",),
    note="About 5% of test clips are shorter than 9 s.",
    note_zh="约 5% 的测试片段短于 9 秒。",
    sources=(
        SourceSpec(
            kind="http_tar",
            url="https://s3.amazonaws.com/kinetics/700_2020/train/k700_2020_train_path.txt",
            metadata="https://s3.amazonaws.com/kinetics/700_2020/annotations/train.csv",
            split="train",
            # time_start/time_end place the clip in the YouTube video; the member is already that clip, so
            # they are not a window inside it (mapping them would cut the wrong part with --max-video-seconds)
            columns={"video": "youtube_id", "label": "label", "id": "youtube_id", "group": "youtube_id"},
            text_template="a video of {label}",
            options={"url_is_list": True, "metadata_format": "csv",
                     "member_template": "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
                     "member_match": "suffix", "tar_modes": ["r|gz", "r|"]},
            note="k700_2020_train_path.txt and annotations/train.csv: both in k700_2020_downloader.sh. "
            + _KINETICS_CVDF_NOTE,
        ),
        mteb(
            "mteb/kinetics-700-2020",
            "e9f50aa09759e014b8afc16cc27ec536d4c0747f",
            {"video": "video", "audio": "audio", "label": "label"},
            text_template="a video of {label}",
            note="~11,190 test rows (mteb Kinetics700VA). Test-only, so it comes after the training split (source #0).",
        ),
    ),
)

MSRVTT = DatasetSpec(
    name="msrvtt",
    title="MSR-VTT",
    aliases=("msr-vtt", "msr_vtt"),
    stratum="S2",
    modality="video",
    task="caption",
    description_en="Open-domain web video clips with about 20 English captions each.",
    description_zh="开放域网络视频片段，每段约 20 条英文描述。",
    scale="10K clips",
    licence="Not specified",
    homepage="https://www.microsoft.com/en-us/research/publication/msr-vtt-a-large-video-description-dataset-"
    "for-bridging-video-and-language/",
    languages=("en",),
    recommended=True,
    sources=(
        SourceSpec(
            kind="hf_tar",
            repo="zhanjun/MSR-VTT",
            split="train",
            files=("MSR-VTT.tar",),
            metadata="data/train-*.parquet",
            columns={"video": "video_id", "text": "caption", "id": "video_id", "group": "video_id"},
            options={"metadata_format": "parquet", "metadata_repo": "AlexZigma/msr-vtt",
                     "member_template": "{video_id}.mp4", "member_match": "stem"},
            note="MSR-VTT.tar (6.73 GB, commit 0ea111e; all 10k videos as MSR-VTT/all/video<N>.mp4 in the viewer: "
            "hf.co/datasets/zhanjun/MSR-VTT) streamed as a prefix and joined to the official train split: "
            "AlexZigma/msr-vtt data/train-00000-of-00001-60e50ff5fbbd1bb5.parquet (553 kB; 6,513 rows, video_id "
            "like video1899, caption, split=train: hf.co/datasets/AlexZigma/msr-vtt/tree/main/data), so test "
            "videos are skipped. wufeim/aug_text has MSRVTT.zip but no JSFusion CSV, so it is not used.",
        ),
        mteb(
            "mteb/MSR-VTT",
            "4661603cee25c1fd370e5478a2953203cf37155b",
            {"video": "video", "audio": "audio", "text": "caption"},
            note="879 rows of the 1k-A test split (~1.2 MB each), one caption per row (mteb "
            "scripts/upload_msr_vtt_retrieval.py; card: split test only): the benchmark split, a last resort after "
            "the training videos (source #0).",
        ),
    ),
)

VATEX = DatasetSpec(
    name="vatex",
    title="VATEX",
    stratum="S2",
    modality="video",
    task="caption",
    description_en="Kinetics-600 clips with parallel English and Chinese captions.",
    description_zh="基于 Kinetics-600 的视频片段，附中英双语描述。",
    scale="41K clips",
    licence="Annotations CC-BY-4.0",
    homepage="https://eric-xw.github.io/vatex-website/",
    languages=("en", "zh"),
    sources=(
        mteb(
            "mteb/VATEX_test_1k",
            "0d2e86e6d36927f4676ee6127c4e38e3867ce0ce",
            {"video": "video", "audio": "audio", "text": "caption"},
            note="1k test clips with video, audio and caption (mteb VATEX retrieval task pins this revision, split "
            "test). VATEX's training clips are Kinetics-600 YouTube videos with no Hub copy.",
        ),
        SourceSpec(
            kind="zip_range",
            repo="wufeim/aug_text",
            split="test",
            eval_split=True,
            files=("vatex.zip",),
            metadata="vatex_test/test-*.parquet",
            columns={"video": "videoID", "text": "enCap[0]", "id": "videoID", "group": "videoID"},
            options={"metadata_format": "parquet", "metadata_repo": "lmms-lab/VATEX",
                     "member_template": "test/{videoID}.mp4", "member_match": "suffix"},
            verified=False,
            note="vatex.zip (6.99 GB, at the root of wufeim/aug_text next to vatex_public_test_english_v1.1.json) "
            "joined to the lmms-lab/VATEX annotations: config vatex_test, data_files vatex_test/test-* with videoID "
            "and enCap (hf.co/datasets/lmms-lab/VATEX/blob/main/README.md; there is no data/ folder). Member naming "
            "test/{videoID}.mp4 inside the zip is unverified. lmms-lab/VATEX holds no videos.",
        ),
    ),
)

YOUCOOK2 = DatasetSpec(
    name="youcook2",
    title="YouCook2",
    aliases=("youcook", "youcookii"),
    stratum="S2",
    modality="video",
    task="caption",
    description_en="Cooking videos with temporally located recipe-step sentences.",
    description_zh="烹饪教学视频，附带时间定位的步骤描述句。",
    scale="2K videos",
    licence="Not specified (annotations MIT on some mirrors)",
    homepage="http://youcook2.eecs.umich.edu/",
    languages=("en",),
    sources=(
        mteb(
            "mteb/YouCook2_val",
            "be654b591daef1382364d563f6d3d66f61f79b35",
            {"video": "video", "audio": "audio", "text": "sentence"},
            note="YouCook2's validation set (its evaluation split: test annotations are withheld), stored as split "
            "test with video, audio, sentence (mteb YouCook2 task pins this revision).",
        ),
        SourceSpec(
            kind="zip_range",
            repo="lmms-eval/YouCook2",
            fallback_repos=("lmms-lab/YouCook2",),
            split="val",
            eval_split=True,
            files=("YouCookIIVideos.zip",),
            metadata="data/val-00000-of-00001.parquet",
            columns={"video": "video_path", "text": "sentence", "id": "id", "group": "youtube_id",
                     "start": "segment[0]", "end": "segment[1]"},
            options={"metadata_format": "parquet", "member_match": "suffix", "window_s": 60},
            verified=False,
            note="7.35 GB zip read by range with data/val-00000-of-00001.parquet (id, segment, sentence, video_path, "
            "youtube_id; hf.co/datasets/lmms-eval/YouCook2/tree/main): the val annotations are the ones published, "
            "which is the benchmark split. Whether members are full recipe videos or pre-cut segments is unverified: "
            "the clip is cut to segment when the video is longer.",
        ),
    ),
)

LONGVIDEOBENCH = DatasetSpec(
    name="longvideobench",
    title="LongVideoBench",
    aliases=("lvb", "long_video_bench"),
    stratum="S2",
    modality="video",
    task="qa",
    description_en="Long-video understanding benchmark: multiple-choice questions on videos up to an hour.",
    description_zh="长视频理解基准：针对最长一小时视频的多项选择题。",
    scale="3.7K videos",
    licence="CC-BY-NC-SA-4.0",
    homepage="https://longvideobench.github.io/",
    gated=True,
    access=hf_access("longvideobench/LongVideoBench"),
    access_zh=hf_access_zh("longvideobench/LongVideoBench"),
    languages=("en",),
    sources=(
        SourceSpec(
            kind="hf_tar",
            repo="longvideobench/LongVideoBench",
            split="validation",
            eval_split=True,
            files=("videos.tar.part.aa",),
            metadata="validation-00000-of-00001.parquet",
            columns={"video": "video_path", "question": "question",
                     "options": "option0,option1,option2,option3,option4", "answer": "correct_choice",
                     "id": "video_id", "group": "video_id"},
            text_template="{question} {options} Answer: {answer}",
            options={"metadata_format": "parquet", "byte_split": True, "member_match": "suffix", "window_s": 60},
            gated=True,
            note="The videos.tar.part.* files are one tar split by bytes: only questions whose video is inside "
            "the streamed prefix of part aa are used; videos are cut to a 60 s window. The validation parquet is "
            "the benchmark's public evaluation split (test answers are withheld); there is no training split.",
        ),
    ),
)

ACTIVITYNET_QA = DatasetSpec(
    name="activitynet_qa",
    title="ActivityNet-QA",
    aliases=("activitynetqa", "anet_qa", "activitynet-qa"),
    stratum="S2",
    modality="video",
    task="qa",
    description_en="Open-ended question answering on ActivityNet videos of everyday activities.",
    description_zh="基于 ActivityNet 日常活动视频的开放式问答。",
    scale="58K QA",
    licence="Not specified",
    homepage="https://github.com/MILVLG/activitynet-qa",
    languages=("en",),
    sources=(
        SourceSpec(
            kind="zip_range",
            repo="lmms-lab/ActivityNetQA",
            fallback_repos=("lmms-eval/ActivityNetQA",),
            split="test",
            eval_split=True,
            files=("videos_chunked_06.zip", "videos_chunked_11.zip"),
            metadata="data/test-00000-of-00001.parquet",
            columns={"video": "video_name", "question": "question", "answer": "answer", "id": "question_id",
                     "group": "video_name"},
            field_cleaners={"question": "activitynet_question"},
            text_template="{question} Answer: {answer}",
            options={"metadata_format": "parquet", "member_template": "v_{video_name}", "member_match": "stem",
                     "window_s": 60},
            verified=False,
            note="lmms-lab/ActivityNetQA holds videos_chunked_06.zip (132 MB), _11.zip (76.3 MB) and "
            "data/test-00000-of-00001.parquet with video_name, question_id, question, answer "
            "(hf.co/datasets/lmms-lab/ActivityNetQA/tree/ae0a4f65); lmms-eval/ActivityNetQA was not seen (fallback). "
            "Only the test QA is published. Member naming v_{video_name}.{mp4,webm,mkv} inside the zips is unverified.",
        ),
        mteb(
            "mteb/ActivityNet_Captions_val2",
            "e87473c4832ea982bbeca1dde94bbebfa6ea6ada",
            {"video": "video", "text": "caption"},
            note="Substitute: ActivityNet Captions val2 (captions, not QA) on the same videos; split test with video "
            "and caption (mteb ActivityNetCaptions task).",
        ),
    ),
)

DATASETS: tuple[DatasetSpec, ...] = (
    KINETICS400, KINETICS700, MSRVTT, VATEX, YOUCOOK2, LONGVIDEOBENCH, ACTIVITYNET_QA,
)
