"""Where each rule of a test double comes from.

A test double may refuse a request for one of two reasons, and must say which:

:class:`Cite`
    The vendor documents the rule: the page and its statement (short). The double
    enforces it because the real service does.
:class:`NotEmulated`
    The double does not implement something (a feature the adapters never use, or
    a case the vendor's documentation leaves undefined). It refuses rather than
    guess, and its message says so; it is *not* presented as the vendor's rule.
:class:`Harness`
    Test machinery (fault injection), not behaviour of the service.

Every refusal goes through the double's error helper, which takes one of these;
``tests/unit/test_double_citations.py`` fails when a refusal has none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cite:
    """A vendor documentation statement: the page and what it says."""

    url: str
    says: str


@dataclass(frozen=True, slots=True)
class NotEmulated:
    """Something the double does not implement; refused, and not a vendor rule."""

    what: str

    def message(self, detail: str) -> str:
        return f"{detail} (this test server does not emulate {self.what})"


@dataclass(frozen=True, slots=True)
class Harness:
    """Test machinery (fault injection), not service behaviour."""

    what: str


Source = Cite | NotEmulated | Harness


def check_source(source: object) -> Source:
    """``source`` if it says where a refusal comes from; TypeError otherwise."""
    if not isinstance(source, Cite | NotEmulated | Harness):
        raise TypeError(f"a refusal needs a Cite, NotEmulated or Harness, not {source!r}")
    return source
