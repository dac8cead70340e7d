"""Filling one physical Milvus collection: create it with its schema and indexes, insert in batches, load it."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from indexes.contract import ProgressCallback

INSERT_BATCH = 1000
ID_MAX_LENGTH = 1024


def id_schema(client: Any) -> Any:
    """A schema whose primary key is the document id (a string), with the document's metadata as JSON (what
    filters are evaluated on)."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX_LENGTH)
    schema.add_field("meta", DataType.JSON)
    return schema


def fill_collection(client: Any, name: str, schema: Any, index_params: Any, ids: Sequence[str],
                    metas: Sequence[dict[str, Any]], row: Callable[[int], dict[str, Any]],
                    progress: ProgressCallback | None) -> None:
    """Create ``name`` and insert every document (id, metadata and ``row(i)``), INSERT_BATCH at a time, then load
    it for search."""
    client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong")
    for start in range(0, len(ids), INSERT_BATCH):
        end = min(start + INSERT_BATCH, len(ids))
        client.insert(name, [{"id": ids[i], "meta": metas[i] or {}, **row(i)} for i in range(start, end)])
        if progress:
            progress(end, len(ids))
    client.flush(name)
    client.load_collection(name)
