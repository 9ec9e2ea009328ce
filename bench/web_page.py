"""The browser page's time per image and its screenshot: an export (with --tflite_batch) served
by vitgan_tf.web, drawn by LiteRT.js (WebAssembly) in headless Chromium.

    python -m vitgan_tf.export --workdir=runs/fashion_mnist --output=export/models/fashion \
        --formats=tflite --tflite_variants=float32,float16 --tflite_batch=1
    python -m bench.web_page --model_dir=export/models/fashion --screenshot=docs/web_page.png

For each variant: the page loads, draws its default grid (seeds 0-15) once to warm up, then
`--seeds` `--repeats` times; the median time per image goes to the JSON with the machine.
"""

import argparse
import json
import statistics

from bench import common
from tests.browser import Browser
from vitgan_tf import web


def measure(browser, model_dir, variant, seeds, repeats, screenshot=None):
    with web.serving(model_dir, variant) as (url, model):
        page = browser.open(url, width=760, height=900)
        if page.evaluate("window.vitgan.ready") is not True:
            raise SystemExit(f"{variant}: {page.evaluate('window.vitgan.error()')}")
        if screenshot:
            with open(screenshot, "wb") as f:
                f.write(page.screenshot())
        times = []
        for _ in range(repeats):
            assert page.evaluate(f"window.vitgan.drawGrid('{seeds}')") is True
            times.append(page.evaluate("window.vitgan.timing()")["perImage"])
    return {"variant": variant, "model": model, "seeds": seeds,
            "ms_per_image": statistics.median(times), "runs_ms_per_image": times}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--variants", default="float32,float16")
    parser.add_argument("--seeds", default="0-63")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--screenshot", default="")
    parser.add_argument("--out", default="bench/results/web_page.json")
    args = parser.parse_args()
    rows = []
    with Browser() as browser:
        for i, variant in enumerate(args.variants.split(",")):
            row = measure(browser, args.model_dir, variant, args.seeds, args.repeats,
                          args.screenshot if i == 0 else None)
            print(json.dumps(row), flush=True)
            rows.append(row)
        version = browser.send("Browser.getVersion")["product"]
    with open(args.out, "w") as f:
        json.dump({"machine": common.machine(), "browser": version,
                   "runtime": "@litertjs/core 2.5.3, accelerator wasm", "rows": rows}, f,
                  indent=2)


if __name__ == "__main__":
    main()
