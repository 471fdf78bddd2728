"""Fuzz target (a): the client's parser, a pure function from a body to a status document.

For every body the parser either returns exactly what the oracle (documents.expected_document,
written from the schema, not from the client) reads from it, or raises
HAsyncInvalidResponseError with a short one-line message; nothing else may escape.
"""

import json
from typing import Any

from hypothesis import event, example, given
from jsonschema import Draft202012Validator

from custom_components.hasync.client.errors import HAsyncInvalidResponseError
from custom_components.hasync.client.models import parse_status

from .conftest import Target, fuzz_settings, minimum
from .documents import (
    OPENAPI,
    bodies,
    documents,
    dumps,
    encode,
    expected_document,
    model_view,
    read_document,
    valid_documents,
)

VALID_EXAMPLES = 400
DOCUMENT_EXAMPLES = 2000
BODY_EXAMPLES = 800
FUZZ_MINIMUMS = {
    "test_schema_valid_documents_are_accepted": minimum(VALID_EXAMPLES),
    "test_mutated_documents": minimum(DOCUMENT_EXAMPLES),
    "test_bodies": minimum(BODY_EXAMPLES),
}
FUZZ_MIXED = {"test_mutated_documents", "test_bodies"}

VALIDATOR = Draft202012Validator(
    {**json.loads(OPENAPI.read_text()), "$ref": "#/components/schemas/StatusDocument"},
    format_checker=Draft202012Validator.FORMAT_CHECKER,
)


def check_message(error: HAsyncInvalidResponseError) -> None:
    """Check that an error message is one short line of printable text."""
    message = str(error)
    assert message
    assert len(message) <= 300, message[:400]
    assert message.isprintable(), repr(message[:400])


def parse_against_oracle(body: bytes, described: str) -> bool:
    """Parse a body and compare with the oracle; return whether it was a valid document."""
    expected = expected_document(body)
    try:
        parsed = parse_status(body)
    except HAsyncInvalidResponseError as raised:
        err: HAsyncInvalidResponseError | None = raised
    else:
        err = None
    if err is not None:
        check_message(err)
        assert expected is None, f"rejected a valid document ({described}): {err}"
        event(f"rejected: {str(err).split(':')[0]}")
        return False
    assert expected is not None, f"accepted an invalid document ({described})"
    assert model_view(parsed) == expected, described
    return True


@fuzz_settings(VALID_EXAMPLES)
@given(document=valid_documents())
def test_schema_valid_documents_are_accepted(
    document: dict[str, Any], fuzz_examples: Target
) -> None:
    """Whatever the schema allows, the client takes, and reads as sent."""
    fuzz_examples(accepted=True)
    errors = [error.message for error in VALIDATOR.iter_errors(document)]
    assert not errors, errors  # the generator keeps to the schema
    parsed = parse_status(encode(dumps(document)))
    assert model_view(parsed) == read_document(document)


@fuzz_settings(DOCUMENT_EXAMPLES)
@given(case=documents())
@example(case=({"schema_version": 1}, ["sections missing"]))
def test_mutated_documents(case: tuple[Any, list[str]], fuzz_examples: Target) -> None:
    """Wrong types, missing members, nulls, NaN, huge numbers and strings, unknown members."""
    document, mutations = case
    described = "; ".join(mutations)
    for mutation in mutations:
        event(mutation.split(" ")[0])
    fuzz_examples(accepted=parse_against_oracle(encode(dumps(document)), described))


@fuzz_settings(BODY_EXAMPLES)
@given(case=bodies())
@example(case=(b"[" * 500_000, "deep"))
@example(case=(b'{"a":' * 300_000, "deep object"))
@example(case=(b"\xff\xfe\x00", "not UTF-8"))
def test_bodies(case: tuple[bytes, str], fuzz_examples: Target) -> None:
    """Truncated JSON, non-JSON, HTML pages, empty bodies, deep nesting, UTF-16, BOMs."""
    body, described = case
    event(described.split(":")[0])
    fuzz_examples(accepted=parse_against_oracle(body, described))
