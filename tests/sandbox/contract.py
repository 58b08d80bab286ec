"""Hold the sandbox GitHub peer to GitHub's own REST description (the contract subset).

The contract is OpenAPI 3.0.3, whose schemas are not quite JSON Schema: `nullable: true`
stands beside `type` (or beside a `$ref`/`oneOf`), and references point into
`#/components/schemas`. `convert` rewrites a schema into JSON Schema 2020-12, and `validate`
finds the operation a request hit and checks the answer against that operation's response
schema, with the converted components embedded so every `$ref` resolves in place.

Statuses the operation does not declare (a 401 from the auth layer, say) are held to
`basic-error`, the shape GitHub gives every error. A legacy route that an operation's own
description names (`GET /repos/{owner}/{repo}/statuses/{ref}`, which PyGithub's
`Commit.get_statuses` calls) is held to that operation.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]

__all__ = ["CONTRACT_FILE", "Contract", "ContractError", "Operation", "convert", "load_contract"]

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_FILE = REPO_ROOT / "tests" / "contracts" / "github-rest-subset.openapi.json"
_METHODS = ("get", "post", "put", "patch", "delete")
# (method, legacy path template, the operation that documents it as "also available via")
_LEGACY_ROUTES = [
    ("GET", "/repos/{owner}/{repo}/statuses/{ref}", "/repos/{owner}/{repo}/commits/{ref}/statuses"),
]


class ContractError(AssertionError):
    """A response the contract does not allow."""


def convert(schema: Any) -> Any:
    """An OpenAPI 3.0 schema rewritten as JSON Schema 2020-12 (nullable, example dropped)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("nullable", "example", "discriminator", "xml", "externalDocs"):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [convert(sub) for sub in value]
        elif key in ("items", "additionalProperties", "not"):
            out[key] = convert(value)
        else:
            out[key] = value
    if not schema.get("nullable"):
        return out
    if isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [out, {"type": "null"}]}


@dataclass(frozen=True)
class Operation:
    """One method and path template of the contract, with its declared responses."""

    method: str
    template: str
    regex: re.Pattern[str]
    responses: dict[str, Any]

    @property
    def literal_length(self) -> int:
        """How much of the template is fixed text: the most specific match wins."""
        return len(re.sub(r"\{[^}]+\}", "", self.template))


class Contract:
    """The operations of the contract, able to validate responses."""

    def __init__(self, document: dict[str, Any]):
        components = document["components"]
        self.schemas = {name: convert(sub) for name, sub in components["schemas"].items()}
        self.responses: dict[str, Any] = components.get("responses", {})
        self.operations = [
            Operation(method.upper(), path, _template_regex(path), op.get("responses", {}))
            for path, item in document["paths"].items()
            for method, op in item.items()
            if method in _METHODS
        ]

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation a request path (relative to the API base) belongs to, if any."""
        hits = [
            op for op in self.operations if op.method == method.upper() and op.regex.match(path)
        ]
        for verb, legacy, documented in _LEGACY_ROUTES:
            if verb == method.upper() and _template_regex(legacy).match(path):
                hits += [
                    op for op in self.operations if (op.method, op.template) == (verb, documented)
                ]
        return max(hits, key=lambda op: op.literal_length, default=None)

    def response_schema(self, op: Operation, status: int) -> dict[str, Any] | None:
        """The JSON schema declared for a status (None: no body declared)."""
        response = op.responses.get(str(status))
        if response is None:
            if status < 400:
                raise ContractError(f"{op.method} {op.template} does not declare {status}")
            return {"$ref": "#/components/schemas/basic-error"}
        if "$ref" in response:
            response = self.responses[response["$ref"].rsplit("/", 1)[1]]
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        return None if schema is None else convert(schema)

    def validate(self, method: str, path: str, status: int, body: Any) -> Operation:
        """Check one response; raise ContractError with every violation found."""
        op = self.operation(method, path)
        if op is None:
            raise ContractError(f"{method} {path} is not an operation of the contract")
        schema = self.response_schema(op, status)
        if schema is None:
            if body not in (None, b"", ""):
                _check_errorish(op, status, body)
            return op
        validator = Draft202012Validator(
            {**schema, "components": {"schemas": self.schemas}}, format_checker=FormatChecker()
        )
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [
                f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
            ]
            shown = "\n  ".join(line[:300] for line in lines[:20])
            raise ContractError(f"{method} {path} -> {status} breaks {op.template}:\n  {shown}")
        return op


def _check_errorish(op: Operation, status: int, body: Any) -> None:
    """Undeclared bodies (404/409 on merges) must still look like GitHub errors."""
    if status >= 400 and not (isinstance(body, dict) and isinstance(body.get("message"), str)):
        raise ContractError(f"{op.method} {op.template} -> {status}: error body {body!r}")


def _template_regex(template: str) -> re.Pattern[str]:
    """owner and repo are single segments; other parameters may hold slashes (refs)."""
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            pattern += "[^/]+" if name in ("owner", "repo") else ".+"
    return re.compile(f"^{pattern}$")


@functools.cache
def load_contract(path: Path = CONTRACT_FILE) -> Contract:
    """The contract, read once per test session."""
    return Contract(json.loads(path.read_text()))
