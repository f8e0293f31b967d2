"""S0 (text) datasets: the chat, math and code text a text-only REAP run calibrates on.

They give the text stratum S0 that ``prune --text-data`` / ``eval --text-data`` read: REAP's own recipes calibrate
on such text (llm-compressor's REAP example on ultrachat_200k, Cerebras REAP on code/math), so the same rows
let ``eval`` compare REAP-OMNI with the text-only selection a user would otherwise run, and measure what pruning
for audio and video costs in text ability. Training splits only. None is part of the seed list (they are
``extended``) nor of the default quickstart mix: ``quickstart --text N`` or ``download --modality text`` asks for
them. Evidence: the dataset cards seen on 2026-12-07 (URLs in each note); what was not seen is marked unverified.
"""

from __future__ import annotations

from reap_omni.catalog.spec import DatasetSpec, SourceSpec

ULTRACHAT = DatasetSpec(
    name="ultrachat_200k",
    title="UltraChat 200k",
    aliases=("ultrachat",),
    stratum="S0",
    modality="text",
    task="chat",
    description_en="Multi-turn assistant dialogues (filtered UltraChat); the first exchange of each is used.",
    description_zh="多轮助手对话（UltraChat 过滤版）；每段对话取第一轮问答。",
    scale="207,865 dialogues (train_sft)",
    licence="MIT",
    homepage="https://huggingface.co/datasets/HuggingFaceH4/ultrachat_200k",
    languages=("en",),
    extended=True,
    note="The chat set llm-compressor's REAP example calibrates on: REAP on these rows is the text-only baseline.",
    note_zh="llm-compressor 的 REAP 示例即用此数据集校准：在这些行上跑 REAP 就是纯文本基线。",
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="HuggingFaceH4/ultrachat_200k",
            revision="8049631c405ae6576f93f445c6b8166f76f5505a",
            split="train_sft",
            files=("data/train_sft-*",),
            columns={"id": "prompt_id", "messages": "messages"},
            note="README at 8049631c (hf.co/datasets/HuggingFaceH4/ultrachat_200k/blob/"
            "8049631c405ae6576f93f445c6b8166f76f5505a/README.md): configs default data_files train_sft -> "
            "data/train_sft-*, test_sft/train_gen/test_gen beside it; features prompt, prompt_id, messages "
            "(list of {content, role}); train_sft 207,865 rows; parquet; MIT. train_sft is the SFT training split "
            "(test_sft is held out). The shard file names behind data/train_sft-* were not seen (unverified).",
        ),
    ),
)

GSM8K = DatasetSpec(
    name="gsm8k",
    title="GSM8K",
    aliases=("gsm-8k",),
    stratum="S0",
    modality="text",
    task="math",
    description_en="Grade-school maths word problems with worked step-by-step solutions.",
    description_zh="小学数学应用题，附分步解答。",
    scale="7,473 problems (main train)",
    licence="MIT",
    homepage="https://huggingface.co/datasets/openai/gsm8k",
    languages=("en",),
    extended=True,
    note="The benchmark evaluates on the test split (1,319 problems); the train split is read, so gsm8k test "
    "results of a model pruned on these rows stay clean.",
    note_zh="基准在 test 划分（1,319 题）上评测；这里读取 train 划分，因此用这些行剪枝后的模型在 gsm8k test 上的结果"
    "不受污染。",
    sources=(
        SourceSpec(
            kind="hf_parquet",
            repo="openai/gsm8k",
            revision="f18c7ed6d902caa4f21c17d4d1b6f66a73123b85",
            config="main",
            split="train",
            columns={"question": "question", "answer": "answer"},
            verified=False,
            note="README at f18c7ed6 (hf.co/datasets/openai/gsm8k/blame/f18c7ed6d902caa4f21c17d4d1b6f66a73123b85/"
            "README.md): configs main and socratic, features question and answer, main train 7,473 rows, test "
            "1,319, MIT. The data files are found through the card's configs (main/train-*.parquet is the usual "
            "path, not seen: unverified).",
        ),
    ),
)

EVOL_CODE = DatasetSpec(
    name="evol_instruct_code",
    title="Evol-Instruction-66k (code)",
    aliases=("evol-instruction-66k", "codefuse-evol"),
    stratum="S0",
    modality="text",
    task="code",
    description_en="Evol-Instruct programming instructions with answers, filtered against HumanEval.",
    description_zh="Evol-Instruct 编程指令及回答，已对 HumanEval 去污染。",
    scale="66,862 instructions",
    licence="CC-BY-NC-SA-4.0 (non-commercial)",
    homepage="https://huggingface.co/datasets/codefuse-ai/Evol-instruction-66k",
    languages=("en",),
    extended=True,
    note="Non-commercial licence: leave it out (download the other text sets by name) when that matters.",
    note_zh="非商业许可：如有影响，请不用它（按名称下载其他文本数据集）。",
    sources=(
        SourceSpec(
            kind="hf_json",
            repo="codefuse-ai/Evol-instruction-66k",
            files=("**/*.json", "**/*.jsonl"),
            columns={"question": "instruction", "answer": "output"},
            verified=False,
            note="Card (hf.co/datasets/codefuse-ai/Evol-instruction-66k/blob/main/README.md): Evol-Instruct code "
            "data decontaminated against HumanEval, features instruction and output, 66,862 rows, "
            "cc-by-nc-sa-4.0, dataset viewer off (no parquet export), so the JSON files are fetched whole. File "
            "names and the revision were not seen (unverified; unpinned): every JSON/JSONL file of the repo is "
            "read, change `files` to narrow it.",
        ),
    ),
)

DATASETS: tuple[DatasetSpec, ...] = (ULTRACHAT, GSM8K, EVOL_CODE)
