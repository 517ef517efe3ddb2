"""A real browser (system Chromium via Playwright) trains all five methods, watches curves, compares."""

from __future__ import annotations

import os
import re
import shutil
import time

import pandas as pd
import pytest
from conftest import ROOT
from test_app import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "test-artifacts" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_until(page, condition, timeout_s: float, what: str) -> None:
    """Poll `condition` while the page lives on, instead of sleeping a fixed time and hoping."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")
        page.wait_for_timeout(100)


def serve(app) -> str:
    """Launch the built app on a free local port, with the app's CSS, as `app.py` does; return its address."""
    from sentiment_lab.ui.app import CSS

    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=CSS)
    return f"http://127.0.0.1:{port}/"


def serve_idle(tmp_path):
    """The app over a fresh runs folder whose queue never starts a run (what is queued stays queued), served;
    returns (app, its address)."""
    from sentiment_lab.ui.app import build_app

    app = build_app(tmp_path / "runs")
    app.services.jobs.advance = lambda: []
    return app, serve(app)


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian chromium and the playwright package (see .ci/run)")
        pytest.skip("chromium or playwright not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def test_browser_trains_all_five_then_curves_and_compare(browser, tmp_path, tiny_models, tiny_data):
    from playwright.sync_api import expect

    from sentiment_lab.training.config import RunConfig
    from sentiment_lab.ui.app import build_app
    from sentiment_lab.ui.compare_tab import near_chance

    app = build_app(tmp_path / "runs")
    url = serve(app)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url)
        page.get_by_label("Model").fill(str(tiny_models["bert"]))
        page.get_by_label("Dataset").fill(str(tiny_data))
        page.get_by_label("Epochs").fill("2")
        features = page.get_by_text("Features (SVM, freeze)")
        expect(features).to_be_hidden()  # LoRA, the default method, reads no pooled features
        page.get_by_label("Freeze (head only)").check()
        expect(features).to_be_visible()
        page.screenshot(path=str(SHOTS / "train-freeze-form.png"), full_page=True)
        page.get_by_label("[CLS] state").check()  # "Train all five" takes it for the SVM and freeze
        page.get_by_label("Full fine-tuning").check()
        expect(features).to_be_hidden()
        page.get_by_role("button", name="Train all five").click()
        expect(page.get_by_text(re.compile("Queued 5 runs"))).to_be_visible(timeout=30_000)
        # A tiny run may finish no better than chance, and the table says so after the state.
        done = page.get_by_text(re.compile(r"^done( · did not learn)?$")).filter(visible=True)

        def all_done() -> bool:  # the queue says so, and the list shows it (the table keeps hidden copies too)
            return [r["state"] for r in app.services.jobs.list()].count("done") == 5 and done.count() >= 5

        wait_until(page, all_done, 300, "five runs done, and shown done in the run list")
        poolings = {
            r["method"]: RunConfig.load(app.services.jobs.folder(r["id"]) / "config.json").features.pooling
            for r in app.services.jobs.list()
        }
        assert poolings["svm"] == poolings["freeze"] == "cls", poolings
        # Each run goes by a short name (method, model, counter), not its 35-character id, in the list.
        for method in ("SVM", "Full", "LoRA", "Freeze", "Adapters"):
            expect(page.get_by_text(f"{method} bert #1", exact=True).first).to_be_visible()
        assert not page.get_by_text(re.compile(r"^(svm|full|lora|freeze|adapters)-bert-\d{8}")).count()
        page.screenshot(path=str(SHOTS / "train.png"), full_page=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "train-1440x900.png"))  # what a new user sees first, above the fold
        # Every column of the run list is in view, not behind a horizontal scroll (the last one once was).
        assert_last_column_in_view(page, "test acc")

        page.get_by_role("tab", name="Curves").click()
        # The page opened before any run: the tab lists them as it opens, not at its timer's first tick (5 s after).
        finished = page.locator("#results-table").get_by_text("Adapters bert #1", exact=True).filter(visible=True)
        expect(finished.first).to_be_visible(timeout=3_000)
        expect(page.locator(".js-plotly-plot .scatterlayer .trace").first).to_be_attached(timeout=30_000)
        assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 3
        expect(
            page.locator(".js-plotly-plot .legendtext", has_text=re.compile(r"^\w+ bert #1$")).first
        ).to_be_attached()
        expect(page.locator("th:visible", has_text="test acc").first).to_be_visible(timeout=20_000)
        assert_last_column_in_view(page, "samples/s")
        page.screenshot(path=str(SHOTS / "curves.png"), full_page=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "curves-1440x900.png"))

        # The test-set view: two finished runs side by side on their 16 test sentences.
        picked = page.get_by_label("Finished runs (up to 8)")
        expect(picked).to_be_attached(timeout=10_000)
        names = app.services.names()
        for run_id in sorted(r["id"] for r in app.services.jobs.list() if r["method"] in ("full", "svm")):
            option = page.get_by_role("option", name=names[run_id], exact=True)  # runs go by their short names

            def listed(option=option) -> bool:  # the list's refresh tick fills it; reopen until the run is there
                picked.click()
                if option.count():
                    return True
                page.keyboard.press("Escape")
                return False

            wait_until(page, listed, 20, f"{run_id} offered in the test-set view")
            option.click()
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Show", exact=True).click()
        expect(
            page.get_by_text(re.compile(r"2 runs on the same 16 test sentences: they disagree on \d+"))
        ).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Every two runs (gap = first minus second)")).to_be_visible()
        assert_last_column_in_view(page, "McNemar p")
        page.screenshot(path=str(SHOTS / "test-errors.png"), full_page=True)

        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.get_by_role("tab", name="Compare").click()
        # Each method's picker offers its finished runs as the tab opens, without a press of Refresh run lists.
        which = page.get_by_text("Which run answers for each method")
        which.click()
        page.get_by_label("LoRA", exact=True).filter(visible=True).click()
        expect(page.get_by_role("option", name="LoRA bert #1", exact=True)).to_be_visible(timeout=3_000)
        page.keyboard.press("Escape")
        which.click()
        page.get_by_label("Review").fill("<script>alert(1)</script> a good movie")
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.get_by_text(re.compile(r"5 of 5 methods answered"))).to_be_visible(timeout=60_000)
        page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "compare-1440x900.png"))
        assert_last_column_in_view(page, "run")
        assert page.get_by_label("Review").input_value().startswith("<script>")  # shown as text, never run
        assert not dialogs, dialogs  # the review's script tag never ran
        # The confidence in each answer's label and P(positive) are two labelled columns, not one "probability".
        for header in ("confidence in label", "P(positive)"):
            expect(page.locator("th:visible", has_text=header).first).to_be_visible()
        weak = page.get_by_text(re.compile("Close to chance on its test set"))
        rows = app.services.compare("<script>alert(1)</script> a good movie")
        if any(near_chance(r) for r in rows):  # tiny models on 64 sentences: some may learn nothing
            expect(weak).to_be_visible()
        else:
            expect(weak).to_have_count(0)
        page.get_by_label("Review").fill("Ein schrecklich langweiliger Streifen, leider viel zu lang")
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.get_by_text(re.compile("This review does not look English"))).to_be_visible(timeout=60_000)
        page.get_by_label("Review").fill("<script>alert(1)</script> a good movie")

        page.get_by_text("Which words decided it").click()
        page.get_by_role("button", name="Show each word's pull").click()
        expect(page.get_by_text(re.compile("hover a word for its numbers"))).to_be_visible(timeout=60_000)
        assert page.locator("span[title^='good:']").count() == 5  # the review's 'good', tinted once per method
        assert not dialogs, dialogs  # the review's script tag is shown as words here too, never run

        page.get_by_text("Many reviews at once").click()
        page.get_by_label("Reviews, one per line").fill("a good movie\nthe plot was dull\n\nsuperb and moving")
        page.get_by_role("button", name="Compare all").click()
        expect(
            page.get_by_text(re.compile(r"5 methods answered 3 reviews; they disagree on \d+ of them"))
        ).to_be_visible(timeout=60_000)
        # the table also keeps a hidden copy of some cells (for sizing), which may come first
        expect(page.get_by_text("superb and moving").filter(visible=True).first).to_be_visible()
        page.screenshot(path=str(SHOTS / "compare-many.png"), full_page=True)
    finally:
        app.close()


def assert_last_column_in_view(page, header: str):
    """A table's last column lies inside the table's frame, not behind a horizontal scroll."""
    cell = page.locator("th:visible", has_text=header).first  # the other tabs' tables are hidden
    last, frame = cell.bounding_box(), cell.locator("xpath=ancestor::table[1]/..").bounding_box()
    assert last["x"] + last["width"] <= frame["x"] + frame["width"] + 1, header


def test_browser_copies_a_runs_settings_deletes_only_after_asking_zips_a_run_both_ways_and_resumes_one(
    browser, tmp_path
):
    from fakes.runs import finished_run
    from fakes.worker import fake_launcher
    from playwright.sync_api import expect

    from sentiment_lab.storage import write_json_atomic
    from sentiment_lab.training.records import read_status, write_status
    from sentiment_lab.training.state import STATE_FILE, STEP_FILE
    from sentiment_lab.ui.app import build_app

    root = tmp_path / "runs"
    root.mkdir()
    finished_run(root, "full-old", "full", 100.0)
    finished_run(root, "lora-new", "lora", 200.0)
    (root / "lora-new" / "artefacts" / "adapter_config.json").write_text("{}")  # a run archive carries weights
    stopped = finished_run(root, "stopped-adapters", "adapters", 50.0)
    write_status(stopped, "stopped", args=["1", "0", "polite"])  # a fake worker's arguments: one quick step, then done
    (stopped / STATE_FILE).write_bytes(b"saved state")  # the queue only asks that there is one
    # It logged step 40 of 50, but its state was saved at step 25: the run list says where Resume goes on from.
    write_json_atomic(stopped / STEP_FILE, {"step": 25})
    (stopped / "metrics.jsonl").write_text('{"step": 40, "epoch": 0.8, "loss": 0.5, "total_steps": 50}\n')
    app = build_app(root)
    app.services.jobs.launcher = fake_launcher
    url = serve(app)
    try:
        page = browser.new_page(viewport={"width": 1024, "height": 900})
        page.goto(url)
        expect(page.get_by_label("Run", exact=True)).to_have_value("full-old", timeout=20_000)  # the first listed
        page.get_by_text("Config and log of the selected run").click()
        page.get_by_role("button", name="Copy its settings to the form").click()
        expect(page.get_by_text("Settings of full-old copied to the form")).to_be_visible(timeout=10_000)
        expect(page.get_by_label("Full fine-tuning", exact=True)).to_be_checked()
        expect(page.get_by_role("textbox", name=re.compile("^Learning rate"))).to_have_value("5e-05")
        page.get_by_role("button", name="Delete", exact=True).click()
        expect(page.get_by_text("Delete full-old with its checkpoint")).to_be_visible(timeout=10_000)
        page.get_by_role("button", name="Keep it").click()
        expect(page.get_by_text("Delete full-old with its checkpoint")).to_be_hidden(timeout=10_000)
        assert (root / "full-old").is_dir()

        page.get_by_role("button", name="Delete", exact=True).click()
        page.get_by_role("button", name="Delete it").click()
        expect(page.get_by_text("full-old: deleted")).to_be_visible(timeout=10_000)
        assert not (root / "full-old").exists() and (root / "lora-new" / "config.json").is_file()
        expect(page.get_by_label("Run", exact=True)).to_have_value("lora-new", timeout=10_000)
        page.screenshot(path=str(SHOTS / "delete.png"), full_page=True)

        # The run left goes out as a zip through the browser and comes back as a second finished run.
        page.get_by_text("Download the selected run, or import one (zip)").click()
        page.get_by_role("button", name="Zip the selected run").click()
        link = page.locator("a[href$='/lora-new.zip']").first
        expect(link).to_be_visible(timeout=20_000)
        with page.expect_download() as download:
            link.click()
        archive = tmp_path / "lora-new.zip"
        download.value.save_as(archive)
        page.locator(".block", has_text="Import a run archive (.zip)").locator("input[type=file]").set_input_files(
            str(archive)
        )
        # ... and says it answers in Compare only once picked: an import never silently replaces a run trained here
        expect(
            page.get_by_text(re.compile(r"Imported as lora-new-imported-\w+.*answers with it once it is picked"))
        ).to_be_visible(timeout=20_000)
        assert len(list(root.glob("lora-new-imported-*"))) == 1

        # A stopped run goes on through the Resume button: queued, started by the queue, done.
        picker = page.get_by_label("Run", exact=True)
        picker.click()
        picker.fill("stopped-adapters")
        page.keyboard.press("Enter")
        expect(page.get_by_text("stopped · resumable").first).to_be_attached(
            timeout=10_000
        )  # the run list says so (a cell the table may have scrolled away)
        expect(page.get_by_text("25/50 saved").first).to_be_attached()
        # The action bar offers what applies to the picked run: a stopped run resumes, it cannot be stopped.
        expect(page.get_by_role("button", name="Stop / Cancel")).to_be_disabled(timeout=10_000)
        expect(page.get_by_role("button", name="Resume")).to_be_enabled()
        page.get_by_role("button", name="Resume").click()
        expect(page.get_by_text("stopped-adapters: queued to resume from step 25")).to_be_visible(timeout=10_000)
        deadline = time.monotonic() + 30
        while read_status(stopped).get("state") != "done" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert read_status(stopped)["state"] == "done" and read_status(stopped)["args"][-1] == "--resume"
    finally:
        app.close()


def test_a_run_picked_while_the_list_refreshes_stays_picked(browser, tmp_path):
    """The run list refreshes every 2 s; a refresh on its way when the user picks a run must not put the
    run it was sent with back (it did: on a busy server the picker jumped back, and Resume then acted on
    the wrong run)."""
    from fakes.runs import finished_run
    from playwright.sync_api import expect

    from sentiment_lab.ui.app import build_app

    root = tmp_path / "runs"
    finished_run(root, "first-run", "full", 200.0)
    finished_run(root, "second-run", "lora", 100.0)
    app = build_app(root)
    jobs, listing = app.services.jobs, app.services.jobs.list

    refreshes = []

    def slow_list(*args, **kwargs):  # a busy server: each refresh is in flight most of its 2 s
        time.sleep(1.5)
        refreshes.append(time.monotonic())
        return listing(*args, **kwargs)

    jobs.list = slow_list
    url = serve(app)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        picker = page.get_by_label("Run", exact=True)
        expect(picker).to_have_value(re.compile("first-run|second-run"), timeout=20_000)
        other = "second-run" if picker.input_value() == "first-run" else "first-run"
        picker.click()
        picker.fill(other)
        page.keyboard.press("Enter")
        picked_at = len(refreshes)
        # two refreshes answered after the pick, the first of them sent before or while it was made
        wait_until(page, lambda: len(refreshes) >= picked_at + 2, 20, "two run-list refreshes after the pick")
        page.wait_for_timeout(300)  # the browser applies the last answer
        assert picker.input_value() == other
        page.get_by_label("Filter runs").fill("lora")
        expect(page.get_by_text("1 of 2 match the filter")).to_be_visible(timeout=10_000)
        assert picker.input_value() == other  # the filter narrows the list, not the pick
    finally:
        app.close()


def test_the_form_refuses_what_it_cannot_read_and_keeps_the_users_values(browser, tmp_path, tiny_data):
    """A new user's first mistakes: a word in a number box, a dataset path that does not exist; both are
    refused in the form, nothing is queued; a reload keeps what was typed."""
    from playwright.sync_api import expect

    app, url = serve_idle(tmp_path)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url)
        page.get_by_label("Run name (optional)").fill("kept-across-reloads")  # saved long before the reload
        epochs = page.get_by_label("Epochs")
        epochs.fill("")
        epochs.press_sequentially("abc")  # a number box: the browser keeps no number
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.get_by_text("Epochs: enter a number").first).to_be_visible(timeout=15_000)
        epochs.fill("2")
        page.get_by_label("Dataset").fill(str(tmp_path / "nope.csv"))
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.get_by_text(re.compile(r"nope\.csv")).first).to_be_visible(timeout=15_000)
        assert app.services.jobs.list() == []  # refused in the form: nothing queued to fail later
        stored = "() => localStorage.getItem('sentiment-lab-train-form')"
        before = page.evaluate(stored)
        page.get_by_label("Dataset").fill(str(tiny_data))
        wait_until(page, lambda: page.evaluate(stored) != before, 15, "the form saved in the browser's storage")
        page.reload()
        expect(page.get_by_label("Run name (optional)")).to_have_value("kept-across-reloads", timeout=15_000)
        expect(page.get_by_label("Dataset")).to_have_value(str(tiny_data))
        expect(page.get_by_label("Epochs")).to_have_value("2")
    finally:
        app.close()


def test_an_uploaded_table_offers_its_columns_and_the_run_reads_them(browser, tmp_path):
    """A user's own file names its columns its own way: the form lists them, picks the likely pair, and the
    queued run reads those; once the file is cleared, the Dataset box's columns come back."""
    from playwright.sync_api import expect

    from sentiment_lab.training.config import RunConfig

    rows = [{"id": i, "Review": f"film {i} was {'good' if i % 2 else 'bad'}", "sentiment": i % 2} for i in range(40)]
    pd.DataFrame(rows).to_csv(tmp_path / "mine.csv", index=False)
    app, url = serve_idle(tmp_path)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url)
        page.get_by_text("…or upload your own data").click()
        page.locator(".block", has_text="Data file").locator("input[type=file]").set_input_files(
            str(tmp_path / "mine.csv")
        )
        expect(page.get_by_label("Text column")).to_have_value("Review", timeout=15_000)
        said = "The run reads the uploaded file, mine.csv, in place of the Dataset box."
        expect(page.get_by_text(said)).to_be_visible()
        expect(page.get_by_label("Label column", exact=True)).to_have_value("sentiment")
        # The table summed up under the columns; the review column picked as the class is refused there at once.
        summary = page.locator(".prose.data-summary")
        expect(summary).to_contain_text("2 classes in train: ", timeout=15_000)
        page.get_by_label("Label column", exact=True).click()
        page.get_by_role("option", name="Review").click()
        expect(summary).to_contain_text("This data cannot train a run: ", timeout=15_000)
        page.get_by_label("Label column", exact=True).click()
        page.get_by_role("option", name="sentiment").click()
        expect(summary).to_contain_text("2 classes in train: ", timeout=15_000)
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.get_by_text(re.compile(r"^Queued ")).first).to_be_visible(timeout=15_000)
        (run,) = app.services.jobs.list()
        config = RunConfig.load(app.services.jobs.folder(run["id"]) / "config.json")
        assert (config.data.text_column, config.data.label_column) == ("Review", "sentiment")
        page.locator(".block", has_text="Data file").get_by_role("button", name="Clear").click()
        expect(page.get_by_label("Text column")).to_have_value("text", timeout=15_000)  # the Hub id's, not the file's
        expect(page.get_by_label("Label column", exact=True)).to_have_value("label")
        page.get_by_label("Dataset").fill(str(tmp_path / "mine.csv"))  # the same file, named
        expect(page.get_by_label("Text column")).to_have_value("Review", timeout=15_000)
        page.get_by_label("Dataset").fill("someone/reviews")  # a Hub id, whose columns cannot be read offline
        expect(page.get_by_label("Text column")).to_have_value("text", timeout=15_000)
        expect(page.get_by_label("Label column", exact=True)).to_have_value("label")
        # A train file and a test file uploaded together: one dataset, its test split the file's.
        pd.DataFrame(rows[:30]).to_csv(tmp_path / "train.csv", index=False)
        pd.DataFrame(rows[30:]).to_csv(tmp_path / "test.csv", index=False)
        page.locator(".block", has_text="Data file").locator("input[type=file]").set_input_files(
            [str(tmp_path / "train.csv"), str(tmp_path / "test.csv")]
        )
        said = "The run reads the uploaded files, train.csv and test.csv, in place of the Dataset box."
        expect(page.get_by_text(said)).to_be_visible(timeout=15_000)
        expect(page.get_by_label("Text column")).to_have_value("Review")
        expect(summary).to_contain_text("test 10 (validation carved from train", timeout=15_000)
    finally:
        app.close()


def in_view(page, locator) -> bool:
    """The element lies wholly inside the window as it is scrolled now."""
    box, size = locator.bounding_box(), page.viewport_size
    return box is not None and 0 <= box["y"] and box["y"] + box["height"] <= size["height"]


def test_feedback_sits_by_its_button_on_a_laptop_and_tables_read_on_a_phone(browser, tmp_path, tiny_data):
    """At 1366x768 the Train buttons and their answer stay in view wherever the form is scrolled, a refusal is
    one message there (no toast, no red outputs), and the SVM's form shows no epochs; at 390 px the model and
    dataset boxes take the whole width, the Compare table keeps whole words in its columns and the curves keep
    their width (scrolled sideways)."""
    from playwright.sync_api import expect

    app, url = serve_idle(tmp_path)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(url)
        train = page.get_by_role("button", name="Train", exact=True)
        expect(train).to_be_visible(timeout=20_000)
        assert in_view(page, train), "Train is below the fold"
        expect(page.locator("footer").get_by_role("button", name="Use via API")).to_be_attached()  # found from the page
        page.get_by_text("More settings").click()
        page.get_by_label("Processes").scroll_into_view_if_needed()  # the bottom of the form
        assert in_view(page, train), "Train scrolled out of view"
        page.get_by_label("Dataset").fill(str(tmp_path / "nope.csv"))
        train.click()
        refusal = page.get_by_text(re.compile(r"Not queued:.*nope\.csv"))
        expect(refusal).to_be_visible(timeout=15_000)
        assert in_view(page, refusal), "the answer to Train is out of view"
        assert page.locator(".toast-body").count() == 0, "a refusal is said once, beside its button"
        page.get_by_label("Dataset").fill(str(tiny_data))
        page.get_by_label("Model").fill("no-such-org/no-such-model")
        train.click()
        expect(page.get_by_text(re.compile(r"Not queued:.*no-such-org/no-such-model"))).to_be_visible(timeout=15_000)
        assert app.services.jobs.list() == []  # refused at Train, not minutes later at the front of the queue
        page.get_by_label("Model").fill("minilm")
        train.click()
        queued = page.get_by_text(re.compile(r"^Queued "))
        expect(queued).to_be_visible(timeout=15_000)
        assert in_view(page, queued) and not refusal.count()  # the stale refusal is gone
        page.get_by_label("SVM on frozen features").check()
        expect(page.get_by_label("Epochs")).to_be_hidden()  # the SVM fits in one go
        expect(page.get_by_label("Learning rate")).to_be_hidden()
        page.screenshot(path=str(SHOTS / "train-1366x768.png"))

        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(url)
        for box in ("Model", "Dataset"):  # a Hub id or a path on one line, not half the width in three
            expect(phone.get_by_label(box)).to_be_visible(timeout=20_000)
            assert phone.get_by_label(box).bounding_box()["width"] >= 280, f"{box} is squeezed at 390 px"
        phone.get_by_role("tab", name="Compare").click()
        header = phone.locator("th:visible", has_text="method").first
        expect(header).to_be_attached(timeout=20_000)
        assert header.bounding_box()["width"] >= 80, "the Compare table breaks its words letter by letter"
        phone.screenshot(path=str(SHOTS / "compare-390.png"), full_page=True)
        phone.get_by_role("tab", name="Curves").click()
        plot = phone.locator("#curves-plot > div").first
        expect(plot).to_be_visible(timeout=20_000)
        assert plot.bounding_box()["width"] >= 900, "three curves squeezed into a phone's width"
    finally:
        app.close()
