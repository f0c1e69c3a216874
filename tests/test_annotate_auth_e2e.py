"""Logins and roles: ``python app.py --auth FILE`` with a users file made by ``spandec users add``.

A user logs in through Gradio's real login form in Chromium and annotates as themselves (the name field is theirs);
through ``gradio_client`` an annotator account cannot export, create projects, reorder the queue, fine-tune or act
as another annotator, and an admin can. Without logins on another address the app warns at start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spandec.app.auth import Access, add_user, bind_message, check_password, read_users
from spandec.store import open_store
from spandec.store import projects as P
from test_annotate_e2e import CHROMIUM, CHROMIUM_ARGS, SENTENCES, _app_args, sf_model  # noqa: F401 - the fixture
from test_app_support import start_app, stop_app

ROOT = Path(__file__).resolve().parent.parent
PASSWORDS = {"root": "admin-pass-1", "ann": "annotator-pass-1"}


def _users(path: Path) -> Path:
    """A users file written by the CLI (the password read from stdin), one admin and one annotator."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for name, role in (("root", "admin"), ("ann", "annotator")):
        out = subprocess.run([sys.executable, "-m", "spandec.cli", "users", "add", str(path), name, "--role", role],
                             input=PASSWORDS[name] + "\n", capture_output=True, text=True, env=env, cwd=ROOT,
                             timeout=120)
        assert out.returncode == 0 and f"Added {name} ({role})" in out.stdout, out.stderr[-2000:]
    return path


def test_users_file_hashes_and_checks(tmp_path):
    path = tmp_path / "users.json"
    assert add_user(path, "ada", "long enough", "admin") and not add_user(path, "ada", "longer still", "annotator")
    users = read_users(path)
    assert "longer still" not in path.read_text() and users["ada"]["role"] == "annotator"
    assert check_password(users, "ada", "longer still") and not check_password(users, "ada", "long enough")
    assert not check_password(users, "nobody", "longer still")
    add_user(path, "bob", "long enough")
    assert read_users(path)["bob"]["salt"] != read_users(path)["ada"]["salt"]  # a salt per user
    for bad, match in [(("a b", "long enough"), "without spaces"), (("c", "short"), "at least 8"),
                       (("c", "long enough", "boss"), "Unknown role")]:
        with pytest.raises(ValueError, match=match):
            add_user(path, *bad)
    (tmp_path / "bad.json").write_text('{"users": {"x": {"role": "admin"}}}')
    with pytest.raises(ValueError, match="damaged"):
        read_users(tmp_path / "bad.json")
    assert Access.from_options(None, env={}).mode == "open"  # locally: no OAuth without a Space's variables
    assert Access.from_options(None, env={"SPACE_ID": "u/s", "OAUTH_CLIENT_ID": "x", "SPANDEC_ADMINS": "u"}).admins \
        == frozenset({"u"})
    msg, warn = bind_message(None, Access(), env={})
    assert not warn and "127.0.0.1 (this machine only)" in msg
    msg, warn = bind_message(None, Access(), env={"GRADIO_SERVER_NAME": "0.0.0.0"})
    assert warn and "WITHOUT LOGINS" in msg
    assert not bind_message("0.0.0.0", Access("file", read_users(path)), env={})[1]


def _error(client, *args, api_name: str) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*args, api_name=api_name)
    return str(info.value)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's Chromium")
def test_logins_and_roles(sf_model, tmp_path):  # noqa: F811 - the fixture
    from gradio_client import Client, handle_file
    from playwright.sync_api import expect, sync_playwright

    db = str(tmp_path / "annotations.db")
    store = open_store(db)
    P.add_texts(store, P.create_project(store, "news", ["PER", "LOC"]), [P.Doc(t) for t in SENTENCES])
    store.close()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    users = _users(tmp_path / "users.json")
    proc, url = start_app(_app_args(sf_model, db) + ["--auth", str(users)], tmp_path / "app.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 1000})
                page.goto(url, wait_until="load")
                page.locator("input[type=password]").wait_for(timeout=30_000)  # Gradio's own login form
                page.locator("input:not([type=password])").first.fill("ann")
                page.locator("input[type=password]").fill(PASSWORDS["ann"])
                page.get_by_role("button", name="Login").click()
                page.get_by_role("tab", name="Annotate").click()
                name = page.locator("#ann-name input, #ann-name textarea")
                expect(name).to_have_value("ann", timeout=30_000)  # the logged-in user, not editable
                expect(name).to_be_disabled()
                page.locator("#ann-project input").click()
                page.get_by_role("option", name="news").click()
                page.click("#ann-open")
                expect(page.locator("#ann-status")).to_contain_text("Opened “news” as ann", timeout=30_000)
            finally:
                browser.close()
        with pytest.raises(Exception):  # noqa: B017 - no login, no app
            Client(url, verbose=False, analytics_enabled=False)
        with pytest.raises(Exception):  # noqa: B017 - a wrong password
            Client(url, auth=("ann", "wrong password"), verbose=False, analytics_enabled=False)
        ann = Client(url, auth=("ann", PASSWORDS["ann"]), verbose=False, analytics_enabled=False)
        out = ann.predict("news", "", "corpus order", api_name="/annotate_open")
        assert "as ann" in out[4]
        assert "cannot work as root" in _error(ann, "news", "root", "corpus order", api_name="/annotate_open")
        assert "cannot work as root" in _error(ann, "news", "root", out[0], "corpus order",
                                               api_name="/annotate_accept")
        assert "Only an admin can export" in _error(ann, "news", "jsonl", "", ["accepted", "draft"],
                                                    api_name="/annotate_export")
        assert "Only an admin can create" in _error(ann, "mine", handle_file(str(corpus)), "PER", "(none)", 0.5, 1,
                                                    api_name="/annotate_create_project")
        assert "Only an admin can start fine-tuning" in _error(ann, "news", 1, 0.2, api_name="/annotate_learn")
        assert "Only an admin can reorder" in _error(ann, "news", "(none)", 0.5, api_name="/annotate_score")
        root = Client(url, auth=("root", PASSWORDS["root"]), verbose=False, analytics_enabled=False)
        _, note = root.predict("mine", handle_file(str(corpus)), "PER", "(none)", 0.5, 1,
                               api_name="/annotate_create_project")
        assert "Created “mine” with 4 texts" in note
        path, note = root.predict("news", "jsonl", "", ["accepted", "draft"], api_name="/annotate_export")
        assert Path(path).read_text().count('"annotator": "ann"') == 1  # ann's draft, stored under ann's login
        # past the role check: refused for the project's own reason
        assert "no model to fine-tune" in _error(root, "news", 1, 0.2, api_name="/annotate_learn")
    finally:
        stop_app(proc)
    store = open_store(db)
    rows = P.project_annotations(store, P.get_project(store, "news"), statuses=["accepted", "draft", "skipped"])
    store.close()
    assert {r["annotator"] for r in rows} == {"ann"}


def test_missing_users_file_stops_the_app(tmp_path):
    """A bad --auth file stops the app with one line, before any model loads."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "app.py", "--db", str(tmp_path / "a.db"), "--host", "0.0.0.0",
                          "--auth", str(tmp_path / "missing.json")], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 2 and "no such users file" in out.stderr and "Traceback" not in out.stderr
