"""tests/prune need the [prune] extra; the shared fixtures (the tiny checkpoint, manifests) are
tests/model_fixtures.py, the helpers tests/model_helpers.py."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
