"""S2 (video-only) datasets of the seed README. Facts from DATASET_SOURCES.md sections 2.7, 3.2 and 4."""

from __future__ import annotations

from reap_omni.catalog.common import hf_access, hf_access_zh, mteb
from reap_omni.catalog.spec import DatasetSpec, SourceSpec

_KINETICS_CVDF_NOTE = (
    "CVDF S3 URLs follow the cvdfoundation/kinetics-dataset scripts (unverified here): if they moved, set url "
    "(archive or path list) and metadata. Members are {youtube_id}_{time_start:06d}_{time_end:06d}.mp4; "
    "part_120 was once a plain tar, so r|gz and r| are both tried. Audio in these mp4s is unverified."
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
        mteb(
            "mteb/kinetics-400",
            "e5b93b6eae80b8c9e9c88a381baae84d29b34fd2",
            {"video": "video", "audio": "audio", "label": "label"},
            text_template="a video of {label}",
            note="~4,000 test rows stratified by class.",
        ),
        SourceSpec(
            kind="http_tar",
            url="https://s3.amazonaws.com/kinetics/400/val/part_0.tar.gz",
            metadata="https://s3.amazonaws.com/kinetics/400/annotations/val.csv",
            # time_start/time_end place the clip in the YouTube video; the member is already that clip, so
            # they are not a window inside it (mapping them would cut the wrong part with --max-video-seconds)
            columns={"video": "youtube_id", "label": "label", "id": "youtube_id", "group": "youtube_id"},
            text_template="a video of {label}",
            options={"metadata_format": "csv",
                     "member_template": "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
                     "member_match": "suffix", "tar_modes": ["r|gz", "r|"]},
            verified=False,
            note=_KINETICS_CVDF_NOTE,
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
        mteb(
            "mteb/kinetics-700-2020",
            "e9f50aa09759e014b8afc16cc27ec536d4c0747f",
            {"video": "video", "audio": "audio", "label": "label"},
            text_template="a video of {label}",
            note="~11,190 test rows.",
        ),
        SourceSpec(
            kind="http_tar",
            url="https://s3.amazonaws.com/kinetics/700_2020/val/k700_2020_val_path.txt",
            metadata="https://s3.amazonaws.com/kinetics/700_2020/annotations/val.csv",
            # time_start/time_end place the clip in the YouTube video; the member is already that clip, so
            # they are not a window inside it (mapping them would cut the wrong part with --max-video-seconds)
            columns={"video": "youtube_id", "label": "label", "id": "youtube_id", "group": "youtube_id"},
            text_template="a video of {label}",
            options={"url_is_list": True, "metadata_format": "csv",
                     "member_template": "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
                     "member_match": "suffix", "tar_modes": ["r|gz", "r|"]},
            verified=False,
            note="Path list URL is verified; the annotations URL is not. " + _KINETICS_CVDF_NOTE,
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
        mteb(
            "mteb/MSR-VTT",
            "4661603cee25c1fd370e5478a2953203cf37155b",
            {"video": "video", "audio": "audio", "text": "caption"},
            note="879 rows of the 1k-A test split (~1.2 MB each), one caption per row.",
        ),
        SourceSpec(
            kind="zip_range",
            repo="wufeim/aug_text",
            files=("**/MSRVTT.zip",),
            metadata="**/MSRVTT_JSFUSION_test.csv",
            columns={"video": "video_id", "text": "sentence", "id": "video_id", "group": "video_id"},
            options={"metadata_format": "csv", "member_template": "MSRVTT/videos/all/{video_id}.mp4",
                     "member_match": "suffix"},
            verified=False,
            note="Locations of MSRVTT.zip and the JSFusion CSV inside the repo are unverified; set files/metadata "
            "to the real paths if the listing differs.",
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
            verified=False,
            note="Split name 'test' is unverified; change split if the repo lists another.",
        ),
        SourceSpec(
            kind="zip_range",
            repo="wufeim/aug_text",
            files=("**/vatex.zip",),
            metadata="data/*.parquet",
            columns={"video": "videoID", "text": "enCap[0]", "id": "videoID", "group": "videoID"},
            options={"metadata_format": "parquet", "metadata_repo": "lmms-eval/VATEX",
                     "metadata_fallback_repos": ["lmms-lab/VATEX"], "member_template": "test/{videoID}.mp4",
                     "member_match": "suffix"},
            verified=False,
            note="vatex.zip (6.99 GB, test/{videoID}.mp4) joined to lmms-eval/VATEX annotations (lmms-lab/VATEX "
            "fallback); the annotation file path is unverified. lmms-lab/VATEX holds no videos.",
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
            verified=False,
            note="Row count and split name ('test') are unverified; change split if the repo lists 'val'.",
        ),
        SourceSpec(
            kind="zip_range",
            repo="lmms-eval/YouCook2",
            fallback_repos=("lmms-lab/YouCook2",),
            files=("YouCookIIVideos.zip",),
            metadata="data/val-00000-of-00001.parquet",
            columns={"video": "video_path", "text": "sentence", "id": "id", "group": "youtube_id",
                     "start": "segment[0]", "end": "segment[1]"},
            options={"metadata_format": "parquet", "member_match": "suffix", "window_s": 60},
            verified=False,
            note="7.35 GB zip read by range. Whether members are full recipe videos or pre-cut segments is "
            "unverified: the clip is cut to segment when the video is longer. lmms-eval/* may not mirror lmms-lab/*.",
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
            files=("videos.tar.part.aa",),
            metadata="validation-00000-of-00001.parquet",
            columns={"video": "video_path", "question": "question",
                     "options": "option0,option1,option2,option3,option4", "answer": "correct_choice",
                     "id": "video_id", "group": "video_id"},
            text_template="{question} {options} Answer: {answer}",
            options={"metadata_format": "parquet", "byte_split": True, "member_match": "suffix", "window_s": 60},
            gated=True,
            note="The videos.tar.part.* files are one tar split by bytes: only questions whose video is inside "
            "the streamed prefix of part aa are used; videos are cut to a 60 s window.",
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
            repo="lmms-eval/ActivityNetQA",
            fallback_repos=("lmms-lab/ActivityNetQA",),
            files=("videos_chunked_06.zip", "videos_chunked_11.zip"),
            metadata="data/test-00000-of-00001.parquet",
            columns={"video": "video_name", "question": "question", "answer": "answer", "id": "question_id",
                     "group": "video_name"},
            field_cleaners={"question": "activitynet_question"},
            text_template="{question} Answer: {answer}",
            options={"metadata_format": "parquet", "member_template": "v_{video_name}", "member_match": "stem",
                     "window_s": 60},
            verified=False,
            note="Chunks 06 (132 MB) and 11 (76 MB) are the cheap ones. Member naming v_{video_name}.{mp4,webm,mkv} "
            "inside the zips is unverified; gating unverified; lmms-eval/* may not mirror lmms-lab/*.",
        ),
        mteb(
            "mteb/ActivityNet_Captions_val2",
            "e87473c4832ea982bbeca1dde94bbebfa6ea6ada",
            {"video": "video", "text": "caption"},
            verified=False,
            note="Substitute: ActivityNet Captions (captions, not QA) on the same videos; split name unverified.",
        ),
    ),
)

DATASETS: tuple[DatasetSpec, ...] = (
    KINETICS400, KINETICS700, MSRVTT, VATEX, YOUCOOK2, LONGVIDEOBENCH, ACTIVITYNET_QA,
)
