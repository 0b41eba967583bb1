"""The web console at /ui, driven in headless Chromium against a real `vectorgate serve`.

One server per module (the tests run in order, each building on the last):
the admin creates a collection, uploads files, creates a virtual index with a
policy filter, mints a read-only key and searches with a filter; then a browser
signed in with that key sees no admin page and its direct API calls are refused;
then keyboard-only use and labelled controls; then the security headers and
where the page loads from.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.support.servers import ROOT
from vectorgate_server.embeddings import MODEL_NAME

from .conftest import MASTER_KEY, Console

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FILES = {
    "tea.md": "# Tea\n\nGreen tea is a hot drink brewed from the leaves of the tea plant. "
    "Steep it for two minutes in water just below boiling.\n",
    "coffee.md": "# Coffee\n\nEspresso is a hot drink made by forcing hot water through finely "
    "ground coffee beans under pressure.\n",
    "rust.txt": "Rust is a systems programming language with ownership and borrowing that "
    "prevent data races at compile time.\n",
}
COLLECTION = "kb"
INDEX = "drinks"
POLICY_SOURCES = ["tea.md", "coffee.md"]

#: Shared between the tests of this module (they run in file order).
STATE: dict[str, Any] = {}


def sign_in(page: Any, console: Console, key: str, path: str = "/ui") -> None:
    page.goto(path)
    page.get_by_label("API key (the master key or a virtual key)", exact=True).fill(key)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_selector("#shell:not([hidden])")


def go(page: Any, view: str) -> None:
    page.locator(f"nav a[data-view={view}]").click()
    page.wait_for_selector(f"#view-{view}:not([hidden])")


def write_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in FILES.items():
        path = folder / name
        path.write_text(text)
        paths.append(path)
    return paths


def all_documents(console: Console, collection: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    token = ""
    while True:
        r = console.api(
            "GET",
            f"/v1/collections/{collection}/documents",
            params={"page_size": 2, "page_token": token},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        docs.extend(body["documents"])
        token = body["next_page_token"]
        if not token:
            return docs


def test_admin_creates_index_mints_key_and_searches_with_a_filter(
    page: Any, console: Console, shoot: Any, tmp_path: Path
) -> None:
    sign_in(page, console, MASTER_KEY)
    assert page.locator("#whoami").inner_text() == "signed in with the master key"

    # A collection, created from the Collections page.
    page.get_by_label("Name", exact=True).fill(COLLECTION)
    page.get_by_role("button", name="Create collection", exact=True).click()
    page.get_by_role("button", name=f"Browse {COLLECTION}", exact=True).wait_for()

    # Upload three files with progress; the server chunks them like `vectorgate ingest`.
    go(page, "ingest")
    paths = write_files(tmp_path / "files")
    page.get_by_label("Collection or index", exact=True).fill(COLLECTION)
    page.get_by_label("Files", exact=True).set_input_files([str(p) for p in paths])
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#ingest-status")).to_have_text(re.compile(r"^Done"))
    status = page.locator("#ingest-status").inner_text()
    assert status.startswith("Done: 3 file(s), 3 chunk(s), 3 new"), status
    progress = page.locator("#ingest-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max")
    shoot(page, "ingest")

    # Uploading again writes nothing: the ids are idempotent.
    page.get_by_label("Files", exact=True).set_input_files([str(paths[0])])
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#ingest-status")).to_have_text(re.compile(r"^Done: 1 "))
    assert "1 chunk(s), 0 new" in page.locator("#ingest-status").inner_text()

    # The same files through the CLI give the same chunk ids and metadata.
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "vectorgate_server",
            "ingest",
            *map(str, paths),
            "--collection",
            "kb_cli",
            "--target",
            console.grpc_target,
            "--api-key",
            MASTER_KEY,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=str(ROOT),
    )
    assert cli.returncode == 0, cli.stderr
    by_ui = {d["id"]: d for d in all_documents(console, COLLECTION)}
    by_cli = {d["id"]: d for d in all_documents(console, "kb_cli")}
    assert set(by_ui) == set(by_cli) and len(by_ui) == 3
    for doc_id, doc in by_ui.items():
        assert doc["text"] == by_cli[doc_id]["text"]
        assert doc["metadata"] == by_cli[doc_id]["metadata"]

    # Browse the documents a page at a time.
    go(page, "collections")
    page.get_by_role("button", name=f"Browse {COLLECTION}", exact=True).click()
    page.get_by_label("Page size", exact=True).select_option("10")
    expect(page.locator("#docs-status")).to_contain_text("3 document")
    spec = json.loads(page.locator("#coll-spec").inner_text())
    assert spec["name"] == COLLECTION and int(spec["document_count"]) == 3
    rows = page.locator("#docs-rows tr")
    assert rows.count() == 3
    assert {
        json.loads(rows.nth(i).locator("td").nth(2).inner_text())["source"] for i in range(3)
    } == set(FILES)
    shoot(page, "collections")

    # A virtual index with a policy filter: only the drinks.
    go(page, "indexes")
    page.get_by_label("Index name", exact=True).fill(INDEX)
    page.get_by_label("Collection", exact=True).fill(COLLECTION)
    page.get_by_label("Description", exact=True).fill("hot drinks only")
    page.locator("#index-filter").get_by_role("button", name="Add condition", exact=True).click()
    page.get_by_label("Condition 1 field", exact=True).fill("source")
    page.get_by_label("Condition 1 operator", exact=True).select_option(label="in")
    page.get_by_label("Condition 1 value", exact=True).fill(", ".join(POLICY_SOURCES))
    preview = json.loads(page.locator("#index-filter pre").inner_text())
    assert preview == {
        "condition": {
            "field": "source",
            "op": "FILTER_OPERATOR_IN",
            "value": {"list_value": {"values": [{"string_value": s} for s in POLICY_SOURCES]}},
        }
    }
    page.get_by_role("button", name="Create index", exact=True).click()
    page.get_by_role("button", name=f"Delete index {INDEX}", exact=True).wait_for()
    r = console.api("GET", f"/v1/indexes/{INDEX}")
    assert r.status_code == 200 and r.json()["index"]["policy_filter"] == preview
    shoot(page, "indexes")

    # Mint a read-only key on the index; it is shown once.
    go(page, "keys")
    page.get_by_label("Alias", exact=True).fill("reader")
    page.get_by_label("Expires after (e.g. 30d, 12h; empty: never)", exact=True).fill("1d")
    page.get_by_role("button", name="Add grant", exact=True).click()
    page.get_by_label("Index 1", exact=True).select_option(INDEX)
    page.get_by_role("button", name="Mint key", exact=True).click()
    page.wait_for_selector("#key-new:not([hidden])")
    key = page.get_by_label("Key", exact=True).input_value()
    assert key.startswith("sk-")
    page.get_by_role("button", name="Revoke key reader", exact=True).wait_for()
    shoot(page, "keys")
    page.get_by_role("button", name="Done", exact=True).click()
    assert page.locator("#key-new-value").input_value() == ""

    # A second key, limited to a model, revoked from the list: it stops working at once.
    page.get_by_label("Alias", exact=True).fill("temp")
    page.get_by_label("Models (comma-separated; empty: any)", exact=True).fill(MODEL_NAME)
    page.get_by_role("button", name="Mint key", exact=True).click()
    page.wait_for_selector("#key-new:not([hidden])")
    temp = page.get_by_label("Key", exact=True).input_value()
    assert console.api("GET", "/key/info", key=temp).json()["info"]["models"] == [MODEL_NAME]
    page.get_by_role("button", name="Done", exact=True).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke key temp", exact=True).click()
    expect(page.get_by_role("button", name="Revoke key temp", exact=True)).to_have_count(0)
    assert console.api("GET", "/key/info", key=temp).status_code == 401
    info = console.api("GET", "/key/info", key=key).json()["info"]
    assert info["key_alias"] == "reader"
    assert info["allowed_vector_store_indexes"] == [
        {"index_name": INDEX, "index_permissions": ["read"]}
    ]
    STATE["key"] = key

    # Search with a filter: only the tea document, whatever the query says.
    go(page, "search")
    page.get_by_label("Collection or index 1", exact=True).fill(COLLECTION)
    page.get_by_label("Query text", exact=True).fill("a hot drink")
    page.locator("#search-filter").get_by_role("button", name="Add condition", exact=True).click()
    page.get_by_label("Condition 1 field", exact=True).fill("source")
    page.get_by_label("Condition 1 value", exact=True).fill("tea.md")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#search-status")).to_contain_text("hit")
    hits = page.locator("#search-hits tr")
    assert hits.count() == 1
    assert json.loads(hits.first.locator("td").nth(5).inner_text())["source"] == "tea.md"
    shoot(page, "search")

    # Without the filter all three come back, the drinks first.
    page.get_by_role("button", name="Remove condition 1", exact=True).click()
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#search-status")).to_have_text("3 hit(s)")
    sources = [
        json.loads(hits.nth(i).locator("td").nth(5).inner_text())["source"] for i in range(3)
    ]
    assert sources[-1] == "rust.txt"

    # Explain: the compiled native filter of the backend.
    page.locator("#search-filter").get_by_role("button", name="Add condition", exact=True).click()
    page.get_by_label("Condition 1 field", exact=True).fill("source")
    page.get_by_label("Condition 1 value", exact=True).fill("coffee.md")
    page.get_by_label("Explain only (dry run: the compiled native filter)", exact=True).check()
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_selector("#search-explain-box:not([hidden])")
    explanation = json.loads(page.locator("#search-explanation").inner_text())
    assert explanation["backend"] == "lancedb"
    assert "coffee.md" in explanation["native_filter"]
    page.get_by_label("Explain only (dry run: the compiled native filter)", exact=True).uncheck()

    # A vector query: the tea chunk's own stored vector finds it first.
    page.get_by_role("button", name="Remove condition 1", exact=True).click()
    tea_id = next(i for i, d in by_ui.items() if d["metadata"]["source"] == "tea.md")
    got = console.api(
        "POST",
        f"/v1/collections/{COLLECTION}/documents:get",
        json={"ids": [tea_id], "include_vectors": True},
    )
    packed = base64.b64decode(got.json()["documents"][0]["vector"]["packed"])
    vector = np.frombuffer(packed, dtype="<f4")
    page.get_by_label("Vector", exact=True).check()
    page.get_by_label("Query vector (numbers separated by commas)", exact=True).fill(
        ", ".join(f"{v:.7g}" for v in vector)
    )
    page.get_by_label("Top k", exact=True).fill("1")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#search-status")).to_have_text("1 hit(s)")
    assert (
        page.locator("#search-hits tr").first.locator("td").nth(1).get_attribute("title") == tea_id
    )
    page.get_by_label("Text", exact=True).check()
    page.get_by_label("Top k", exact=True).fill("10")

    # Hybrid (dense + keyword) with the local reranker: the keyword retriever shows in
    # the contributions, and the reranked best hit is the coffee chunk.
    page.get_by_label("Mode", exact=True).select_option("SEARCH_MODE_HYBRID")
    page.get_by_label("Hybrid keyword weight", exact=True).fill("2")
    page.get_by_label("Rerank", exact=True).check()
    page.get_by_label("Rerank model (empty: the server's default)", exact=True).fill("local")
    page.get_by_label("Query text", exact=True).fill("espresso coffee beans")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#search-status")).to_have_text("3 hit(s)")
    best = page.locator("#search-hits tr").first.locator("td")
    assert json.loads(best.nth(5).inner_text())["source"] == "coffee.md"
    assert "keyword" in best.nth(6).inner_text() and "dense" in best.nth(6).inner_text()
    shoot(page, "hybrid-rerank")
    page.get_by_label("Mode", exact=True).select_option("SEARCH_MODE_DENSE")
    page.get_by_label("Rerank", exact=True).uncheck()
    page.get_by_label("Query text", exact=True).fill("a hot drink")

    # Fused search over two targets: every hit lists its per-source contributions,
    # and a target that fails is reported while the others still answer.
    page.get_by_role("button", name="Add target", exact=True).click()
    page.get_by_label("Collection or index 2", exact=True).fill("kb_cli")
    page.get_by_role("button", name="Add target", exact=True).click()
    page.get_by_label("Collection or index 3", exact=True).fill("no_such_collection")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#search-status")).to_contain_text("failed")
    assert "1 failed target(s)" in page.locator("#search-status").inner_text()
    assert "no_such_collection" in page.locator("#search-failures").inner_text()
    first = page.locator("#search-hits tr").first.locator("td").nth(6).inner_text()
    # The same chunk id in both collections: one hit, fused from two sources.
    assert "lancedb/kb dense #1" in first and "lancedb/kb_cli dense #1" in first, first
    assert first.count("→ +") == 2
    shoot(page, "fused")

    # Live metrics: the searches above show in the per-RPC table and the charts.
    go(page, "metrics")
    expect(
        page.locator("#rpc-rows td:first-child", has_text=re.compile(r"^Search$"))
    ).to_have_count(1)
    cells = (
        page.locator("#rpc-rows tr")
        .filter(has=page.locator("td:first-child", has_text=re.compile(r"^Search$")))
        .locator("td")
    )
    assert int(cells.nth(1).inner_text()) >= 4
    assert float(cells.nth(5).inner_text()) > 0  # p99 in ms
    page.wait_for_selector("#chart-rate canvas")
    page.wait_for_selector("#chart-p99 canvas")
    assert "lancedb" in page.locator("#store-rows").inner_text()
    # A second scrape gives the charts their first interval.
    first_scrape = page.locator("#metrics-status").inner_text()
    expect(page.locator("#metrics-status")).not_to_have_text(first_scrape)
    shoot(page, "metrics")
    assert not [e for e in page.errors if "Refused" in e or "Uncaught" in e], page.errors


def test_read_only_key_sees_no_admin_pages_and_is_refused(
    page: Any, console: Console, shoot: Any, tmp_path: Path
) -> None:
    key = STATE.get("key")
    if key is None:
        pytest.fail("the admin test did not mint a key")
    sign_in(page, console, key)
    assert "reader" in page.locator("#whoami").inner_text()

    # No admin page, no store picker; the admin routes fall back to Collections.
    for view in ("indexes", "keys"):
        assert not page.locator(f"nav a[data-view={view}]").is_visible()
        page.goto(f"/ui/#/{view}")
        page.wait_for_selector("#view-collections:not([hidden])")
        assert page.locator(f"#view-{view}").is_hidden()
    assert page.locator("#coll-create").is_hidden()
    assert page.locator("#coll-store").is_hidden()

    # Collections: the granted index only, counted through its policy.
    rows = page.locator("#coll-rows tr")
    rows.first.wait_for()
    assert rows.count() == 1
    assert rows.first.locator("td").nth(7).inner_text() == "2"
    page.get_by_role("button", name=f"Browse {INDEX}", exact=True).click()
    expect(page.locator("#docs-status")).to_contain_text("2 document")
    shoot(page, "collections")

    # Search through the index: the policy holds even with no filter.
    go(page, "search")
    assert page.locator("#search-targets select").count() == 0
    page.get_by_label("Index 1", exact=True).fill(INDEX)
    page.get_by_label("Query text", exact=True).fill("programming language")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#search-status")).to_have_text("2 hit(s)")
    text = page.locator("#search-hits").inner_text()
    assert "rust.txt" not in text and "tea.md" in text

    # Ingest with a read-only key: the upload is refused by the server.
    go(page, "ingest")
    assert page.locator("#ingest-store").is_hidden()
    path = write_files(tmp_path / "more")[0]
    page.get_by_label("Collection or index", exact=True).fill(INDEX)
    page.get_by_label("Files", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#ingest-status")).to_have_text(re.compile(r"^Done"))
    assert "no write access" in page.locator("#ingest-log").inner_text()
    shoot(page, "ingest-refused")

    # Direct API calls from the signed-in page (its key, its origin) are refused.
    calls = [
        ("GET", "/v1/stores", None),
        ("GET", "/v1/indexes", None),
        ("POST", "/v1/indexes", {"index_name": "x", "litellm_params": {
            "vector_store_name": "lancedb", "vector_store_index": COLLECTION}}),
        ("DELETE", f"/v1/collections/{COLLECTION}", None),
        ("GET", f"/v1/collections/{COLLECTION}/documents", None),
        ("POST", f"/v1/collections/{INDEX}/documents:upsert",
         {"documents": [{"id": "x", "text": "x"}]}),
        ("POST", "/key/generate", {"allowed_vector_store_indexes": [
            {"index_name": INDEX, "index_permissions": ["write"]}]}),
    ]  # fmt: skip
    statuses = page.evaluate(
        """async (calls) => {
            const key = sessionStorage.getItem('vectorgate.console.key');
            const out = [];
            for (const [method, path, body] of calls) {
                const init = {method, headers: {Authorization: `Bearer ${key}`}};
                if (body) {
                    init.body = JSON.stringify(body);
                    init.headers['Content-Type'] = 'application/json';
                }
                out.push((await fetch(path, init)).status);
            }
            return out;
        }""",
        calls,
    )
    assert statuses == [403] * len(calls), list(zip(calls, statuses, strict=True))
    # The index itself is readable.
    assert console.api("GET", f"/v1/collections/{INDEX}/documents", key=key).status_code == 200

    # The key never appears in a URL; it lives in this tab's session storage only.
    assert not [u for u in page.requested if key in u]
    assert page.evaluate("localStorage.length") == 0
    page.get_by_role("button", name="Sign out", exact=True).click()
    assert page.evaluate("sessionStorage.getItem('vectorgate.console.key')") is None


#: Every control a person can operate: focusable and shown.
_CONTROLS_JS = """() => Array.from(document.querySelectorAll(
    'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])'))
  .filter(el => !el.disabled && el.offsetParent !== null && el.getClientRects().length > 0)
  .filter(el => getComputedStyle(el).visibility !== 'hidden')"""


def _accessible_names(page: Any) -> list[dict[str, str]]:
    return page.evaluate(
        f"""() => ({_CONTROLS_JS})().map(el => {{
            const labelled = el.getAttribute('aria-labelledby');
            const name = (el.labels && el.labels.length
                ? Array.from(el.labels).map(l => l.textContent).join(' ')
                : el.getAttribute('aria-label')
                  || (labelled && labelled.split(' ')
                      .map(id => document.getElementById(id)?.textContent || '').join(' '))
                  || (['BUTTON', 'A'].includes(el.tagName) ? el.textContent : '')
                  || el.getAttribute('title') || '').trim();
            return {{tag: el.tagName, id: el.id, type: el.type || '', checked: !!el.checked, name}};
        }})"""
    )


def _tab_through(page: Any, limit: int = 400) -> set[str]:
    """Press Tab until focus comes back round; the ids (or descriptions) of what got focus."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.locator("body").focus()
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        ident = page.evaluate(
            """() => { const el = document.activeElement;
                if (!el || el === document.body) return '';
                const name = el.getAttribute('aria-label') || el.textContent.trim();
                return el.id || `${el.tagName}:${name}`; }"""
        )
        if ident and seen and ident == seen[0]:
            break
        seen.append(ident)
    return set(seen) - {""}


def test_keyboard_navigation_and_labelled_controls(page: Any, console: Console, shoot: Any) -> None:
    # Sign in with the keyboard only: the key field has focus, Enter submits.
    page.goto("/ui/")
    page.wait_for_selector("#signin:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "signin-key"
    assert page.evaluate("document.activeElement.type") == "password"
    page.keyboard.type(MASTER_KEY)
    page.keyboard.press("Enter")
    page.wait_for_selector("#shell:not([hidden])")

    # On a fresh load (the session stays signed in) the skip link is the first stop,
    # and it moves focus to the content.
    page.reload()
    page.wait_for_selector("#shell:not([hidden])")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    for view in ("collections", "search", "ingest", "indexes", "keys", "metrics"):
        # Reach the view's nav link with Tab and open it with Enter.
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.dataset.view || ''") == view:
                break
        else:
            pytest.fail(f"Tab never reached the {view} link")
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#view-{view}:not([hidden])")
        if view == "search":
            page.locator("#search-filter").get_by_role(
                "button", name="Add condition", exact=True
            ).click()
        if view == "keys":
            page.get_by_role("button", name="Add grant", exact=True).click()
        page.wait_for_timeout(300)

        controls = _accessible_names(page)
        assert controls, view
        unnamed = [c for c in controls if not c["name"]]
        assert not unnamed, f"{view}: controls without an accessible name: {unnamed}"

        reached = _tab_through(page)
        # A radio group is one Tab stop (its checked radio); arrow keys move inside it.
        expected = {c["id"] for c in controls if c["id"] and (c["type"] != "radio" or c["checked"])}
        missing = expected - reached
        assert not missing, f"{view}: Tab never reaches {sorted(missing)}"
        shoot(page, f"keyboard-{view}")
        page.locator("body").focus()
    if page.locator("#metrics-toggle").is_visible():
        page.locator("#metrics-toggle").focus()
        page.keyboard.press("Enter")
        assert page.locator("#metrics-toggle").get_attribute("aria-pressed") == "true"


def test_headers_and_nothing_loaded_from_another_host(page: Any, console: Console) -> None:
    response = console.api("GET", "/ui/", key="")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    # Assets carry the same headers; paths outside the package are not served.
    js = console.api("GET", "/ui/js/main.js", key="")
    assert js.headers["content-type"].startswith("text/javascript")
    assert js.headers["content-security-policy"] == csp
    for bad in ("/ui/../pyproject.toml", "/ui/%2e%2e/__init__.py", "/ui/js/../../__init__.py"):
        assert console.api("GET", bad, key="").status_code == 404
    # The pages are public; the data is not.
    assert console.api("GET", "/v1/stores", key="").status_code == 401

    # Where the README sends the user (its port is the default; this server's is free).
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Web console\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"<http://127\.0\.0\.1:4000(/ui[^>]*)>", section)
    assert found is not None
    image = re.search(r"!\[[^\]]+\]\(([^)]+\.png)\)", section)
    assert image is not None
    png = (ROOT / image.group(1)).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) < 300_000

    sign_in(page, console, MASTER_KEY, found.group(1))
    go(page, "metrics")
    page.wait_for_selector("#chart-rate canvas")
    origin = console.base
    foreign = [u for u in page.requested if not u.startswith(origin)]
    assert not foreign, foreign
    assert not [e for e in page.errors if "Content Security Policy" in e or "Refused" in e]
    # No inline script or style anywhere in the page source.
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


def test_axe_finds_no_accessibility_violation(browser: Any, console: Console) -> None:
    """axe-core (vendored from npm, see ui/package.json) on the sign-in page and every view.

    Injecting axe's script needs the page's CSP bypassed (it forbids any script not
    served by the page's origin), in this test's browser context only; the CSP itself
    is checked by test_headers_and_nothing_loaded_from_another_host.
    """
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, base_url=console.base, bypass_csp=True
    )
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        script = AXE.read_text()
        run = """async () => (await axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                               'best-practice']}}))
            .violations.map(v => ({id: v.id, impact: v.impact,
                                   nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))"""
        page.goto("/ui/")
        page.wait_for_selector("#signin:not([hidden])")
        page.add_script_tag(content=script)
        assert page.evaluate(run) == [], "sign-in"
        page.get_by_label("API key (the master key or a virtual key)", exact=True).fill(MASTER_KEY)
        page.keyboard.press("Enter")
        page.wait_for_selector("#shell:not([hidden])")
        for view in ("collections", "search", "ingest", "indexes", "keys", "metrics"):
            go(page, view)
            if view == "search":
                page.locator("#search-filter").get_by_role(
                    "button", name="Add condition", exact=True
                ).click()
            if view == "keys":
                page.get_by_role("button", name="Add grant", exact=True).click()
            if view == "metrics":
                page.wait_for_selector("#chart-rate canvas")
            violations = page.evaluate(run)
            assert violations == [], f"{view}: {violations}"
    finally:
        context.close()


def test_filter_builder_and_metrics_math_in_the_page(page: Any, console: Console) -> None:
    """The console's own modules, imported in the signed-in page (same origin, under the CSP)."""
    sign_in(page, console, MASTER_KEY)
    out = page.evaluate(
        """async () => {
            const f = await import('/ui/js/filter.js');
            const m = await import('/ui/js/metrics.js');
            const err = (fn) => { try { fn(); return null; } catch (e) { return e.message; } };
            const row = (o) => ({field: 'k', op: 'FILTER_OPERATOR_EQ', type: 'string',
                                 value: '', negate: false, ...o});
            const text = [
              '# HELP vectorgate_requests_total x',
              'vectorgate_requests_total{method="Search",code="OK"} 7.0',
              'vectorgate_requests_total{method="Search",code="NOT_FOUND"} 3.0',
              'vectorgate_request_errors_total{method="Search",code="NOT_FOUND"} 3.0',
              'vectorgate_request_duration_seconds_bucket{le="0.1",method="Search"} 5.0',
              'vectorgate_request_duration_seconds_bucket{le="0.2",method="Search"} 10.0',
              'vectorgate_request_duration_seconds_bucket{le="+Inf",method="Search"} 10.0',
              'vectorgate_backend_requests_total{store="a\\\\"b",backend="x",operation="search",'
                + 'outcome="Unavailable"} 2.0',
              'vectorgate_backend_requests_total{store="a\\\\"b",backend="x",operation="search",'
                + 'outcome="ok"} 5.0',
            ].join('\\n');
            const s = m.summarize(m.parsePrometheus(text));
            return {
              big: f.buildFilter('all_of', [row({type: 'int', value: '9007199254740993'})]),
              both: f.buildFilter('any_of', [row({type: 'bool', value: 'TRUE', negate: true}),
                                             row({op: 'FILTER_OPERATOR_IN', type: 'float',
                                                  value: '1.5, 2'})]),
              empty: f.buildFilter('all_of', [row({field: '  '})]),
              badInt: err(() => f.buildFilter('all_of', [row({type: 'int', value: '1.5'})])),
              badList: err(() => f.buildFilter('all_of', [row({op: 'FILTER_OPERATOR_NIN'})])),
              q50: m.quantile(0.5, [[0.1, 5], [0.2, 10], [Infinity, 10]]),
              q75: m.quantile(0.75, [[0.1, 5], [0.2, 10], [Infinity, 10]]),
              qInf: m.quantile(0.99, [[0.1, 5], [Infinity, 10]]),
              qNone: m.quantile(0.5, [[0.1, 0], [Infinity, 0]]),
              summary: s,
            };
        }"""
    )
    assert out["big"] == {
        "condition": {
            "field": "k",
            "op": "FILTER_OPERATOR_EQ",
            "value": {"int_value": "9007199254740993"},
        }
    }
    assert out["both"] == {
        "any_of": {
            "filters": [
                {
                    "negate": {
                        "condition": {
                            "field": "k",
                            "op": "FILTER_OPERATOR_EQ",
                            "value": {"bool_value": True},
                        }
                    }
                },
                {
                    "condition": {
                        "field": "k",
                        "op": "FILTER_OPERATOR_IN",
                        "value": {
                            "list_value": {"values": [{"float_value": 1.5}, {"float_value": 2}]}
                        },
                    }
                },
            ]
        }
    }
    assert out["empty"] is None
    assert out["badInt"] == 'condition 1: "1.5" is not an integer'
    assert "one or more values" in out["badList"]
    assert out["q50"] == pytest.approx(0.1)
    assert out["q75"] == pytest.approx(0.15)
    assert out["qInf"] == pytest.approx(0.1)  # as histogram_quantile: the highest finite bound
    assert out["qNone"] is None
    search = out["summary"]["rpcs"]["Search"]
    assert (search["requests"], search["errors"]) == (10, 3)
    assert out["summary"]["stores"] == {'a"b': {"ops": 7, "errors": 2, "fanout": 0}}
    # The exact integer survives the server's parser: explain compiles it unrounded
    # (on a field the collection has: an unknown one compiles to FALSE).
    exact = {"condition": {**out["big"]["condition"], "field": "chunk"}}
    r = console.api(
        "POST",
        "/v1/search",
        json={
            "collection": COLLECTION,
            "text": "x",
            "top_k": 1,
            "explain": True,
            "filter": exact,
        },
    )
    assert r.status_code == 200, r.text
    assert "9007199254740993" in r.json()["explanation"]["native_filter"]
