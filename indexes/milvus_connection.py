"""The process's Milvus client, from the settings: a Milvus Lite file (embedded, one process) or a server URI."""
from __future__ import annotations

import threading
from typing import Any

from core.errors import BackendUnavailableError
from core.settings import get_settings

_CLIENTS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def milvus_uri() -> str:
    """``SIFTRAG_MILVUS_URI``, or ``<data_dir>/milvus.db`` (Milvus Lite) when unset."""
    settings = get_settings()
    return settings.milvus_uri or str((settings.data_dir / "milvus.db").resolve())


def milvus_client() -> Any:
    """One ``MilvusClient`` per URI per process (it is thread-safe); BackendUnavailableError with a sentence when
    pymilvus is missing or the server does not answer."""
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError:
        raise BackendUnavailableError("SIFTRAG_INDEX_BACKEND=milvus needs pymilvus and milvus-lite: "
                                      "`pip install siftrag[milvus]`.") from None
    uri, token = milvus_uri(), get_settings().milvus_token or ""
    with _LOCK:
        client = _CLIENTS.get((uri, token))
        if client is None:
            try:
                client = MilvusClient(uri=uri, token=token, timeout=30)
            except (MilvusException, OSError) as error:
                raise BackendUnavailableError(f"Milvus at {uri} is unreachable: {error}.") from None
            _CLIENTS[(uri, token)] = client
    return client


def physical_name(*parts: str) -> str:
    """A Milvus collection or alias name (letters, digits, underscores) from name parts: in a part, '_' becomes '_1'
    and '-' becomes '_0', so no part holds '__', the separator: different parts never give one name."""
    return "__".join(part.replace("_", "_1").replace("-", "_0") for part in parts)
