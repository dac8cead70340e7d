"""Every "decide while answering" method by name: DRAGIN and its baselines (when and what to retrieve while
writing) and DyPRAG (the retrieved documents become parameters). The one table of their names, cheap to import
(the API schemas and the CLI help read it), and the answerers built from it."""
from __future__ import annotations

from typing import Any

from core.errors import InvalidInputError
from core.lazy_class import import_class

_LOOP = "rag.dynamic.loop:DynamicAnswerer"  # the method names its retrieval policy
_DYPRAG = "rag.parametric.dyprag_answerer:DypragAnswerer"  # the method names its mode
ANSWERERS = {  # name → "module:Class" of its answerer, imported on first use
    "none": _LOOP, "single": _LOOP, "fixed-length": _LOOP, "fixed-sentence": _LOOP, "flare": _LOOP,
    "dragin": _LOOP, "dyprag": _DYPRAG, "dyprag-combine": _DYPRAG,
}
DYNAMIC_METHODS = tuple(ANSWERERS)
POLICIES = tuple(name for name, answerer in ANSWERERS.items() if answerer == _LOOP)
PARAMETRIC = tuple(name for name, answerer in ANSWERERS.items() if answerer == _DYPRAG)  # take a translator


def make_dynamic_answerer(collection: str, method: str, retriever: str = "bm25", top_k: int = 3,
                          model: str | None = None, max_new_tokens: int = 96, translator: str | None = None,
                          **options: Any) -> Any:
    """An answerer with ``run(question) -> DynamicResult`` and ``use_collection(name)``."""
    answerer = ANSWERERS.get(method)
    if translator and answerer != _DYPRAG:
        raise InvalidInputError(f"A translator applies to the DyPRAG methods only ({', '.join(PARAMETRIC)}).")
    if answerer is None:
        raise InvalidInputError(f"Unknown dynamic method '{method}': choose one of {', '.join(DYNAMIC_METHODS)}.")
    if answerer == _DYPRAG:
        options["translator"] = translator
    return import_class(answerer)(collection, method, retriever, top_k=top_k, model=model,
                                  max_new_tokens=max_new_tokens, **options)
