"""The browser page: pick a photo, brush a hole, fill it with one or more served models.

The page is plain HTML, CSS and JavaScript in `serving/page/` (shipped with the package, no
build step, nothing fetched from the network). It talks only to TF Serving's REST API
(`GET /v1/models/NAME` for the version, `GET .../metadata` for the signatures,
`POST .../versions/N:predict` on `inpaint_mask_bytes`) plus one static file, `models.json`
(`{"models": ["conv", "ae_patch"]}`), since TF Serving has no REST call listing its models. So
the same files work in front of real TF Serving when one web server serves them and proxies
`/v1/` (serving/README.md has an nginx example).

`python -m serving.server` serves the page at `/` through `with_page`, which answers
`models.json` from the server's own model config. For another web server, write the folder:

    python -m serving.page --model_config_file=serving/models.config --output_dir=site/
"""
import json
import mimetypes
import os
import shutil
import sys

from werkzeug.wrappers import Request, Response

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page")
MODELS_JSON = "models.json"
ROUTES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js",
          "/style.css": "style.css", "/favicon.svg": "favicon.svg"}


def models_document(names):
    """The `models.json` the page reads: the model names, in the config's order."""
    return {"models": list(names)}


def _names(manager):
    return list(getattr(manager, "configs", {}))


def with_page(api, manager):
    """Wraps the REST API's WSGI app: GET of the page's files and `/models.json` (from
    `manager`'s config) are answered here, every other request goes to `api` unchanged."""

    @Request.application
    def page(request):
        if request.path == "/" + MODELS_JSON:
            body = json.dumps(models_document(_names(manager)))
            return Response(body, mimetype="application/json",
                            headers={"Cache-Control": "no-cache"})
        path = os.path.join(PAGE_DIR, ROUTES[request.path])
        with open(path, "rb") as f:
            data = f.read()
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        return Response(data, content_type=kind, headers={"Cache-Control": "no-cache"})

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and (
                path in ROUTES or path == "/" + MODELS_JSON):
            return page(environ, start_response)
        return api(environ, start_response)

    return app


def write_site(output_dir, names):
    """Copies the page's files into `output_dir` and writes its `models.json` (for a web server
    in front of TF Serving). Returns the files written."""
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for name in sorted(set(ROUTES.values())):
        shutil.copyfile(os.path.join(PAGE_DIR, name), os.path.join(output_dir, name))
        written.append(os.path.join(output_dir, name))
    path = os.path.join(output_dir, MODELS_JSON)
    with open(path, "w") as f:
        json.dump(models_document(names), f, indent=2)
    return written + [path]


def main(argv=None):
    import argparse

    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    parser = argparse.ArgumentParser(description="Write the page's folder (HTML, CSS, JS and "
                                     "models.json) for a web server in front of TF Serving.")
    parser.add_argument("--model_config_file", help="TF Serving model_config_list to take the "
                        "model names from.")
    parser.add_argument("--models", help="Comma-separated model names (instead of a config).")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args(argv)
    if bool(args.model_config_file) == bool(args.models):
        parser.error("give exactly one of --model_config_file and --models.")
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
    else:
        config = model_server_config_pb2.ModelServerConfig()
        with open(args.model_config_file) as f:
            text_format.Parse(f.read(), config)  # only the names are needed here
        names = [c.name for c in config.model_config_list.config]
    for path in write_site(args.output_dir, names):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
