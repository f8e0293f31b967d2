"""Render ``DATASETS_CATALOG.md`` and the README ``datasets`` sections from the catalog entries.

The docs are generated so they cannot drift from the data the downloader uses; ``reap-omni catalog-docs
--check`` (and a test) fails when the committed files differ from what the entries render.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from reap_omni.catalog.registry import all_datasets, availability, by_stratum, route, split_label
from reap_omni.catalog.spec import DatasetSpec, SourceSpec

CATALOG_FILE = "DATASETS_CATALOG.md"
README_FILES = {"en": "README.md", "zh": "README_zh.md"}
SECTION = "datasets"

STRATUM_TITLES = {
    "S1": ("S1 · Audio-only", "纯音频", "audio expert affinity"),
    "S2": ("S2 · Video-only", "纯视频", "video expert affinity"),
    "S3": ("S3 · Mixed audio+video", "音视频混合", "joint audio-visual calibration"),
    "S0": ("S0 · Text", "纯文本", "the text-only REAP baseline and measuring text ability (`--text-data`)"),
}
AVAILABILITY = {
    "open": ("open", "公开"),
    "gated": ("account/terms", "需账号/同意条款"),
    "gated+mirror": ("account/terms, or an open mirror", "需账号/同意条款，或用免登录镜像"),
    "opt_in": ("opt-in (YouTube)", "可选（YouTube）"),
    "local": ("your local copy", "需自备本地副本"),
}


def _cell(text: str) -> str:
    """Markdown-table-safe text."""
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _names(spec: DatasetSpec) -> str:
    aliases = f" ({', '.join(spec.aliases)})" if spec.aliases else ""
    return f"`{spec.name}`{aliases}"


def _access(spec: DatasetSpec, zh: bool) -> str:
    en, cn = AVAILABILITY[availability(spec)]
    label = cn if zh else en
    if spec.substitutes:
        subs = ", ".join(f"`{s}`" for s in spec.substitutes)
        label += f"；替代：{subs}" if zh else f"; substitute: {subs}"
    return label


def _table(specs: Iterable[DatasetSpec]) -> list[str]:
    lines = [
        "| Name | Dataset | Scale | Task | Description | 说明 | Split used / 所用划分 | Route / 获取方式 "
        "| Access / 访问 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in specs:
        title = s.title + (" ★" if s.recommended else "") + (" ⁺" if s.extended else "")
        lines.append(
            "| " + " | ".join(_cell(c) for c in (
                f"`{s.name}`", title, s.scale, s.task, s.description_en, s.description_zh, split_label(s) or "-",
                route(s), f"{_access(s, False)} / {_access(s, True)}",
            )) + " |"
        )  # fmt: skip
    return lines


def _source_line(i: int, src: SourceSpec) -> str:
    where = []
    if src.repo:
        repo = src.repo + (f"@{src.revision}" if src.revision else "")
        where.append(f"`{repo}`")
        if src.fallback_repos:
            where.append("fallback " + ", ".join(f"`{r}`" for r in src.fallback_repos))
    elif src.revision:
        where.append(f"revision `{src.revision}`")
    if src.url:
        where.append(f"<{src.url}>")
    if src.config:
        where.append(f"config `{src.config}`")
    if src.split:
        where.append(f"split `{src.split}`")
    if src.files:
        where.append("files " + ", ".join(f"`{f}`" for f in src.files))
    if src.metadata:
        where.append(f"metadata `{src.metadata}`")
    if src.adapter:
        where.append(f"importer `{src.adapter}`")
    flags = [f for f, on in (("gated", src.gated), ("opt-in", src.opt_in), ("unverified", not src.verified),
                             ("eval split", src.eval_split)) if on]
    head = f"{i}. **{src.kind}**" + (f" [{', '.join(flags)}]" if flags else "") + ": " + ", ".join(where)
    parts = [head.rstrip(": ")]
    if src.columns:
        parts.append("columns " + ", ".join(f"{k}←`{v}`" for k, v in src.columns.items()))
    if src.text_template is not None:
        parts.append(f"text `{src.text_template}`" if src.text_template else "no text")
    cleaners = [f"{k}: {v}" for k, v in src.field_cleaners.items()] + ([src.text_cleaner] if src.text_cleaner else [])
    if cleaners:
        parts.append("cleaner " + ", ".join(cleaners))
    line = "; ".join(parts) + "."
    if src.note:
        line += f" {src.note}"
    return line


def _details(spec: DatasetSpec) -> list[str]:
    lines = [f"### {spec.title} — {_names(spec)}", ""]
    facts = [
        f"{spec.stratum} / {spec.modality} / {spec.task}",
        f"licence: {spec.licence}",
        f"<{spec.homepage}>",
    ]
    if spec.languages:
        facts.append("languages: " + ", ".join(spec.languages))
    lines.append("- " + " · ".join(facts))
    if spec.access:
        lines.append(f"- Access: {spec.access}")
        lines.append(f"- 访问：{spec.access_zh}")
    if spec.note:
        lines.append(f"- Note: {spec.note}")
    if spec.note_zh:
        lines.append(f"- 说明：{spec.note_zh}")
    if spec.substitutes:
        lines.append("- Substitutes / 替代: " + ", ".join(f"`{s}`" for s in spec.substitutes))
    lines.append("- Sources, tried in order / 数据源（按顺序尝试）:")
    lines.append("")
    lines += [f"   {_source_line(i, src)}" for i, src in enumerate(spec.sources)]
    lines.append("")
    return lines


def render_catalog(specs: Iterable[DatasetSpec] | None = None) -> str:
    """The full ``DATASETS_CATALOG.md`` text."""
    specs = list(all_datasets() if specs is None else specs)
    out = [
        "# Dataset catalog / 数据集目录",
        "",
        "<!-- Generated by `reap-omni catalog-docs` from src/reap_omni/catalog; do not edit by hand. -->",
        "",
        f"{len(specs)} datasets ({sum(not s.extended for s in specs)} from the seed list, "
        f"{sum(s.extended for s in specs)} extended ⁺). ★ = part of the quickstart mix. "
        "Route lists the source kinds in the order they are tried; Access says what a user needs.",
        "",
        f"共 {len(specs)} 个数据集（种子列表 {sum(not s.extended for s in specs)} 个，扩展 "
        f"{sum(s.extended for s in specs)} 个 ⁺）。★ 表示快速开始默认组合。获取方式按尝试顺序列出数据源类型；"
        "访问一栏说明用户需要准备什么。",
        "",
        "`reap-omni list [--modality audio|video|mixed|text] [--all] [--json]` prints the same data; "
        "`--source-option NAME:INDEX:KEY=VALUE` changes any source fact (repo, revision, split, columns.text, "
        "options.path ...); `--local-path DIR` gives a local copy; `--opt-in` enables YouTube and risky mirrors. "
        "Sources marked [unverified] rest on facts not yet confirmed: when one is wrong the "
        "error names the key to change. Sources read a training split (or dev) where the dataset has one, and "
        "come before any other; [eval split] marks a source whose split a benchmark evaluates on, by the evidence "
        "in its note, not by the split's name (mteb's test-only repos, GigaSpeech and WenetSpeech dev, ESC-50's "
        "train): `quickstart` leaves such sources out unless `--allow-eval-splits`; `download` of a named dataset "
        "uses them, its rows carry `eval_split: true` and the build summary names the benchmark, whose results on "
        "that split should not be reported for a model pruned on the set. Split used is the first default "
        "source's, `(eval split)` when a benchmark evaluates on it.",
        "",
        "所用划分为第一个默认数据源读取的划分；标为（评测划分）表示有基准在该划分上评测（依据条目说明中的证据，"
        "而非划分名称）。`quickstart` 默认不使用这类数据源，除非加 `--allow-eval-splits`；"
        "`download` 指定数据集时会使用，其行带 `eval_split: true`，构建摘要会点名相应基准。",
        "",
    ]
    groups = by_stratum(specs)
    for stratum, members in groups.items():
        if not members:
            continue
        en, zh, purpose = STRATUM_TITLES[stratum]
        out += [f"## {en} / {zh}", "", f"Used for {purpose}.", ""]
        out += _table(members)
        out.append("")
    out += ["## Sources per dataset / 各数据集的数据源", ""]
    for members in groups.values():
        for spec in members:
            out += _details(spec)
    return "\n".join(out).rstrip("\n") + "\n"


def render_readme_section(lang: str) -> str:
    """The body of the README ``datasets`` section (``lang`` = "en" or "zh"), between its markers."""
    zh = lang == "zh"
    seed = [s for s in all_datasets() if not s.extended]
    extended = [s for s in all_datasets() if s.extended]
    out = ["## 支持的数据集" if zh else "## Datasets", ""]
    if zh:
        out += [
            f"目录共 {len(all_datasets())} 个数据集：种子 README 的 {len(seed)} 个，另有 {len(extended)} 个扩展数据集"
            "（`python extended_datasets.py --list`）。完整数据源、字段映射与固定版本见 "
            "[DATASETS_CATALOG.md](DATASETS_CATALOG.md)（由 `reap-omni catalog-docs` 生成）。★ 为快速开始默认组合，"
            "⁺ 为其中的扩展数据集。所用划分标为（评测划分）表示有基准在该划分上评测（依据目录中的证据）："
            "`quickstart` 不使用这类数据源，除非加 `--allow-eval-splits`。",
            "",
            "```bash",
            "python download_datasets.py --list          # 种子数据集",
            "reap-omni list --all --json                 # 全部数据集（JSON）",
            "python extended_datasets.py --list          # 扩展数据集",
            "```",
            "",
        ]
    else:
        out += [
            f"The catalog holds {len(all_datasets())} datasets: the {len(seed)} of the original list plus "
            f"{len(extended)} extended ones (`python extended_datasets.py --list`). Every source, field mapping "
            "and pinned revision is in [DATASETS_CATALOG.md](DATASETS_CATALOG.md), generated by "
            "`reap-omni catalog-docs`. ★ = quickstart mix (⁺ = an extended dataset in it). Split used marked "
            "(eval split): a benchmark evaluates on that split, by the catalog's evidence; `quickstart` leaves such "
            "sources out unless `--allow-eval-splits`.",
            "",
            "```bash",
            "python download_datasets.py --list          # the original list",
            "reap-omni list --all --json                 # everything, as JSON",
            "python extended_datasets.py --list          # the extended set",
            "```",
            "",
        ]
    # the seed list, the rest of the mix, and the text (S0) sets, which no other list shows
    shown = [s for s in all_datasets() if not s.extended or s.recommended or s.modality == "text"]
    for stratum, members in by_stratum(shown).items():
        en, cn, _ = STRATUM_TITLES[stratum]
        out += [f"### {cn if zh else en}" + (f"（{stratum}）" if zh else ""), ""]
        if zh:
            out += ["| 数据集 | 规模 | 说明 | 所用划分 | 获取方式 | 访问 |", "|---|---|---|---|---|---|"]
        else:
            out += ["| Dataset | Scale | Description | Split used | How it is obtained | Access |",
                    "|---|---|---|---|---|---|"]
        for s in members:
            title = f"{s.title}{' ★' if s.recommended else ''}{' ⁺' if s.extended else ''} (`{s.name}`)"
            desc = s.description_zh if zh else s.description_en
            cells = (title, s.scale, desc, split_label(s, zh=zh) or "-", route(s, zh=zh), _access(s, zh))
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
    out += _readme_notes(zh)
    return "\n".join(out).rstrip("\n")


def _readme_notes(zh: bool) -> list[str]:
    if zh:
        return [
            "说明：",
            "- **Hub parquet**：只读取所需的 parquet 行组（mteb/* 仓库在行内嵌入视频和音频字节，版本已固定）。",
            "- **zip 范围读取**：通过 HTTP Range 只取 zip 中央目录和需要的成员（lmms-eval/lmms-lab、VoxCeleb2）。",
            "- **tar 流式读取**：只下载 tar 的前缀，够用即停（VoxPopuli、AISHELL-1、LongVideoBench、OpenSLR、CVDF）。",
            "- **YouTube**：可选依赖 `pip install -e '.[youtube]'`，默认不启用，"
            "加 `--opt-in` 开启（第三方镜像同理）。",
            "- **用户提供本地副本**：LRS2、LRS3、How2、HowTo100M 等无法公开下载的数据集，用 "
            "`--local-path /目录` 指向本地副本；AudioSet 在 Hub 上没有视频，"
            "S3 可改用 `valor32k` 或 `vggsound`。",
            "- 需授权的数据集（标为“需账号/同意条款”，如 LongVideoBench、Common Voice）需先在数据集页面同意条款并设置 "
            "`HF_TOKEN`（或相应的密钥）。GigaSpeech、WenetSpeech 等官方仓库同样需授权，"
            "但默认来源中另有免登录的第三方镜像：没有令牌时会自动改用镜像，并在 `stats.json` 中记录实际使用的来源。",
        ]
    return [
        "Notes:",
        "- **Hub parquet**: only the needed parquet row groups are read (mteb/* repos embed video and audio bytes "
        "in their rows, at pinned revisions).",
        "- **zip range read**: HTTP Range requests fetch the zip's central directory and the wanted members only "
        "(lmms-eval/lmms-lab, VoxCeleb2).",
        "- **tar stream**: only a prefix of the tar is downloaded, stopping once enough rows are found (VoxPopuli, "
        "AISHELL-1, LongVideoBench, OpenSLR, CVDF).",
        "- **YouTube**: optional extra `pip install -e '.[youtube]'`, off by default; `--opt-in` enables it (and "
        "third-party mirrors with licence caveats).",
        "- **user-supplied local copy**: LRS2, LRS3, How2, HowTo100M and other corpora without a public download "
        "are read from your copy: `--local-path /dir`. AudioSet has no video on the "
        "Hub; for S3 use `valor32k` or `vggsound` instead.",
        "- Gated datasets (marked account/terms: LongVideoBench, Common Voice, ...) need the conditions accepted on "
        "the dataset page and `HF_TOKEN` (or the named key) set. GigaSpeech, WenetSpeech and others are gated too, "
        "but their default sources include an open third-party mirror: without a token the build falls back to "
        "it, and `stats.json` records the source actually used.",
    ]


_SECTION_RE = re.compile(r"(<!-- section:datasets -->\n)(.*?)(<!-- /section:datasets -->)", re.DOTALL)


def replace_section(readme_text: str, body: str) -> str:
    """``readme_text`` with the datasets section's body replaced (markers kept)."""
    if not _SECTION_RE.search(readme_text):
        raise ValueError("README has no <!-- section:datasets --> ... <!-- /section:datasets --> markers")
    return _SECTION_RE.sub(lambda m: m.group(1) + body + "\n" + m.group(3), readme_text, count=1)


def section_body(readme_text: str) -> str | None:
    """The current body of the datasets section, or ``None`` when the markers are missing."""
    m = _SECTION_RE.search(readme_text)
    return m.group(2).rstrip("\n") if m else None


def expected_files(root: Path) -> dict[Path, str]:
    """Every generated file (or README with its regenerated section) and the text it should have."""
    out = {root / CATALOG_FILE: render_catalog()}
    for lang, name in README_FILES.items():
        path = root / name
        if path.is_file():
            out[path] = replace_section(path.read_text(encoding="utf-8"), render_readme_section(lang))
    return out


def stale_files(root: Path) -> list[Path]:
    """Generated files that differ from what the catalog renders (missing counts as stale)."""
    return [p for p, text in expected_files(root).items()
            if not p.is_file() or p.read_text(encoding="utf-8") != text]  # fmt: skip
