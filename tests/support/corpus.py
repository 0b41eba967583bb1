"""A hand-written retrieval test set: documents on distinct topics and paraphrased queries."""

from __future__ import annotations

import random

#: (id, document text, metadata, paraphrased query). The query shares few words with the text.
TOPICS: list[tuple[str, str, dict[str, object], str]] = [
    (
        "photosynthesis",
        "Plants convert sunlight, water and carbon dioxide into glucose and oxygen "
        "inside their chloroplasts.",
        {"domain": "biology", "year": 1950, "level": 1.5},
        "How do green leaves turn light into sugar?",
    ),
    (
        "volcano",
        "Magma rising through the crust erupts as lava, ash and gas when pressure in the "
        "chamber becomes too great.",
        {"domain": "geology", "year": 1980, "level": 2.0},
        "Why do mountains explode with molten rock?",
    ),
    (
        "sourdough",
        "A sourdough starter is a fermented mix of flour and water that leavens bread "
        "with wild yeast and lactic acid bacteria.",
        {"domain": "cooking", "year": 2020, "level": 1.0},
        "What makes naturally risen loaves rise without commercial yeast?",
    ),
    (
        "black_hole",
        "When a massive star collapses, its gravity becomes so strong that not even "
        "light can escape beyond the event horizon.",
        {"domain": "physics", "year": 1970, "level": 3.0},
        "What cosmic object traps everything including light?",
    ),
    (
        "mortgage",
        "A fixed-rate home loan keeps the same interest rate and monthly repayment for "
        "the whole term of the borrowing.",
        {"domain": "finance", "year": 2005, "level": 1.0},
        "Which house financing keeps my payments constant for years?",
    ),
    (
        "marathon",
        "Distance runners build endurance for the 42-kilometre race with long slow runs, "
        "tempo workouts and a taper before race day.",
        {"domain": "sport", "year": 2015, "level": 2.5},
        "How should I train to run 26 miles?",
    ),
    (
        "vaccine",
        "Immunisation exposes the immune system to a harmless piece of a pathogen so that "
        "it produces antibodies and memory cells.",
        {"domain": "medicine", "year": 1990, "level": 2.0},
        "How do jabs teach the body to fight germs?",
    ),
    (
        "tcp",
        "The transmission control protocol guarantees ordered, reliable delivery of bytes "
        "using sequence numbers, acknowledgements and retransmission.",
        {"domain": "computing", "year": 1981, "level": 3.5},
        "Which network protocol makes sure packets arrive complete and in order?",
    ),
    (
        "coral",
        "Rising ocean temperatures cause corals to expel their symbiotic algae, turning "
        "reefs white in a process called bleaching.",
        {"domain": "ecology", "year": 2016, "level": 2.0},
        "Why are tropical reefs losing their colour as seas warm?",
    ),
    (
        "impressionism",
        "Monet and Renoir painted outdoors with loose brushstrokes to capture "
        "fleeting light and colour rather than precise detail.",
        {"domain": "art", "year": 1874, "level": 1.5},
        "Which French painters tried to capture momentary light en plein air?",
    ),
    (
        "chess",
        "Castling moves the king two squares toward a rook and places the rook on the "
        "square the king crossed, in a single turn.",
        {"domain": "games", "year": 1500, "level": 1.0},
        "What is the special move where the king and rook swap sides?",
    ),
    (
        "espresso",
        "Espresso is brewed by forcing hot water at about nine bars of pressure through "
        "finely ground, tightly packed coffee.",
        {"domain": "cooking", "year": 1901, "level": 1.0},
        "How is a strong concentrated coffee shot made under pressure?",
    ),
    (
        "tides",
        "The moon's gravitational pull on the oceans creates two bulges of water, giving "
        "most coasts two high and two low waters a day.",
        {"domain": "geology", "year": 1687, "level": 2.0},
        "What causes the sea level to rise and fall twice daily?",
    ),
    (
        "inflation",
        "When the general price level rises, each unit of currency buys fewer goods, "
        "and central banks may raise interest rates in response.",
        {"domain": "finance", "year": 1970, "level": 2.5},
        "Why does money lose purchasing power over time?",
    ),
    (
        "bees",
        "Honeybees communicate the direction and distance of flowers to their hive mates "
        "with a waggle dance.",
        {"domain": "biology", "year": 1973, "level": 1.5},
        "How do pollinating insects tell each other where nectar is?",
    ),
    (
        "guitar",
        "Tuning a six-string guitar in standard tuning sets the strings to E, A, D, G, B "
        "and E from the lowest to the highest.",
        {"domain": "music", "year": 1800, "level": 1.0},
        "What notes should my acoustic's strings be tuned to?",
    ),
    (
        "password",
        "Store user passwords as salted hashes made with a slow key derivation function "
        "such as bcrypt or Argon2, never in plain text.",
        {"domain": "computing", "year": 2015, "level": 3.0},
        "What is the safe way to keep login secrets in a database?",
    ),
    (
        "rainforest",
        "Tropical rainforests near the equator receive heavy rainfall all year and "
        "hold more than half of the world's plant and animal species.",
        {"domain": "ecology", "year": 2000, "level": 1.5},
        "Where on Earth is biodiversity the highest, in wet jungles?",
    ),
    (
        "compost",
        "Kitchen scraps and garden waste break down into rich humus when microbes have "
        "air, moisture and a balance of green and brown material.",
        {"domain": "gardening", "year": 2010, "level": 1.0},
        "How do I turn food leftovers into fertiliser for my garden?",
    ),
    (
        "pyramids",
        "The great pyramids of Giza were built as tombs for pharaohs of Egypt's Old "
        "Kingdom more than four thousand years ago.",
        {"domain": "history", "year": -2560, "level": 2.0},
        "Where were ancient Egyptian kings buried in huge stone monuments?",
    ),
    (
        "jet_lag",
        "Crossing several time zones desynchronises the body's circadian clock, causing "
        "fatigue and poor sleep until it adjusts to local daylight.",
        {"domain": "medicine", "year": 2012, "level": 1.5},
        "Why do I feel tired after flying across continents?",
    ),
    (
        "recycling",
        "Aluminium cans can be melted down and recycled indefinitely, using about five "
        "percent of the energy needed to make new metal from ore.",
        {"domain": "ecology", "year": 2018, "level": 1.0},
        "Is it worth reprocessing drink tins instead of mining new metal?",
    ),
    (
        "quantum",
        "A qubit can exist in a superposition of zero and one, and entangled qubits "
        "share correlations that classical bits cannot.",
        {"domain": "physics", "year": 1995, "level": 4.0},
        "What lets quantum computers hold both states at once?",
    ),
    (
        "origami",
        "Folding a single square sheet of paper without cuts or glue can produce cranes, "
        "frogs and intricate geometric shapes.",
        {"domain": "art", "year": 1600, "level": 1.0},
        "What is the Japanese craft of making figures from folded paper?",
    ),
]

_CITIES = ["Oslo", "Lima", "Perth", "Quebec", "Nairobi", "Hanoi", "Tbilisi", "Porto", "Dakar"]
_ITEMS = ["bolts", "pallets", "cartons", "crates", "spools", "drums", "coils", "sacks"]


def filler(n: int, seed: int = 7) -> list[tuple[str, str, dict[str, object]]]:
    """``n`` mundane inventory and logistics records: plausible text far from every topic."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        city = rng.choice(_CITIES)
        item = rng.choice(_ITEMS)
        qty = rng.randint(2, 900)
        shelf = rng.randint(1, 60)
        text = (
            f"Warehouse {city} stock ledger entry {i}: {qty} {item} moved to shelf {shelf} "
            f"and recorded by the night shift."
        )
        meta: dict[str, object] = {
            "domain": "logistics",
            "year": 2000 + rng.randint(0, 24),
            "level": round(rng.uniform(0, 5), 2),
            "city": city,
        }
        if i % 3 == 0:
            meta["tags"] = [item, city.lower()]
        out.append((f"filler-{i:04d}", text, meta))
    return out
