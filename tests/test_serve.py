"""The web explorer: its HTTP API in-process (same query, same bytes; each parameter does what it says;
bad queries get a 400 with a one-line message and the server keeps serving), the CLI, and the page driven
in headless Chromium (moving a control changes the picture)."""
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import gankit
from gankit.errors import GankitError
from gankit.explore.explorer import Explorer
from gankit.explore.walks import between
from gankit.explore.server import make_server

from helpers import ROOT, TINY_DIGITS

import torch


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_runs")
    # 40 steps: enough that the pictures depend visibly on z (a 4-step G draws flat grey)
    return {name: gankit.train(preset, TINY_DIGITS + ["train.steps=40"], out=root / name, progress=False).path
            for name, preset in (("cgan", "digits-cgan"), ("plain", "digits"))}


@pytest.fixture(scope="module")
def server(runs):
    srv = make_server(gankit.load(runs["cgan"]), port=0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(srv, path):
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(srv.url.rstrip("/") + path, timeout=30) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def picture(srv, query):
    status, kind, body = get(srv, "/api/generate?" + query)
    assert status == 200 and kind == "image/png", body
    return np.asarray(Image.open(io.BytesIO(body))), body


def test_binds_localhost_and_serves_page_and_info(server):
    assert server.server_address[0] == "127.0.0.1"
    status, kind, body = get(server, "/")
    assert status == 200 and kind.startswith("text/html") and b"/api/generate" in body
    assert b"http://" not in body and b"https://" not in body  # no external assets
    status, kind, body = get(server, "/api/info")
    info = json.loads(body)
    assert info["conditional"] and info["classes"] == [str(i) for i in range(10)]
    assert info["z_dim"] == 8 and info["shape"] == [1, 8, 8] and info["weights"] == "G_ema"
    assert info["directions"]["sefa"]["count"] == 8 and info["directions"]["random"]["values"] is None


def test_same_query_same_bytes_and_each_parameter_counts(server):
    base, png = picture(server, "seed=3&label=4")
    again, png2 = picture(server, "label=4&seed=3")
    assert png == png2 and base.shape == (8, 8) and base.dtype == np.uint8
    big, _ = picture(server, "seed=3&label=4&scale=4")
    assert big.shape == (32, 32) and np.array_equal(big[::4, ::4], base)
    others = {q: picture(server, q)[0] for q in (
        "seed=4&label=4", "seed=3&label=5", "seed=3&label=4&truncation=0.3",
        "seed=3&label=4&move=3", "seed=3&label=4&move=0,0,3&directions=random", "seed=3&label=4&seed2=9&t=0.5")}
    for q, pic in others.items():
        assert not np.array_equal(pic, base), q
    # interpolation endpoints: t=0 is seed, t=1 is seed2 (same class)
    assert np.array_equal(picture(server, "seed=3&label=4&seed2=9&t=0")[0], base)
    assert np.array_equal(picture(server, "seed=3&label=4&seed2=9&t=1")[0], picture(server, "seed=9&label=4")[0])
    # no move / zero moves / truncation off are the plain picture
    assert picture(server, "seed=3&label=4&move=0,0&truncation=none")[1] == png
    assert picture(server, "seed=3&&label=4&truncation=Inf&")[1] == png  # empty fields are nothing


def test_query_is_what_the_model_makes(server, runs):
    model = gankit.load(runs["cgan"])
    explorer = Explorer(model)
    z, y = model.latents(1, seed=5, label=2, truncation=0.7)
    z = explorer.directions["sefa"].move(z, [1.5, -0.5])
    want = model.to_data(model.generate(z, y))[0, :, :, 0]
    assert np.array_equal(picture(server, "seed=5&label=2&truncation=0.7&move=1.5,-0.5")[0], want)


def test_slerp_endpoints_and_norm():
    torch.manual_seed(0)
    a, b = torch.randn(4, 16), torch.randn(4, 16)
    torch.testing.assert_close(between(a, b, 0.0), a)
    torch.testing.assert_close(between(a, b, 1.0), b)
    a1, b1 = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)
    torch.testing.assert_close(between(a1, b1, 0.3).norm(dim=1), torch.ones(4))  # stays on the sphere
    torch.testing.assert_close(between(a, 2 * a, 0.5), 1.5 * a)  # parallel: a straight line


BAD = {
    "sed=1": "unknown parameter 'sed' (did you mean 'seed'?); valid: seed, truncation, label, seed2, t, "
             "directions, move, scale",
    "seed=-1": "seed=-1 is out of range: use 0..9223372036854775807",
    "seed=abc": "seed='abc' is not a whole number",
    "seed=1&seed=2": "parameter 'seed' is given 2 times; give it once",
    "truncation=0": "truncation=0 must be >= 0.01",
    "truncation=x": "truncation='x' is not a number",
    "label=12": "label=12 is outside the model's 10 classes: use 0..9",
    "label=Shoe": "label='Shoe' is not a class of this model",
    "t=0.5": "t= interpolates towards seed2=, so give seed2 too",
    "seed2=1&t=2": "t=2 is out of range: use 0..1",
    "directions=pca": "directions=pca is not a direction set; use one of sefa, random",
    "move=1,x": "move='x' is not a number",
    "move=1,2,3,4,5,6,7,8,9": "move= gives 9 amounts, but there are 8 sefa directions",
    "move=nan": "move=nan is out of range: use -20..20",
    "scale=0": "scale=0 is out of range: use 1..32",
    "seed": "malformed query string 'seed': 'seed' has no '=' (write name=value)",
    "seed=1&label": "malformed query string 'seed=1&label': 'label' has no '='",
    "label=%FF": "malformed query string",
}


@pytest.mark.parametrize("query", list(BAD))
def test_bad_queries_get_400_with_one_line_and_the_server_survives(server, query):
    status, kind, body = get(server, "/api/generate?" + query)
    text = body.decode()
    assert status == 400 and kind.startswith("text/plain")
    assert text.startswith(BAD[query]) and text.endswith("\n") and text.count("\n") == 1, text
    assert get(server, "/api/generate?seed=1")[0] == 200


def test_other_failures_404_405_500_and_survives(server, monkeypatch):
    status, _, body = get(server, "/nope")
    assert status == 404 and body.decode().startswith("no such page: /nope")
    req = urllib.request.Request(server.url + "api/generate", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 405
    monkeypatch.setattr(server.explorer, "png", lambda params: 1 / 0)
    status, _, body = get(server, "/api/generate?seed=1")
    assert status == 500 and body.decode() == "internal error: ZeroDivisionError: division by zero\n"
    monkeypatch.undo()
    assert get(server, "/api/generate?seed=1")[0] == 200


def test_unconditional_model_refuses_a_label(runs):
    explorer = Explorer(gankit.load(runs["plain"]))
    assert explorer.info()["conditional"] is False and explorer.info()["classes"] == []
    with pytest.raises(GankitError, match=r"this model is unconditional .* or drop label="):
        explorer.png({"seed": "1", "label": "3"})
    assert explorer.png({"seed": "1"}) == explorer.png({"seed": ["1"]})


def test_a_generator_without_a_first_linear_layer_gets_random_directions_only(runs):
    model = gankit.load(runs["plain"])
    model.G.latent_layer = lambda: None  # as a net whose z does not enter through one linear layer
    explorer = Explorer(model)
    info = explorer.info()
    assert list(info["directions"]) == ["random"] and "has none" in info["unavailable"]["sefa"]
    assert explorer.parse({"move": "1"}).directions == "random"
    with pytest.raises(GankitError, match="directions=sefa is not available for this model"):
        explorer.parse({"directions": "sefa"})


def test_vector_data_and_busy_port_are_refused(server, runs):
    vectors = SimpleNamespace(kind="vector", path="runs/ring", spec=SimpleNamespace(shape=(2,)))
    with pytest.raises(GankitError, match="gankit serve shows images, but runs/ring makes 2-d vectors"):
        Explorer(vectors)
    with pytest.raises(GankitError, match=rf"cannot listen on 127.0.0.1:{server.server_address[1]} .*pick another --port"):
        make_server(gankit.load(runs["plain"]), port=server.server_address[1])


def test_serve_cli_runs_until_interrupted(runs):
    proc = subprocess.Popen([sys.executable, "-m", "gankit.cli", "serve", str(runs["plain"]), "--port", "0",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"gankit explorer of {runs['plain']} at http://127.0.0.1:"), proc.stderr.read()
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "api/generate?seed=2", timeout=30) as r:
            assert r.status == 200 and r.read()[:4] == b"\x89PNG"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "gankit serve: stopped" in err


# --------------------------------------------------------------------------- the page in Chromium

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def chromium():
    """A headless Chromium WebDriver, or a skip when selenium / chromium / chromedriver are missing."""
    webdriver = pytest.importorskip("selenium.webdriver")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            pytest.skip(f"{path} is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--window-size=1000,720"):
        options.add_argument(arg)
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


PIXELS = """
const img = document.getElementById('picture');
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const g = c.getContext('2d'); g.drawImage(img, 0, 0);
return Array.from(g.getImageData(0, 0, c.width, c.height).data);
"""


def test_page_in_headless_chromium_moving_a_control_changes_the_picture(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = chromium()
    try:
        driver.get(server.url)
        wait = WebDriverWait(driver, 30)
        shown = lambda: driver.find_element(By.ID, "picture").get_attribute("data-query") or ""  # noqa: E731
        wait.until(lambda d: shown().startswith("/api/generate?seed=0"))
        assert "10 classes" in driver.find_element(By.ID, "model").text
        before = driver.execute_script(PIXELS)
        assert len(before) == 8 * 8 * 4

        def changes(act, expect):
            old = driver.execute_script(PIXELS)
            act()
            wait.until(lambda d: expect in shown())
            wait.until(lambda d: driver.execute_script(PIXELS) != old)
            assert driver.find_element(By.ID, "status").text == ""

        slider = driver.find_element(By.ID, "dir-0")
        changes(lambda: slider.send_keys(Keys.END), "directions=sefa&move=5")  # a SeFa slider to its end
        changes(lambda: Select(driver.find_element(By.ID, "label")).select_by_value("7"), "label=7")
        changes(lambda: driver.find_element(By.ID, "t").send_keys(Keys.END), "seed2=1&t=1")
        truncate = driver.find_element(By.ID, "truncate")
        changes(lambda: (truncate.click(), driver.find_element(By.ID, "truncation").send_keys(Keys.HOME)),
                "truncation=0.05")
        # the page shows exactly what the API returns for its query
        api, _ = picture(server, shown().split("?", 1)[1])
        assert driver.execute_script(PIXELS)[::4] == api.flatten().tolist()
        # a bad seed shows the server's message and the page keeps working
        seed = driver.find_element(By.ID, "seed")
        seed.clear()
        seed.send_keys("-5")
        wait.until(lambda d: "seed=-5 is out of range" in d.find_element(By.ID, "status").text)
        seed.send_keys(Keys.BACKSPACE, Keys.BACKSPACE, "12")
        wait.until(lambda d: shown().startswith("/api/generate?seed=12"))
    finally:
        driver.quit()
