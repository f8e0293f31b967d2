"""``open_source``: the one entry point the build engine uses to turn a ``SourceSpec`` into a ``Source``.

Network kinds live in this package; kinds implemented elsewhere (``youtube``, ``local``, ``mdc``) are
imported lazily from their modules so that optional extras stay optional.
"""

from __future__ import annotations

import importlib
from typing import Any

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import Source, SourceUnavailable
from reap_omni.sources.http import HttpClient

_KINDS = {
    "hf_parquet": ("reap_omni.sources.hub_parquet", "HubParquetSource"),
    "hf_tar": ("reap_omni.sources.tar_stream", "TarStreamSource"),
    "http_tar": ("reap_omni.sources.tar_stream", "TarStreamSource"),
    "zip_range": ("reap_omni.sources.zip_range", "ZipRangeSource"),
    "hf_files": ("reap_omni.sources.hub_files", "HubFilesSource"),
    "hf_json": ("reap_omni.sources.hub_json", "HubJsonSource"),
}
_EXTERNAL = {"youtube": "reap_omni.sources.youtube", "local": "reap_omni.sources.local_corpora",
             "mdc": "reap_omni.sources.mdc"}


def open_source(spec: SourceSpec, *, token: str | None = None, dataset: str | None = None,
                client: HttpClient | None = None, **kwargs: Any) -> Source:
    """A source for ``spec``; network kinds share ``client`` if given, else get their own (own byte count).

    External kinds are built by their module's ``open_source(spec, token=..., dataset=..., **kwargs)``.
    """
    if spec.kind in _KINDS:
        module, name = _KINDS[spec.kind]
        cls = getattr(importlib.import_module(module), name)
        return cls(spec, client=client or HttpClient(token=token), dataset=dataset)
    if spec.kind in _EXTERNAL:
        try:
            module = importlib.import_module(_EXTERNAL[spec.kind])
        except ImportError as exc:
            raise SourceUnavailable(f"{dataset or spec.kind}: source kind {spec.kind!r} is not available ({exc})",
                                    reason="missing_extra") from None
        return module.open_source(spec, token=token, dataset=dataset, **kwargs)
    raise SourceUnavailable(f"{dataset or 'source'}: unknown source kind {spec.kind!r}", reason="layout")
