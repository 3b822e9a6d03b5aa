"""Screenshot of the web explorer (docs/figures/serve.png) in headless Chromium.

    python docs/figures/serve_screenshot.py RUN [--out docs/figures/serve.png] [--label 7] [--seed 11]

Needs selenium and Debian's chromium + chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver).
"""
from __future__ import annotations

import argparse
import threading
from pathlib import Path

import gankit
from gankit.explore.server import make_server


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--out", default=str(Path(__file__).with_name("serve.png")))
    p.add_argument("--seed", default="11")
    p.add_argument("--label", default="7", help="class index to pick (conditional runs)")
    args = p.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    model = gankit.load(args.run)
    server = make_server(model, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--window-size=1000,860", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(server.url)
        wait = WebDriverWait(driver, 30)
        shown = lambda: driver.find_element(By.ID, "picture").get_attribute("data-query") or ""  # noqa: E731
        wait.until(lambda d: shown().startswith("/api/generate"))
        seed = driver.find_element(By.ID, "seed")
        seed.clear()
        seed.send_keys(args.seed)
        if model.conditional:
            Select(driver.find_element(By.ID, "label")).select_by_value(args.label)
        driver.find_element(By.ID, "truncate").click()
        for _ in range(6):  # truncation 1.0 -> 0.7
            driver.find_element(By.ID, "truncation").send_keys(Keys.ARROW_LEFT)
        for _ in range(15):  # the first SeFa direction to +1.5
            driver.find_element(By.ID, "dir-0").send_keys(Keys.ARROW_RIGHT)
        wait.until(lambda d: "move=1.5" in shown() and "truncation=0.7" in shown())
        driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0);")
        driver.save_screenshot(args.out)
        print(f"wrote {args.out} ({shown()})")
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
