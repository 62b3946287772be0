"""Mutate a real signed PDF (bytes inside and outside the signed range) for a bounded time: nothing
crashes the verifier, and a changed signed range is never TOTAL_PASSED."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docsign.errors import DocsignError
from docsign.verification.engine import verify_pdf
from docsign.verification.report import Indication
from tests.unit.verification.pdfs import signed_range

EXAMPLES = int(os.environ.get("DOCSIGN_FUZZ_EXAMPLES", "300"))


class Target:
    def __init__(self, data: bytes, root: object) -> None:
        self.data, self.root = data, root

    def __repr__(self) -> str:
        return f"<signed PAdES-B-LT PDF, {len(self.data)} bytes>"


@pytest.fixture(scope="module")
def target(kit, docs):  # type: ignore[no-untyped-def]
    data = docs.b_lt  # passes offline, so "not TOTAL_PASSED" is a real assertion
    assert verify_pdf(data, [kit.root], offline=True).indication is Indication.TOTAL_PASSED
    return Target(data, kit.root)


mutation = st.tuples(st.floats(0, 1, allow_nan=False, exclude_max=True), st.integers(1, 255),
                     st.sampled_from(["xor", "insert", "delete", "truncate"]))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutations=st.lists(mutation, min_size=1, max_size=4), inside=st.booleans())
def test_mutated_signed_pdfs(target, mutations, inside):  # type: ignore[no-untyped-def]
    original = target.data
    _, a, b, c = signed_range(original)
    data = bytearray(original)
    for where, value, kind in mutations:
        if not data:
            break
        if inside:  # somewhere in the signed bytes
            span = a + c
            offset = int(where * span)
            offset = offset if offset < a else b + (offset - a)
        else:
            offset = int(where * len(data))
        offset = min(offset, len(data) - 1)
        if kind == "xor":
            data[offset] ^= value
        elif kind == "insert":
            data[offset:offset] = bytes([value])
        elif kind == "delete":
            del data[offset]
        else:
            del data[offset:]
    touched_signed = data[:a] != original[:a] or data[b:b + c] != original[b:b + c]
    try:
        report = verify_pdf(bytes(data), [target.root], offline=True)
    except DocsignError as exc:
        assert exc.http_status in (400, 413, 415)
        return
    if touched_signed:
        assert all(s.indication is not Indication.TOTAL_PASSED for s in report.signatures), report.to_dict()
