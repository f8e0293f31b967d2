"""Small constructors shared by the entry modules, so that repeated source shapes read as one line.

They only build ``SourceSpec`` values; no I/O, no logic beyond filling fields.
"""

from __future__ import annotations

from typing import Any

from reap_omni.catalog.spec import SourceSpec


def hf_access(repo: str, extra: str = "") -> str:
    """Access text for a gated Hub repo (English)."""
    text = (
        f"Log in at https://huggingface.co/datasets/{repo}, accept the conditions, then export HF_TOKEN "
        f"(401 = no token sent, 403 = conditions not accepted yet or approval pending)."
    )
    return f"{text} {extra}".strip()


def hf_access_zh(repo: str, extra: str = "") -> str:
    """Access text for a gated Hub repo (Chinese)."""
    text = (
        f"登录 https://huggingface.co/datasets/{repo} 并同意使用条件，然后设置环境变量 HF_TOKEN"
        f"（401 表示未提供令牌，403 表示尚未同意条件或审批未通过）。"
    )
    return f"{text}{extra}"


def mteb(
    repo: str,
    revision: str | None,
    columns: dict[str, str],
    *,
    split: str = "test",
    eval_split: bool = True,
    text_template: str | None = None,
    verified: bool = True,
    note: str = "",
    **options: Any,
) -> SourceSpec:
    """An mteb/* parquet repo with embedded video (and usually audio) bytes at a pinned revision.

    mteb's video repos hold one evaluation split (``test``), so ``eval_split`` defaults to True: rows are flagged
    and the build summary warns. ``revision=None`` leaves it unpinned (the note must say why).
    """
    base = ("Pinned mteb revision; " if revision else "") + "embedded media bytes are written unchanged."
    base = base[0].upper() + base[1:]
    if "label" in columns:
        base += " label may be a ClassLabel int: the reader maps it through the parquet features."
    return SourceSpec(
        kind="hf_parquet",
        repo=repo,
        revision=revision,
        split=split,
        eval_split=eval_split,
        columns=columns,
        text_template=text_template,
        options=dict(options),
        verified=verified,
        note=f"{note} {base}".strip(),
    )


def local(
    importer: str,
    note: str,
    columns: dict[str, str] | None = None,
    text_cleaner: str | None = None,
    text_template: str | None = None,
    **options: Any,
) -> SourceSpec:
    """A user-supplied local copy read by the ``importer`` layout (never downloads).

    The importer finds the copy at ``--local-path DIR`` or ``options.path``
    (``--source-option NAME:I:options.path=DIR``). ``text_template`` is the source's (``""``: rows have no
    text); any other keyword is an importer option.
    """
    return SourceSpec(
        kind="local", adapter=importer, columns=columns or {}, text_cleaner=text_cleaner, text_template=text_template,
        options=dict(options), note=note,
    )
