"""Configuration errors in the words of the file: a repo, agent or schedule is named by its `name`
(`repos[billing].url`, not `repos.2.url`), and an unknown key gets the nearest valid one ("did
you mean `checks`?") from the model that key was written in.
"""

from __future__ import annotations

import difflib
import sys
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

NAMED_LISTS = frozenset({"repos", "agents", "schedules"})
"""Top-level lists whose items have a `name` people know them by."""


def _models_in(annotation: Any, namespace: dict[str, Any]) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, list, dict, tuple; a forward
    reference is looked up in the models' module)."""
    if isinstance(annotation, typing.ForwardRef):
        annotation = namespace.get(annotation.__forward_arg__)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None:
        return []
    args = typing.get_args(annotation)
    if origin in (dict,) and len(args) == 2:
        args = (args[1],)
    found: list[type[BaseModel]] = []
    for arg in args:
        found += _models_in(arg, namespace)
    return found if origin in (list, dict, tuple, typing.Union, types.UnionType) else []


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose field `loc[-1]` is (or would be): walk the path from `root`, stepping over
    list indexes and mapping keys."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None:
            return None
        annotation = _field(model, str(part)) if isinstance(part, str) else None
        if annotation is None:
            continue  # an index or a key: the same model's items
        models = _models_in(annotation, vars(sys.modules[model.__module__]))  # forward refs: its own module
        model = models[0] if models else None
    return model


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def path(loc: tuple[Any, ...], data: Any) -> str:
    """`loc` as people write it: `repos[billing].url`, `routing.rules[0].agent`."""
    text = ""
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            named = i > 0 and loc[i - 1] in NAMED_LISTS and isinstance(name, str) and name
            text += f"[{name}]" if named else f"[{part}]"
            node = item
            continue
        text += f".{part}" if text else str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return text


def describe(err: ValidationError, origin: str, data: Any, root: type[BaseModel]) -> str:
    """One line per problem, each naming its key by path and saying what is wrong."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p != "function-after")
        key = path(loc, data) if loc else "(top level)"
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden" and loc:
            model = model_at(root, loc)
            close = difflib.get_close_matches(str(loc[-1]), _keys(model), n=1, cutoff=0.6) if model else []
            message = "unknown key" + (f", did you mean `{close[0]}`?" if close else f" ({e['msg'].lower()})")
        # A cross-reference check names its own keys (`repos[api].depends_on: ...`).
        lines.append(message if not loc and e["type"] == "value_error" else f"{key}: {message}")
    return f"invalid configuration in {origin}: " + "; ".join(lines)
