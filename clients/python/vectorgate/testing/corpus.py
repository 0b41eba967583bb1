"""Test data of the hybrid-search contract: product codes a dense model confuses."""

from __future__ import annotations

#: The hybrid-search test set: only "p1" carries the product code ZX-4471-Q; the
#: near-identical codes of d1..d5 are what a dense model ranks closer to the bare code.
PRODUCTS: list[tuple[str, str]] = [
    (
        "p1",
        "ZX-4471-Q stainless garden hose reel with a thirty metre hose, wall bracket and a "
        "spray nozzle for watering lawns and flower beds.",
    ),
    ("d1", "Part number XZ-4417-O."),
    ("d2", "Part number ZK-4714-D."),
    ("d3", "Part number ZY-4474-G."),
    ("d4", "SKU XZ-7144-P."),
    ("d5", "Catalogue item ZC-4441-B."),
    ("g1", "Garden tools: rakes, spades and pruning shears for the autumn clean-up."),
    ("g2", "Lawn mowers should be serviced before spring."),
    ("c1", "Boil the pasta for ten minutes in salted water."),
]
