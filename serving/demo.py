"""Try the page in a browser, on the shipped photo model: nothing is trained first.

    python -m serving.demo          # then open http://127.0.0.1:8501/ and drop a photo on it

The same as `tfinpaint serve` (the shipped models, exported once into the cache, and the REST API
and the page of `serving.server`), plus `--extra_model=NAME=PATH` exports of your own beside them, and a
sample photo to try: a Kodak photo from the data folder when there is one (copied to
`--workdir`), so that a person who cloned the repository has a photo at hand. The page crops
around what is brushed and sends that crop at most 768 px on its longer side, so photos of any
size (12 megapixels and more) fill in about a second on a laptop's CPU.
"""
import tfinpaint.quiet  # noqa: F401  (first: hides TensorFlow's start-up lines)

import glob  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402

from absl import app, flags  # noqa: E402

from tfinpaint import cli  # noqa: E402
from tfinpaint.data.sources import resolve_data_dir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/demo", "Folder for the sample photo.")
flags.DEFINE_string("data_dir", None, "Data folder with photos/kodak (default: "
                    "$TFINPAINT_DATA_DIR, else ../shared/data next to the checkout); only for "
                    "the sample photo.")
flags.DEFINE_multi_string("extra_model", [], "Also serve this export, NAME=PATH (repeatable).")
flags.DEFINE_string("cache", None, "Where the shipped models are exported once (default: "
                    "$XDG_CACHE_HOME/tfinpaint or ~/.cache/tfinpaint).")
flags.DEFINE_integer("port", 8501, "HTTP port of the page and the REST API.", lower_bound=0,
                     upper_bound=65535)
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface).")


def sample_photo(workdir):
    """A Kodak photo copied into `workdir` (None without the data folder)."""
    data = resolve_data_dir(FLAGS.data_dir) or os.path.join(os.path.dirname(ROOT), "shared",
                                                            "data")
    found = sorted(glob.glob(os.path.join(os.path.expanduser(data), "photos", "kodak", "*.png")))
    if not found:
        return None
    os.makedirs(workdir, exist_ok=True)
    return shutil.copy(found[min(2, len(found) - 1)], workdir)


def main(argv):
    del argv
    try:
        bases = cli.model_configs(FLAGS.extra_model, cache=FLAGS.cache)
        server = cli.start_server(bases, FLAGS.port, FLAGS.host)
    except cli.CommandError as e:
        raise SystemExit(f"demo: error: {e}") from None
    sample = sample_photo(os.path.abspath(FLAGS.workdir))
    print(f"demo: serving {', '.join(n for n, _ in bases)}; open {server.url}/ in a browser"
          + (f" and drop {sample} on it (or your own photo)" if sample else "")
          + f". REST API: {server.url}/v1/models/<name>. Ctrl-C stops.", flush=True)
    server.wait()
    return 0


if __name__ == "__main__":
    app.run(main)
