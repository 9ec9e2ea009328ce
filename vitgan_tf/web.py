"""Serve the browser page (web/) and an exported TFLite generator on localhost.

    python -m vitgan_tf.web --model_dir=export/models/fashion [--variant=float16] [--port=8000]

The page runs the model with LiteRT.js (WebAssembly, in the browser; no TensorFlow there). It
finds the model at /model.tflite and its description at /vitgan_tf.json: the newest version's
`tflite/vN_<variant>.tflite` and `tflite/vN_vitgan_tf.json` that `vitgan_tf.export` wrote
(`--version` picks another). The page's own files come from web/ beside the package, and
LiteRT.js from web/node_modules (`npm ci --prefix web`, the versions web/package-lock.json
pins).
"""

import contextlib
import functools
import http.server
import json
import os
import re
import threading
import urllib.parse

from absl import flags, logging

from vitgan_tf import cli
from vitgan_tf.errors import UserError

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
PAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")
VARIANTS = ("float32", "float16", "dynamic_range")


def model_files(model_dir, variant="float32", version=0):
    """(tflite path, description path) of version `version` (0: the newest) of an export's
    TFLite files; UserError naming the flag when they are not there."""
    tflite = os.path.join(model_dir, "tflite")
    if not os.path.isdir(tflite):
        raise UserError(": no tflite/ folder there; export the run "
                        "with python -m vitgan_tf.export --workdir=RUN --output=DIR first.",
                        argument="model_dir", value=model_dir)
    found = sorted(int(m.group(1)) for name in os.listdir(tflite)
                   if (m := re.fullmatch(rf"v(\d+)_{variant}\.tflite", name)))
    if not found or (version and version not in found):
        have = ", ".join(f"v{v}" for v in found) or "none"
        raise UserError(f": no {variant} TFLite model of that version in {tflite} (versions "
                        f"there: {have}).", argument="version" if found else "variant",
                        value=version if found else variant)

    def described(v):
        return os.path.isfile(os.path.join(tflite, f"v{v}_vitgan_tf.json"))

    if not version:  # the newest complete version: an export writes its description last
        complete = [v for v in found if described(v)]
        version = complete[-1] if complete else found[-1]
        for v in found:
            if v > version:
                logging.warning("Version %d in %s is incomplete (no v%d_vitgan_tf.json: an "
                                "export stopped before it finished?); serving version %d.",
                                v, tflite, v, version)
    model = os.path.join(tflite, f"v{version}_{variant}.tflite")
    description = os.path.join(tflite, f"v{version}_vitgan_tf.json")
    if not os.path.isfile(description):
        raise UserError(f": {description} is missing: version {version} is incomplete (an "
                        "export stopped before it finished writes it last) or older than "
                        "vitgan_tf 0.4; export the run again.",
                        argument="model_dir", value=model_dir)
    with open(description) as f:
        try:
            batch = json.load(f).get("tflite_batch", 0)
        except (ValueError, AttributeError):
            raise UserError(f"{description}: not a vitgan_tf export description (JSON); "
                            "export the run again.") from None
    if not batch:
        raise UserError(f": version {version} was exported for any "
                        "number of rows per call, which LiteRT.js cannot run; export it again "
                        "with --tflite_batch=1.", argument="model_dir", value=model_dir)
    return model, description


class Handler(http.server.SimpleHTTPRequestHandler):
    """The page's folder, with /model.tflite and /vitgan_tf.json mapped to the export's files;
    cross-origin isolated, so that LiteRT.js may use threads."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript",
                      ".mjs": "text/javascript"}

    def __init__(self, *args, files=None, **kwargs):
        self.files = files or {}
        super().__init__(*args, **kwargs)

    def _refused(self):
        """Answer 400 or 403 and return True for a request that is not served."""
        if "\x00" in urllib.parse.unquote(self.path):  # os.path would raise on it
            self.send_error(400, "Bad request: a NUL byte in the path")
            return True
        host = (self.headers.get("Host") or "").lower()
        if host.rsplit(":", 1)[0] not in LOCAL_NAMES:
            # DNS rebinding: a page of another site whose name resolves to 127.0.0.1 would
            # send its own name here; only the local names reach the page and the model.
            self.send_error(403, "Forbidden: this server answers to 127.0.0.1 and localhost")
            return True
        return False

    def do_HEAD(self):  # noqa: N802 - the base class's name
        if not self._refused():
            super().do_HEAD()

    def do_GET(self):  # noqa: N802 - the base class's name
        if self._refused():
            return
        if self.path.split("?", 1)[0] == "/served.json":  # which file /model.tflite is
            body = json.dumps({"model": os.path.basename(self.files["/model.tflite"])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def translate_path(self, path):
        mapped = self.files.get(path.split("?", 1)[0].split("#", 1)[0])
        return mapped or super().translate_path(path)

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)


def make_server(model_dir, variant="float32", version=0, host="127.0.0.1", port=8000,
                verbose=False):
    """A ThreadingHTTPServer of the page and the model (port 0: any free port); call
    serve_forever(). UserError when the page, LiteRT.js or the model files are missing."""
    if variant not in VARIANTS:
        raise UserError(f": expected one of {', '.join(VARIANTS)}.",
                        argument="variant", value=variant)
    if not 0 <= port <= 65535:
        raise UserError(": expected a port from 1 to 65535 (0: any free one).",
                        argument="port", value=port)
    if not os.path.isfile(os.path.join(PAGE_DIR, "index.html")):
        raise UserError(f"The page's folder {PAGE_DIR} is missing: run from a clone of "
                        "vitgan_tf (pip install -e .).")
    if not os.path.isdir(os.path.join(PAGE_DIR, "node_modules", "@litertjs", "core")):
        raise UserError(f"LiteRT.js is not installed in {PAGE_DIR}/node_modules: run "
                        "npm ci --prefix web first.")
    model, description = model_files(model_dir, variant, version)
    files = {"/model.tflite": model, "/vitgan_tf.json": description}
    handler = functools.partial(Handler, directory=PAGE_DIR, files=files)
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.verbose = verbose
    server.model = model
    return server


@contextlib.contextmanager
def serving(model_dir, variant="float32", version=0):
    """`make_server` on a free localhost port, serving from a thread (scripts, tests); yields
    (the page's URL, the served model's path) and stops the server on exit."""
    server = make_server(str(model_dir), variant, version, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", server.model
    finally:
        server.shutdown()
        server.server_close()


def define_flags():
    flags.DEFINE_string("model_dir", None, "The export's model directory (--output of "
                        "vitgan_tf.export).")
    flags.DEFINE_enum("variant", "float32", list(VARIANTS), "TFLite variant to serve.")
    flags.DEFINE_integer("version", 0, "Export version (0: the newest).")
    flags.DEFINE_integer("port", 8000, "Port on localhost (0: any free one).")
    flags.DEFINE_bool("verbose", False, "Log every request.")
    flags.mark_flag_as_required("model_dir")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    try:
        server = make_server(FLAGS.model_dir, FLAGS.variant, FLAGS.version, port=FLAGS.port,
                             verbose=FLAGS.verbose)
    except OSError as error:  # the port is taken
        raise UserError(f": cannot listen there ({error.strerror}).",
                        argument="port", value=FLAGS.port) from None
    host, port = server.server_address[:2]
    print(f"Serving {server.model} at http://{host}:{port}/ (Ctrl-C stops).", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def run():
    """Console script entry point (`vitgan-web`)."""
    define_flags()
    cli.run_main(main)


if __name__ == "__main__":
    run()
